//! Provider `openai` (GPT-5 and OpenAI-compatible servers) against a fake server.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};

use ai_worker::{RunOptions, StopSignal, run};
use common::fake_llm::{FakeLlm, Reply, openai_error, openai_ok};
use common::{TestDb, output_text};
use mysql::prelude::Queryable;

fn opts() -> RunOptions {
    RunOptions {
        trigger: "cli".into(),
        ..RunOptions::default()
    }
}

#[test]
fn openai_task_runs_like_a_gemini_task() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| openai_ok(&req.item_text(), "Poprawiono.", 40, 30));
    let model = t.model(
        "openai",
        "gpt-5",
        Some(&llm.openai_url()),
        Some("sk-test-key-123456"),
    );
    let (task, _) = t.task(model, &["jeden", "dwa"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!((summary.items_ok, summary.exit_code()), (2, 0));
    assert_eq!(t.task_row(task), (2, 2, 2, 0, 80, 60));
    t.assert_counters_match_items(task);
    let req = &llm.requests()[0];
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(
        req.headers.get("authorization").map(String::as_str),
        Some("Bearer sk-test-key-123456")
    );
    let body = req.json();
    assert_eq!(body["model"], "gpt-5");
    assert_eq!(body["messages"][0]["role"], "developer");
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert_eq!(body["response_format"]["json_schema"]["strict"], true);
    assert!(
        body.get("temperature").is_none(),
        "GPT-5 gets no temperature unless the row sets one"
    );
}

#[test]
fn json_schema_rejected_falls_back_to_plain_json_once() {
    let mut t = TestDb::new();
    let rejected = AtomicBool::new(false);
    let llm = FakeLlm::start(move |req, _| {
        if req.json().get("response_format").is_some() {
            rejected.store(true, Ordering::SeqCst);
            openai_error(
                400,
                "invalid_request_error",
                "response_format json_schema is not supported by this server",
            )
        } else {
            openai_ok(&req.item_text(), "ok", 5, 5)
        }
    });
    let model = t.model("openai", "llama3.1", Some(&llm.openai_url()), None);
    let (task, _) = t.task(model, &["a", "b", "c"]);
    let summary = run(
        &t.config,
        &RunOptions {
            concurrency: Some(1),
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(summary.items_ok, 3);
    let with_schema = llm
        .requests()
        .iter()
        .filter(|r| r.json().get("response_format").is_some())
        .count();
    assert_eq!(
        with_schema, 2,
        "json_schema and json_object are each tried once, then the plain prompt is used"
    );
    assert_eq!(t.task_row(task).0, 2);
    let remembered: u8 = t.value(&format!(
        "SELECT structured_output FROM ai_model WHERE id_ai_model = {model}"
    ));
    assert_eq!(
        remembered, 0,
        "the plain prompt is remembered for the next run"
    );
    // A local server without a key gets no Authorization header at all.
    assert!(
        llm.requests()
            .iter()
            .all(|r| !r.headers.contains_key("authorization"))
    );
    assert_eq!(llm.requests()[0].json()["messages"][0]["role"], "system");
}

#[test]
fn structured_output_column_forces_plain_json() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| openai_ok(&req.item_text(), "ok", 1, 1));
    let model = t.model("openai", "qwen", Some(&llm.openai_url()), None);
    t.conn
        .exec_drop(
            "UPDATE ai_model SET structured_output = 0, temperature = 0.30 WHERE id_ai_model = ?",
            (model,),
        )
        .unwrap();
    t.task(model, &["a"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let body = llm.requests()[0].json();
    assert!(body.get("response_format").is_none());
    assert_eq!(body["temperature"], 0.3);
}

#[test]
fn refusal_length_garbage_and_wrong_content_are_item_errors() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| match req.item_text().as_str() {
        "refuse" => Reply::new(
            200,
            r#"{"choices":[{"message":{"content":null,"refusal":"I cannot help with that."},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":4}}"#,
        ),
        "long" => Reply::new(
            200,
            r#"{"choices":[{"message":{"content":"{\"text_corr"},"finish_reason":"length"}]}"#,
        ),
        "garbage" => Reply::new(200, "Internal proxy failure"),
        "prose" => openai_ok("x", "y", 1, 1).pipe_content("Here is your text: hello"),
        other => openai_ok(other, "ok", 1, 1),
    });
    let model = t.model(
        "openai",
        "gpt-5",
        Some(&llm.openai_url()),
        Some("sk-abcdef123456"),
    );
    let (task, items) = t.task(model, &["refuse", "long", "garbage", "prose", "fine"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!((summary.items_ok, summary.items_error), (1, 4));
    let msg = |t: &mut TestDb, id: u32| -> String {
        t.value(&format!(
            "SELECT error_message FROM task_item WHERE id_task_item = {id}"
        ))
    };
    assert!(msg(&mut t, items[0]).contains("refused"));
    assert!(msg(&mut t, items[1]).contains("length"));
    assert!(msg(&mut t, items[2]).contains("not JSON"));
    assert!(msg(&mut t, items[3]).contains("not the requested JSON"));
    let calls = llm.calls_per_text();
    assert_eq!(
        (calls["refuse"], calls["long"], calls["garbage"]),
        (1, 1, 3)
    );
    t.assert_counters_match_items(task);
}

trait PipeContent {
    fn pipe_content(self, content: &str) -> Reply;
}

impl PipeContent for Reply {
    fn pipe_content(self, content: &str) -> Reply {
        let body =
            serde_json::json!({"choices":[{"message":{"content":content},"finish_reason":"stop"}]});
        Reply {
            body: body.to_string(),
            ..self
        }
    }
}

#[test]
fn rate_limits_with_both_wait_headers_then_success() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, n| match n {
        0 => openai_error(429, "rate_limit_exceeded", "Rate limit reached")
            .header("retry-after-ms", "5"),
        1 => openai_error(429, "rate_limit_exceeded", "Rate limit reached")
            .header("Retry-After", "0"),
        _ => openai_ok(&req.item_text(), "ok", 2, 2),
    });
    let model = t.model(
        "openai",
        "gpt-5",
        Some(&llm.openai_url()),
        Some("sk-abcdef123456"),
    );
    let (task, _) = t.task(model, &["a"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 1);
    assert_eq!(llm.requests().len(), 3);
    assert_eq!(t.task_row(task).0, 2);
}

#[test]
fn server_errors_exhaust_retries_and_401_or_no_credit_stop_the_task() {
    let mut t = TestDb::new();
    let broken =
        FakeLlm::start(|_, _| openai_error(500, "server_error", "The server had an error"));
    let model = t.model(
        "openai",
        "gpt-5",
        Some(&broken.openai_url()),
        Some("sk-abcdef123456"),
    );
    let (task, _) = t.task(model, &["a"]);
    let summary = run(
        &t.config,
        &RunOptions {
            task: Some(task),
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(summary.items_error, 1);
    assert_eq!(broken.requests().len(), 3);

    let denied = FakeLlm::start(|_, _| {
        openai_error(
            401,
            "invalid_api_key",
            "Incorrect API key provided: sk-wrong*****6789.",
        )
    });
    let model = t.model(
        "openai",
        "gpt-5",
        Some(&denied.openai_url()),
        Some("sk-wrong-key-00006789"),
    );
    let (task, _) = t.task(model, &["a", "b", "c"]);
    let summary = run(
        &t.config,
        &RunOptions {
            task: Some(task),
            concurrency: Some(1),
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(summary.exit_code(), 1);
    assert_eq!(denied.requests().len(), 1);
    assert_eq!(t.task_row(task).0, 3);
    assert_eq!(t.item_statuses(task), vec![0, 0, 0]);
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {task}"
    ));
    assert!(msg.contains("401") && !msg.contains("sk-wrong"), "{msg}");

    let broke = FakeLlm::start(|_, _| {
        openai_error(429, "insufficient_quota", "You exceeded your current quota")
    });
    let model = t.model(
        "openai",
        "gpt-5",
        Some(&broke.openai_url()),
        Some("sk-abcdef123456"),
    );
    let (task, _) = t.task(model, &["a", "b"]);
    run(
        &t.config,
        &RunOptions {
            task: Some(task),
            concurrency: Some(1),
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(
        broke.requests().len(),
        1,
        "no retries when the account has no credit"
    );
    assert_eq!(t.task_row(task).0, 3);
}

#[test]
fn official_endpoint_without_any_key_stops_the_task() {
    let mut t = TestDb::new();
    let model = t.model("openai", "gpt-5", None, None);
    let (task, _) = t.task(model, &["a"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(summary.exit_code(), 1);
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {task}"
    ));
    assert!(msg.contains("OPENAI_API_KEY"), "{msg}");
}

/// An HTTP date `secs` seconds from now, as `Retry-After` may carry it.
fn http_date_in(secs: u64) -> String {
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + secs;
    let (days, rest) = (at / 86_400, at % 86_400);
    // Civil date from days since 1970 (Howard Hinnant's civil_from_days).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "Mon, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        MONTHS[month as usize - 1],
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[test]
fn retry_after_as_a_date_and_x_should_retry_are_honoured() {
    let mut t = TestDb::new();
    let date = http_date_in(3);
    let llm = FakeLlm::start(move |req, n| {
        let text = req.item_text();
        match (text.as_str(), n) {
            ("data", 0) => {
                openai_error(429, "rate_limit_exceeded", "slow down").header("Retry-After", &date)
            }
            ("nie", _) => {
                openai_error(503, "server_error", "busy").header("x-should-retry", "false")
            }
            ("tak", _) if !req.body.contains("second") => {
                openai_error(400, "invalid_request_error", "odd").header("x-should-retry", "true")
            }
            _ => openai_ok(&text, "ok", 5, 5),
        }
    });
    let model = t.model("openai", "gpt-5", Some(&llm.openai_url()), Some("k"));
    let (task, ids) = t.task(model, &["data", "nie"]);
    let out = t.run_bin(&["--task", &task.to_string(), "--concurrency", "1"]);
    let text = output_text(&out);
    let waited: f64 = text
        .split("retry 1/2 in ")
        .nth(1)
        .and_then(|rest| rest.split('s').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no retry line: {text}"));
    assert!(
        (1.0..=3.0).contains(&waited),
        "waited {waited} s, the date said 3 s: {text}"
    );
    let statuses = t.item_statuses(task);
    assert_eq!(statuses, vec![1, 3], "{text}");
    let calls_for = |t: &str| llm.requests().iter().filter(|r| r.item_text() == t).count();
    assert_eq!(calls_for("nie"), 1, "x-should-retry: false is not retried");
    let message: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        ids[1]
    ));
    assert!(message.contains("x-should-retry: false"), "{message}");
    let (retried, _) = t.task(model, &["tak"]);
    t.run_bin(&["--task", &retried.to_string()]);
    assert!(calls_for("tak") > 1, "x-should-retry: true retries a 400");
}
