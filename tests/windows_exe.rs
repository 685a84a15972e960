//! The Windows build as a Windows user runs it: `ai-worker.exe` under Wine, against the
//! local MariaDB over TCP, installed in a folder whose path has spaces and Polish
//! letters, configured by a Notepad-style `.env` (UTF-8 byte order mark, CRLF).
//!
//! Ignored by plain `cargo test`: `.ci/windows` cross-builds the .exe, builds the
//! test-only `ProcessPrng` shim (tests/wine/bcryptprimitives.c) and a Wine prefix, and
//! runs these tests with `--ignored`, naming them in AI_WORKER_EXE, AI_WORKER_WINE and
//! AI_WORKER_WINE_SHIM.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use common::fake_llm::FakeLlm;
use common::{TestDb, output_text};
use mysql::prelude::Queryable;

/// Where `.ci/windows` put the pieces.
struct Wine {
    wine: PathBuf,
    exe: PathBuf,
    shim: PathBuf,
}

impl Wine {
    fn from_env() -> Wine {
        let get = |key: &str| -> PathBuf {
            let value = std::env::var(key).unwrap_or_else(|_| {
                panic!("{key} is not set: run these tests with bash .ci/windows")
            });
            let path = PathBuf::from(value);
            assert!(path.exists(), "{key}={} does not exist", path.display());
            path
        };
        Wine {
            wine: get("AI_WORKER_WINE"),
            exe: get("AI_WORKER_EXE"),
            shim: get("AI_WORKER_WINE_SHIM"),
        }
    }
}

static FOLDERS: AtomicU32 = AtomicU32::new(0);

/// An installation as a user makes one: a folder with ai-worker.exe and `.env`.
struct Install {
    wine: Wine,
    dir: PathBuf,
}

