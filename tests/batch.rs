//! Batch mode end to end: the built binary against the real database and a fake
//! provider speaking the Gemini and OpenAI Batch APIs, across several runs, with
//! kill -9 (an abort) at the points of submit and collect where it could hurt.

mod common;

use common::fake_batch::{FakeBatch, Knobs};
use common::{TestDb, output_text};
use mysql::prelude::Queryable;

/// A batch task on a model of the fake; returns (task, items).
fn batch_task(
    t: &mut TestDb,
    fake: &FakeBatch,
    provider: &str,
    texts: &[&str],
    mode: u8,
) -> (u32, Vec<u32>) {
    let (url, model_name) = match provider {
        "gemini" => (fake.server.base_url.clone(), "gemini-2.5-flash"),
        _ => (fake.server.openai_url(), "gpt-5-mini"),
    };
    let model = t.model(provider, model_name, Some(&url), Some("test-key-123"));
    // The fake stands for the provider itself (on 127.0.0.1, which would otherwise
    // count as a server of one's own, without a Batch API).
    t.conn_exec(&format!(
        "UPDATE ai_model SET price_input = 1, price_output = 4, local_server = 0 WHERE id_ai_model = {model}"
    ));
    let (task, items) = t.task(model, texts);
    t.conn_exec(&format!(
        "UPDATE task SET batch = {mode} WHERE id_task = {task}"
    ));
    (task, items)
}

