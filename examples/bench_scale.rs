//! Scale benchmark (not a test): run with `scripts/bench-scale`.
//!
//! 1. Claim time by pending rows (100 to 1,000,000), after `ANALYZE TABLE`.
//! 2. Items/s on a 1,000,000-item task against a 1,000-item task at zero latency
//!    (echo model, and the HTTP fake): the claim must not grow with the task.
//! 3. 8 and 16 processes on one task at 50 ms latency against one process with the
//!    same total concurrency: failed processes, deadlocks retried, items/s.
//!
//! Peak RSS is measured by the script around the binary.

#[allow(dead_code)]
#[path = "../tests/common/fake_llm.rs"]
mod fake_llm;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ai_worker::internals::CLAIM_PENDING_SQL;
use fake_llm::{FakeLlm, gemini_ok};
use mysql::prelude::Queryable;

const DB: &str = "aiw_bench_scale";
/// Items per thread in the processes benchmark: enough that each process runs for
/// several seconds, so its start and finish are a small part of the time measured.
const ITEMS_PER_THREAD: u64 = 300;

fn server() -> mysql::Conn {
    let opts = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(3306)
        .user(Some("root"));
    mysql::Conn::new(opts).unwrap()
}

/// A fresh database with one model (`provider`, `url`) and a big table of finished
/// items; returns a connection to it and the model id.
fn fresh(provider: &str, url: Option<&str>) -> (mysql::Conn, u64) {
    let mut s = server();
    s.query_drop(format!("DROP DATABASE IF EXISTS {DB}"))
        .unwrap();
    let status = Command::new("target/release/ai-worker")
        .args(["--env-file", "/dev/null", "init-db", "-q"])
        .env("DB_NAME", DB)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    s.query_drop(format!("USE {DB}")).unwrap();
    s.exec_drop(
        "INSERT INTO ai_model (name, provider, model_name, api_url) VALUES ('b', ?, 'm', ?)",
        (provider, url),
    )
    .unwrap();
    let model = s.last_insert_id();
    (s, model)
}

/// A task of `n` items, `done` of them already PROCESSED; returns its id.
fn task(conn: &mut mysql::Conn, model: u64, n: u64, done: u64) -> u64 {
    conn.exec_drop(
        "INSERT INTO task (id_ai_model, name, description) VALUES (?, 'b', 'Popraw.')",
        (model,),
    )
    .unwrap();
    let task = conn.last_insert_id();
    let mut from = 1;
    while from <= n {
        let to = (from + 99_999).min(n);
        conn.query_drop(format!(
            "INSERT INTO task_item (id_task, text_original, status_id) \
             SELECT {task}, CONCAT('Tekst numer ', seq, ' z błedem.'), IF(seq <= {done}, 1, 0) \
             FROM seq_{from}_to_{to}"
        ))
        .unwrap();
        from = to + 1;
    }
    task
}

fn claim_times() {
    println!("| pending items | claim of 10 (median of 50) |");
    println!("|---|---|");
    for pending in [100u64, 1_000, 10_000, 100_000, 1_000_000] {
        let (mut conn, model) = fresh("echo", None);
        // A live table: 1,000 finished tasks' worth of rows first.
        let old = task(&mut conn, model, 1_000_000, 1_000_000);
        let _ = old;
        let live = task(&mut conn, model, pending, 0);
        conn.query_drop("ANALYZE TABLE task_item").unwrap();
        let mut times = Vec::new();
        for i in 0..50 {
            let started = Instant::now();
            conn.exec_drop(
                CLAIM_PENDING_SQL,
                (2, format!("t{i}"), 60, "op", None::<u32>, live, 0, 10),
            )
            .unwrap();
            times.push(started.elapsed());
        }
        times.sort();
        println!("| {pending} | {:.2} ms |", times[25].as_secs_f64() * 1000.0);
    }
}

/// Runs the binary on `task` for at most `max` items; returns items/s.
fn run_binary(task: u64, max: u64, concurrency: u32) -> f64 {
    let started = Instant::now();
    let out = Command::new("target/release/ai-worker")
        .args(["--env-file", "/dev/null", "-q", "--json"])
        .args(["--task", &task.to_string(), "--max-item", &max.to_string()])
        .args(["--concurrency", &concurrency.to_string()])
        .env("DB_NAME", DB)
        .env("GEMINI_API_KEY", "bench")
        .env("AI_ENV_KEY_HOSTS", "127.0.0.1")
        .env("PACK_MAX_ITEMS", "1")
        .output()
        .unwrap();
    let secs = started.elapsed().as_secs_f64();
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    summary["items_ok"].as_u64().unwrap_or(0) as f64 / secs
}

fn big_against_small() {
    println!("| model | task size | items run | items/s |");
    println!("|---|---|---|---|");
    let llm = FakeLlm::start(|req, _| gemini_ok(&req.item_text(), "ok", 10, 5, 0));
    for (label, provider, url) in [
        ("echo", "echo", None),
        ("HTTP fake, 0 ms", "gemini", Some(llm.base_url.clone())),
    ] {
        let mut rates = Vec::new();
        for (size, run) in [(1_000u64, 1_000u64), (1_000_000, 20_000)] {
            let (mut conn, model) = fresh(provider, url.as_deref());
            let t = task(&mut conn, model, size, 0);
            conn.query_drop("ANALYZE TABLE task_item").unwrap();
            let rate = run_binary(t, run, 4);
            println!("| {label} | {size} | {run} | {rate:.0} |");
            rates.push(rate);
        }
        println!(
            "| {label} | ratio 1,000,000 / 1,000 | | {:.2} |",
            rates[1] / rates[0]
        );
    }
}

