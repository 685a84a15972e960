//! Batch chaos run (not a test): run with `scripts/chaos-batch`.
//!
//! One batch task against a fake provider speaking the OpenAI Batch API. A worker is
//! started and SIGKILLed at a random moment, again and again, while jobs are created,
//! running and collected; between kills the dead worker's claims are made to expire (as
//! WORKER_LEASE_S would) and the provider finishes the jobs now and then. Then workers
//! run to the end, and the checks: every item PROCESSED once, the task's counters equal
//! its rows, and no text was in two jobs the provider answered (nothing paid twice).
//! Bounded: a fixed number of kills, then at most CHAOS_MAX_S seconds.

#[allow(dead_code)]
#[path = "../tests/common/fake_batch.rs"]
mod fake_batch;
#[allow(dead_code)]
#[path = "../tests/common/fake_llm.rs"]
mod fake_llm;

#[path = "support/chaos.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_batch::{FakeBatch, Knobs};
use mysql::prelude::Queryable;
use support::{env_num, left, outcome, random};

const DB: &str = "aiw_chaos_batch";

fn setup(items: u64, url: &str) -> (mysql::Conn, u32) {
    let root = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(3306)
        .user(Some("root"));
    mysql::Conn::new(root.clone())
        .unwrap()
        .query_drop(format!("DROP DATABASE IF EXISTS {DB}"))
        .unwrap();
    let status = Command::new("target/release/ai-worker")
        .args(["--env-file", "/dev/null", "init-db", "-q"])
        .env("DB_NAME", DB)
        .status()
        .unwrap();
    assert!(status.success(), "init-db");
    let mut conn = mysql::Conn::new(root.db_name(Some(DB))).unwrap();
    conn.exec_drop(
        "INSERT INTO ai_model (name, provider, model_name, api_url, price_input, price_output, local_server) \
         VALUES ('chaos', 'openai', 'gpt-5-mini', ?, 1, 4, 0)",
        (url,),
    )
    .unwrap();
    let model = conn.last_insert_id();
    conn.exec_drop("INSERT INTO task (id_ai_model, name, description, batch) VALUES (?, 'chaos', 'Popraw.', 1)", (model,))
        .unwrap();
    let task = conn.last_insert_id() as u32;
    let values: Vec<String> = (0..items)
        .map(|i| format!("({task}, 'tekst numer {i}')"))
        .collect();
    conn.query_drop(format!(
        "INSERT INTO task_item (id_task, text_original) VALUES {}",
        values.join(",")
    ))
    .unwrap();
    (conn, task)
}

fn worker() -> Child {
    Command::new("target/release/ai-worker")
        .args(["--env-file", "/dev/null", "-q", "--max-item", "100000"])
        .env("DB_NAME", DB)
        .env("OPENAI_API_KEY", "chaos")
        .env("BATCH_MAX_ITEMS", "50")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn main() {
    let items = env_num("CHAOS_ITEMS", 1000);
    let kills = env_num("CHAOS_KILLS", 30);
    let max = Duration::from_secs(env_num("CHAOS_MAX_S", 300));
    let fake = FakeBatch::start();
    let (mut conn, task) = setup(items, &fake.server.openai_url());
    let started = Instant::now();
    for _ in 0..kills {
        fake.set(Knobs {
            finish: random(3) == 0,
            ..Knobs::default()
        });
        let mut child = worker();
        // The random moment of the kill, not a wait for anything.
        std::thread::sleep(Duration::from_millis(random(300)));
        let _ = child.kill();
        let _ = child.wait();
        // What WORKER_LEASE_S would do after a dead worker's claims.
        conn.query_drop("UPDATE ai_batch SET claimed_until = NOW() - INTERVAL 1 SECOND WHERE claimed_until IS NOT NULL")
            .unwrap();
    }
    fake.set(Knobs {
        finish: true,
        ..Knobs::default()
    });
    while left(&mut conn, task) > 0 && started.elapsed() < max {
        let _ = worker().wait();
    }
    report(&mut conn, task, &fake, items, kills, started.elapsed());
}

fn report(
    conn: &mut mysql::Conn,
    task: u32,
    fake: &FakeBatch,
    items: u64,
    kills: u64,
    took: Duration,
) {
    let o = outcome(conn, task);
    let (processed, error, pending) = (o.processed, o.error, o.left);
    let jobs: Vec<(String, u64)> = conn
        .query("SELECT state, COUNT(*) FROM ai_batch GROUP BY state ORDER BY state")
        .unwrap();
    let sent = fake.texts_sent();
    let twice = sent.values().filter(|&&n| n > 1).count();
    let exact = o.counters_exact;
    println!(
        "| kills | items | processed | failed | left | counters = rows | jobs created | jobs by state | texts in two jobs | seconds |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let states: Vec<String> = jobs.iter().map(|(s, n)| format!("{s} {n}")).collect();
    println!(
        "| {kills} | {items} | {processed} | {error} | {pending} | {} | {} | {} | {twice} | {:.0} |",
        if exact { "yes" } else { "NO" },
        fake.creates(),
        states.join(", "),
        took.as_secs_f64()
    );
    conn.query_drop(format!("DROP DATABASE {DB}")).unwrap();
    if !(processed == items && pending == 0 && exact && twice == 0) {
        eprintln!("CHAOS CHECK FAILED");
        std::process::exit(1);
    }
}
