//! The engine end to end against the real MariaDB and a fake Gemini server.

mod common;

use std::time::Duration;

use ai_worker::{RunOptions, StopSignal, run};
use common::TestDb;
use common::fake_llm::{FakeLlm, Reply, gemini_error, gemini_ok};

fn opts() -> RunOptions {
    RunOptions {
        trigger: "cli".into(),
        ..RunOptions::default()
    }
}

#[test]
fn happy_path_sets_statuses_counters_tokens_timestamps_and_run_row() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model(
        "gemini",
        "gemini-2.5-pro",
        Some(&llm.base_url),
        Some("AIzaTESTKEY"),
    );
    let (task, items) = t.task(model, &["Ala ma kota", "Kot ma Ale", "Trzeci tekst"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(
        (summary.items_ok, summary.items_error, summary.exit_code()),
        (3, 0, 0)
    );
    assert_eq!(
        (summary.costs.tokens.input, summary.costs.tokens.output),
        (300, 75)
    );
    assert_eq!(t.task_row(task), (2, 3, 3, 0, 300, 75));
    t.assert_counters_match_items(task);
    assert_eq!(t.item_statuses(task), vec![1, 1, 1]);
    let op = summary.operation_uuid.clone();
    let touched: u64 = t.value(&format!("SELECT COUNT(*) FROM task_item WHERE operation_uuid = '{op}' AND processed_at IS NOT NULL AND claim_token IS NULL AND attempts = 1"));
    assert_eq!(touched, 3);
    let (started, finished, task_op): (u8, u8, String) =
        t.value::<String>(&format!("SELECT CONCAT(started_at IS NOT NULL, finished_at IS NOT NULL, operation_uuid) FROM task WHERE id_task = {task}"))
            .split_at(2)
            .pipe(|(flags, op)| (flags.as_bytes()[0] - b'0', flags.as_bytes()[1] - b'0', op.to_string()));
    assert_eq!((started, finished, task_op.as_str()), (1, 1, op.as_str()));
    let run_row: String = t.value(&format!(
        "SELECT CONCAT(`trigger`, '/', items_ok, '/', items_error, '/', finished_at IS NOT NULL, '/', dry_run) FROM task_run WHERE operation_uuid = '{op}'"
    ));
    assert_eq!(run_row, "cli/3/0/1/0");
    let corrected: String = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        items[1]
    ));
    assert_eq!(corrected, "Kot ma Ale");
    let summary_text: String = t.value(&format!(
        "SELECT change_summary FROM task_item WHERE id_task_item = {}",
        items[1]
    ));
    assert_eq!(summary_text, "Poprawiono interpunkcję.");
    // The key travels in the header, never in the URL.
    let req = &llm.requests()[0];
    assert_eq!(
        req.headers.get("x-goog-api-key").map(String::as_str),
        Some("AIzaTESTKEY")
    );
    assert_eq!(req.path, "/v1beta/models/gemini-2.5-pro:generateContent");
    assert!(!req.path.contains("key="));
    assert_eq!(
        req.json()["generationConfig"]["responseMimeType"],
        "application/json"
    );
    assert!(
        req.json()["systemInstruction"]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("text_corrected")
    );
    assert!(
        req.json()["contents"][0]["parts"][0]["text"]
            .as_str()
            .unwrap()
            .contains("Popraw błędy.")
    );
}

trait Pipe: Sized {
    fn pipe<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}
impl<T> Pipe for T {}