fn processes(latency: Duration) {
    println!(
        "| processes x threads | items | items/s | failed processes | deadlocks retried | counters exact | statements per item |"
    );
    println!("|---|---|---|---|---|---|---|");
    let llm =
        FakeLlm::start(move |req, _| gemini_ok(&req.item_text(), "ok", 10, 5, 0).delayed(latency));
    for (procs, threads) in [(1u32, 32u32), (8, 4), (1, 64), (16, 4)] {
        let (mut conn, model) = fresh("gemini", Some(&llm.base_url));
        let items = u64::from(procs * threads) * ITEMS_PER_THREAD;
        let t = task(&mut conn, model, items, 0);
        let questions_before = questions(&mut conn);
        let started = Instant::now();
        let children: Vec<_> = (0..procs)
            .map(|_| {
                Command::new("target/release/ai-worker")
                    .args(["--env-file", "/dev/null", "-q", "--json"])
                    .args(["--task", &t.to_string(), "--max-item", "1000000"])
                    .args(["--concurrency", &threads.to_string()])
                    .env("DB_NAME", DB)
                    .env("GEMINI_API_KEY", "bench")
                    .env("AI_ENV_KEY_HOSTS", "127.0.0.1")
                    .env("PACK_MAX_ITEMS", "1")
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let (mut failed, mut deadlocks) = (0, 0);
        for child in children {
            let out = child.wait_with_output().unwrap();
            failed += u32::from(!out.status.success());
            let summary: serde_json::Value =
                serde_json::from_slice(&out.stdout).unwrap_or_default();
            deadlocks += summary["deadlocks_retried"].as_u64().unwrap_or(0);
        }
        let rate = items as f64 / started.elapsed().as_secs_f64();
        let per_item = (questions(&mut conn) - questions_before) as f64 / items as f64;
        let exact = counters_exact(&mut conn, t, items);
        println!(
            "| {procs} x {threads} | {items} | {rate:.0} | {failed} | {deadlocks} | {exact} | {per_item:.2} |"
        );
    }
}

/// Statements the server has run so far (all clients).
fn questions(conn: &mut mysql::Conn) -> u64 {
    let row: Option<(String, u64)> = conn
        .query_first("SHOW GLOBAL STATUS LIKE 'Questions'")
        .unwrap();
    row.map_or(0, |(_, n)| n)
}

/// Whether every item was done once and the task's counters say exactly that.
fn counters_exact(conn: &mut mysql::Conn, task: u64, items: u64) -> bool {
    let done: Option<u64> = conn
        .exec_first(
            "SELECT COUNT(*) FROM task_item WHERE id_task = ? AND status_id = ?",
            (task, ai_worker::internals::PROCESSED),
        )
        .unwrap();
    let counters: Option<(u64, u64, u64)> = conn
        .exec_first(
            "SELECT records_total, records_processed, records_error FROM task WHERE id_task = ?",
            (task,),
        )
        .unwrap();
    done == Some(items) && counters == Some((items, items, 0))
}

/// A 1 MB text at 200 ms model latency, with and without parts (library call).
fn chunks() {
    println!("| chunking | parts (calls) | concurrency | seconds |");
    println!("|---|---|---|---|");
    let latency = Duration::from_millis(200);
    let llm =
        FakeLlm::start(move |req, _| gemini_ok(&req.item_text(), "ok", 10, 5, 0).delayed(latency));
    let sentence = "To jest zdanie testowe numer sto dwadzieścia, z kilkoma słowami. ";
    let paragraph = sentence.repeat(12);
    let mut text = String::new();
    while text.len() < 1_000_000 {
        text.push_str(&paragraph);
        text.push_str("\n\n");
    }
    for (label, max_chunk) in [
        ("none (one call)", 10_000_000u64),
        ("8,000 characters", 8000),
    ] {
        let (mut conn, model) = fresh("gemini", Some(&llm.base_url));
        conn.exec_drop(
            "UPDATE ai_model SET max_chunk_chars = ?, max_output_tokens = 1000000 WHERE id_ai_model = ?",
            (max_chunk, model),
        )
        .unwrap();
        conn.exec_drop(
            "INSERT INTO task (id_ai_model, name, description) VALUES (?, 'b', 'Popraw.')",
            (model,),
        )
        .unwrap();
        let task = conn.last_insert_id();
        conn.exec_drop(
            "INSERT INTO task_item (id_task, text_original) VALUES (?, ?)",
            (task, &text),
        )
        .unwrap();
        let before = llm.requests().len();
        let started = Instant::now();
        let ok = run_binary(task, 1, 8);
        let secs = started.elapsed().as_secs_f64();
        let calls = llm.requests().len() - before;
        println!(
            "| {label} | {calls} | 8 | {secs:.1} |{}",
            if ok > 0.0 { "" } else { " (failed)" }
        );
    }
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    match what.as_str() {
        "chunks" => chunks(),
        "claims" => claim_times(),
        "size" => big_against_small(),
        "processes" => processes(Duration::from_millis(50)),
        "setup-rss" => {
            // A task of N items for the script to run the binary on, echo model.
            let n: u64 = std::env::args()
                .nth(2)
                .and_then(|a| a.parse().ok())
                .unwrap_or(100_000);
            let (mut conn, model) = fresh("echo", None);
            println!("{}", task(&mut conn, model, n, 0));
            return;
        }
        _ => {
            claim_times();
            println!();
            big_against_small();
            println!();
            processes(Duration::from_millis(50));
        }
    }
    let _ = server().query_drop(format!("DROP DATABASE IF EXISTS {DB}"));
}
