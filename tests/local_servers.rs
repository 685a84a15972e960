//! Local OpenAI-compatible servers as they really answer: llama-cpp-python rejects
//! json_schema with a 500, llama.cpp reads max_tokens only, small models wrap their
//! JSON in prose and repeat a wrong answer, Python servers answer with tracebacks.

mod common;

use ai_worker::{RunOptions, StopSignal, run};
use common::fake_llm::{FakeLlm, Reply, openai_ok};
use common::{TestDb, output_text};
use serde_json::json;

fn opts() -> RunOptions {
    RunOptions {
        item_limit: Some(1000),
        concurrency: Some(1),
        ..RunOptions::default()
    }
}

fn content_reply(content: &str, finish: &str) -> Reply {
    Reply::new(
        200,
        json!({
            "choices": [{"message": {"content": content}, "finish_reason": finish}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5}
        })
        .to_string(),
    )
}

#[test]
fn a_500_rejecting_json_schema_steps_down_to_json_object_and_is_remembered() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| {
        let format = req.json()["response_format"]["type"].clone();
        if format == "json_schema" {
            // What llama-cpp-python's server answers (pydantic validation, HTTP 500).
            Reply::new(500, json!({"error": {"message": "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  Input should be 'text' or 'json_object'", "type": "internal_server_error"}}).to_string())
        } else {
            openai_ok(&req.item_text(), "ok", 5, 5)
        }
    });
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let (task, _) = t.task(model, &["a", "b"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 2);
    let formats: Vec<String> = llm
        .requests()
        .iter()
        .map(|r| {
            r.json()["response_format"]["type"]
                .as_str()
                .unwrap_or("none")
                .to_string()
        })
        .collect();
    assert_eq!(formats, vec!["json_schema", "json_object", "json_object"]);
    let remembered: u8 = t.value(&format!(
        "SELECT structured_output FROM ai_model WHERE id_ai_model = {model}"
    ));
    assert_eq!(remembered, 2);
    // The next run asks for json_object at once: no probe.
    let (_, _) = t.task(model, &["c"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let last = llm.requests().last().unwrap().json();
    assert_eq!(last["response_format"]["type"], "json_object");
    assert_eq!(llm.requests().len(), 4);
    t.assert_counters_match_items(task);
}

#[test]
fn servers_of_your_own_get_max_tokens_and_a_default_cap() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| openai_ok(&req.item_text(), "ok", 5, 5));
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let text = "Kot pije mleko. ".repeat(40);
    t.task(model, &[text.as_str()]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let body = llm.requests()[0].json();
    let cap = text.chars().count() as u64 / 2 + 512;
    assert_eq!(body["max_tokens"], cap, "{body}");
    assert_eq!(body["max_completion_tokens"], cap);
    t.conn_exec(&format!(
        "UPDATE ai_model SET max_output_tokens = 77 WHERE id_ai_model = {model}"
    ));
    t.task(model, &["b"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(llm.requests().last().unwrap().json()["max_tokens"], 77);
}

#[test]
fn an_answer_cut_off_says_which_limit_cut_it() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|_, _| content_reply("{\"text_corrected\": \"Ala", "length"));
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let (_, ids) = t.task(model, &["Ala ma kota."]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let message: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert!(
        message.contains("the cap ai-worker sends when ai_model.max_output_tokens is NULL"),
        "{message}"
    );
}

#[test]
fn json_wrapped_in_prose_is_found() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, n| {
        let object = json!({"text_corrected": req.item_text(), "change_summary": "ok"}).to_string();
        let wrapped = match n % 3 {
            0 => format!("JSON: {object}"),
            1 => format!("Here is the corrected text:\n{object}\nLet me know if you need more."),
            _ => format!("```json\n{object}\n```"),
        };
        content_reply(&wrapped, "stop")
    });
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let (task, _) = t.task(model, &["a", "b", "c"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(t.item_statuses(task), vec![1, 1, 1]);
    assert_eq!(llm.requests().len(), 3, "no retry was needed");
}

#[test]
fn a_wrong_answer_is_retried_with_a_note_and_more_temperature_and_fewer_times() {
    let mut t = TestDb::new();
    t.config.ai_max_retries = 5;
    let llm = FakeLlm::start(|_, _| content_reply("I corrected the text for you.", "stop"));
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    t.conn_exec(&format!(
        "UPDATE ai_model SET temperature = 0 WHERE id_ai_model = {model}"
    ));
    let (task, ids) = t.task(model, &["Ala ma kota."]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let bodies: Vec<_> = llm.requests().iter().map(|r| r.json()).collect();
    assert_eq!(
        bodies.len(),
        3,
        "bad answers get 2 retries, not AI_MAX_RETRIES (5)"
    );
    let message_of = |i: usize, m: usize| {
        bodies[i]["messages"][m]["content"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert!(!message_of(0, 0).contains("could not be used"));
    // The note goes with the instructions, never next to the text.
    assert!(
        message_of(1, 0).contains("your previous answer to this request could not be used")
            && message_of(1, 0).contains("not the requested JSON")
    );
    assert!(!message_of(1, 1).contains("could not be used"));
    assert_eq!(bodies[0]["temperature"], 0.0);
    assert!(bodies[1]["temperature"].as_f64().unwrap() > 0.0);
    assert_eq!(t.item_statuses(task), vec![3]);
    let message: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert!(message.contains("gave up after 3 attempts"), "{message}");
}

#[test]
fn a_traceback_is_stored_as_its_last_line_only() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|_, _| {
        Reply::new(
            400,
            "Traceback (most recent call last):\n  File \"/opt/venv/lib/python3.11/site-packages/llama_cpp/server/app.py\", line 1, in x\nRuntimeError: the context window is full\n",
        )
    });
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let (_, ids) = t.task(model, &["a"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let message: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert!(
        message.contains("RuntimeError: the context window is full"),
        "{message}"
    );
    assert!(
        !message.contains("/opt/venv") && !message.contains("Traceback"),
        "{message}"
    );
}

#[test]
fn a_keyless_local_model_is_added_without_a_warning() {
    let t = TestDb::new();
    let out = t.run_bin(&[
        "model",
        "add",
        "--name",
        "llamacpp",
        "--provider",
        "openai",
        "--model",
        "local",
        "--api-url",
        "http://127.0.0.1:8081/v1",
        "--structured-output",
        "object",
        "--max-output-tokens",
        "512",
        "--temperature",
        "0.2",
    ]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("no key: none is needed") && !text.contains("warning"),
        "{text}"
    );
}

#[test]
fn a_gateway_to_the_provider_gets_the_providers_rules_not_a_local_servers() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| openai_ok(&req.item_text(), "ok", 5, 5));
    let model = t.model("openai", "gpt-5-mini", Some(&llm.openai_url()), Some("k"));
    // A LiteLLM-style proxy: its address is not the provider's, but it is no server
    // of one's own either.
    let name = model_name(&mut t, model);
    let out = t.run_bin(&["model", "update", &name, "--local-server", "no"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let stored: u8 = t.value(&format!(
        "SELECT local_server FROM ai_model WHERE id_ai_model = {model}"
    ));
    assert_eq!(stored, 0);
    t.task(model, &["Ala ma kota."]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let body = llm.requests()[0].json();
    assert!(body.get("max_tokens").is_none(), "{body}");
    assert!(
        body.get("max_completion_tokens").is_none(),
        "no default cap: {body}"
    );
    let out = t.run_bin(&["model", "update", &name, "--local-server", "maybe"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        output_text(&out).contains("--local-server must be yes"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn a_batch_task_on_a_server_of_ones_own_goes_out_as_direct_calls() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| openai_ok(&req.item_text(), "ok", 5, 5));
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    t.conn_exec(&format!(
        "UPDATE ai_model SET price_input = 1, price_output = 1 WHERE id_ai_model = {model}"
    ));
    let (task, _) = t.task(model, &["Ala ma kota."]);
    t.conn_exec(&format!("UPDATE task SET batch = 1 WHERE id_task = {task}"));
    let out = t.run_bin(&["--estimate", "--json", "--task", &task.to_string()]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        doc["estimate"][0]["batch"], false,
        "priced at the direct price: {doc}"
    );
    let out = t.run_bin(&["--task", &task.to_string()]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("server of your own, which has no Batch API"),
        "{text}"
    );
    assert_eq!(t.item_statuses(task), vec![1]);
    assert!(
        llm.requests()[0].json().get("messages").is_some(),
        "a direct call"
    );
}

fn model_name(t: &mut TestDb, model: u32) -> String {
    t.value(&format!(
        "SELECT name FROM ai_model WHERE id_ai_model = {model}"
    ))
}
