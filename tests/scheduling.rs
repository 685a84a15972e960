//! Every task at once: fair shares, priorities, models that do not hold each other
//! back, the panel's pause and cancel, stale results, and a run whose concurrency is
//! far above what the database would give it in connections.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ai_worker::{RunOptions, StopSignal, run};
use common::fake_llm::{FakeLlm, gemini_ok};
use common::{TestDb, output_text};
use mysql::prelude::Queryable;

/// How long a test waits for anything before it fails instead of hanging.
const PATIENCE: Duration = Duration::from_secs(60);

fn texts(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("{prefix} tekst numer {i}."))
        .collect()
}

fn task_of(t: &mut TestDb, model: u32, texts: &[String]) -> (u32, Vec<u32>) {
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    t.task(model, &refs)
}

fn processed(t: &mut TestDb, task: u32) -> usize {
    t.item_statuses(task).iter().filter(|&&s| s == 1).count()
}

/// Calls that wait until the test opens the gate; it counts how many wait at once.
#[derive(Default)]
struct Gate {
    state: Mutex<GateState>,
    changed: Condvar,
}

#[derive(Default)]
struct GateState {
    open: bool,
    waiting: usize,
    most_waiting: usize,
    arrived: usize,
}

impl Gate {
    /// Called by the fake for each request: waits for the gate (never past PATIENCE).
    fn pass(&self) {
        let mut s = self.state.lock().unwrap();
        s.arrived += 1;
        s.waiting += 1;
        s.most_waiting = s.most_waiting.max(s.waiting);
        self.changed.notify_all();
        let deadline = Instant::now() + PATIENCE;
        while !s.open && Instant::now() < deadline {
            s = self.changed.wait_timeout(s, PATIENCE).unwrap().0;
        }
        s.waiting -= 1;
    }

    fn open(&self) {
        self.state.lock().unwrap().open = true;
        self.changed.notify_all();
    }

    /// Waits until `n` requests have arrived.
    fn wait_arrived(&self, n: usize) {
        let deadline = Instant::now() + PATIENCE;
        let mut s = self.state.lock().unwrap();
        while s.arrived < n {
            assert!(
                Instant::now() < deadline,
                "only {} calls arrived",
                s.arrived
            );
            s = self.changed.wait_timeout(s, PATIENCE).unwrap().0;
        }
    }

    fn most_waiting(&self) -> usize {
        self.state.lock().unwrap().most_waiting
    }
}

/// A Gemini fake whose calls wait at `gate`.
fn gated_llm(gate: &Arc<Gate>) -> FakeLlm {
    let gate = Arc::clone(gate);
    FakeLlm::start(move |req, _| {
        gate.pass();
        gemini_ok(&req.item_text(), "ok", 10, 5, 0)
    })
}

/// The binary started with its log lines sent to a channel as they come.
fn spawn_logged(t: &TestDb, args: &[&str]) -> (Child, Receiver<String>) {
    let mut child = t
        .bin_command(args)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start ai-worker");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    (child, rx)
}

/// Reads log lines until one contains `needle`; returns every line read.
fn wait_for_line(lines: &Receiver<String>, needle: &str) -> Vec<String> {
    let deadline = Instant::now() + PATIENCE;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        match lines.recv_timeout(PATIENCE) {
            Ok(line) => {
                let found = line.contains(needle);
                seen.push(line);
                if found {
                    return seen;
                }
            }
            Err(_) => break,
        }
    }
    panic!("no log line with '{needle}':\n{}", seen.join("\n"));
}

fn options(item_limit: u32, concurrency: u32) -> RunOptions {
    RunOptions {
        item_limit: Some(item_limit),
        concurrency: Some(concurrency),
        ..RunOptions::default()
    }
}

#[test]
fn a_small_task_queued_behind_a_big_one_finishes_in_the_same_run() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (big, _) = task_of(&mut t, model, &texts("duży", 300));
    let (small, _) = task_of(&mut t, model, &texts("mały", 5));
    let summary = run(&t.config, &options(40, 4), &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 40);
    assert_eq!(processed(&mut t, small), 5);
    assert_eq!(t.task_row(small).0, 2, "the small task is COMPLETED");
    assert_eq!(processed(&mut t, big), 35);
    assert_eq!(t.task_row(big).0, 1, "the big one goes on in the next run");
    t.assert_counters_match_items(big);
    t.assert_counters_match_items(small);
}