impl Install {
    /// A new folder `ai worker – zażółć <pid> <n>` with the .exe, the shim and a
    /// Notepad-style `.env` pointing at this test's database, plus `extra` lines.
    fn new(t: &TestDb, extra: &[&str]) -> Install {
        let wine = Wine::from_env();
        let dir = std::env::temp_dir().join(format!(
            "ai worker – zażółć {} {}",
            std::process::id(),
            FOLDERS.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(dir.join("elsewhere")).unwrap();
        std::fs::copy(&wine.exe, dir.join("ai-worker.exe")).unwrap();
        std::fs::copy(&wine.shim, dir.join("bcryptprimitives.dll")).unwrap();
        let db = &t.config.db;
        let mut lines = vec![
            "# written by Notepad: UTF-8 with BOM, CRLF".to_string(),
            format!("DB_HOST={}", db.host),
            format!("DB_PORT={}", db.port),
            format!("DB_USER={}", db.user),
            format!("DB_PASSWORD={}", db.password),
            format!("DB_NAME={}", db.name),
            "AI_KEY_SECRET=test-secret".into(),
            "AI_RETRY_BASE_MS=1".into(),
            "AI_MAX_RETRIES=2".into(),
            "PACK_MAX_ITEMS=1".into(),
        ];
        lines.extend(extra.iter().map(|l| l.to_string()));
        let env = format!("\u{feff}{}\r\n", lines.join("\r\n"));
        std::fs::write(dir.join(".env"), env).unwrap();
        Install { wine, dir }
    }

    /// `wine <args>` with only what Wine needs from the environment, so that the
    /// worker's settings come from `.env` alone; started in `cwd`.
    fn wine_command(&self, cwd: &Path) -> Command {
        let mut cmd = Command::new(&self.wine.wine);
        // Wine maps Unix file names to Windows ones through the locale: UTF-8 keeps
        // the Polish letters in the folder name.
        cmd.current_dir(cwd).env_clear().env("LANG", "C.UTF-8");
        for key in [
            "PATH",
            "HOME",
            "USER",
            "WINEPREFIX",
            "WINEARCH",
            "WINEDEBUG",
            "WINEDLLOVERRIDES",
        ] {
            if let Ok(value) = std::env::var(key) {
                cmd.env(key, value);
            }
        }
        cmd
    }

    /// Runs `ai-worker.exe <args>` from another (empty) folder: `.env` is found beside
    /// the .exe, as when Task Scheduler starts it in System32.
    fn run(&self, args: &[&str]) -> Output {
        self.wine_command(&self.dir.join("elsewhere"))
            .arg(self.dir.join("ai-worker.exe"))
            .args(args)
            .output()
            .expect("start wine")
    }
}

impl Drop for Install {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
#[ignore = "needs the Windows build and Wine: bash .ci/windows"]
fn exe_prints_help_version_and_usage_errors() {
    let t = TestDb::new();
    let install = Install::new(&t, &[]);
    let out = install.run(&["--help"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(output_text(&out).contains("--task-item"));
    let out = install.run(&["--version"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("ai-worker {}", env!("CARGO_PKG_VERSION"))
    );
    let out = install.run(&["--task", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(output_text(&out).contains("hint:"), "{}", output_text(&out));
}

#[test]
#[ignore = "needs the Windows build and Wine: bash .ci/windows"]
fn exe_runs_the_first_run_demo() {
    let t = TestDb::new();
    let install = Install::new(&t, &[]);
    let out = install.run(&["demo"]);
    common::drop_demo_database();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ECHO"), "banner: {text}");
    assert!(
        text.contains("before:  Wczoraj poszłem do sklepu"),
        "{text}"
    );
    assert!(
        text.contains("after:   Wczoraj poszłem do sklepu"),
        "{text}"
    );
    assert_eq!(
        text.matches("before:").count(),
        text.matches("after:").count()
    );
}

#[test]
#[ignore = "needs the Windows build and Wine: bash .ci/windows"]
fn exe_reports_a_bad_env_value_with_exit_2() {
    let t = TestDb::new();
    let install = Install::new(&t, &["WORKER_BATCH_SIZE=ten"]);
    let out = install.run(&["--max-item", "1"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(
        text.contains("WORKER_BATCH_SIZE") && text.contains("ten"),
        "{text}"
    );
}

#[test]
#[ignore = "needs the Windows build and Wine: bash .ci/windows"]
fn exe_creates_the_schema_and_runs_an_echo_task() {
    let mut t = TestDb::new();
    let name = t.config.db.name.clone();
    t.conn
        .query_drop(format!("DROP DATABASE `{name}`"))
        .unwrap();
    let install = Install::new(&t, &[]);

    let out = install.run(&["init-db"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let tables: u64 = t.value(&format!(
        "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{name}'"
    ));
    assert_eq!(tables, 10, "eight tables, ai_model_spend and ai_batch");
    t.conn.query_drop(format!("USE `{name}`")).unwrap();

    let model = t.model("echo", "echo", None, None);
    let texts = [
        "Zażółć gęślą jaźń — „cudzysłów”",
        "Their going to the libary.\r\nLine two",
    ];
    let (task, items) = t.task(model, &texts);
    let out = install.run(&["--task", &task.to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", output_text(&out)));
    assert_eq!(doc["items_ok"], 2);
    assert_eq!(doc["tasks"][0]["status"], "COMPLETED");

    assert_eq!(t.task_row(task).0, 2, "task COMPLETED");
    assert_eq!(t.item_statuses(task), vec![1, 1]);
    for (id, text) in items.iter().zip(texts) {
        let saved: String = t
            .conn
            .exec_first(
                "SELECT text_corrected FROM task_item WHERE id_task_item = ?",
                (id,),
            )
            .unwrap()
            .unwrap();
        assert_eq!(saved, text, "echo returns the text byte for byte");
    }
    t.assert_counters_match_items(task);
}

#[test]
#[ignore = "needs the Windows build and Wine: bash .ci/windows"]
fn exe_runs_a_gemini_task_with_personal_data_kept_local() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model(
        "gemini",
        "gemini-2.5-pro",
        Some(&llm.base_url),
        Some("win-key"),
    );
    let texts = [
        "Napisz do jan.kowalski@example.com w sprawie zamówienia.",
        "Wczoraj poszłem do sklepu.",
        "Zadzwoń: +48 600 100 200.",
    ];
    let (task, items) = t.task(model, &texts);
    let install = Install::new(&t, &[]);
    let out = install.run(&["--task", &task.to_string(), "--concurrency", "3"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));

    let requests = llm.requests();
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert_eq!(
            r.headers.get("x-goog-api-key").map(String::as_str),
            Some("win-key")
        );
        assert!(!r.body.contains("jan.kowalski@example.com"), "{}", r.body);
        assert!(!r.body.contains("600 100 200"), "{}", r.body);
    }
    for (id, text) in items.iter().zip(texts) {
        let (saved, summary): (String, String) = t
            .conn
            .exec_first(
                "SELECT text_corrected, change_summary FROM task_item WHERE id_task_item = ?",
                (id,),
            )
            .unwrap()
            .unwrap();
        assert_eq!(saved, text, "placeholders are put back");
        assert_eq!(summary, "Poprawiono interpunkcję.");
    }
    let (status, total, processed, errors, tokens_in, tokens_out) = t.task_row(task);
    assert_eq!((status, total, processed, errors), (2, 3, 3, 0));
    assert_eq!(
        (tokens_in, tokens_out),
        (300, 75),
        "candidates + thoughts count as output"
    );
    t.assert_counters_match_items(task);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("win-key"), "{stderr}");
}

#[test]
#[ignore = "needs the Windows build and Wine: bash .ci/windows"]
fn run_worker_cmd_appends_a_dated_log_and_passes_the_exit_code() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &["jeden", "dwa"]);
    let install = Install::new(&t, &[]);
    let script = install.add_run_worker_cmd(&install.dir);
    let before = utc_date();

    let out = install.run_script(&script, &["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(t.item_statuses(task), vec![1, 1]);
    // A usage error: the code comes through, and the second run appends to the file.
    let out = install.run_script(&script, &["--task", "not-a-number"]);
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    // Kept in a scripts folder under the .exe, it finds the .exe in the parent folder.
    let nested = install.add_run_worker_cmd(&install.dir.join("scripts"));
    let out = install.run_script(&nested, &["init-db"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));

    let log = install.only_log(&before);
    let runs: Vec<&str> = log.split("started: ").skip(1).collect();
    assert_eq!(runs.len(), 3, "{log}");
    assert!(runs[0].contains(&format!("[Task {task}] Processing finished - 2/2 records")));
    assert!(runs[0].contains("INFO  Exit code 0"), "{}", runs[0]);
    assert!(
        runs[1].contains("--task needs a whole number greater than 0, not 'not-a-number'"),
        "{}",
        runs[1]
    );
    assert!(runs[1].contains("INFO  Exit code 2"), "{}", runs[1]);
    assert!(
        runs[2].starts_with("--log-file logs\\ai-worker-{date}.log init-db"),
        "{}",
        runs[2]
    );
    assert!(runs[2].contains("INFO  Exit code 0"), "{}", runs[2]);

    // With no ai-worker.exe in reach it says so and exits 127, like a missing command.
    let lost = install.add_run_worker_cmd(&install.dir.join("elsewhere").join("lost"));
    let out = install.run_script(&lost, &["--version"]);
    assert_eq!(out.status.code(), Some(127), "{}", output_text(&out));
    assert!(output_text(&out).contains("ai-worker.exe not found"));
}

#[test]
#[ignore = "needs the Windows build and Wine: bash .ci/windows"]
fn two_run_worker_cmd_runs_at_once_share_the_log() {
    use std::sync::{Arc, Condvar, Mutex, mpsc};

    let mut t = TestDb::new();
    // The model holds its answers until the second run has come and gone, so both
    // runs have the log open at the same time.
    let (started_tx, started) = mpsc::channel();
    let started_tx = Mutex::new(started_tx);
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let held = Arc::clone(&gate);
    let llm = FakeLlm::start(move |req, _| {
        let _ = started_tx.lock().unwrap().send(());
        let (open, opened) = &*held;
        let mut is_open = open.lock().unwrap();
        while !*is_open {
            is_open = opened.wait(is_open).unwrap();
        }
        common::fake_llm::gemini_ok(&req.item_text(), "ok", 3, 2, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["a", "b"]);
    let install = Install::new(&t, &[]);
    let script = install.add_run_worker_cmd(&install.dir);
    let before = utc_date();

    let first = Running(Some(
        install
            .wine_command(&install.dir.join("elsewhere"))
            .args(["cmd", "/c"])
            .arg(windows_path(&script))
            .args(["--task", &task.to_string()])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start wine cmd"),
    ));
    started
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the first run calls the model");
    let second = install.run_script(&script, &["init-db"]);
    assert_eq!(second.status.code(), Some(0), "{}", output_text(&second));
    {
        let (open, opened) = &*gate;
        *open.lock().unwrap() = true;
        opened.notify_all();
    }
    let first = first.wait();
    assert_eq!(first.status.code(), Some(0), "{}", output_text(&first));
    assert_eq!(t.item_statuses(task), vec![1, 1]);

    let log = install.only_log(&before);
    assert_eq!(log.matches("INFO  Exit code 0").count(), 2, "{log}");
    assert!(log.contains(&format!("[Task {task}] Processing finished - 2/2 records")));
    for line in log.lines() {
        assert!(common::is_log_record(line), "{line:?}");
    }
}

/// Today's date in UTC, as ai-worker names its log files.
fn utc_date() -> String {
    ai_worker::logging::utc_timestamp(std::time::SystemTime::now())[..10].to_string()
}

impl Install {
    /// Copies scripts/run_worker.cmd into `folder` (created if missing).
    fn add_run_worker_cmd(&self, folder: &Path) -> PathBuf {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/run_worker.cmd");
        std::fs::create_dir_all(folder).unwrap();
        let script = folder.join("run_worker.cmd");
        std::fs::copy(source, &script).unwrap();
        script
    }

    /// Runs a `.cmd` script with Wine's cmd.exe from another folder.
    fn run_script(&self, script: &Path, args: &[&str]) -> Output {
        self.wine_command(&self.dir.join("elsewhere"))
            .args(["cmd", "/c"])
            .arg(windows_path(script))
            .args(args)
            .output()
            .expect("start wine cmd")
    }

    /// The one file in logs\ beside the .exe, named for `before` or today (UTC).
    fn only_log(&self, before: &str) -> String {
        let logs: Vec<PathBuf> = std::fs::read_dir(self.dir.join("logs"))
            .expect("logs folder beside the .exe")
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(logs.len(), 1, "{logs:?}");
        let name = logs[0].file_name().unwrap().to_string_lossy().to_string();
        let expected = [
            format!("ai-worker-{before}.log"),
            format!("ai-worker-{}.log", utc_date()),
        ];
        assert!(expected.contains(&name), "{name}");
        std::fs::read_to_string(&logs[0]).unwrap()
    }
}

/// A Unix path as Wine's Windows programs see it (drive Z: is the root folder).
fn windows_path(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

#[test]
#[ignore = "needs the Windows build and Wine: bash .ci/windows"]
fn exe_serves_the_http_trigger_and_stops_on_ctrl_c() {
    use std::io::{BufRead, BufReader, Read, Write};

    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &["raz", "dwa", "trzy"]);
    let install = Install::new(&t, &["SERVE_TOKEN=panel-token"]);
    let mut child = Running(Some(
        install
            .wine_command(&install.dir.join("elsewhere"))
            .arg(install.dir.join("ai-worker.exe"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start wine"),
    ));
    // The log line names the port the system chose.
    let mut stderr = BufReader::new(child.child().stderr.take().unwrap());
    let mut seen = String::new();
    let addr = loop {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("serve exited before listening: {seen}");
        }
        seen.push_str(&line);
        if let Some(rest) = line.split("[HTTP] Listening on ").nth(1) {
            break rest.split_whitespace().next().unwrap().to_string();
        }
    };
    let request = |raw: String| -> String {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.write_all(raw.as_bytes()).unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        answer
    };
    let body = format!(r#"{{"task":{task},"wait":true}}"#);
    let unauthorised = request(format!(
        "POST /task/run HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert!(unauthorised.starts_with("HTTP/1.1 401"), "{unauthorised}");
    let answer = request(format!(
        "POST /task/run HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer panel-token\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    ));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let doc: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(doc["items_ok"], 3, "{answer}");
    assert_eq!(t.item_statuses(task), vec![1, 1, 1]);
    let status = request(format!(
        "GET /task/{task} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer panel-token\r\n\r\n"
    ));
    assert!(status.contains("COMPLETED"), "{status}");

    // Wine turns SIGINT into the console's Ctrl+C event: the server stops gracefully.
    let pid = child.child().id().to_string();
    let sent = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(sent.success());
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    let exit = child.wait().status;
    assert!(rest.contains("[HTTP] Stopped"), "{seen}{rest}");
    assert_eq!(exit.code(), Some(0), "{seen}{rest}");
}

#[test]
#[ignore = "needs the Windows build and Wine: bash .ci/windows"]
fn exe_stops_a_run_gracefully_on_ctrl_c() {
    let mut t = TestDb::new();
    let (llm, requests) = FakeLlm::gemini_slow(std::time::Duration::from_millis(300));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let texts: Vec<String> = (0..80).map(|i| format!("tekst {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let install = Install::new(&t, &[]);
    let mut child = Running(Some(
        install
            .wine_command(&install.dir.join("elsewhere"))
            .arg(install.dir.join("ai-worker.exe"))
            .args(["--task", &task.to_string(), "--max-item", "1000", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start wine"),
    ));
    for _ in 0..4 {
        requests
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the worker calls the model");
    }
    // Wine turns SIGINT into the console's Ctrl+C event.
    let sent = Command::new("kill")
        .args(["-INT", &child.child().id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let out = child.wait();
    let text = output_text(&out);
    assert!(text.contains("Stop requested"), "{text}");
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("JSON summary even when stopped");
    assert_eq!(doc["interrupted"], true);
    assert_eq!(out.status.code(), Some(4), "a run cut short says so");
    let statuses = t.item_statuses(task);
    assert!(
        !statuses.contains(&2),
        "nothing left PROCESSING: {statuses:?}"
    );
    assert!(statuses.contains(&0), "the run stopped before the end");
    assert!(statuses.contains(&1), "calls under way were saved");
    t.assert_counters_match_items(task);
    assert_eq!(t.task_row(task).0, 1, "the task stays IN_PROGRESS");
}

/// A started process, killed if the test fails before it ends.
struct Running(Option<std::process::Child>);

impl Running {
    fn child(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("the process is still ours")
    }

    fn wait(mut self) -> Output {
        let child = self.0.take().expect("the process is still ours");
        child.wait_with_output().expect("wait for the process")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
