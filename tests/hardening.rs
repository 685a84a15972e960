//! Hostile rows, hostile answers, frozen databases and attacks on serve: the worker
//! never panics, never leaks a key, never leaves an item PROCESSING, never pays twice.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ai_worker::{Config, RunOptions, Server, StopSignal, run};
use common::fake_llm::{FakeLlm, Reply, gemini_ok, openai_ok};
use common::proxy::Proxy;
use common::{TestDb, output_text};
use mysql::prelude::Queryable;
use serde_json::Value;

fn opts() -> RunOptions {
    RunOptions {
        item_limit: Some(1000),
        ..RunOptions::default()
    }
}

fn error_of(t: &mut TestDb, item: u32) -> String {
    t.value(&format!(
        "SELECT COALESCE(error_message, '') FROM task_item WHERE id_task_item = {item}"
    ))
}

#[test]
fn invalid_utf8_text_fails_its_item_and_a_null_description_uses_the_default() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["przed", "zepsuty", "po"]);
    // An encoded surrogate: MariaDB stores it in a utf8mb4 column all the same.
    t.conn
        .exec_drop(
            "UPDATE task_item SET text_original = CONCAT('abc ', X'EDA080', ' def') WHERE id_task_item = ?",
            (ids[1],),
        )
        .unwrap();
    // A panel that allowed NULL in task.description.
    t.conn
        .query_drop("ALTER TABLE task MODIFY description TEXT NULL")
        .unwrap();
    t.conn
        .exec_drop(
            "UPDATE task SET description = NULL WHERE id_task = ?",
            (task,),
        )
        .unwrap();
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert_eq!(t.item_statuses(task), vec![1, 3, 1]);
    let message = error_of(&mut t, ids[1]);
    assert!(message.contains("not valid UTF-8"), "{message}");
    assert_eq!(
        llm.requests().len(),
        2,
        "the unreadable text was never sent"
    );
    let user = llm.requests()[0].json().to_string();
    assert!(
        user.contains("Correct spelling"),
        "the default instruction: {user}"
    );
    t.assert_counters_match_items(task);
}

#[test]
fn a_panic_in_one_item_fails_that_item_only_and_never_prints_its_text() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["jeden", "BOOM tajny tekst klienta", "dwa"]);
    let dir = std::env::temp_dir().join(format!("aiw-panic-{}", std::process::id()));
    let log = dir.join("worker.log");
    let out = t
        .bin_command(&[
            "--task",
            &task.to_string(),
            "--log-file",
            log.to_str().unwrap(),
        ])
        .env("AI_WORKER_FAILPOINT_PANIC", "BOOM")
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(t.item_statuses(task), vec![1, 3, 1]);
    let message = error_of(&mut t, ids[1]);
    assert!(message.starts_with("internal error:"), "{message}");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.contains("internal error"), "{logged}");
    for place in [&text, &logged, &message] {
        assert!(!place.contains("tajny tekst"), "item text leaked: {place}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_redirect_is_never_followed_and_the_key_stays_home() {
    let mut t = TestDb::new();
    let elsewhere = FakeLlm::gemini_echo();
    let target = format!("{}/models/m:generateContent", elsewhere.base_url);
    let llm = FakeLlm::start(move |_, _| Reply::new(302, "").header("Location", &target));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("SECRET-KEY-1234"));
    let (task, _) = t.task(model, &["a", "b"]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(summary.exit_code(), 1);
    assert!(
        elsewhere.requests().is_empty(),
        "nothing reached the other server"
    );
    let message: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {task}"
    ));
    let port = elsewhere
        .base_url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    assert!(
        message.contains("redirect") && message.contains(port),
        "{message}"
    );
    assert_eq!(
        t.item_statuses(task),
        vec![0, 0],
        "the items wait for a fix"
    );
}

