//! Cost: every billed token counted, prices applied, budgets that hold across
//! processes, the levers sent, and an estimate that calls nothing.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use ai_worker::{RunOptions, StopSignal, run};
use common::fake_llm::{FakeLlm, Reply};
use common::{TestDb, output_text};
use mysql::prelude::Queryable;
use serde_json::json;

fn opts() -> RunOptions {
    RunOptions {
        item_limit: Some(1000),
        ..RunOptions::default()
    }
}

/// A Gemini answer with the given usage (prompt, cached, output, thinking).
fn gemini_reply(answer: &str, usage: (u64, u64, u64, u64)) -> Reply {
    let (prompt, cached, out, thoughts) = usage;
    Reply::new(
        200,
        json!({
            "candidates": [{"content": {"parts": [{"text": answer}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": prompt, "cachedContentTokenCount": cached,
                              "candidatesTokenCount": out, "thoughtsTokenCount": thoughts}
        })
        .to_string(),
    )
}

fn ok_answer(text: &str) -> String {
    json!({"text_corrected": text, "change_summary": "ok"}).to_string()
}

fn set_prices(t: &mut TestDb, model: u32, input: f64, cached: f64, output: f64) {
    t.conn
        .exec_drop(
            "UPDATE ai_model SET price_input = ?, price_cached_input = ?, price_output = ?, currency = 'EUR' WHERE id_ai_model = ?",
            (input, cached, output, model),
        )
        .unwrap();
}

#[test]
fn every_call_is_counted_retries_and_failures_included_and_priced() {
    let mut t = TestDb::new();
    // "zły" never gets a valid answer; "dobry" gets one on the second call.
    let llm = FakeLlm::start(|req, _| {
        let text = req.item_text();
        if text == "zły" {
            return gemini_reply("not json at all", (100, 0, 10, 3));
        }
        gemini_reply(&ok_answer(&text), (200, 80, 20, 5))
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    set_prices(&mut t, model, 2.0, 0.5, 10.0);
    let (task, ids) = t.task(model, &["dobry", "zły"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    // dobry: 1 call; zły: 3 calls (AI_MAX_RETRIES = 2), each billed.
    let calls = llm.requests().len() as u64;
    assert_eq!(calls, 4);
    let (good_in, good_out) = (200, 25);
    let (bad_in, bad_out) = (3 * 100, 3 * 13);
    assert_eq!(summary.costs.tokens.input, good_in + bad_in);
    assert_eq!(summary.costs.tokens.output, good_out + bad_out);
    assert_eq!(summary.costs.tokens.cached, 80);
    assert_eq!(summary.costs.tokens.thinking, 5 + 3 * 3);
    let row: (u64, u64, u64, u64, String) = t.conn_first(&format!(
        "SELECT tokens_input, tokens_output, tokens_cached, tokens_thinking, CAST(cost AS CHAR) \
         FROM task_item WHERE id_task_item = {}",
        ids[1]
    ));
    assert_eq!(
        (row.0, row.1, row.2, row.3),
        (300, 39, 0, 9),
        "the failed item's calls"
    );
    // cost = ((in - cached) * 2 + cached * 0.5 + out * 10) / 1e6
    let good_cost = ((200.0 - 80.0) * 2.0 + 80.0 * 0.5 + 25.0 * 10.0) / 1e6;
    let bad_cost = (300.0 * 2.0 + 39.0 * 10.0) / 1e6;
    assert!(
        (row.4.parse::<f64>().unwrap() - bad_cost).abs() < 1e-9,
        "{}",
        row.4
    );
    let task_cost: String = t.value(&format!(
        "SELECT CAST(cost AS CHAR) FROM task WHERE id_task = {task}"
    ));
    assert!((task_cost.parse::<f64>().unwrap() - (good_cost + bad_cost)).abs() < 1e-9);
    assert!((summary.costs.cost.unwrap() - (good_cost + bad_cost)).abs() < 1e-9);
    assert_eq!(summary.costs.currency.as_deref(), Some("EUR"));
    t.assert_counters_match_items(task);
    let (cached, thinking): (u64, u64) = t.conn_first(&format!(
        "SELECT tokens_cached, tokens_thinking FROM task WHERE id_task = {task}"
    ));
    assert_eq!((cached, thinking), (80, 14));
    let run_cost: String = t.value("SELECT CAST(cost AS CHAR) FROM task_run");
    assert!((run_cost.parse::<f64>().unwrap() - (good_cost + bad_cost)).abs() < 1e-9);
    let progress = ai_worker::app::status::task(&t.config, task).unwrap();
    assert_eq!(progress.cost.2, "EUR");
    assert!((progress.cost.0.unwrap() - (good_cost + bad_cost)).abs() < 1e-9);
}

#[test]
fn a_model_without_prices_says_so_once_per_run() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| gemini_reply(&ok_answer(&req.item_text()), (10, 0, 2, 0)));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (first, _) = t.task(model, &["a", "b"]);
    let (second, _) = t.task(model, &["c"]);
    let out = t.run_bin(&[]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(text.matches("has no prices").count(), 1, "{text}");
    assert!(text.contains("cost unknown"), "{text}");
    let costs: Vec<Option<String>> = t
        .conn
        .query(format!(
            "SELECT CAST(cost AS CHAR) FROM task WHERE id_task IN ({first}, {second})"
        ))
        .unwrap();
    assert_eq!(costs, vec![None, None]);
}

/// A Gemini fake whose every answer costs `tokens` input and output tokens.
fn priced_llm(tokens: u64) -> FakeLlm {
    FakeLlm::start(move |req, _| gemini_reply(&ok_answer(&req.item_text()), (tokens, 0, tokens, 0)))
}

#[test]
fn a_task_budget_pauses_the_task_and_a_raised_one_resumes_it() {
    let mut t = TestDb::new();
    let llm = priced_llm(1000);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    // Each call: 1000 in at 1.0 + 1000 out at 1.0 per million = 0.002.
    set_prices(&mut t, model, 1.0, 1.0, 1.0);
    let texts: Vec<String> = (0..10).map(|i| format!("tekst {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    t.conn_exec(&format!(
        "UPDATE task SET max_cost = 0.007 WHERE id_task = {task}"
    ));
    let out = t.run_bin(&["--task", &task.to_string(), "--concurrency", "1"]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("budget of task {task} reached")),
        "{text}"
    );
    assert!(text.contains("raise task.max_cost"), "{text}");
    let statuses = t.item_statuses(task);
    let done = statuses.iter().filter(|&&s| s == 1).count();
    // Reservations are estimates, settled when a result is saved (a moment after the
    // next call may have reserved): the overshoot is at most the calls in flight.
    assert!((2..=5).contains(&done), "{statuses:?}");
    assert!(
        statuses.iter().all(|&s| s == 1 || s == 0),
        "the rest wait: {statuses:?}"
    );
    let (status, reserved): (u8, String) = t.conn_first(&format!(
        "SELECT status_id, CAST(cost_reserved AS CHAR) FROM task WHERE id_task = {task}"
    ));
    assert_eq!(status, 1, "IN_PROGRESS");
    assert_eq!(
        reserved.parse::<f64>().unwrap(),
        0.0,
        "no reservation is left behind"
    );
    // Raised: the next run finishes the task.
    t.conn_exec(&format!(
        "UPDATE task SET max_cost = 1 WHERE id_task = {task}"
    ));
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(t.item_statuses(task), vec![1; 10]);
    t.assert_counters_match_items(task);
}

#[test]
fn a_daily_budget_holds_for_the_model_across_tasks() {
    let mut t = TestDb::new();
    let llm = priced_llm(1000);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    set_prices(&mut t, model, 1.0, 1.0, 1.0);
    t.conn_exec(&format!(
        "UPDATE ai_model SET daily_budget = 0.005 WHERE id_ai_model = {model}"
    ));
    let (a, _) = t.task(model, &["a1", "a2", "a3"]);
    let (b, _) = t.task(model, &["b1", "b2", "b3"]);
    let out = t.run_bin(&["--concurrency", "1"]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("daily budget of model"), "{text}");
    let saved: u64 = t.value(&format!(
        "SELECT COUNT(*) FROM task_item WHERE status_id = 1 AND id_task IN ({a}, {b})"
    ));
    assert!((1..=3).contains(&saved), "{saved}");
    let (spent, reserved): (String, String) =
        t.conn_first("SELECT CAST(spent AS CHAR), CAST(reserved AS CHAR) FROM ai_model_spend");
    assert!((spent.parse::<f64>().unwrap() - 0.002 * saved as f64).abs() < 1e-9);
    assert_eq!(reserved.parse::<f64>().unwrap(), 0.0);
}

#[test]
fn two_processes_sharing_one_budget_stop_within_what_is_in_flight() {
    let mut t = TestDb::new();
    let calls = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&calls);
    let llm = FakeLlm::start(move |req, _| {
        counter.fetch_add(1, Ordering::SeqCst);
        gemini_reply(&ok_answer(&req.item_text()), (1000, 0, 1000, 0))
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    set_prices(&mut t, model, 1.0, 1.0, 1.0);
    let texts: Vec<String> = (0..100).map(|i| format!("tekst {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let max_cost = 0.05;
    t.conn_exec(&format!(
        "UPDATE task SET max_cost = {max_cost} WHERE id_task = {task}"
    ));
    let children: Vec<_> = (0..2)
        .map(|_| {
            t.bin_command(&["--task", &task.to_string(), "--concurrency", "2", "-q"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    }
    let cost: String = t.value(&format!(
        "SELECT CAST(cost AS CHAR) FROM task WHERE id_task = {task}"
    ));
    let cost: f64 = cost.parse().unwrap();
    // One call costs 0.002; 4 threads in flight at most, each may exceed its estimate.
    let per_call = 0.002;
    assert!(
        cost <= max_cost + 4.0 * per_call,
        "overshoot: {cost} of {max_cost}"
    );
    assert!(
        cost >= max_cost - 4.0 * per_call,
        "stopped too early: {cost}"
    );
    let paid = calls.load(Ordering::SeqCst) as f64 * per_call;
    assert!(
        (paid - cost).abs() < 1e-9,
        "every call is on the task: {paid} vs {cost}"
    );
    t.assert_counters_match_items(task);
}

#[test]
fn the_levers_reach_the_wire() {
    let mut t = TestDb::new();
    let gemini = priced_llm(10);
    let openai = FakeLlm::start(|req, _| {
        let answer = ok_answer(&req.item_text());
        Reply::new(
            200,
            json!({
                "choices": [{"message": {"content": answer}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 50, "completion_tokens": 30,
                          "prompt_tokens_details": {"cached_tokens": 20},
                          "completion_tokens_details": {"reasoning_tokens": 12}}
            })
            .to_string(),
        )
    });
    let g = t.model(
        "gemini",
        "gemini-2.5-flash",
        Some(&gemini.base_url),
        Some("k"),
    );
    let o = t.model("openai", "gpt-5", Some(&openai.openai_url()), Some("k"));
    t.conn_exec(&format!(
        "UPDATE ai_model SET thinking_budget = 0 WHERE id_ai_model = {g}"
    ));
    t.conn_exec(&format!(
        "UPDATE ai_model SET reasoning_effort = 'low', service_tier = 'flex' WHERE id_ai_model = {o}"
    ));
    t.task(g, &["a"]);
    let (task, _) = t.task(o, &["b", "c"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let body = gemini.requests()[0].json();
    assert_eq!(
        body["generationConfig"]["thinkingConfig"]["thinkingBudget"],
        0
    );
    let bodies: Vec<_> = openai.requests().iter().map(|r| r.json()).collect();
    assert_eq!(bodies[0]["reasoning_effort"], "low");
    assert_eq!(bodies[0]["service_tier"], "flex");
    let key = format!("ai-worker-task-{task}");
    assert!(bodies.iter().all(|b| b["prompt_cache_key"] == key.as_str()));
    // The fixed part of the prompt is byte-identical for every item of a task.
    let prefix = |b: &serde_json::Value| {
        let user = b["messages"][1]["content"].as_str().unwrap().to_string();
        (
            b["messages"][0].clone(),
            user.split("<text>").next().unwrap().to_string(),
        )
    };
    assert_eq!(prefix(&bodies[0]), prefix(&bodies[1]));
    let (cached, thinking): (u64, u64) = t.conn_first(&format!(
        "SELECT tokens_cached, tokens_thinking FROM task WHERE id_task = {task}"
    ));
    assert_eq!((cached, thinking), (40, 24));
    // A budget Gemini 2.5 Pro does not accept stops its task with the reason.
    let pro = t.model(
        "gemini",
        "gemini-2.5-pro",
        Some(&gemini.base_url),
        Some("k"),
    );
    t.conn_exec(&format!(
        "UPDATE ai_model SET thinking_budget = 0 WHERE id_ai_model = {pro}"
    ));
    let (stopped, _) = t.task(pro, &["d"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let message: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {stopped}"
    ));
    assert!(
        message.contains("thinking_budget 0") && message.contains("128 to 32768"),
        "{message}"
    );
}

#[test]
fn the_estimate_calls_nothing_writes_nothing_and_prices_the_pending_items() {
    let mut t = TestDb::new();
    let llm = priced_llm(10);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    set_prices(&mut t, model, 1.25, 0.125, 10.0);
    let (task, _) = t.task(model, &["Ala ma kota.", "Kot ma Alę, a Ala ma psa."]);
    let before = t.checksum();
    let out = t.run_bin(&["--estimate", "--json"]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(llm.requests().is_empty());
    assert_eq!(t.checksum(), before);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &doc["estimate"][0];
    assert_eq!(
        (row["id_task"].as_u64(), row["items"].as_u64()),
        (Some(task as u64), Some(2))
    );
    let (tin, tout) = (
        row["tokens_input"].as_f64().unwrap(),
        row["tokens_output"].as_f64().unwrap(),
    );
    assert!(tin > tout && tout > 0.0, "{row}");
    let cost = (tin * 1.25 + tout * 10.0) / 1e6;
    assert!(
        (row["cost"].as_f64().unwrap() - cost).abs() < 1e-12,
        "{row}"
    );
    let out = t.run_bin(&["--estimate", "--task", &task.to_string()]);
    assert!(
        output_text(&out).contains("Total: 2 items"),
        "{}",
        output_text(&out)
    );
    let out = t.run_bin(&["--estimate", "--task", "999999"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn init_db_adds_this_rounds_columns_to_an_older_database() {
    let mut t = TestDb::new();
    // A database made by an older ai-worker: without the new columns and index.
    t.conn_exec("ALTER TABLE task DROP COLUMN cost, DROP COLUMN max_cost");
    t.conn_exec("ALTER TABLE task_item DROP COLUMN review_comment");
    t.conn_exec("DROP TABLE ai_model_spend");
    ai_worker::internals::init_db(&t.config.db).unwrap();
    let columns: u64 = t.value(
        "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
         AND ((TABLE_NAME = 'task' AND COLUMN_NAME IN ('cost', 'max_cost')) \
         OR (TABLE_NAME = 'task_item' AND COLUMN_NAME = 'review_comment'))",
    );
    assert_eq!(columns, 3);
    let index: u64 = t.value(
        "SELECT COUNT(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() \
         AND INDEX_NAME = 'idx_task_item_review'",
    );
    assert!(index > 0);
    let spend: u64 = t.value(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() \
         AND TABLE_NAME = 'ai_model_spend'",
    );
    assert_eq!(spend, 1);
    // And a second init-db changes nothing.
    let before = t.checksum();
    ai_worker::internals::init_db(&t.config.db).unwrap();
    assert_eq!(t.checksum(), before);
}
