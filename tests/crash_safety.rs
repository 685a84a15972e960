//! Crash safety and graceful stop: SIGKILL and SIGTERM in the middle of a run, expired
//! leases, and a worker whose lease was taken over.

mod common;

use std::process::Stdio;
use std::time::Duration;

use ai_worker::internals::Db;
use ai_worker::internals::Spent;
use ai_worker::internals::items;
use ai_worker::internals::{ClaimEnd, EndAction, Written, claim_ends};
use common::fake_llm::FakeLlm;
use common::{TestDb, output_text};
use mysql::prelude::Queryable;

/// A Gemini fake that answers after `delay` and reports every request on a channel,
/// so a test can act once the worker is really mid-run.
fn texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("tekst {i}")).collect()
}

#[test]
fn sigkill_mid_run_loses_nothing_and_duplicates_nothing() {
    let mut t = TestDb::new();
    let (llm, requests) = FakeLlm::gemini_slow(Duration::from_millis(200));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let all = texts(60);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let mut child = t
        .bin_command(&["--task", &task.to_string(), "--max-item", "1000", "-q"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    for _ in 0..10 {
        requests
            .recv_timeout(Duration::from_secs(30))
            .expect("the worker calls the model");
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let stranded: u64 = t.value(&format!(
        "SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND status_id = 2"
    ));
    assert!(stranded > 0, "the killed worker held claimed items");
    t.assert_counters_match_items(task);
    // Let the leases run out (instead of waiting WORKER_LEASE_S).
    t.conn
        .exec_drop("UPDATE task_item SET claimed_until = NOW() - INTERVAL 1 SECOND WHERE id_task = ? AND status_id = 2", (task,))
        .unwrap();
    let out = t.run_bin(&["--task", &task.to_string(), "--max-item", "1000"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("Recovered"),
        "{}",
        output_text(&out)
    );
    assert_eq!(t.item_statuses(task), vec![1; 60]);
    assert_eq!(t.task_row(task).0, 2);
    assert_eq!(t.task_row(task).2, 60, "each item counted once");
    t.assert_counters_match_items(task);
    let max_attempts: u64 = t.value(&format!(
        "SELECT MAX(attempts) FROM task_item WHERE id_task = {task}"
    ));
    assert!(max_attempts <= 2);
}

#[test]
fn sigterm_stops_cleanly_and_leaves_nothing_processing() {
    let mut t = TestDb::new();
    let (llm, requests) = FakeLlm::gemini_slow(Duration::from_millis(300));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let all = texts(80);
    let refs: Vec<&str> = all.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let child = t
        .bin_command(&["--task", &task.to_string(), "--max-item", "1000", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    for _ in 0..4 {
        requests
            .recv_timeout(Duration::from_secs(30))
            .expect("the worker calls the model");
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let text = output_text(&out);
    assert!(text.contains("Stop requested"), "{text}");
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON summary even when stopped");
    assert_eq!(doc["interrupted"], true);
    assert_eq!(
        out.status.code(),
        Some(4),
        "a run cut short says so: {text}"
    );
    let processing: u64 = t.value(&format!(
        "SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND status_id = 2"
    ));
    assert_eq!(processing, 0, "nothing left PROCESSING");
    let pending: u64 = t.value(&format!(
        "SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND status_id = 0"
    ));
    assert!(pending > 0, "the run stopped before the end");
    let closed: u64 = t.value("SELECT COUNT(*) FROM task_run WHERE finished_at IS NOT NULL AND message LIKE '%interrupted%'");
    assert_eq!(closed, 1);
    t.assert_counters_match_items(task);
    assert_eq!(
        t.task_row(task).0,
        1,
        "the task stays IN_PROGRESS for the next run"
    );
}

#[test]
fn expired_leases_return_to_pending_then_fail_after_max_attempts() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (task, ids) = t.task(model, &["a", "b"]);
    let mut db = Db::connect(&t.config.db).unwrap();
    let claimed = items::claim_pending(&mut db, task, 10, "tok-1", 60, "op").unwrap();
    assert_eq!(claimed.len(), 2);
    // A second claim finds nothing: the rows are taken.
    assert!(
        items::claim_pending(&mut db, task, 10, "tok-2", 60, "op")
            .unwrap()
            .is_empty()
    );
    t.conn.exec_drop("UPDATE task_item SET claimed_until = NOW() - INTERVAL 1 SECOND, attempts = 3 WHERE id_task_item = ?", (ids[0],)).unwrap();
    t.conn
        .exec_drop(
            "UPDATE task_item SET claimed_until = NOW() - INTERVAL 1 SECOND WHERE id_task_item = ?",
            (ids[1],),
        )
        .unwrap();
    let reaped = items::reap_expired(&mut db, task, 3).unwrap();
    assert_eq!((reaped.returned, reaped.failed), (1, 1));
    assert_eq!(t.item_statuses(task), vec![3, 0]);
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert!(msg.contains("gave up after 3 attempts"), "{msg}");
    assert_eq!(t.task_row(task).3, 1, "records_error counted with the item");
    t.assert_counters_match_items(task);
}

#[test]
fn a_worker_whose_lease_was_taken_over_cannot_overwrite() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (task, ids) = t.task(model, &["a"]);
    let mut db = Db::connect(&t.config.db).unwrap();
    items::claim_pending(&mut db, task, 1, "old-token", 60, "op-old").unwrap();
    // The lease ran out and a second worker took the item over.
    t.conn
        .exec_drop(
            "UPDATE task_item SET claimed_until = NOW() - INTERVAL 1 SECOND",
            (),
        )
        .unwrap();
    items::reap_expired(&mut db, task, 5).unwrap();
    items::claim_pending(&mut db, task, 1, "new-token", 60, "op-new").unwrap();
    let mut spent = Spent::default();
    (spent.tokens.input, spent.tokens.output) = (7, 3);
    let end = |db: &mut Db, token: &str, action: EndAction<'_>| {
        let end = ClaimEnd {
            id_task_item: ids[0],
            id_task: task,
            claim_token: token,
            text_sha: None,
            action,
            spent,
        };
        claim_ends::end_claims(db, &[end], "op").unwrap()[0]
    };
    let stale = EndAction::Save {
        text_corrected: Some("stale"),
        change_summary: "s",
        result_json: None,
        id_ai_model: None,
        reused_from: None,
    };
    assert_eq!(end(&mut db, "old-token", stale), Written::Lost);
    let failed = EndAction::Fail {
        message: "stale error",
    };
    assert_eq!(end(&mut db, "old-token", failed), Written::Lost);
    let back = EndAction::Release {
        attempt_counts: false,
    };
    assert_eq!(end(&mut db, "old-token", back), Written::Lost);
    let fresh = EndAction::Save {
        text_corrected: Some("fresh"),
        change_summary: "s",
        result_json: None,
        id_ai_model: None,
        reused_from: None,
    };
    assert_eq!(end(&mut db, "new-token", fresh), Written::Done);
    let text: String = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert_eq!(text, "fresh");
    assert_eq!(t.task_row(task).2, 1);
    t.assert_counters_match_items(task);
}

#[test]
fn a_run_that_died_is_shown_as_ended_and_the_next_run_closes_its_row() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (task, ids) = t.task(model, &["a", "b"]);
    let dead = "11111111-2222-3333-4444-555555555555";
    t.conn_exec(&format!(
        "INSERT INTO task_run (operation_uuid, started_at, heartbeat_at, `trigger`, host, pid) \
         VALUES ('{dead}', NOW() - INTERVAL 1 HOUR, NOW() - INTERVAL 50 MINUTE, 'cli', 'h', 1)"
    ));
    t.conn_exec(&format!(
        "UPDATE task_item SET status_id = 1, operation_uuid = '{dead}' WHERE id_task_item = {}",
        ids[0]
    ));
    let row = ai_worker::app::status::run(&t.config, dead).unwrap();
    assert!(!row.running, "silent for 50 minutes: not running");
    let _ = task;
    ai_worker::run(
        &t.config,
        &ai_worker::RunOptions::default(),
        &ai_worker::StopSignal::new(),
    )
    .unwrap();
    let (finished, ok, message): (Option<String>, u64, String) = t.conn_first(&format!(
        "SELECT CAST(finished_at AS CHAR), items_ok, message FROM task_run WHERE operation_uuid = '{dead}'"
    ));
    assert!(finished.is_some());
    assert_eq!(ok, 1, "the item it saved is counted");
    assert!(message.contains("no heartbeat"), "{message}");
}