#[test]
fn answers_too_big_for_their_columns_and_counters_at_their_maximum_are_saved() {
    let mut t = TestDb::new();
    let summary = "ż".repeat(40_000);
    let llm =
        FakeLlm::start(move |req, _| gemini_ok(&req.item_text(), &summary, 5_000_000_000, 7, 0));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["a", "b"]);
    t.conn
        .exec_drop(
            "UPDATE task SET records_processed = 4294967295, tokens_input = 18446744073709551615 WHERE id_task = ?",
            (task,),
        )
        .unwrap();
    t.conn
        .exec_drop(
            "UPDATE task_item SET attempts = 65535 WHERE id_task_item = ?",
            (ids[0],),
        )
        .unwrap();
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(t.item_statuses(task), vec![1, 1]);
    let (len, tokens): (u64, u64) = t
        .conn
        .exec_first(
            "SELECT LENGTH(change_summary), tokens_input FROM task_item WHERE id_task_item = ?",
            (ids[1],),
        )
        .unwrap()
        .unwrap();
    assert!(len <= 65_535, "{len}");
    assert_eq!(tokens, u64::from(u32::MAX));
    let cut: String = t.value(&format!(
        "SELECT change_summary FROM task_item WHERE id_task_item = {}",
        ids[1]
    ));
    assert!(cut.ends_with("[summary cut]"));
}

#[test]
fn an_empty_answer_for_a_text_is_retried_then_an_item_error() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|_, _| gemini_ok("", "nothing", 1, 1, 0));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["Ala ma kota."]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(t.item_statuses(task), vec![3]);
    let message = error_of(&mut t, ids[0]);
    assert!(message.contains("empty text_corrected"), "{message}");
    assert_eq!(llm.requests().len(), 3, "retried like any bad answer");
}

#[test]
fn keys_never_reach_the_log_even_at_trace() {
    let mut t = TestDb::new();
    let gemini = FakeLlm::gemini_echo();
    let openai = FakeLlm::start(|req, _| openai_ok(&req.item_text(), "ok", 1, 1));
    let g = t.model(
        "gemini",
        "m",
        Some(&gemini.base_url),
        Some("GEMINI-SECRET-KEY-42"),
    );
    let o = t.model(
        "openai",
        "gpt-5",
        Some(&openai.openai_url()),
        Some("sk-OPENAI-SECRET-43"),
    );
    t.task(g, &["a"]);
    t.task(o, &["b"]);
    let out = t
        .bin_command(&["-v"])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("GEMINI-SECRET-KEY-42") && !text.contains("OPENAI-SECRET-43"));
    assert_eq!(
        openai.requests()[0].headers["authorization"],
        "Bearer sk-OPENAI-SECRET-43"
    );
}

#[test]
fn a_model_name_stays_one_path_segment() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model(
        "gemini",
        "../../../_stats?x=#",
        Some(&llm.base_url),
        Some("k"),
    );
    t.task(model, &["a"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let path = &llm.requests()[0].path;
    assert!(
        path.starts_with("/v1beta/models/..%2F..%2F..%2F_stats%3Fx%3D%23:generateContent"),
        "{path}"
    );
}

#[test]
fn a_processing_item_without_a_lease_is_recovered() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["a", "b"]);
    t.conn
        .exec_drop(
            "UPDATE task_item SET status_id = 2, claim_token = 'x', claimed_until = NULL, attempts = 1 WHERE id_task_item = ?",
            (ids[0],),
        )
        .unwrap();
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(t.item_statuses(task), vec![1, 1]);
}

#[test]
fn a_body_that_is_not_utf8_is_named_as_such() {
    let mut t = TestDb::new();
    // The fake LLM writes text; raw bytes need a server of their own.
    let raw = RawServer::start(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{\xff}",
    );
    let model = t.model("gemini", "m", Some(&raw.base_url()), Some("k"));
    let (_, ids) = t.task(model, &["a"]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let message = error_of(&mut t, ids[0]);
    assert!(message.contains("not UTF-8"), "{message}");
    assert!(!message.contains("connection error"), "{message}");
}

/// A server that answers every connection with the same raw bytes.
struct RawServer {
    port: u16,
}

impl RawServer {
    fn start(reply: &'static [u8]) -> RawServer {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 65536];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let _ = stream.write_all(reply);
                });
            }
        });
        RawServer { port }
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}/v1beta", self.port)
    }
}