fn run(t: &TestDb, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    let mut cmd = t.bin_command(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run ai-worker")
}

fn count(t: &mut TestDb, sql: &str) -> u64 {
    t.value::<u64>(sql)
}

#[test]
fn a_thousand_item_openai_batch_task_completes_over_runs_saved_once_at_half_price() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let texts: Vec<String> = (0..1000)
        .map(|i| format!("Tekst numer {i} do poprawy."))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = batch_task(&mut t, &fake, "openai", &refs, 1);
    let env = [("BATCH_MAX_ITEMS", "400")];
    let out = run(&t, &env, &["--max-item", "1000"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(fake.creates(), 3, "1000 items in jobs of 400");
    assert!(
        output_text(&out).contains("1000 sent in batch jobs, 0 waiting"),
        "{}",
        output_text(&out)
    );
    assert_eq!(
        count(
            &mut t,
            &format!(
                "SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND status_id = 2 AND id_ai_batch IS NOT NULL"
            )
        ),
        1000
    );
    // The jobs are still running: a run changes nothing and sends nothing.
    let out = run(&t, &env, &["--max-item", "1000"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("0 sent in batch jobs, 1000 waiting for the provider"),
        "{}",
        output_text(&out)
    );
    assert_eq!(fake.creates(), 3);
    let status = run(&t, &env, &["--batch-status", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(listed["batches"].as_array().unwrap().len(), 3, "{listed}");
    assert_eq!(listed["batches"][0]["provider_state"], "in_progress");
    fake.set(Knobs {
        finish: true,
        ..Knobs::default()
    });
    let out = run(&t, &env, &["--max-item", "1000"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(text.contains("collected"), "{text}");
    assert_eq!(t.item_statuses(task), vec![1; 1000]);
    t.assert_counters_match_items(task);
    assert!(
        fake.texts_sent().values().all(|&n| n == 1),
        "every text sent once"
    );
    assert_eq!(fake.texts_sent().len(), 1000);
    let (status, total, ok, err, tin, tout) = t.task_row(task);
    assert_eq!(
        (status, total, ok, err, tin, tout),
        (2, 1000, 1000, 0, 100_000, 20_000)
    );
    // 100 in at 1 and 20 out at 4 per million, at half price: 0.00009 per item.
    let cost: f64 = t
        .value::<String>(&format!(
            "SELECT CAST(cost AS CHAR) FROM task WHERE id_task = {task}"
        ))
        .parse()
        .unwrap();
    assert!((cost - 0.09).abs() < 1e-9, "task cost {cost}");
    let job_cost: f64 = t
        .value::<String>("SELECT CAST(SUM(cost) AS CHAR) FROM ai_batch")
        .parse()
        .unwrap();
    assert!((job_cost - 0.09).abs() < 1e-9, "job cost {job_cost}");
    assert_eq!(
        count(
            &mut t,
            "SELECT COUNT(*) FROM ai_batch WHERE state = 'COLLECTED' AND items_ok = item_count"
        ),
        3
    );
    let again = run(&t, &env, &[]);
    assert!(again.status.success());
    assert_eq!(fake.creates(), 3, "nothing is sent twice");
}

#[test]
fn gemini_lines_are_checked_retried_and_refused_by_the_usual_rules() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let texts = [
        "Ala ma kota.",
        "Napisz do jan.kowalski@example.com jutro.",
        "FAIL-LINE: ten wiersz zawsze zawodzi.",
        "BAD-REQUEST: tego nie da się wysłać.",
        "   ",
    ];
    let (task, items) = batch_task(&mut t, &fake, "gemini", &texts, 1);
    // Small inline limit: the requests go through the Files API.
    let env = [("BATCH_INLINE_MAX_BYTES", "1000"), ("AI_MAX_ATTEMPTS", "2")];
    assert!(run(&t, &env, &[]).status.success());
    assert!(
        fake.server
            .requests()
            .iter()
            .any(|r| r.path.starts_with("/upload/v1beta/files"))
    );
    assert!(
        fake.bodies()
            .iter()
            .all(|b| !b.contains("jan.kowalski@example.com")),
        "personal data never leaves"
    );
    assert_eq!(fake.texts_sent().len(), 4, "the blank text needs no line");
    fake.set(Knobs {
        finish: true,
        ..Knobs::default()
    });
    let out = run(&t, &env, &[]);
    assert!(
        out.status.success() || out.status.code() == Some(1),
        "{}",
        output_text(&out)
    );
    let saved: Option<String> = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        items[1]
    ));
    assert_eq!(
        saved.as_deref(),
        Some(texts[1]),
        "placeholders restored by redacting again"
    );
    let refused: (u8, Option<String>) = t.conn_first(&format!(
        "SELECT status_id, error_message FROM task_item WHERE id_task_item = {}",
        items[3]
    ));
    assert_eq!(refused.0, 3);
    assert!(refused.1.unwrap().contains("invalid argument"));
    // The failed line went into a second job; it fails again and runs out of attempts.
    assert_eq!(fake.creates(), 2);
    let out = run(&t, &env, &[]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let failed: (u8, u32, Option<String>) = t.conn_first(&format!(
        "SELECT status_id, attempts, error_message FROM task_item WHERE id_task_item = {}",
        items[2]
    ));
    assert_eq!((failed.0, failed.1), (3, 2));
    assert!(failed.2.unwrap().contains("gave up after 2 attempts"));
    assert_eq!(t.item_statuses(task), vec![1, 1, 3, 3, 1]);
    t.assert_counters_match_items(task);
    assert_eq!(fake.creates(), 2);
}

#[test]
fn an_expired_job_saves_what_it_finished_and_returns_the_rest_without_an_attempt() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let texts = ["Jeden.", "Dwa.", "Trzy.", "Cztery."];
    let (task, _) = batch_task(&mut t, &fake, "openai", &texts, 1);
    assert!(run(&t, &[], &[]).status.success());
    fake.set(Knobs {
        finish: true,
        expire: true,
        ..Knobs::default()
    });
    // One run collects half and sends the other half in a new job.
    assert!(run(&t, &[], &[]).status.success());
    let attempts: Vec<(u8, u32)> = t
        .conn
        .query(format!(
            "SELECT status_id, attempts FROM task_item WHERE id_task = {task} ORDER BY id_task_item"
        ))
        .unwrap();
    assert_eq!(&attempts[..2], &[(1, 1), (1, 1)], "{attempts:?}");
    assert!(
        attempts[2..]
            .iter()
            .all(|&(s, a)| s == 2 && a == 1 || s == 0 && a == 0),
        "the unfinished half came back with its attempt given back: {attempts:?}"
    );
    assert_eq!(
        count(
            &mut t,
            "SELECT COUNT(*) FROM ai_batch WHERE state = 'EXPIRED' AND items_returned = 2"
        ),
        1
    );
    fake.set(Knobs {
        finish: true,
        ..Knobs::default()
    });
    assert!(run(&t, &[], &[]).status.success());
    assert!(run(&t, &[], &[]).status.success());
    assert_eq!(t.item_statuses(task), vec![1; 4]);
    t.assert_counters_match_items(task);
    assert!(fake.texts_sent().values().all(|&n| n <= 2));
}

#[test]
fn a_crash_right_after_the_job_is_created_never_creates_a_second_job() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let texts = ["Jeden.", "Dwa.", "Trzy."];
    let (task, _) = batch_task(&mut t, &fake, "openai", &texts, 1);
    let out = run(&t, &[("AI_WORKER_FAILPOINT_BATCH", "after-create")], &[]);
    assert!(!out.status.success(), "the worker was killed");
    assert_eq!(fake.creates(), 1);
    let row: (String, Option<String>) = t.conn_first("SELECT state, provider_job_id FROM ai_batch");
    assert_eq!(row, ("SUBMITTING".to_string(), None));
    // A run while the dead worker's claim on the row holds leaves it alone.
    assert!(run(&t, &[], &[]).status.success());
    assert_eq!(fake.creates(), 1);
    t.conn_exec("UPDATE ai_batch SET claimed_until = NOW() - INTERVAL 1 SECOND");
    fake.set(Knobs {
        finish: true,
        ..Knobs::default()
    });
    let out = run(&t, &[], &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("adopted"),
        "{}",
        output_text(&out)
    );
    assert_eq!(
        fake.creates(),
        1,
        "the job was found by its key, not created again"
    );
    assert_eq!(t.item_statuses(task), vec![1; 3]);
    t.assert_counters_match_items(task);
}

#[test]
fn a_crash_before_the_job_reached_the_provider_returns_the_items() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let (task, _) = batch_task(&mut t, &fake, "gemini", &["Jeden.", "Dwa."], 1);
    let out = run(&t, &[("AI_WORKER_FAILPOINT_BATCH", "before-create")], &[]);
    assert!(!out.status.success());
    assert_eq!(fake.creates(), 0);
    t.conn_exec("UPDATE ai_batch SET claimed_until = NOW() - INTERVAL 1 SECOND");
    fake.set(Knobs {
        finish: true,
        ..Knobs::default()
    });
    assert!(run(&t, &[], &[]).status.success());
    assert_eq!(
        count(
            &mut t,
            "SELECT COUNT(*) FROM ai_batch WHERE state = 'ABANDONED' AND items_returned = 2"
        ),
        1
    );
    assert_eq!(fake.creates(), 1, "sent once, in a new job");
    assert!(run(&t, &[], &[]).status.success());
    assert_eq!(t.item_statuses(task), vec![1, 1]);
    let attempts: u64 = t.value(&format!(
        "SELECT MAX(attempts) FROM task_item WHERE id_task = {task}"
    ));
    assert_eq!(attempts, 1, "the abandoned job's claim was not counted");
}

#[test]
fn a_crash_while_collecting_saves_every_line_once() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let texts = ["Jeden.", "Dwa.", "Trzy.", "Cztery.", "Pięć."];
    let (task, _) = batch_task(&mut t, &fake, "openai", &texts, 1);
    assert!(run(&t, &[], &[]).status.success());
    fake.set(Knobs {
        finish: true,
        ..Knobs::default()
    });
    let out = run(&t, &[("AI_WORKER_FAILPOINT_BATCH", "mid-collect")], &[]);
    assert!(!out.status.success(), "the worker was killed");
    assert_eq!(
        count(
            &mut t,
            &format!("SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND status_id = 1")
        ),
        1
    );
    t.conn_exec("UPDATE ai_batch SET claimed_until = NOW() - INTERVAL 1 SECOND");
    let out = run(&t, &[], &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(t.item_statuses(task), vec![1; 5]);
    t.assert_counters_match_items(task);
    let (_, _, _, _, tin, tout) = t.task_row(task);
    assert_eq!((tin, tout), (500, 100), "each line's tokens counted once");
    assert_eq!(fake.creates(), 1);
}

#[test]
fn a_job_that_fails_as_a_whole_or_is_refused_stops_the_task_with_the_reason() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let (task, _) = batch_task(&mut t, &fake, "openai", &["Jeden.", "Dwa."], 1);
    assert!(run(&t, &[], &[]).status.success());
    fake.set(Knobs {
        finish: true,
        fail_job: Some("the request file has an invalid line".into()),
        ..Knobs::default()
    });
    let out = run(&t, &[], &["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let (status, message): (u8, Option<String>) = t.conn_first(&format!(
        "SELECT status_id, error_message FROM task WHERE id_task = {task}"
    ));
    assert_eq!(status, 3);
    assert!(
        message
            .unwrap()
            .contains("the request file has an invalid line")
    );
    assert_eq!(t.item_statuses(task), vec![0, 0], "the items wait, untried");
    let (other, _) = batch_task(&mut t, &fake, "openai", &["Trzy."], 1);
    fake.set(Knobs {
        refuse_create: Some(403),
        ..Knobs::default()
    });
    let out = run(&t, &[], &["--task", &other.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let message: Option<String> = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {other}"
    ));
    assert!(message.unwrap().contains("could not be created"));
    assert_eq!(t.item_statuses(other), vec![0]);
}

#[test]
fn a_stuck_job_is_cancelled_and_its_items_go_direct_when_the_task_says_so() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let (task, _) = batch_task(
        &mut t,
        &fake,
        "openai",
        &["Jeden.", "Dwa.", "Trzy.", "Cztery."],
        2,
    );
    assert!(run(&t, &[], &[]).status.success());
    t.conn_exec("UPDATE ai_batch SET submitted_at = NOW() - INTERVAL 30 HOUR");
    let out = run(&t, &[], &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(fake.cancels(), 1);
    assert_eq!(
        count(
            &mut t,
            "SELECT COUNT(*) FROM ai_batch WHERE stuck = 1 AND state = 'CANCELLED'"
        ),
        1
    );
    let direct = fake
        .server
        .requests()
        .iter()
        .filter(|r| r.path == "/v1/chat/completions")
        .count();
    assert_eq!(
        direct, 2,
        "the half the job never finished went out as direct calls"
    );
    assert_eq!(t.item_statuses(task), vec![1; 4]);
    t.assert_counters_match_items(task);
}

#[test]
fn cancel_batch_collects_what_finished_and_refuses_what_cannot_be_cancelled() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let (task, _) = batch_task(&mut t, &fake, "gemini", &["Jeden.", "Dwa."], 1);
    assert!(run(&t, &[], &[]).status.success());
    let out = run(&t, &[], &["--cancel-batch", "1"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("Batch job 1 cancelled: 1 saved, 0 failed, 1 back to pending"),
        "{}",
        output_text(&out)
    );
    assert_eq!(t.item_statuses(task), vec![1, 0]);
    let again = run(&t, &[], &["--cancel-batch", "1"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        output_text(&again).contains("has already ended"),
        "{}",
        output_text(&again)
    );
    let missing = run(&t, &[], &["--cancel-batch", "batches/nope"]);
    assert!(
        output_text(&missing).contains("does not exist"),
        "{}",
        output_text(&missing)
    );
    let bad = run(&t, &[], &["--cancel-batch"]);
    assert_eq!(bad.status.code(), Some(2), "{}", output_text(&bad));
    let listed = run(&t, &[], &["--batch-status", "--task", &task.to_string()]);
    assert!(
        output_text(&listed).contains("CANCELLED"),
        "{}",
        output_text(&listed)
    );
}

#[test]
fn the_estimate_of_a_batch_task_is_at_the_batch_price() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let (task, _) = batch_task(&mut t, &fake, "openai", &["Ala ma kota.", "Ola ma psa."], 1);
    let estimate = |t: &TestDb| {
        let out = run(
            t,
            &[],
            &["--estimate", "--task", &task.to_string(), "--json"],
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (
            v["estimate"][0]["cost"].as_f64().unwrap(),
            v["estimate"][0]["batch"].as_bool().unwrap(),
        )
    };
    let (batch_cost, batch) = estimate(&t);
    t.conn_exec(&format!("UPDATE task SET batch = 0 WHERE id_task = {task}"));
    let (direct_cost, direct) = estimate(&t);
    assert!(batch && !direct);
    assert!(
        (batch_cost * 2.0 - direct_cost).abs() < 1e-12,
        "{batch_cost} vs {direct_cost}"
    );
    t.conn_exec(&format!("UPDATE task SET batch = 1 WHERE id_task = {task}"));
    t.conn_exec("UPDATE ai_model SET batch_price_factor = 0.25");
    let (quarter, _) = estimate(&t);
    assert!(
        (quarter * 4.0 - direct_cost).abs() < 1e-12,
        "{quarter} vs {direct_cost}"
    );
}

#[test]
fn a_provider_answering_garbage_about_a_job_changes_nothing_until_it_answers_properly() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let (task, _) = batch_task(&mut t, &fake, "openai", &["Jeden.", "Dwa."], 1);
    assert!(run(&t, &[], &[]).status.success());
    let hostile = [
        "<html>502 Bad Gateway</html>".to_string(),
        r#"{"id":"batch_1","status":"completed","output_file_id":"../../v1/admin?x=1"}"#
            .to_string(),
        r#"{"id":"batch_1","status":"teleported"}"#.to_string(),
        r#"{"id":"batch_1"}"#.to_string(),
    ];
    for garbage in hostile {
        fake.set(Knobs {
            finish: true,
            garbage_status: Some(garbage.clone()),
            ..Knobs::default()
        });
        let out = run(&t, &[], &[]);
        assert!(out.status.success(), "{garbage}: {}", output_text(&out));
        assert!(
            output_text(&out).contains("the next run"),
            "{garbage}: {}",
            output_text(&out)
        );
        assert_eq!(t.item_statuses(task), vec![2, 2], "{garbage}");
        assert_eq!(fake.creates(), 1);
    }
    assert!(
        !fake
            .server
            .requests()
            .iter()
            .any(|r| r.path.contains("admin")),
        "no request went where the answer pointed"
    );
    fake.set(Knobs {
        finish: true,
        ..Knobs::default()
    });
    assert!(run(&t, &[], &[]).status.success());
    assert_eq!(t.item_statuses(task), vec![1, 1]);
    t.assert_counters_match_items(task);
}

#[test]
fn a_long_text_goes_out_in_parts_and_comes_back_joined() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let paragraphs: Vec<String> = (1..=6)
        .map(|i| format!("Akapit {i}: to jest zdanie pierwsze. A to drugie."))
        .collect();
    let long = paragraphs.join("\n\n");
    let (task, items) = batch_task(&mut t, &fake, "gemini", &[&long, "Krótki tekst."], 1);
    t.conn_exec("UPDATE ai_model SET max_chunk_chars = 120");
    assert!(run(&t, &[], &[]).status.success());
    let sent = fake.texts_sent();
    assert!(sent.len() >= 4, "the long text went out in parts: {sent:?}");
    fake.set(Knobs {
        finish: true,
        ..Knobs::default()
    });
    let out = run(&t, &[], &[]);
    assert!(out.status.success(), "{}", output_text(&out));
    let saved: Option<String> = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        items[0]
    ));
    assert_eq!(
        saved.as_deref(),
        Some(long.as_str()),
        "joined with the original separators"
    );
    assert_eq!(t.item_statuses(task), vec![1, 1]);
    let (_, _, _, _, tin, _) = t.task_row(task);
    let lines: usize = sent.values().sum();
    assert_eq!(tin, 100 * lines as u64, "every part's tokens counted");
}

