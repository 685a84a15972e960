//! Fallback models: a night goes on when the task's model is down, rate limited past
//! the run's wait, or out of its daily budget; each result records who made it.

mod common;

use ai_worker::{RunOptions, StopSignal, run};
use common::fake_llm::{FakeLlm, gemini_error};
use common::{TestDb, output_text};

/// A primary model on `primary_url` whose fallback answers through `fallback`.
fn chain(t: &mut TestDb, primary_url: &str, fallback: &FakeLlm) -> (u32, u32) {
    let primary = t.model("gemini", "primary", Some(primary_url), Some("k"));
    let second = t.model("gemini", "second", Some(&fallback.base_url), Some("k"));
    t.conn_exec(&format!(
        "UPDATE ai_model SET id_fallback_model = {second} WHERE id_ai_model = {primary}"
    ));
    t.conn_exec(&format!(
        "UPDATE ai_model SET price_input = 2, price_output = 2 WHERE id_ai_model = {second}"
    ));
    (primary, second)
}

fn made_by(t: &mut TestDb, task: u32) -> Vec<Option<u32>> {
    use mysql::prelude::Queryable;
    t.conn
        .query(format!(
            "SELECT id_ai_model FROM task_item WHERE id_task = {task} ORDER BY id_task_item"
        ))
        .unwrap()
}

#[test]
fn an_unreachable_model_hands_its_items_to_its_fallback() {
    let mut t = TestDb::new();
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead_url = format!("http://{}/v1beta", closed.local_addr().unwrap());
    drop(closed);
    let fallback = FakeLlm::gemini_echo();
    let (primary, second) = chain(&mut t, &dead_url, &fallback);
    let (task, _) = t.task(primary, &["pierwszy", "drugi", "trzeci"]);
    let summary = run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 3, "{}", summary.message);
    assert_eq!(made_by(&mut t, task), vec![Some(second); 3]);
    assert!(
        summary.message.contains("fell back from 'gemini-primary")
            && summary.message.contains("3 items saved by a fallback"),
        "{}",
        summary.message
    );
    // Tokens and cost are the fallback's: 100 in, 20 + 5 thinking out, at 2 per million.
    let cost: String = t.value(&format!(
        "SELECT CAST(cost AS CHAR) FROM task WHERE id_task = {task}"
    ));
    assert!(
        (cost.parse::<f64>().unwrap() - 3.0 * 125.0 * 2.0 / 1e6).abs() < 1e-9,
        "{cost}"
    );
    assert_eq!(t.task_row(task).0, 2);
    t.assert_counters_match_items(task);
}

#[test]
fn rate_limited_past_the_wait_or_out_of_budget_the_fallback_takes_over() {
    let mut t = TestDb::new();
    let limited = FakeLlm::start(|_, _| gemini_error(429, "RESOURCE_EXHAUSTED", "quota"));
    let fallback = FakeLlm::gemini_echo();
    let (primary, second) = chain(&mut t, &limited.base_url, &fallback);
    let (task, _) = t.task(primary, &["jeden", "dwa"]);
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert_eq!(made_by(&mut t, task), vec![Some(second); 2]);
    assert!(
        !limited.requests().is_empty(),
        "the primary was tried first"
    );
    // Its daily budget spent: the fallback, without a call to the primary.
    let healthy = FakeLlm::gemini_echo();
    let (primary, second) = chain(&mut t, &healthy.base_url, &fallback);
    t.conn_exec(&format!(
        "UPDATE ai_model SET price_input = 1000, price_output = 1000, daily_budget = 0.0001 WHERE id_ai_model = {primary}"
    ));
    let (task, _) = t.task(primary, &["trzy"]);
    let summary = run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert_eq!(made_by(&mut t, task), vec![Some(second)]);
    assert!(healthy.requests().is_empty());
    assert!(
        summary.message.contains("daily budget"),
        "{}",
        summary.message
    );
}

#[test]
fn model_update_sets_a_fallback_and_refuses_a_cycle() {
    let mut t = TestDb::new();
    for name in ["a", "b", "c"] {
        let out = t.run_bin(&[
            "model",
            "add",
            "--name",
            name,
            "--provider",
            "echo",
            "--model",
            "echo",
        ]);
        assert!(out.status.success(), "{}", output_text(&out));
    }
    for (model, fallback) in [("a", "b"), ("b", "c")] {
        let out = t.run_bin(&["model", "update", model, "--fallback", fallback]);
        assert!(out.status.success(), "{}", output_text(&out));
    }
    let out = t.run_bin(&["model", "update", "c", "--fallback", "a"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        output_text(&out).contains("leads back to 'c'"),
        "{}",
        output_text(&out)
    );
    let out = t.run_bin(&["model", "update", "a", "--fallback", "nobody"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(output_text(&out).contains("no model is named 'nobody'"));
    let out = t.run_bin(&["model", "update", "b", "--fallback", "none"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let left: Option<u32> = t.value("SELECT id_fallback_model FROM ai_model WHERE name = 'b'");
    assert_eq!(left, None);
}

#[test]
fn the_tasks_own_model_takes_its_items_again_once_it_answers() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut t = TestDb::new();
    let down = Arc::new(AtomicBool::new(true));
    let primary_down = Arc::clone(&down);
    let primary = FakeLlm::start(move |req, _| {
        if primary_down.load(Ordering::SeqCst) {
            gemini_error(429, "RESOURCE_EXHAUSTED", "quota")
        } else {
            common::fake_llm::gemini_ok(&req.item_text(), "ok", 1, 1, 0)
        }
    });
    // The fallback's first answer brings the primary back; each answer takes a
    // while, so the run is still going when it looks at its own model again.
    let recovered = Arc::clone(&down);
    let fallback = FakeLlm::start(move |req, _| {
        recovered.store(false, Ordering::SeqCst);
        common::fake_llm::gemini_ok(&req.item_text(), "ok", 1, 1, 0)
            .delayed(std::time::Duration::from_millis(300))
    });
    let (first, second) = chain(&mut t, &primary.base_url, &fallback);
    let texts: Vec<String> = (0..20).map(|i| format!("tekst {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(first, &refs);
    let mut config = t.config.clone();
    config.fallback_retry = std::time::Duration::ZERO;
    let options = RunOptions {
        concurrency: Some(1),
        ..RunOptions::default()
    };
    let summary = run(&config, &options, &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 20, "{}", summary.message);
    let made = made_by(&mut t, task);
    let by_fallback = made.iter().filter(|m| **m == Some(second)).count();
    let by_primary = made.iter().filter(|m| **m == Some(first)).count();
    assert!(by_fallback >= 1 && by_primary >= 1, "{made:?}");
    // Once back, the primary kept them: the last item is its own.
    assert_eq!(made.last(), Some(&Some(first)), "{made:?}");
    t.assert_counters_match_items(task);
}
