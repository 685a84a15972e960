//! The operator's night shift: a model server that is down does not fail the items,
//! the next plain run finishes the task, and failed items can be put back.

mod common;

use std::net::TcpListener;

use ai_worker::{RunOptions, StopSignal, run};
use common::fake_llm::{FakeLlm, gemini_error, gemini_ok};
use common::{TestDb, output_text};

/// A port nothing listens on (bound, then closed), and its Gemini base URL.
fn closed_port() -> (u16, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    (port, format!("http://127.0.0.1:{port}/v1beta"))
}

#[test]
fn a_server_down_all_night_leaves_items_pending_and_the_next_run_finishes_them() {
    let mut t = TestDb::new();
    let (port, url) = closed_port();
    let model = t.model("gemini", "m", Some(&url), Some("k"));
    let texts: Vec<String> = (0..10).map(|i| format!("tekst {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let out = t.run_bin(&[]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(t.item_statuses(task), vec![0; 10], "no item failed: {text}");
    let attempts: u64 = t.value(&format!(
        "SELECT CAST(SUM(attempts) AS UNSIGNED) FROM task_item WHERE id_task = {task}"
    ));
    assert_eq!(attempts, 0, "no attempt was used up");
    let (status, message): (u8, String) = (
        t.task_row(task).0,
        t.value(&format!(
            "SELECT error_message FROM task WHERE id_task = {task}"
        )),
    );
    assert_eq!(status, 1, "the task stays IN_PROGRESS");
    assert!(
        message.contains(&format!("127.0.0.1:{port}")) && message.contains("refused"),
        "{message}"
    );
    // Morning: the server is back, and a plain run (cron) finishes the task.
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let llm = FakeLlm::start_on(listener, |req, _| {
        gemini_ok(&req.item_text(), "ok", 1, 1, 0)
    });
    let out = t.run_bin(&[]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(t.item_statuses(task), vec![1; 10]);
    assert_eq!(t.task_row(task).0, 2, "COMPLETED");
    assert_eq!(llm.requests().len(), 10);
    t.assert_counters_match_items(task);
}

#[test]
fn the_breaker_stops_calling_after_a_few_failures_in_a_row() {
    let mut t = TestDb::new();
    let (_, url) = closed_port();
    let model = t.model("gemini", "m", Some(&url), Some("k"));
    let texts: Vec<String> = (0..50).map(|i| format!("tekst {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let options = RunOptions {
        concurrency: Some(1),
        ..RunOptions::default()
    };
    let summary = run(&t.config, &options, &StopSignal::new()).unwrap();
    assert_eq!(summary.exit_code(), 1);
    assert_eq!((summary.items_ok, summary.items_error), (0, 0));
    assert!(summary.tasks[0].paused);
    // One thread: the first item's three attempts open the breaker, the rest wait; the
    // thread held at most three items (one in work, two claimed ahead), handed back.
    assert!(summary.items_released <= 3, "{}", summary.items_released);
    assert_eq!(t.item_statuses(task), vec![0; 50]);
}

#[test]
fn retry_failed_puts_error_items_back_and_runs_them() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| {
        if req.item_text().contains("zły") {
            gemini_error(400, "INVALID_ARGUMENT", "bad")
        } else {
            gemini_ok(&req.item_text(), "ok", 1, 1, 0)
        }
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["dobry", "zły"]);
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(t.item_statuses(task), vec![1, 3]);
    assert_eq!(t.task_row(task).0, 3, "ERROR");
    // The text is fixed in the panel, then the failed items are run again.
    t.conn_exec(&format!(
        "UPDATE task_item SET text_original = 'poprawiony' WHERE id_task_item = {}",
        ids[1]
    ));
    let out = t.run_bin(&["--retry-failed", "--task", &task.to_string()]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(t.item_statuses(task), vec![1, 1]);
    assert_eq!(t.task_row(task).0, 2, "COMPLETED");
    assert!(text.contains("bad"), "the old error is in the log: {text}");
    t.assert_counters_match_items(task);
    let attempts: u32 = t.value(&format!(
        "SELECT attempts FROM task_item WHERE id_task_item = {}",
        ids[1]
    ));
    assert_eq!(attempts, 1, "attempts started again from 0");
}