/// A Gemini server whose first answer waits until the test says so; it reports each
/// request as it arrives.
fn gated_gemini() -> (FakeLlm, mpsc::Receiver<usize>, mpsc::Sender<()>) {
    let (arrived_tx, arrived_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (arrived_tx, release_rx) = (Mutex::new(arrived_tx), Mutex::new(release_rx));
    let llm = FakeLlm::start(move |req, n| {
        let _ = arrived_tx.lock().unwrap().send(n);
        if n == 0 {
            let _ = release_rx
                .lock()
                .unwrap()
                .recv_timeout(Duration::from_secs(60));
        }
        gemini_ok(&req.item_text(), "ok", 1, 1, 0)
    });
    (llm, arrived_rx, release_tx)
}

#[test]
fn a_frozen_database_ends_the_run_with_exit_3_instead_of_a_hang() {
    let mut t = TestDb::new();
    let (llm, arrived, release) = gated_gemini();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["a"]);
    let proxy = Proxy::start(t.config.db.port);
    let child = t
        .bin_command(&["--task", &task.to_string()])
        .env("DB_PORT", proxy.port.to_string())
        .env("DB_TIMEOUT_S", "2")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    arrived.recv_timeout(Duration::from_secs(60)).unwrap();
    proxy.freeze();
    release.send(()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("database connection lost"), "{text}");
}