#[test]
fn task_flag_processes_only_that_task() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (first, _) = t.task(model, &["a1", "a2"]);
    let (second, _) = t.task(model, &["b1", "b2"]);
    let summary = run(
        &t.config,
        &RunOptions {
            task: Some(second),
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(summary.items_ok, 2);
    assert_eq!(t.item_statuses(first), vec![0, 0]);
    assert_eq!(t.task_row(first).0, 0);
    assert_eq!(t.task_row(second).0, 2);
}

#[test]
fn task_item_flag_processes_one_item_and_skips_processed_ones() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, items) = t.task(model, &["x1", "x2", "x3"]);
    let one = RunOptions {
        task_item: Some(items[1]),
        ..opts()
    };
    let summary = run(&t.config, &one, &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 1);
    assert_eq!(t.item_statuses(task), vec![0, 1, 0]);
    assert_eq!(
        t.task_row(task).0,
        1,
        "task stays IN_PROGRESS while items are pending"
    );
    let again = run(&t.config, &one, &StopSignal::new()).unwrap();
    assert_eq!(again.items_ok, 0);
    assert_eq!(
        llm.requests().len(),
        1,
        "a PROCESSED item is skipped, not sent again"
    );
    let missing = run(
        &t.config,
        &RunOptions {
            task_item: Some(999_999),
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap_err();
    assert!(missing.to_string().contains("999999"));
    assert_eq!(ai_worker::AppError::from(missing).exit_code(), 2);
}

#[test]
fn an_error_item_can_be_retried_with_task_item() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, n| {
        if n == 0 {
            gemini_error(400, "INVALID_ARGUMENT", "bad request")
        } else {
            gemini_ok(&req.item_text(), "ok", 1, 1, 0)
        }
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, items) = t.task(model, &["only"]);
    let first = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!((first.items_error, first.exit_code()), (1, 1));
    assert_eq!(t.task_row(task).0, 3);
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        items[0]
    ));
    assert!(msg.contains("400") && msg.contains("bad request"), "{msg}");
    let retry = run(
        &t.config,
        &RunOptions {
            task_item: Some(items[0]),
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(retry.items_ok, 1);
    assert_eq!(t.task_row(task).0, 2, "all items fine now: COMPLETED");
    t.assert_counters_match_items(task);
}

#[test]
fn max_item_limits_handled_items_and_spreads_them_over_the_tasks() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (t1, _) = t.task(model, &["1a", "1b", "1c"]);
    let (t2, _) = t.task(model, &["2a", "2b", "2c"]);
    let (t3, _) = t.task(model, &["3a"]);
    let summary = run(
        &t.config,
        &RunOptions {
            item_limit: Some(5),
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(summary.items_ok, 5);
    assert_eq!(llm.requests().len(), 5);
    // Round-robin by items, oldest first on a tie: every task gets its share.
    assert_eq!(t.item_statuses(t1), vec![1, 1, 0]);
    assert_eq!(t.item_statuses(t2), vec![1, 1, 0]);
    assert_eq!(t.item_statuses(t3), vec![1]);
    assert_eq!(
        (t.task_row(t1).0, t.task_row(t2).0, t.task_row(t3).0),
        (1, 1, 2)
    );
    let rest = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(rest.items_ok, 2);
    assert_eq!((t.task_row(t1).0, t.task_row(t2).0), (2, 2));
}

#[test]
fn dry_run_writes_nothing() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (_task, _) = t.task(model, &["jeden", "dwa", "   "]);
    let before = t.checksum();
    let summary = run(
        &t.config,
        &RunOptions {
            dry_run: true,
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(t.checksum(), before);
    assert_eq!(summary.dry_run_items.len(), 3);
    assert_eq!(llm.requests().len(), 2, "the blank text needs no call");
    let mut texts: Vec<_> = summary
        .dry_run_items
        .iter()
        .map(|i| i.text_corrected.clone().unwrap())
        .collect();
    texts.sort();
    assert_eq!(texts, vec!["   ", "dwa", "jeden"]);
    assert!(summary.to_json()["items"].as_array().is_some());
}

#[test]
fn missing_or_inactive_model_stops_the_task_with_a_message() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (inactive, _) = t.task(model, &["a"]);
    t.value::<u8>("SELECT 1");
    mysql::prelude::Queryable::exec_drop(
        &mut t.conn,
        "UPDATE ai_model SET is_active = 0 WHERE id_ai_model = ?",
        (model,),
    )
    .unwrap();
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(summary.exit_code(), 1);
    assert_eq!(t.task_row(inactive).0, 3);
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {inactive}"
    ));
    assert!(msg.contains("not active"), "{msg}");
    assert_eq!(
        t.item_statuses(inactive),
        vec![0],
        "items stay pending for a later run"
    );
    // A task pointing at a model id that does not exist (the FK is checked off here
    // the way a panel bug or a manual edit could do it).
    mysql::prelude::Queryable::query_drop(&mut t.conn, "SET FOREIGN_KEY_CHECKS = 0").unwrap();
    mysql::prelude::Queryable::query_drop(
        &mut t.conn,
        "INSERT INTO task (id_ai_model, name, description) VALUES (4242, 'x', 'y')",
    )
    .unwrap();
    let ghost = t.conn.last_insert_id() as u32;
    mysql::prelude::Queryable::exec_drop(
        &mut t.conn,
        "INSERT INTO task_item (id_task, text_original) VALUES (?, 'z')",
        (ghost,),
    )
    .unwrap();
    let summary = run(
        &t.config,
        &RunOptions {
            task: Some(ghost),
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(summary.exit_code(), 1);
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {ghost}"
    ));
    assert!(
        msg.contains("4242") && msg.contains("does not exist"),
        "{msg}"
    );
    assert!(llm.requests().is_empty());
}

