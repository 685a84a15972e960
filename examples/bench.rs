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
    // One text per request: this measures calls; `cost` measures packing.
    config.pack_max_items = 1;
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
    if args.get(1).map(String::as_str) == Some("cost") {
        cost_table();
        return;
    }
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

/// One cost case: `texts` as one task (with `task_sets` applied) run to the end;
/// returns (requests, input tokens, output tokens) the fake billed.
fn cost_case(llm: &FakeLlm, texts: &[String], task_sets: &str, pack: u32) -> (usize, u64, u64) {
    let db = db_config("aiw_bench_cost");
    let task = setup(&db, "gemini", Some(&llm.base_url), 0);
    let mut conn = mysql::Conn::new(
        mysql::OptsBuilder::new()
            .ip_or_hostname(Some(db.host.clone()))
            .tcp_port(db.port)
            .user(Some(db.user.clone()))
            .pass(Some(db.password.clone()))
            .db_name(Some(db.name.clone())),
    )
    .unwrap();
    for text in texts {
        conn.exec_drop(
            "INSERT INTO task_item (id_task, text_original) VALUES (?, ?)",
            (task, text),
        )
        .unwrap();
    }
    if !task_sets.is_empty() {
        conn.query_drop(format!(
            "UPDATE task SET {task_sets} WHERE id_task = {task}"
        ))
        .unwrap();
    }
    let before = llm.requests().len();
    let mut config = Config::defaults();
    config.db = db.clone();
    config.gemini_api_key = Some("bench".into());
    config.env_key_hosts = vec!["127.0.0.1".into()];
    config.pack_max_items = pack;
    config.item_limit = 100_000;
    let summary = run(&config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert_eq!(
        summary.items_ok as usize,
        texts.len(),
        "every item processed"
    );
    let (tokens_in, tokens_out): (u64, u64) = conn
        .query_first("SELECT CAST(SUM(tokens_input) AS UNSIGNED), CAST(SUM(tokens_output) AS UNSIGNED) FROM task")
        .unwrap()
        .unwrap();
    (llm.requests().len() - before, tokens_in, tokens_out)
}

/// Cost per item: packing, copies and the worker's own summary, against a fake that
/// bills a token per 4 characters (BENCHMARKS.md "Cost per item").
fn cost_table() {
    let titles: Vec<String> = (0..200)
        .map(|i| {
            let pad = "x".repeat(i % 25);
            format!("Tytuł produktu {i} ma bład {pad}")
        })
        .collect();
    let long: Vec<String> = (0..200)
        .map(|i| {
            format!(
                "Opis {i}. {}",
                "Długi opis produktu z jednym bład w zdaniu. ".repeat(45)
            )
        })
        .collect();
    let catalogue: Vec<String> = (0..70)
        .map(|i| format!("Opis produktu numer {} ma jeden bład w zdaniu.", i % 7))
        .collect();
    let llm = FakeLlm::gemini_billing();
    println!("| case | items | requests | input tokens/item | output tokens/item |");
    println!("|---|---|---|---|---|");
    let row = |name: &str, items: usize, (requests, tin, tout): (usize, u64, u64)| {
        let n = items as f64;
        println!(
            "| {name} | {items} | {requests} | {:.1} | {:.1} |",
            tin as f64 / n,
            tout as f64 / n
        );
    };
    row(
        "200 titles (30-60 chars), packing off",
        200,
        cost_case(&llm, &titles, "", 1),
    );
    row(
        "200 titles (30-60 chars), packed (10)",
        200,
        cost_case(&llm, &titles, "", 10),
    );
    row(
        "200 titles (30-60 chars), packed (20)",
        200,
        cost_case(&llm, &titles, "", 20),
    );
    row(
        "200 texts of 2,000 chars, packing off",
        200,
        cost_case(&llm, &long, "", 1),
    );
    row(
        "200 texts of 2,000 chars, packing on",
        200,
        cost_case(&llm, &long, "", 10),
    );
    row(
        "70 items, 7 distinct texts, reuse off",
        70,
        cost_case(&llm, &catalogue, "reuse_results = 0", 1),
    );
    row(
        "70 items, 7 distinct texts, reuse on",
        70,
        cost_case(&llm, &catalogue, "", 1),
    );
    row(
        "200 titles, summary by the model (one per request)",
        200,
        cost_case(&llm, &titles, "", 1),
    );
    row(
        "200 titles, change_summary = 'diff' (one per request)",
        200,
        cost_case(&llm, &titles, "change_summary = 'diff'", 1),
    );
    row(
        "200 titles, packed (10) and 'diff'",
        200,
        cost_case(&llm, &titles, "change_summary = 'diff'", 10),
    );
    let mut drop_db = Db::connect_server(&db_config("aiw_bench_cost")).unwrap();
    drop_db
        .execute_text("DROP DATABASE IF EXISTS `aiw_bench_cost`")
        .unwrap();
}