#[test]
fn a_run_that_ends_on_a_lost_connection_closes_its_task_run_row() {
    let mut t = TestDb::new();
    let (llm, arrived, release) = gated_gemini();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["a"]);
    let child = t
        .bin_command(&["--task", &task.to_string(), "--concurrency", "1"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    arrived.recv_timeout(Duration::from_secs(60)).unwrap();
    // Every connection of the worker dies (a server restart, a killed session).
    let mine: u64 = t.value("SELECT CONNECTION_ID()");
    let ids: Vec<u64> = t
        .conn
        .exec(
            "SELECT id FROM information_schema.processlist WHERE db = ? AND id <> ?",
            (&t.config.db.name, mine),
        )
        .unwrap();
    for id in ids {
        let _ = t.conn.query_drop(format!("KILL CONNECTION {id}"));
    }
    release.send(()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", output_text(&out));
    let open: u64 = t.value("SELECT COUNT(*) FROM task_run WHERE finished_at IS NULL");
    assert_eq!(open, 0, "the run's row is closed");
    let message: String = t.value("SELECT message FROM task_run");
    assert!(message.contains("run failed"), "{message}");
}

#[test]
fn a_retry_after_longer_than_the_lease_keeps_the_claim_alive() {
    let mut t = TestDb::new();
    let db = t.config.db.clone();
    let seen_lease: Arc<Mutex<Vec<i64>>> = Arc::default();
    let seen = Arc::clone(&seen_lease);
    let llm = FakeLlm::start(move |req, n| {
        if n == 0 {
            return Reply::new(503, "{}").header("Retry-After", "12");
        }
        let mut conn = common::connect(&db);
        let left: Option<i64> = conn
            .query_first("SELECT TIMESTAMPDIFF(SECOND, NOW(), claimed_until) FROM task_item")
            .unwrap()
            .flatten();
        seen.lock().unwrap().push(left.unwrap_or(-1));
        gemini_ok(&req.item_text(), "ok", 1, 1, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["a"]);
    let out = t
        .bin_command(&["--task", &task.to_string()])
        .env("WORKER_LEASE_S", "10")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(
        llm.requests().len(),
        2,
        "one retry, no second worker's call"
    );
    let left = seen_lease.lock().unwrap()[0];
    assert!(
        left >= 8,
        "the claim was renewed before the retry: {left} s left"
    );
}

fn start_server(config: &Config) -> (SocketAddr, Arc<StopSignal>) {
    let stop = Arc::new(StopSignal::new());
    let server = Server::bind(config, "127.0.0.1:0", Arc::clone(&stop)).unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || server.run());
    (addr, stop)
}

fn get(addr: SocketAddr, path: &str, auth: &str) -> u16 {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth}\r\n\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn slow_unauthenticated_clients_cannot_starve_authenticated_ones() {
    let t = TestDb::new();
    let mut config = t.config.clone();
    config.serve_token = Some("tok".into());
    let (addr, stop) = start_server(&config);
    // 70 connections that send one byte and then nothing.
    let slow: Vec<TcpStream> = (0..70)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            let _ = s.write_all(b"G");
            s
        })
        .collect();
    let ok = (0..20)
        .filter(|_| get(addr, "/health", "Bearer tok") == 200)
        .count();
    assert_eq!(ok, 20, "every authenticated probe was answered");
    assert_eq!(
        get(addr, "/health", "bearer tok"),
        200,
        "the scheme in any case"
    );
    assert_eq!(get(addr, "/health", "Basic tok"), 401);
    drop(slow);
    stop.raise();
}

#[test]
fn health_answers_503_when_the_database_freezes() {
    let t = TestDb::new();
    let proxy = Proxy::start(t.config.db.port);
    let mut config = t.config.clone();
    config.db.port = proxy.port;
    let (addr, stop) = start_server(&config);
    assert_eq!(get(addr, "/health", ""), 200);
    proxy.freeze();
    assert_eq!(get(addr, "/health", ""), 503);
    stop.raise();
}

#[test]
fn runs_through_serve_share_one_limit_and_concurrency_is_capped() {
    let mut t = TestDb::new();
    let in_flight = Arc::new(Mutex::new((0usize, 0usize)));
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let flight = Arc::clone(&in_flight);
    let llm = FakeLlm::start(move |req, _| {
        {
            let mut f = flight.lock().unwrap();
            f.0 += 1;
            f.1 = f.1.max(f.0);
        }
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_millis(200));
        flight.lock().unwrap().0 -= 1;
        gemini_ok(&req.item_text(), "ok", 1, 1, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let texts: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let mut config = t.config.clone();
    config.concurrency = 2;
    let (addr, stop) = start_server(&config);
    let body = format!(r#"{{"task":{task},"concurrency":200}}"#);
    let (status, summary) = post(addr, &body);
    assert_eq!(status, 200, "{summary}");
    assert_eq!(summary["items_ok"], 8);
    assert!(
        in_flight.lock().unwrap().1 <= 2,
        "at most the configured concurrency"
    );
    drop(release_tx);
    stop.raise();
}

fn post(addr: SocketAddr, body: &str) -> (u16, Value) {
    let (status, body) = common::http(addr, "POST", "/task/run", None, body);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

#[test]
fn wait_true_runs_are_limited_too() {
    let mut t = TestDb::new();
    // Every call is held until the gate opens, so every run stays in flight.
    let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
    let (arrived_tx, arrived) = mpsc::channel();
    let arrived_tx = Mutex::new(arrived_tx);
    let held = Arc::clone(&gate);
    let llm = FakeLlm::start(move |req, _| {
        let _ = arrived_tx.lock().unwrap().send(());
        let (open, changed) = &*held;
        let mut open = open.lock().unwrap();
        while !*open {
            open = changed.wait(open).unwrap();
        }
        gemini_ok(&req.item_text(), "ok", 1, 1, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let mut tasks = Vec::new();
    for _ in 0..=ai_worker::MAX_RUNS {
        tasks.push(t.task(model, &["x"]).0);
    }
    let (addr, stop) = start_server(&t.config);
    let waiting: Vec<_> = tasks[..ai_worker::MAX_RUNS]
        .iter()
        .map(|task| {
            let body = format!(r#"{{"task":{task},"wait":true}}"#);
            std::thread::spawn(move || post(addr, &body))
        })
        .collect();
    for _ in 0..ai_worker::MAX_RUNS {
        arrived.recv_timeout(Duration::from_secs(60)).unwrap();
    }
    let extra = format!(r#"{{"task":{},"wait":true}}"#, tasks[ai_worker::MAX_RUNS]);
    let (status, body) = post(addr, &extra);
    assert_eq!(status, 429, "{body}");
    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    for w in waiting {
        assert_eq!(w.join().unwrap().0, 200);
    }
    stop.raise();
}

/// Sends every line of `stream` on a channel, as it comes.
fn lines_of(stream: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stream)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Reads lines until one contains `needle`; returns every line read.
fn until(lines: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(60)) {
        let found = line.contains(needle);
        seen.push(line);
        if found {
            return seen;
        }
    }
    panic!("no line with {needle:?} in {seen:#?}");
}

#[test]
fn stopping_serve_during_a_background_run_waits_quietly() {
    let mut t = TestDb::new();
    let (llm, arrived, release) = gated_gemini();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["a"]);
    let mut child = t
        .bin_command(&["serve", "--bind", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(child.stderr.take().unwrap());
    let listening = until(&lines, "Listening on");
    let addr: SocketAddr = listening
        .last()
        .and_then(|l| l.split("Listening on ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|a| a.parse().ok())
        .expect("the bound address in the log");
    let (status, body) = post(addr, &format!(r#"{{"task":{task},"wait":false}}"#));
    assert_eq!(status, 202, "{body}");
    arrived.recv_timeout(Duration::from_secs(60)).unwrap();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    // The server says once that it waits for the run, and then waits quietly.
    until(&lines, "Waiting for 1 run to stop");
    release.send(()).unwrap();
    let rest: Vec<String> = lines.iter().collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{rest:#?}");
    let again = rest.iter().filter(|l| l.contains("Waiting for")).count();
    assert_eq!(again, 0, "said once, not in a loop: {rest:#?}");
    assert!(
        rest.iter().any(|l| l.contains("[HTTP] Stopped")),
        "{rest:#?}"
    );
    assert_eq!(
        t.item_statuses(task),
        vec![1],
        "the call in flight was saved"
    );
}

#[test]
fn a_result_for_a_deleted_task_is_discarded_with_the_right_reason() {
    let mut t = TestDb::new();
    let (llm, arrived, release) = gated_gemini();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["a"]);
    let child = t
        .bin_command(&["--task", &task.to_string()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    arrived.recv_timeout(Duration::from_secs(60)).unwrap();
    t.conn
        .exec_drop("DELETE FROM task_item WHERE id_task = ?", (task,))
        .unwrap();
    release.send(()).unwrap();
    let out = child.wait_with_output().unwrap();
    let text = output_text(&out);
    assert!(text.contains("the item was deleted"), "{text}");
    assert!(!text.contains("lease expired"), "{text}");
}

#[test]
fn slow_bodies_without_a_token_hold_no_slot() {
    let t = TestDb::new();
    let mut config = t.config.clone();
    config.serve_token = Some("tok".into());
    let (addr, stop) = start_server(&config);
    // 100 complete heads without a token, each announcing a body that never comes.
    let head = "POST /task/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n{";
    let slow: Vec<TcpStream> = (0..100)
        .map(|_| {
            let mut s = TcpStream::connect(addr).unwrap();
            let _ = s.write_all(head.as_bytes());
            s
        })
        .collect();
    let ok = (0..40)
        .filter(|_| get(addr, "/health", "Bearer tok") == 200)
        .count();
    assert_eq!(ok, 40, "every authenticated probe was answered");
    // Each of them got its 401 at once, without the body.
    let mut first = slow.into_iter().next().unwrap();
    first
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut answer = Vec::new();
    let _ = std::io::Read::read_to_end(&mut first, &mut answer);
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 401"),
        "{}",
        String::from_utf8_lossy(&answer)
    );
    stop.raise();
}

/// A plain HTTP server that answers 400 to anything, as web servers do to a TLS hello.
fn plain_http_server() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 512];
            let _ = std::io::Read::read(&mut stream, &mut buf);
            let _ = stream.write_all(
                b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    });
    format!("https://{addr}/v1beta")
}

#[test]
fn https_to_a_plain_http_server_is_named_and_the_items_wait() {
    let mut t = TestDb::new();
    let https = plain_http_server();
    let model = t.model("gemini", "m", Some(&https), Some("k"));
    let (task, _) = t.task(model, &["a", "b"]);
    let out = t.run_bin(&["--task", &task.to_string()]);
    let text = common::output_text(&out);
    assert!(text.contains("use http:// in ai_model.api_url"), "{text}");
    assert_eq!(
        t.item_statuses(task),
        vec![0, 0],
        "the items wait for a fix"
    );
}

#[test]
fn a_host_name_that_does_not_resolve_is_named_as_dns() {
    let mut t = TestDb::new();
    let model = t.model(
        "gemini",
        "m",
        Some("http://no-such-host.invalid/v1beta"),
        Some("k"),
    );
    let (task, _) = t.task(model, &["a"]);
    let out = t.run_bin(&["--task", &task.to_string()]);
    let text = common::output_text(&out);
    assert!(text.contains("cannot be resolved (DNS)"), "{text}");
    assert_eq!(t.item_statuses(task), vec![0], "the item waits");
}