#[test]
fn unauthorized_stops_the_task_instead_of_failing_every_item() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|_, _| {
        gemini_error(
            401,
            "UNAUTHENTICATED",
            "API key not valid. Please pass a valid API key.",
        )
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("AIzaWRONGKEY"));
    let texts: Vec<String> = (0..20).map(|i| format!("text {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let summary = run(
        &t.config,
        &RunOptions {
            concurrency: Some(2),
            ..opts()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(summary.exit_code(), 1);
    assert!(
        llm.requests().len() <= 2,
        "at most one call per thread, got {}",
        llm.requests().len()
    );
    assert_eq!(t.task_row(task).0, 3);
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {task}"
    ));
    assert!(
        msg.contains("401") && msg.contains("API key not valid"),
        "{msg}"
    );
    assert!(!msg.contains("AIzaWRONGKEY"));
    assert!(
        t.item_statuses(task).iter().all(|&s| s == 0),
        "items handed back to PENDING"
    );
    let attempts: u64 = t.value(&format!(
        "SELECT CAST(SUM(attempts) AS UNSIGNED) FROM task_item WHERE id_task = {task}"
    ));
    assert_eq!(
        attempts, 0,
        "a handed-back claim is not counted as an attempt"
    );
    t.assert_counters_match_items(task);
}

#[test]
fn rate_limit_then_success() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, n| {
        if n < 2 {
            gemini_error(429, "RESOURCE_EXHAUSTED", "Quota exceeded").header("Retry-After", "0")
        } else {
            gemini_ok(&req.item_text(), "ok", 10, 2, 0)
        }
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["jedyny"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 1);
    assert_eq!(llm.requests().len(), 3);
    assert_eq!(t.task_row(task), (2, 1, 1, 0, 10, 2));
}

#[test]
fn server_errors_until_retries_run_out_fail_the_item() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|_, _| gemini_error(500, "INTERNAL", "boom"));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, items) = t.task(model, &["x"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!((summary.items_error, summary.exit_code()), (1, 1));
    assert_eq!(llm.requests().len(), 3, "1 attempt + AI_MAX_RETRIES=2");
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        items[0]
    ));
    assert!(
        msg.contains("500") && msg.contains("gave up after 3 attempts"),
        "{msg}"
    );
    assert_eq!(t.task_row(task).0, 3);
    let task_msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {task}"
    ));
    assert_eq!(task_msg, "1 of 1 items failed");
    t.assert_counters_match_items(task);
}

#[test]
fn malformed_body_and_safety_block_are_clear_item_errors() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| match req.item_text().as_str() {
        "garbage" => Reply::new(200, "<html>proxy error</html>"),
        "unsafe" => Reply::new(
            200,
            r#"{"candidates":[{"finishReason":"SAFETY","safetyRatings":[]}]}"#,
        ),
        "not our json" => {
            let body = serde_json::json!({"candidates":[{"content":{"parts":[{"text":"Sure, here you go"}]},"finishReason":"STOP"}]});
            Reply::new(200, body.to_string())
        }
        other => gemini_ok(other, "ok", 1, 1, 0),
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, items) = t.task(model, &["garbage", "unsafe", "not our json", "fine"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!((summary.items_ok, summary.items_error), (1, 3));
    assert_eq!(t.item_statuses(task), vec![3, 3, 3, 1]);
    let msg = |t: &mut TestDb, id: u32| -> String {
        t.value(&format!(
            "SELECT error_message FROM task_item WHERE id_task_item = {id}"
        ))
    };
    assert!(msg(&mut t, items[0]).contains("not JSON"));
    assert!(msg(&mut t, items[1]).contains("SAFETY"));
    assert!(msg(&mut t, items[2]).contains("not the requested JSON"));
    let calls = llm.calls_per_text();
    assert_eq!(calls["unsafe"], 1, "a safety block is not retried");
    assert_eq!(calls["garbage"], 3, "a garbled body is retried");
    assert_eq!(t.task_row(task).0, 3);
    let task_msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {task}"
    ));
    assert_eq!(task_msg, "3 of 4 items failed");
    t.assert_counters_match_items(task);
}

#[test]
fn blank_text_is_processed_without_a_call() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, items) = t.task(model, &["", " \n\t "]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 2);
    assert!(llm.requests().is_empty());
    assert_eq!(t.task_row(task).0, 2);
    let corrected: String = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        items[1]
    ));
    assert_eq!(corrected, " \n\t ");
    let summary_text: String = t.value(&format!(
        "SELECT change_summary FROM task_item WHERE id_task_item = {}",
        items[1]
    ));
    assert!(summary_text.contains("nothing to correct"));
}