#[test]
fn a_higher_priority_task_gets_the_run_first() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (low, _) = task_of(&mut t, model, &texts("zwykły", 12));
    let (high, _) = task_of(&mut t, model, &texts("pilny", 12));
    t.conn_exec(&format!(
        "UPDATE task SET priority = 5 WHERE id_task = {high}"
    ));
    let summary = run(&t.config, &options(12, 3), &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 12);
    assert_eq!(processed(&mut t, high), 12);
    assert_eq!(processed(&mut t, low), 0);
    assert_eq!((t.task_row(high).0, t.task_row(low).0), (2, 0));
}

#[test]
fn a_slow_model_never_holds_back_a_task_on_a_fast_one() {
    let mut t = TestDb::new();
    let gate = Arc::new(Gate::default());
    let slow_llm = gated_llm(&gate);
    let fast_llm = FakeLlm::gemini_echo();
    let slow = t.model("gemini", "slow", Some(&slow_llm.base_url), Some("k"));
    let fast = t.model("gemini", "fast", Some(&fast_llm.base_url), Some("k"));
    t.conn_exec(&format!(
        "UPDATE ai_model SET max_concurrency = 2 WHERE id_ai_model = {slow}"
    ));
    let (slow_task, _) = task_of(&mut t, slow, &texts("wolny", 6));
    let (fast_task, _) = task_of(&mut t, fast, &texts("szybki", 30));
    let (mut child, lines) = spawn_logged(&t, &["--concurrency", "4"]);
    // Every call to the slow model waits; the fast task must still finish.
    gate.wait_arrived(2);
    wait_for_line(&lines, &format!("[Task {fast_task}] Processing finished"));
    assert_eq!(processed(&mut t, slow_task), 0, "the slow calls still wait");
    assert_eq!(t.task_row(fast_task).0, 2, "the fast task is COMPLETED");
    gate.open();
    assert!(child.wait().unwrap().success());
    assert_eq!(processed(&mut t, slow_task), 6);
    assert!(gate.most_waiting() <= 2, "max_concurrency 2 held");
    assert_eq!(fast_llm.requests().len(), 30);
    t.assert_counters_match_items(slow_task);
}

