//! `requests_per_minute` shared by every worker process: request slots come from the
//! `ai_model_pace` table, so two workers on one model together keep to the quota.
//! The slots are checked as numbers the database hands out, not by timing requests.

mod common;

use std::time::Duration;

use ai_worker::internals::DbPace;
use ai_worker::internals::SharedPace;
use ai_worker::{RunOptions, StopSignal, run};
use common::fake_llm::FakeLlm;
use common::{TestDb, output_text};
use mysql::prelude::Queryable;

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// A Gemini model on `llm` allowed 60,000 requests per minute: one millisecond apart.
fn paced_model(t: &mut TestDb, llm: &FakeLlm) -> u32 {
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    t.conn
        .exec_drop(
            "UPDATE ai_model SET requests_per_minute = 60000 WHERE id_ai_model = ?",
            (model,),
        )
        .unwrap();
    model
}

/// Reserves the model's slots up to 300 ms from now, as another worker would have:
/// every request that goes through the shared row must then come after them, so the
/// row ends at least `seed + requests * 1 ms` only if every request took its slot there.
fn seed_slots(t: &mut TestDb, model: u32) -> u64 {
    let seed: u64 =
        t.value("SELECT CAST(ROUND(UNIX_TIMESTAMP(NOW(6)) * 1000000) AS UNSIGNED) + 300000");
    t.conn
        .exec_drop(
            "INSERT INTO ai_model_pace (id_ai_model, next_slot_us) VALUES (?, ?) \
             ON DUPLICATE KEY UPDATE next_slot_us = VALUES(next_slot_us)",
            (model, seed),
        )
        .unwrap();
    seed
}

fn numbered_texts(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("tekst {i}")).collect()
}

#[test]
fn slots_follow_one_another_across_connections_and_pauses_hold_them_all() {
    let mut t = TestDb::new();
    let model = t.model("gemini", "m", Some("http://127.0.0.1:9/v1beta"), Some("k"));
    // Two workers: two connections to the same row.
    let a = DbPace::open(&t.config.db, model).unwrap();
    let b = DbPace::open(&t.config.db, model).unwrap();
    let minute = Duration::from_secs(60);
    let first = a.reserve(minute).unwrap();
    let second = b.reserve(minute).unwrap();
    let third = a.reserve(minute).unwrap();
    assert!(secs(first) <= 1.0, "the first slot is now: {first:?}");
    assert!((59.0..=60.0).contains(&secs(second)), "{second:?}");
    assert!((119.0..=120.0).contains(&secs(third)), "{third:?}");
    // A 429 seen by one worker holds the other off as well, beyond the slots taken.
    b.pause(Duration::from_secs(300)).unwrap();
    b.pause(Duration::from_secs(10)).unwrap();
    let after_pause = a.reserve(minute).unwrap();
    assert!(
        (299.0..=300.0).contains(&secs(after_pause)),
        "{after_pause:?}"
    );
    // Slots hours ahead (the server clock was set back) start again from now.
    t.conn
        .query_drop("UPDATE ai_model_pace SET next_slot_us = next_slot_us + 86400000000")
        .unwrap();
    assert!(secs(a.reserve(minute).unwrap()) <= 1.0);
    // A row deleted by hand comes back instead of failing the run.
    t.conn.query_drop("DELETE FROM ai_model_pace").unwrap();
    assert!(secs(a.reserve(minute).unwrap()) <= 1.0);
    let rows: u64 = t.value("SELECT COUNT(*) FROM ai_model_pace");
    assert_eq!(rows, 1);
}

#[test]
fn a_paced_run_takes_every_slot_from_the_shared_table_and_a_dry_run_none() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = paced_model(&mut t, &llm);
    let texts = numbered_texts(12);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);

    let dry = RunOptions {
        dry_run: true,
        ..RunOptions::default()
    };
    let before = t.checksum();
    run(&t.config, &dry, &StopSignal::new()).unwrap();
    assert_eq!(
        t.checksum(),
        before,
        "a dry run writes nothing, slots included"
    );

    let start_us = seed_slots(&mut t, model);
    let options = RunOptions {
        concurrency: Some(4),
        ..RunOptions::default()
    };
    let summary = run(&t.config, &options, &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 12);
    let next_slot: u64 = t.value(&format!(
        "SELECT next_slot_us FROM ai_model_pace WHERE id_ai_model = {model}"
    ));
    assert!(
        next_slot >= start_us + 12 * 1000,
        "12 requests reserved 12 slots after the seeded ones: next {next_slot}, seed {start_us}"
    );
    assert_eq!(t.item_statuses(task), vec![1; 12]);
}

#[test]
fn without_the_table_a_run_paces_alone_and_says_how_to_share() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = paced_model(&mut t, &llm);
    let (task, _) = t.task(model, &["a", "b"]);
    // A database set up by an older ai-worker.
    t.conn.query_drop("DROP TABLE ai_model_pace").unwrap();
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(
        text.contains("paced within this process only") && text.contains("init-db"),
        "{text}"
    );
    assert_eq!(t.item_statuses(task), vec![1, 1]);
}

#[test]
fn two_worker_processes_on_one_model_share_its_slots() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = paced_model(&mut t, &llm);
    let texts = numbered_texts(10);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (first, _) = t.task(model, &refs);
    let (second, _) = t.task(model, &refs);
    // The same texts in both tasks: every one is to be sent (this is about pacing).
    t.conn
        .query_drop("UPDATE task SET reuse_results = 0")
        .unwrap();
    let start_us = seed_slots(&mut t, model);
    let children: Vec<_> = [first, second]
        .iter()
        .map(|task| {
            t.bin_command(&["--task", &task.to_string(), "-q"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    common::wait_all_succeed(children);
    assert_eq!(llm.requests().len(), 20);
    let next_slot: u64 = t.value(&format!(
        "SELECT next_slot_us FROM ai_model_pace WHERE id_ai_model = {model}"
    ));
    assert!(
        next_slot >= start_us + 20 * 1000,
        "both processes took their 20 slots from one row after the seeded ones: next {next_slot}, seed {start_us}"
    );
}