#[test]
fn polish_diacritics_and_emoji_round_trip_byte_for_byte() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let text = "Zażółć gęślą jaźń 🦀👩‍💻 — „cudzysłów” ŻÓŁW\n\ttab";
    let (_, items) = t.task(model, &[text]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let (original, corrected): (Vec<u8>, Vec<u8>) = mysql::prelude::Queryable::exec_first(
        &mut t.conn,
        "SELECT text_original, text_corrected FROM task_item WHERE id_task_item = ?",
        (items[0],),
    )
    .unwrap()
    .unwrap();
    assert_eq!(original, text.as_bytes(), "text_original never modified");
    assert_eq!(corrected, text.as_bytes());
    assert_eq!(llm.requests()[0].item_text(), text);
}

#[test]
fn text_original_is_never_modified() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|_, _| gemini_ok("COMPLETELY DIFFERENT", "rewrote", 1, 1, 0));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["oryginał 1", "oryginał 2"]);
    let before: String = t.value(&format!("SELECT GROUP_CONCAT(MD5(text_original) ORDER BY id_task_item) FROM task_item WHERE id_task = {task}"));
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let after: String = t.value(&format!("SELECT GROUP_CONCAT(MD5(text_original) ORDER BY id_task_item) FROM task_item WHERE id_task = {task}"));
    assert_eq!(before, after);
    let corrected: String = t.value(&format!(
        "SELECT GROUP_CONCAT(text_corrected) FROM task_item WHERE id_task = {task}"
    ));
    assert_eq!(corrected, "COMPLETELY DIFFERENT,COMPLETELY DIFFERENT");
}

#[test]
fn timeouts_are_retried_then_fail_the_item() {
    let mut t = TestDb::new();
    t.config.ai_timeout = Duration::from_secs(1);
    t.config.ai_max_retries = 1;
    let llm = FakeLlm::start(|req, _| {
        gemini_ok(&req.item_text(), "late", 1, 1, 0).delayed(Duration::from_secs(3))
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (_, items) = t.task(model, &["slow"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(summary.items_error, 1);
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        items[0]
    ));
    assert!(
        msg.contains("Timeout") && msg.contains("2 attempts"),
        "{msg}"
    );
}

#[test]
fn a_model_without_a_stored_key_uses_the_environment_key() {
    let mut t = TestDb::new();
    t.config.gemini_api_key = Some("AIzaFROMENVIRONMENT".into());
    // The fake is not Google's host: the operator allows it, as for a gateway.
    t.config.env_key_hosts = vec!["127.0.0.1".into()];
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), None);
    let (task, _) = t.task(model, &["a"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(
        llm.requests()[0]
            .headers
            .get("x-goog-api-key")
            .map(String::as_str),
        Some("AIzaFROMENVIRONMENT")
    );
    assert_eq!(t.task_row(task).0, 2);
    t.config.gemini_api_key = None;
    let (task, _) = t.task(model, &["b"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {task}"
    ));
    assert!(msg.contains("GEMINI_API_KEY"), "{msg}");
}

#[test]
fn malformed_model_rows_stop_their_task_with_a_message_and_call_nothing() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    // What a panel form or a hand edit can leave behind.
    let claude = t.model("claude", "claude-3", Some(&llm.base_url), Some("k"));
    let (unknown, _) = t.task(claude, &["a"]);
    let bad_url = t.model("gemini", "m", Some("not a url"), Some("k"));
    let (broken, _) = t.task(bad_url, &["b"]);
    let spaced = t.model("gemini", "gemini 2.5 pro", Some(&llm.base_url), Some("k"));
    let (misnamed, _) = t.task(spaced, &["c"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(summary.exit_code(), 1);
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {unknown}"
    ));
    assert!(msg.contains("unknown provider 'claude'"), "{msg}");
    assert_eq!(t.task_row(unknown).0, 3);
    assert_eq!(t.item_statuses(unknown), vec![0], "items wait for a fix");
    // An address that cannot be one stops its task too, naming the column.
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {broken}"
    ));
    assert!(
        msg.contains("'not a url'") && msg.contains("ai_model.api_url"),
        "{msg}"
    );
    assert_eq!(t.task_row(broken).0, 3);
    assert_eq!(t.item_statuses(broken), vec![0]);
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {misnamed}"
    ));
    assert!(msg.contains("model_name 'gemini 2.5 pro'"), "{msg}");
    assert_eq!(t.item_statuses(misnamed), vec![0]);
    assert!(llm.requests().is_empty());
}
