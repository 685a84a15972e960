//! Chaos run (not a test): run with `scripts/chaos`.
//!
//! Starts W worker processes on one task against a fake Gemini server, SIGKILLs one at
//! random every few hundred milliseconds (and starts a new one in its place), then lets
//! the last workers finish, and checks: every item PROCESSED once, the task's counters
//! equal its rows, and how many items were sent to the model more than once, and why
//! (an item in flight in a killed worker is sent again after its lease expires).
//! Bounded: a fixed number of kills, then at most CHAOS_MAX_S seconds.

#[allow(dead_code)]
#[path = "../tests/common/fake_llm.rs"]
mod fake_llm;

#[path = "support/chaos.rs"]
mod support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_llm::{FakeLlm, gemini_ok};
use mysql::prelude::Queryable;
use support::{env_num, left, outcome, random};

struct Setup {
    conn: mysql::Conn,
    task: u32,
    db_name: String,
}

fn setup(items: u64, base_url: &str) -> Setup {
    let db_name = "aiw_chaos".to_string();
    let root = mysql::OptsBuilder::new()
        .ip_or_hostname(Some("127.0.0.1"))
        .tcp_port(3306)
        .user(Some("root"));
    let mut server = mysql::Conn::new(root.clone()).unwrap();
    server
        .query_drop(format!("DROP DATABASE IF EXISTS {db_name}"))
        .unwrap();
    let status = Command::new("target/release/ai-worker")
        .args(["--env-file", "/dev/null", "init-db", "-q"])
        .env("DB_NAME", &db_name)
        .status()
        .unwrap();
    assert!(status.success(), "init-db");
    let mut conn = mysql::Conn::new(root.db_name(Some(db_name.clone()))).unwrap();
    conn.exec_drop(
        "INSERT INTO ai_model (name, provider, model_name, api_url) VALUES ('chaos', 'gemini', 'm', ?)",
        (base_url,),
    )
    .unwrap();
    let model = conn.last_insert_id();
    conn.exec_drop(
        "INSERT INTO task (id_ai_model, name, description) VALUES (?, 'chaos', 'Popraw.')",
        (model,),
    )
    .unwrap();
    let task = conn.last_insert_id() as u32;
    let values: Vec<String> = (0..items)
        .map(|i| format!("({task}, 'tekst {i}')"))
        .collect();
    conn.query_drop(format!(
        "INSERT INTO task_item (id_task, text_original) VALUES {}",
        values.join(",")
    ))
    .unwrap();
    Setup {
        conn,
        task,
        db_name,
    }
}

fn worker(db_name: &str, task: u32) -> Child {
    Command::new("target/release/ai-worker")
        .args(["--env-file", "/dev/null", "--task", &task.to_string(), "-q"])
        .args(["--max-item", "100000", "--concurrency", "4"])
        .env("DB_NAME", db_name)
        .env("GEMINI_API_KEY", "chaos")
        .env("AI_ENV_KEY_HOSTS", "127.0.0.1")
        .env("PACK_MAX_ITEMS", "1")
        .env("WORKER_LEASE_S", "10")
        .env("AI_MAX_ATTEMPTS", "100")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn main() {
    let items = env_num("CHAOS_ITEMS", 1000);
    let workers = env_num("CHAOS_WORKERS", 3) as usize;
    let kills = env_num("CHAOS_KILLS", 20);
    let max = Duration::from_secs(env_num("CHAOS_MAX_S", 300));
    let llm = FakeLlm::start(|req, _| {
        gemini_ok(&req.item_text(), "ok", 10, 5, 0).delayed(Duration::from_millis(20))
    });
    let mut s = setup(items, &llm.base_url);
    let started = Instant::now();
    let mut running: Vec<Child> = (0..workers).map(|_| worker(&s.db_name, s.task)).collect();
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(100 + random(400)));
        let victim = random(running.len() as u64) as usize;
        let _ = running[victim].kill();
        let _ = running[victim].wait();
        running[victim] = worker(&s.db_name, s.task);
    }
    // Let them finish; a worker that ran out of work before a lease expired is restarted.
    while left(&mut s.conn, s.task) > 0 && started.elapsed() < max {
        for child in running.iter_mut() {
            if let Ok(Some(_)) = child.try_wait() {
                *child = worker(&s.db_name, s.task);
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    for mut child in running {
        let _ = child.kill();
        let _ = child.wait();
    }
    report(&mut s, &llm, items, kills, workers, started.elapsed());
}

fn report(s: &mut Setup, llm: &FakeLlm, items: u64, kills: u64, workers: usize, took: Duration) {
    let o = outcome(&mut s.conn, s.task);
    let (processed, error, pending) = (o.processed, o.error, o.left);
    let calls = llm.calls_per_text();
    let twice = calls.values().filter(|&&n| n > 1).count();
    let extra: usize = calls.values().map(|&n| n.saturating_sub(1)).sum();
    println!(
        "| workers | kills | items | processed | failed | left | counters = rows | sent more than once | extra calls | seconds |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    println!(
        "| {workers} x 4 threads | {kills} | {items} | {processed} | {error} | {pending} | {} | {twice} | {extra} | {:.0} |",
        if o.counters_exact { "yes" } else { "NO" },
        took.as_secs_f64()
    );
    println!(
        "An item is sent again only when a killed worker had it in flight: at most {} (kills x concurrency).",
        kills * 4
    );
    let ok = processed == items && pending == 0 && o.counters_exact;
    s.conn
        .query_drop(format!("DROP DATABASE {}", s.db_name))
        .unwrap();
    if !ok {
        eprintln!("CHAOS CHECK FAILED");
        std::process::exit(1);
    }
}