#[test]
fn the_panel_pauses_a_running_task_and_the_worker_never_writes_over_it() {
    let mut t = TestDb::new();
    let gate = Arc::new(Gate::default());
    let llm = gated_llm(&gate);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = task_of(&mut t, model, &texts("pauza", 20));
    let (mut child, lines) = spawn_logged(&t, &["--task", &task.to_string(), "--concurrency", "2"]);
    gate.wait_arrived(2);
    // A separate connection, as the panel's.
    t.conn_exec(&format!(
        "UPDATE task SET status_id = 4 WHERE id_task = {task}"
    ));
    wait_for_line(&lines, "set to PAUSED by the panel");
    gate.open();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(llm.requests().len(), 2, "nothing claimed after the pause");
    let statuses = t.item_statuses(task);
    assert_eq!(
        statuses.iter().filter(|&&s| s == 1).count(),
        2,
        "in flight: saved"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 0).count(),
        18,
        "{statuses:?}"
    );
    assert_eq!(t.task_row(task).0, 4, "still PAUSED");
    t.assert_counters_match_items(task);
    // Paused tasks are not picked; resume brings it back.
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert!(
        output_text(&out).contains("is PAUSED"),
        "{}",
        output_text(&out)
    );
    assert_eq!(processed(&mut t, task), 2);
    let out = t.run_bin(&["resume", "--task", &task.to_string()]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(
        output_text(&out).contains("PAUSED -> IN_PROGRESS"),
        "{}",
        output_text(&out)
    );
    let out = t.run_bin(&["--concurrency", "4"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!((processed(&mut t, task), t.task_row(task).0), (20, 2));
    t.assert_counters_match_items(task);
}

#[test]
fn cancel_from_the_command_line_stops_one_task_and_the_others_go_on() {
    let mut t = TestDb::new();
    let gate = Arc::new(Gate::default());
    let gated = gated_llm(&gate);
    let echo = FakeLlm::gemini_echo();
    let held = t.model("gemini", "held", Some(&gated.base_url), Some("k"));
    let free = t.model("gemini", "free", Some(&echo.base_url), Some("k"));
    t.conn_exec(&format!(
        "UPDATE ai_model SET max_concurrency = 1 WHERE id_ai_model = {held}"
    ));
    let (cancelled, _) = task_of(&mut t, held, &texts("anulowany", 10));
    let (other, _) = task_of(&mut t, free, &texts("inny", 10));
    let (mut child, lines) = spawn_logged(&t, &["--concurrency", "3"]);
    gate.wait_arrived(1);
    let out = t.run_bin(&["cancel", "--task", &cancelled.to_string(), "--json"]);
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(answer["status"], "CANCELLED", "{answer}");
    assert_eq!(answer["changed"], true);
    wait_for_line(&lines, "set to CANCELLED by the panel");
    gate.open();
    assert!(child.wait().unwrap().success());
    assert_eq!(gated.requests().len(), 1);
    assert_eq!(processed(&mut t, cancelled), 1);
    assert_eq!(t.task_row(cancelled).0, 5, "still CANCELLED");
    assert_eq!((processed(&mut t, other), t.task_row(other).0), (10, 2));
    let missing = t.run_bin(&["pause", "--task", "9999"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(output_text(&missing).contains("task 9999 does not exist"));
    let no_task = t.run_bin(&["pause"]);
    assert_eq!(no_task.status.code(), Some(2));
    assert!(
        output_text(&no_task).contains("pause needs the task"),
        "{}",
        output_text(&no_task)
    );
}

#[test]
fn an_item_edited_after_its_claim_is_processed_again_with_its_new_text() {
    let mut t = TestDb::new();
    let db = t.config.db.clone();
    let llm = FakeLlm::start(move |req, _| {
        let text = req.item_text();
        if text == "stary tekst" {
            // The panel edits the text while the model works on it.
            let mut conn = common::connect(&db);
            conn.query_drop("UPDATE task_item SET text_original = 'nowy tekst'")
                .unwrap();
        }
        gemini_ok(&text.to_uppercase(), "ok", 10, 5, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["stary tekst"]);
    let summary = run(&t.config, &options(10, 2), &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 1);
    let sent: Vec<String> = llm.requests().iter().map(|r| r.item_text()).collect();
    assert_eq!(sent, vec!["stary tekst", "nowy tekst"]);
    let (corrected, tokens): (String, u64) = t.conn_first(&format!(
        "SELECT text_corrected, tokens_input FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert_eq!(corrected, "NOWY TEKST");
    assert_eq!(tokens, 20, "both calls are counted");
    assert_eq!(t.task_row(task).0, 2);
    t.assert_counters_match_items(task);
}

/// An account that may hold at most `limit` connections at once, on the test's
/// database; dropped with the test.
struct LimitedUser {
    name: String,
    conn: mysql::Conn,
}

impl LimitedUser {
    fn new(t: &TestDb, limit: u32) -> LimitedUser {
        let name = format!("aiwt_pool_{}_{limit}", std::process::id());
        let mut conn = common::connect(&t.config.db);
        conn.query_drop(format!("DROP USER IF EXISTS '{name}'@'%'"))
            .unwrap();
        conn.query_drop(format!(
            "CREATE USER '{name}'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS {limit}"
        ))
        .unwrap();
        conn.query_drop(format!(
            "GRANT ALL ON `{}`.* TO '{name}'@'%'",
            t.config.db.name
        ))
        .unwrap();
        LimitedUser { name, conn }
    }
}

impl Drop for LimitedUser {
    fn drop(&mut self) {
        let _ = self
            .conn
            .query_drop(format!("DROP USER IF EXISTS '{}'@'%'", self.name));
    }
}

#[test]
fn hundreds_of_calls_in_flight_run_on_the_pool_of_connections() {
    let mut t = TestDb::new();
    let gate = Arc::new(Gate::default());
    let llm = gated_llm(&gate);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = task_of(&mut t, model, &texts("wiele", 600));
    let user = LimitedUser::new(&t, 3);
    let mut cmd = t.bin_command(&["--concurrency", "300", "--max-item", "600"]);
    cmd.env("DB_USER", &user.name)
        .env("DB_PASSWORD", "pw")
        .env("DB_POOL_SIZE", "2");
    let child = cmd
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // 300 calls wait at once, on three connections.
    gate.wait_arrived(300);
    gate.open();
    let out = child.wait_with_output().unwrap();
    let text = output_text(&out);
    assert!(out.status.success(), "{text}");
    assert!(!text.contains("gave this run"), "{text}");
    assert_eq!(gate.most_waiting(), 300);
    assert_eq!((processed(&mut t, task), t.task_row(task).0), (600, 2));
    t.assert_counters_match_items(task);
    // One connection for the account: the run says what it needs and what to change.
    let user = LimitedUser::new(&t, 1);
    let mut cmd = t.bin_command(&["--concurrency", "8"]);
    cmd.env("DB_USER", &user.name).env("DB_PASSWORD", "pw");
    t.conn_exec(&format!(
        "UPDATE task_item SET status_id = 0 WHERE id_task = {task} LIMIT 5"
    ));
    let out = cmd.output().unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("DB_POOL_SIZE"), "{text}");
    assert!(text.contains("max_connections"), "{text}");
    assert!(!text.contains("is MySQL/MariaDB running"), "{text}");
}
