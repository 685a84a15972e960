//! Scale: the claim's plan does not depend on the task's size or the statistics, and
//! many processes on one task never fail each other.

mod common;

use ai_worker::internals::CLAIM_PENDING_SQL;
use common::fake_llm::FakeLlm;
use common::{TestDb, output_text};
use mysql::prelude::Queryable;

/// Fills the table the way a live server holds it: finished tasks, a big task with
/// most items done, and then `ANALYZE TABLE`, which is when the plan used to flip.
fn live_looking_table(t: &mut TestDb, model: u32) -> u32 {
    let mut big = 0;
    for n in 0..4 {
        let (task, _) = t.task(model, &[]);
        t.conn_exec(&format!(
            "INSERT INTO task_item (id_task, text_original, status_id) \
             SELECT {task}, CONCAT('tekst ', seq), IF(seq % 10 = 0 OR {n} = 3, 0, 1) \
             FROM seq_1_to_5000"
        ));
        big = task;
    }
    t.conn_exec("ANALYZE TABLE task_item");
    big
}

#[test]
fn the_claim_uses_the_task_status_index_without_a_sort_after_analyze() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let task = live_looking_table(&mut t, model);
    let sql = format!("EXPLAIN {CLAIM_PENDING_SQL}");
    let plan: Vec<mysql::Row> = t
        .conn
        .exec(&sql, (2, "tok", 60, "op", None::<u32>, task, 0, 10))
        .unwrap();
    assert_eq!(plan.len(), 1);
    let key: Option<String> = plan[0].get("key");
    let extra: Option<String> = plan[0].get("Extra");
    assert_eq!(
        key.as_deref(),
        Some("idx_task_item_task_status"),
        "{plan:?}"
    );
    assert!(!extra.unwrap_or_default().contains("filesort"), "{plan:?}");
    // The same words parse as MySQL 5.7 syntax: an index hint on a single-table UPDATE.
    assert!(CLAIM_PENDING_SQL.starts_with("UPDATE task_item FORCE INDEX ("));
}

#[test]
fn eight_processes_on_one_task_all_succeed_with_exact_counters() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let texts: Vec<String> = (0..1600).map(|i| format!("item-{i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let children: Vec<_> = (0..8)
        .map(|_| {
            t.bin_command(&[
                "--task",
                &task.to_string(),
                "--max-item",
                "10000",
                "--concurrency",
                "4",
                "-q",
                "--json",
            ])
            .env("WORKER_PROGRESS_S", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    let mut ok_total = 0;
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        ok_total += summary["items_ok"].as_u64().unwrap();
    }
    assert_eq!(ok_total, 1600, "every item saved once, by one process");
    assert_eq!(t.item_statuses(task), vec![1; 1600]);
    assert!(
        llm.calls_per_text().values().all(|&n| n == 1),
        "no item sent twice"
    );
    t.assert_counters_match_items(task);
    let (status, total, ..) = t.task_row(task);
    assert_eq!((status, total), (2, 1600));
}
