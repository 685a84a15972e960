//! Throughput benchmark (not a test): run with `scripts/bench`.
//!
//! Measures items per second against a fake Gemini server with a fixed latency, our own
//! overhead at zero latency, SQL statements per item, and (through `scripts/bench`)
//! peak RSS of the binary on a 10,000-item task.

#[allow(dead_code)]
#[path = "../tests/common/fake_llm.rs"]
mod fake_llm;

use std::time::{Duration, Instant};

use ai_worker::internals::{Db, init_db, statements_executed};
use ai_worker::{Config, DbConfig};
use ai_worker::{RunOptions, StopSignal, run};
use fake_llm::{FakeLlm, gemini_ok};
use mysql::prelude::Queryable;

fn db_config(name: &str) -> DbConfig {
    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let opts = mysql::Opts::from_url(&url).expect("TEST_DATABASE_URL");
    DbConfig {
        host: opts.get_ip_or_hostname().to_string(),
        port: opts.get_tcp_port(),
        user: opts.get_user().unwrap_or("root").into(),
        password: opts.get_pass().unwrap_or("").into(),
        name: name.into(),
        timeout: std::time::Duration::from_secs(60),
    }
}

/// Creates a fresh database with one model and one task of `n` items; returns task id.
fn setup(db: &DbConfig, provider: &str, url: Option<&str>, n: usize) -> u32 {
    let mut server = mysql::Conn::new(
        mysql::OptsBuilder::new()
            .ip_or_hostname(Some(db.host.clone()))
            .tcp_port(db.port)
            .user(Some(db.user.clone()))
            .pass(Some(db.password.clone())),
    )
    .unwrap();
    server
        .query_drop(format!("DROP DATABASE IF EXISTS `{}`", db.name))
        .unwrap();
    init_db(db).unwrap();
    let mut conn = mysql::Conn::new(
        mysql::OptsBuilder::new()
            .ip_or_hostname(Some(db.host.clone()))
            .tcp_port(db.port)
            .user(Some(db.user.clone()))
            .pass(Some(db.password.clone()))
            .db_name(Some(db.name.clone())),
    )
    .unwrap();
    conn.exec_drop("INSERT INTO ai_model (name, provider, model_name, api_url) VALUES ('bench', ?, 'bench-model', ?)", (provider, url)).unwrap();
    let model = conn.last_insert_id();
    conn.exec_drop(
        "INSERT INTO task (id_ai_model, name, description) VALUES (?, 'bench', 'Popraw błędy.')",
        (model,),
    )
    .unwrap();
    let task = conn.last_insert_id() as u32;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let values: Vec<String> = chunk
            .iter()
            .map(|i| format!("({task}, 'Przykładowy tekst numer {i} z błedem ortograficznym.')"))
            .collect();
        conn.query_drop(format!(
            "INSERT INTO task_item (id_task, text_original) VALUES {}",
            values.join(",")
        ))
        .unwrap();
    }
    task
}

fn measure(name: &str, latency: Duration, items: usize, concurrency: u32) -> (f64, f64) {
    let llm =
        FakeLlm::start(move |req, _| gemini_ok(&req.item_text(), "ok", 50, 10, 0).delayed(latency));
    let db = db_config(name);
    let task = setup(&db, "gemini", Some(&llm.base_url), items);
    let mut config = Config::defaults();
    config.db = db.clone();
    config.gemini_api_key = Some("bench".into());
    config.env_key_hosts = vec!["127.0.0.1".into()];
    config.concurrency = concurrency;
    config.pii_redaction = true;
    let options = RunOptions {
        task: Some(task),
        item_limit: Some(items as u32),
        trigger: "cli".into(),
        ..RunOptions::default()
    };
    let statements_before = statements_executed();
    let started = Instant::now();
    let summary = run(&config, &options, &StopSignal::new()).unwrap();
    let secs = started.elapsed().as_secs_f64();
    assert_eq!(summary.items_ok as usize, items, "every item processed");
    let per_item = (statements_executed() - statements_before) as f64 / items as f64;
    let mut drop_db = Db::connect_server(&db).unwrap();
    drop_db
        .execute_text(&format!("DROP DATABASE `{name}`"))
        .unwrap();
    (items as f64 / secs, per_item)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("setup-rss") {
        // Prepares the 10,000-item task that scripts/bench runs the binary on.
        let n: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
        let task = setup(&db_config("aiw_bench_rss"), "echo", None, n);
        println!("{task}");
        return;
    }
    let quick = std::env::var("BENCH_QUICK").is_ok();
    let latency = Duration::from_millis(200);
    println!(
        "| latency | concurrency | items | items/s | target (90% of C/L) | SQL statements/item |"
    );
    println!("|---|---|---|---|---|---|");
    for (concurrency, items) in [
        (1u32, if quick { 20 } else { 200 }),
        (4, if quick { 80 } else { 2000 }),
        (16, if quick { 320 } else { 2000 }),
        (32, if quick { 640 } else { 2000 }),
    ] {
        let (rate, sql) = measure("aiw_bench", latency, items, concurrency);
        let target = 0.9 * concurrency as f64 / latency.as_secs_f64();
        println!("| 200 ms | {concurrency} | {items} | {rate:.1} | {target:.1} | {sql:.2} |");
    }
    for concurrency in [4u32, 8] {
        let items = if quick { 1000 } else { 5000 };
        let (rate, sql) = measure("aiw_bench", Duration::ZERO, items, concurrency);
        println!("| 0 ms | {concurrency} | {items} | {rate:.1} | 1000 | {sql:.2} |");
    }
}
