//! The binary as a user runs it: flags, exit codes, messages, JSON output, init-db,
//! demo, and several processes on one task.

mod common;

use std::process::Stdio;

use common::fake_llm::FakeLlm;
use common::{TestDb, output_text};

#[test]
fn help_and_version() {
    let t = TestDb::new();
    let out = t.run_bin(&["--help"]);
    assert!(out.status.success());
    assert!(output_text(&out).contains("--task-item"));
    let out = t.run_bin(&["--version"]);
    assert!(output_text(&out).starts_with("ai-worker "));
}

#[test]
fn usage_errors_exit_2_with_a_hint() {
    let t = TestDb::new();
    for args in [
        &["--task", "1", "--task-item", "2"][..],
        &["--task", "x"][..],
        &["--max-item"][..],
        &["--unknown-flag"][..],
        &["--concurrency", "0"][..],
    ] {
        let out = t.run_bin(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let text = output_text(&out);
        assert!(
            text.contains("error:") && text.contains("hint:"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn bad_configuration_exits_2_naming_key_and_value() {
    let t = TestDb::new();
    let out = t
        .bin_command(&[])
        .env("WORKER_BATCH_SIZE", "ten")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = output_text(&out);
    assert!(
        text.contains("WORKER_BATCH_SIZE") && text.contains("ten"),
        "{text}"
    );
    let out = t.run_bin(&["--env-file", "/nonexistent/dir/.env"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unreachable_database_exits_3_with_host_and_port_but_no_password() {
    let t = TestDb::new();
    // Port 9 (discard) on loopback: nothing listens there.
    let out = t
        .bin_command(&["--max-item", "1"])
        .env("DB_PORT", "9")
        .env("DB_PASSWORD", "Sup3rSecretPassw0rd")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = output_text(&out);
    assert!(text.contains("127.0.0.1:9"), "{text}");
    assert!(!text.contains("Sup3rSecretPassw0rd"), "{text}");
}

#[test]
fn wrong_password_or_missing_schema_exit_2() {
    let t = TestDb::new();
    let out = t
        .bin_command(&[])
        .env("DB_USER", "no_such_user_aiw")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    // A wrong user or password gets that advice only, not the other cases'.
    let text = output_text(&out);
    assert!(text.contains("check DB_USER and DB_PASSWORD"), "{text}");
    assert!(
        !text.contains("init-db") && !text.contains("socket"),
        "{text}"
    );
    let out = t
        .bin_command(&[])
        .env("DB_NAME", "aiw_missing_db_xyz")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = output_text(&out);
    assert!(
        text.contains("init-db") && text.contains("DB_NAME"),
        "{text}"
    );
    assert!(!text.contains("DB_PASSWORD"), "{text}");
}

#[test]
fn init_db_twice_changes_nothing() {
    let mut t = TestDb::new();
    let before = t.checksum();
    let out = t.run_bin(&["init-db"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let out = t.run_bin(&["init-db"]);
    assert!(out.status.success());
    assert_eq!(t.checksum(), before);
    let statuses: String =
        t.value("SELECT GROUP_CONCAT(name ORDER BY id_task_item_status) FROM task_item_status");
    assert_eq!(statuses, "PENDING,PROCESSED,PROCESSING,ERROR");
}

#[test]
fn json_summary_and_exit_codes() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["a", "b"]);
    let out = t.run_bin(&["--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["items_ok"], 2);
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["tasks"][0]["id_task"], task);
    assert_eq!(doc["tasks"][0]["status"], "COMPLETED");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let op = doc["operation_uuid"].as_str().unwrap();
    assert!(
        stderr.contains(&format!(
            "op={op} [Task {task}] Started processing (2 records)"
        )),
        "{stderr}"
    );
    assert!(stderr.contains("Fetched 2 records with status 0 (pending)"));
    assert!(stderr.contains("[Gemini] Sent prompt:"));
    assert!(stderr.contains("Result received, text_corrected saved"));
    assert!(stderr.contains(&format!("[Task {task}] Processing finished - 2/2 records")));
    // Nothing left: exit 0 with a message.
    let out = t.run_bin(&["--json"]);
    assert_eq!(out.status.code(), Some(0));
    // A failing item: exit 1.
    let bad =
        FakeLlm::start(|_, _| common::fake_llm::gemini_error(400, "INVALID_ARGUMENT", "nope"));
    let model = t.model("gemini", "m", Some(&bad.base_url), Some("k"));
    t.task(model, &["c"]);
    let out = t.run_bin(&["--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["items_error"], 1);
}

#[test]
fn task_that_does_not_exist_is_exit_2() {
    let t = TestDb::new();
    let out = t.run_bin(&["--task", "4242"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(output_text(&out).contains("task 4242 does not exist"));
}

#[test]
fn demo_prints_before_and_after() {
    let t = TestDb::new();
    let out = t.bin_command(&["demo"]).output().unwrap();
    common::drop_demo_database();
    assert!(out.status.success(), "{}", output_text(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("ECHO"), "banner: {text}");
    assert!(text.contains("before:  Wczoraj poszłem do sklepu"));
    assert!(text.contains("after:   Wczoraj poszłem do sklepu"));
    assert!(text.contains("before:  Their going to the libary"));
    assert!(text.contains("summary: echo provider: no model was called"));
    assert_eq!(
        text.matches("before:").count(),
        text.matches("after:").count()
    );
}

#[test]
fn several_processes_on_one_task_never_send_the_same_item_twice() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let texts: Vec<String> = (0..400).map(|i| format!("item-{i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    // All four append to one log file at once.
    let log = std::env::temp_dir().join(format!("aiw-shared-{}.log", t.config.db.name));
    let children: Vec<_> = (0..4)
        .map(|_| {
            t.bin_command(&[
                "--log-file",
                log.to_str().unwrap(),
                "--task",
                &task.to_string(),
                "--max-item",
                "1000",
                "--concurrency",
                "4",
                "-q",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
        })
        .collect();
    common::wait_all_succeed(children);
    let calls = llm.calls_per_text();
    assert_eq!(calls.len(), 400);
    assert!(calls.values().all(|&n| n == 1), "an item was sent twice");
    assert_eq!(t.task_row(task).0, 2);
    assert_eq!(t.task_row(task).2, 400);
    t.assert_counters_match_items(task);
    let runs: u64 = t.value("SELECT COUNT(*) FROM task_run WHERE finished_at IS NOT NULL");
    assert_eq!(runs, 4);
    let text = std::fs::read_to_string(&log).unwrap();
    std::fs::remove_file(&log).unwrap();
    assert_eq!(text.matches("INFO  Exit code 0\n").count(), 4, "{text}");
    for line in text.lines() {
        assert!(
            common::is_log_record(line),
            "one whole record per line: {line:?}"
        );
    }
}

#[test]
fn binary_in_a_folder_with_spaces_reads_a_notepad_env_beside_it() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["Zażółć gęślą jaźń", "b"]);
    let dir = std::env::temp_dir().join(format!(
        "ai worker – zażółć {} {}",
        std::process::id(),
        t.config.db.name
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let exe = dir.join("ai-worker");
    std::fs::copy(env!("CARGO_BIN_EXE_ai-worker"), &exe).unwrap();
    let db = &t.config.db;
    // What Notepad writes: a UTF-8 byte order mark and CRLF line endings.
    let env = format!(
        "\u{feff}# ai-worker\r\nDB_HOST={}\r\nDB_PORT={}\r\nDB_USER={}\r\nDB_PASSWORD={}\r\nDB_NAME={}\r\nAI_KEY_SECRET=test-secret\r\n",
        db.host, db.port, db.user, db.password, db.name
    );
    std::fs::write(dir.join(".env"), env).unwrap();
    // Started from another folder with an empty environment, as cron does: only the
    // `.env` beside the binary can name the database.
    let elsewhere = dir.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let out = std::process::Command::new(&exe)
        .args(["--task", &task.to_string()])
        .current_dir(&elsewhere)
        .env_clear()
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(t.item_statuses(task), vec![1, 1]);
    t.assert_counters_match_items(task);
}

#[test]
fn log_file_gets_every_line_errors_and_exit_codes_of_each_run() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &["a", "b"]);
    let dir = std::env::temp_dir().join(format!("aiw-logs-{}", t.config.db.name));
    let pattern = dir.join("logs").join("ai-worker-{date}.log");
    let pattern = pattern.to_str().unwrap();
    let today =
        || ai_worker::logging::utc_timestamp(std::time::SystemTime::now())[..10].to_string();
    let before = today();

    let out = t.run_bin(&["--log-file", pattern, "--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    // Usage and configuration errors reach the file too, with their exit codes.
    let out = t.run_bin(&["--task", "x", "--log-file", pattern]);
    assert_eq!(out.status.code(), Some(2));
    let out = t
        .bin_command(&[&format!("--log-file={pattern}")])
        .env("WORKER_BATCH_SIZE", "ten")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    let after = today();
    let files: Vec<String> = std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(
        [
            format!("ai-worker-{before}.log"),
            format!("ai-worker-{after}.log")
        ]
        .contains(&files[0]),
        "{files:?}"
    );
    let log = std::fs::read_to_string(dir.join("logs").join(&files[0])).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    for line in log.lines() {
        assert!(common::is_log_record(line), "{line:?}");
    }
    let runs: Vec<&str> = log.split("started: ").skip(1).collect();
    assert_eq!(runs.len(), 3, "{log}");
    assert!(runs[0].contains(&format!("[Task {task}] Processing finished - 2/2 records")));
    assert!(runs[0].contains("INFO  Exit code 0"), "{}", runs[0]);
    assert!(
        runs[1].contains("ERROR --task needs a whole number greater than 0, not 'x'"),
        "{}",
        runs[1]
    );
    assert!(runs[1].contains("INFO  Exit code 2"));
    assert!(runs[2].contains("WORKER_BATCH_SIZE") && runs[2].contains("Exit code 2"));
}

#[test]
fn the_log_record_check_rejects_what_it_should() {
    assert!(common::is_log_record(
        "2026-11-25T03:49:08Z INFO  Exit code 0"
    ));
    for bad in [
        "",
        "Exit code 0",
        "2026-11-25 03:49:08Z INFO  x",
        "2026-11-25T03:49:08Z NOTE  x",
        "2026-11-25T03:49:08Z INFO  [Task 1] Proc2026-11-25T03:49:08Z INFO  x",
    ] {
        assert!(!common::is_log_record(bad), "{bad:?}");
    }
}

#[test]
fn unusable_log_file_is_a_configuration_error() {
    let t = TestDb::new();
    let blocker = std::env::temp_dir().join(format!("aiw-not-a-folder-{}", t.config.db.name));
    std::fs::write(&blocker, "a file, not a folder").unwrap();
    let path = blocker.join("logs").join("a.log");
    let out = t.run_bin(&["--log-file", path.to_str().unwrap(), "--max-item", "1"]);
    std::fs::remove_file(&blocker).unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = output_text(&out);
    assert!(text.contains("cannot open the log file"), "{text}");
    for args in [
        &["--log-file"][..],
        &["--log-file="][..],
        &["--log-file", "a", "--log-file", "b"][..],
    ] {
        let out = t.run_bin(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(output_text(&out).contains("--log-file"), "{args:?}");
    }
}

#[test]
fn log_file_can_come_from_the_env_file_setting() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &["a"]);
    let dir = std::env::temp_dir().join(format!("aiw-env-log-{}", t.config.db.name));
    let pattern = dir.join("ai-worker-{date}.log");
    let out = t
        .bin_command(&["--task", &task.to_string()])
        .env("LOG_FILE", &pattern)
        .output()
        .unwrap();
    let files: Vec<std::path::PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    let log = files
        .first()
        .map(|f| std::fs::read_to_string(f).unwrap())
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(log.contains("Processing finished - 1/1 records"), "{log}");
    assert!(log.contains("INFO  Exit code 0"), "{log}");
    // An unusable LOG_FILE is a configuration error like a bad --log-file.
    let blocker = std::env::temp_dir().join(format!("aiw-env-blocker-{}", t.config.db.name));
    std::fs::write(&blocker, "").unwrap();
    let out = t
        .bin_command(&[])
        .env("LOG_FILE", blocker.join("x.log"))
        .output()
        .unwrap();
    std::fs::remove_file(&blocker).unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(output_text(&out).contains("cannot open the log file"));
}

#[test]
fn a_long_task_logs_its_progress_every_worker_progress_s() {
    let mut t = TestDb::new();
    // Six answers of 300 ms one after another last at least 1.8 s: longer than the
    // one-second progress interval, however fast the machine.
    let (llm, _requests) = FakeLlm::gemini_slow(std::time::Duration::from_millis(300));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let texts: Vec<String> = (0..6).map(|i| format!("tekst {i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let out = t
        .bin_command(&["--task", &task.to_string(), "--concurrency", "1"])
        .env("WORKER_PROGRESS_S", "1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(
        text.contains(&format!("[Task {task}] Progress: ")) && text.contains("/6 records"),
        "{text}"
    );
    let out = t
        .bin_command(&["--max-item", "1"])
        .env("WORKER_PROGRESS_S", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "out of range");
    assert!(output_text(&out).contains("WORKER_PROGRESS_S"));
}

#[test]
fn small_mistakes_of_a_first_week_get_a_word() {
    let t = TestDb::new();
    // A short secret is named; the range of a number is given.
    let mut cmd = t.bin_command(&["model", "list"]);
    cmd.env("AI_KEY_SECRET", "abcde");
    let out = cmd.output().unwrap();
    let text = output_text(&out);
    assert!(
        text.contains("AI_KEY_SECRET is only 5 characters"),
        "{text}"
    );
    assert!(
        text.contains("No models yet"),
        "an empty list says how to add one: {text}"
    );
    let mut cmd = t.bin_command(&["--max-item", "3"]);
    cmd.env("WORKER_CONCURRENCY", "lots");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        output_text(&out).contains("from 1 to 4096"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn json_asked_for_is_json_even_for_usage_errors_and_model_list() {
    let mut t = TestDb::new();
    for args in [
        &["--json", "--max-item", "abc"][..],
        &["--json", "--estimate", "--dry-run"][..],
    ] {
        let out = t.run_bin(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|_| panic!("JSON on stdout for {args:?}: {}", output_text(&out)));
        assert_eq!(doc["exit_code"], 2);
        assert!(
            doc["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{doc}"
        );
    }
    t.model("echo", "echo", None, None);
    let out = t.run_bin(&["model", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["models"][0]["provider"], "echo");
    assert_eq!(doc["models"][0]["has_key"], false);
    let out = t.run_bin(&["demo", "--json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(output_text(&out).contains("--json is not available for demo"));
}