#[test]
fn budgets_hold_for_batch_jobs_and_are_settled_when_collected() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let texts: Vec<String> = (0..10).map(|i| format!("Tekst numer {i}.")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = batch_task(&mut t, &fake, "openai", &refs, 1);
    // Prices high enough that the budget holds about four items' estimates.
    t.conn_exec(
        "UPDATE ai_model SET price_input = 10000, price_output = 10000, daily_budget = 100",
    );
    let estimate_one = {
        let out = run(
            &t,
            &[],
            &["--estimate", "--task", &task.to_string(), "--json"],
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["estimate"][0]["cost"].as_f64().unwrap() / 10.0
    };
    t.conn_exec(&format!(
        "UPDATE task SET max_cost = {} WHERE id_task = {task}",
        estimate_one * 4.5
    ));
    let out = run(&t, &[], &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the budget paused the task: {}",
        output_text(&out)
    );
    assert!(
        output_text(&out).contains("budget of task"),
        "{}",
        output_text(&out)
    );
    let in_job = count(
        &mut t,
        &format!("SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND status_id = 2"),
    );
    assert_eq!(in_job, 4, "only what the budget holds went out");
    assert_eq!(
        count(
            &mut t,
            &format!("SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND status_id = 0")
        ),
        6
    );
    let reserved: f64 = t
        .value::<String>("SELECT CAST(reserved AS CHAR) FROM ai_model_spend")
        .parse()
        .unwrap();
    assert!(
        (reserved - estimate_one * 4.0).abs() < 1e-6,
        "the job reserved its estimate of the daily budget: {reserved}"
    );
    fake.set(Knobs {
        finish: true,
        ..Knobs::default()
    });
    let out = run(&t, &[], &[]);
    assert!(
        output_text(&out).contains("4 saved"),
        "{}",
        output_text(&out)
    );
    // The collected job's reservations were settled: what is reserved now is exactly what
    // the second job's items hold (two more fit the budget after the real costs).
    let held: String = t.value(&format!(
        "SELECT CAST(SUM(cost_reserved) AS CHAR) FROM task_item WHERE id_task = {task}"
    ));
    let task_reserved: String = t.value(&format!(
        "SELECT CAST(cost_reserved AS CHAR) FROM task WHERE id_task = {task}"
    ));
    assert_eq!(held, task_reserved);
    let collected_hold: f64 = t.value::<String>(&format!("SELECT CAST(SUM(cost_reserved) AS CHAR) FROM task_item WHERE id_task = {task} AND status_id = 1")).parse().unwrap();
    assert_eq!(collected_hold, 0.0);
    let (spent, reserved): (String, String) =
        t.conn_first("SELECT CAST(spent AS CHAR), CAST(reserved AS CHAR) FROM ai_model_spend");
    let cost: f64 = t
        .value::<String>(&format!(
            "SELECT CAST(cost AS CHAR) FROM task WHERE id_task = {task}"
        ))
        .parse()
        .unwrap();
    assert!(
        (spent.parse::<f64>().unwrap() - cost).abs() < 1e-6,
        "spent {spent} = task cost {cost}"
    );
    assert!(
        (cost - 2.4).abs() < 1e-9,
        "four lines at half price: {cost}"
    );
    let in_job = count(
        &mut t,
        &format!("SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND status_id = 2"),
    ) as f64;
    assert!(
        (reserved.parse::<f64>().unwrap() - in_job * estimate_one).abs() < 1e-6,
        "daily reservation {reserved} is the new job's"
    );
    t.assert_counters_match_items(task);
}

#[test]
fn serve_lists_a_tasks_batch_jobs() {
    let mut t = TestDb::new();
    let fake = FakeBatch::start();
    let (task, _) = batch_task(&mut t, &fake, "openai", &["Jeden.", "Dwa."], 1);
    assert!(run(&t, &[], &[]).status.success());
    let stop = std::sync::Arc::new(ai_worker::StopSignal::new());
    let server = ai_worker::Server::bind(&t.config, "127.0.0.1:0", stop.clone()).unwrap();
    let addr = server.local_addr().unwrap();
    let thread = std::thread::spawn(move || server.run());
    let (status, body) = common::http(addr, "GET", &format!("/task/{task}"), None, "");
    let (metrics_status, metrics) = common::http(addr, "GET", "/metrics", None, "");
    stop.raise();
    thread.join().unwrap();
    assert_eq!(status, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["batches"][0]["state"], "RUNNING", "{v}");
    assert_eq!(v["batches"][0]["provider_job_id"], "batch_1");
    assert_eq!(v["batches"][0]["items"], 2);
    assert_eq!(metrics_status, 200);
    assert!(
        metrics.contains("ai_worker_batch_items_waiting 2\n"),
        "{metrics}"
    );
}

#[test]
fn an_analysis_task_goes_through_batch_jobs_too() {
    for provider in ["gemini", "openai"] {
        let mut t = TestDb::new();
        let fake = FakeBatch::start();
        let (task, ids) = batch_task(
            &mut t,
            &fake,
            provider,
            &["Opinia pierwsza.", "Opinia druga."],
            1,
        );
        t.conn_exec(&format!(
            "UPDATE task SET description = 'Streść opinię w jednym zdaniu.' WHERE id_task = {task}"
        ));
        let out = run(&t, &[], &[]);
        assert!(out.status.success(), "{}", output_text(&out));
        fake.set(Knobs {
            finish: true,
            ..Knobs::default()
        });
        let out = run(&t, &[], &[]);
        assert!(out.status.success(), "{}", output_text(&out));
        let answer: String = t.value(&format!(
            "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
            ids[0]
        ));
        assert_eq!(answer, "Streszczenie: Opinia pierwsza.", "{provider}");
        assert_eq!(t.item_statuses(task), vec![1, 1], "{provider}");
    }
}

#[test]
fn short_texts_share_a_batch_line_and_what_a_pack_misses_goes_alone_next() {
    for provider in ["gemini", "openai"] {
        let mut t = TestDb::new();
        let fake = FakeBatch::start();
        let mut texts: Vec<String> = (0..10).map(|i| format!("Krótki opis numer {i}.")).collect();
        texts[5] = "SKIP-IN-PACK: ten opis pakiet pomija.".into();
        texts.push("BAD-REQUEST: tego nie da się wysłać.".into());
        texts.push("Długi opis produktu, który idzie osobno. ".repeat(20));
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (task, items) = batch_task(&mut t, &fake, provider, &refs, 1);
        t.conn_exec(&format!(
            "UPDATE task SET pack_max_items = 4 WHERE id_task = {task}"
        ));
        assert!(run(&t, &[], &[]).status.success());
        // 11 short texts in lines of 4, 4 and 3; the long one alone.
        assert_eq!(fake.bodies().len(), 4, "{provider}");
        assert!(fake.texts_sent().values().all(|&n| n == 1));
        assert_eq!(fake.texts_sent().len(), 12);

        fake.set(Knobs {
            finish: true,
            ..Knobs::default()
        });
        // The first job is collected: the answer to the second line left a text out,
        // the third line was refused as a whole (for one of its texts); those four
        // go out again, one per line.
        let out = run(&t, &[], &[]);
        assert!(out.status.success(), "{}", output_text(&out));
        assert_eq!(fake.creates(), 2);
        assert_eq!(fake.bodies().len(), 4 + 4, "{provider}");
        let sent = fake.texts_sent();
        for again in [&texts[5], &texts[8], &texts[9], &texts[10]] {
            assert_eq!(sent[again.as_str()], 2, "{provider}: {again}");
        }
        let out = run(&t, &[], &[]);
        assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
        let mut statuses = vec![1; 12];
        statuses[10] = 3;
        assert_eq!(t.item_statuses(task), statuses, "{provider}");
        let packed: (Option<String>, Option<String>) = t.conn_first(&format!(
            "SELECT text_corrected, change_summary FROM task_item WHERE id_task_item = {}",
            items[1]
        ));
        assert_eq!(
            packed,
            (Some(texts[1].clone()), Some("batch".into())),
            "{provider}"
        );
        let refused: Option<String> = t.value(&format!(
            "SELECT error_message FROM task_item WHERE id_task_item = {}",
            items[10]
        ));
        assert!(refused.unwrap().contains("invalid"), "{provider}");
        // Every answered line billed 100 in and 20 out: three in the first job (two
        // packs, the long text; the refused line billed nothing), three in the second.
        let sums: (u64, u64) = t.conn_first(&format!(
            "SELECT CAST(SUM(tokens_input) AS UNSIGNED), CAST(SUM(tokens_output) AS UNSIGNED) \
             FROM task_item WHERE id_task = {task}"
        ));
        assert_eq!(
            sums,
            (600, 120),
            "{provider}: the items' shares add up to the bill"
        );
        t.assert_counters_match_items(task);
    }
}
