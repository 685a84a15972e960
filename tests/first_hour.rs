//! The operator's first hour, run as a user runs the binary: help for every command,
//! typos caught with a suggestion, models managed without SQL, summaries that say
//! what happened, one message per error, and no driver debug text.

mod common;

use std::process::Command;

use common::fake_llm::{FakeLlm, gemini_error};
use common::{TestDb, output_text};

/// The demo always uses one database (ai_worker_demo): its tests here take turns.
static DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn every_command_has_its_help() {
    let t = TestDb::new();
    for (args, needle) in [
        (
            &["model", "add", "--help"][..],
            "ai-worker model add --name N",
        ),
        (&["model", "update", "--help"][..], "--max-output-tokens"),
        (&["model", "--help"][..], "ai-worker model rekey"),
        (&["serve", "--help"][..], "--bind ADDR"),
        (&["init-db", "--help"][..], "ai-worker init-db"),
        (&["demo", "--help"][..], "ai_worker_demo"),
        (&["--help"][..], "EXIT CODES"),
    ] {
        let out = t.run_bin(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?}: {}",
            output_text(&out)
        );
        assert!(
            output_text(&out).contains(needle),
            "{args:?}: {}",
            output_text(&out)
        );
    }
}

#[test]
fn mistyped_flags_and_values_are_named_with_a_suggestion() {
    let t = TestDb::new();
    let out = t.run_bin(&["--max-items", "5"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        output_text(&out).contains("did you mean --max-item?"),
        "{}",
        output_text(&out)
    );
    let out = t.run_bin(&["--task", "abc"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        output_text(&out).contains("--task needs a whole number"),
        "{}",
        output_text(&out)
    );
}

#[test]
fn the_env_file_read_and_its_unknown_keys_are_reported() {
    let t = TestDb::new();
    let dir = std::env::temp_dir().join(format!("aiw-env-{}", t.config.db.name));
    std::fs::create_dir_all(&dir).unwrap();
    let env = dir.join(".env");
    let db = &t.config.db;
    std::fs::write(
        &env,
        format!(
            "DB_HOST={}\nDB_PORT={}\nDB_USER={}\nDB_PASSWORD={}\nDB_NAME={}\nWORKER_CONCURENCY=8\nDB_NAM=x\nFOO_BAR_BAZ=1\n",
            db.host, db.port, db.user, db.password, db.name
        ),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ai-worker"))
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    let text = output_text(&out);
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Configuration from .env"), "{text}");
    assert!(
        text.contains("WORKER_CONCURENCY in .env (did you mean WORKER_CONCURRENCY?)"),
        "{text}"
    );
    assert!(
        text.contains("DB_NAM in .env (did you mean DB_NAME?)"),
        "{text}"
    );
    assert!(
        text.contains("unknown key FOO_BAR_BAZ in .env: it is ignored"),
        "{text}"
    );
}

#[test]
fn models_are_managed_without_sql() {
    let mut t = TestDb::new();
    let add = [
        "model",
        "add",
        "--name",
        "g",
        "--provider",
        "gemini",
        "--model",
        "gemini-2.5-pro",
    ];
    let out = t.run_bin(&add);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("warning: model 'g' has no key"), "{text}");
    assert!(text.contains("model update g --key-stdin"), "{text}");
    let out = t.run_bin(&add);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("exists already") && text.contains("model update g"),
        "{text}"
    );
    assert!(
        !text.contains("Duplicate entry"),
        "no raw driver text: {text}"
    );
    let out = t
        .bin_command(&[
            "model",
            "update",
            "g",
            "--api-url",
            "http://127.0.0.1:9/v1beta",
            "--rpm",
            "30",
            "--temperature",
            "0.2",
            "--structured-output",
            "plain",
            "--api-key-env",
            "NEWKEY",
        ])
        .env("NEWKEY", "AIzaNEWKEY123")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let row: (String, u32, String, u8, String) = t
        .conn_first(
            "SELECT api_url, requests_per_minute, CAST(temperature AS CHAR), structured_output, \
             CAST(AES_DECRYPT(api_key_encrypted, 'test-secret') AS CHAR) FROM ai_model WHERE name = 'g'",
        );
    assert_eq!(
        row,
        (
            "http://127.0.0.1:9/v1beta".into(),
            30,
            "0.20".into(),
            0,
            "AIzaNEWKEY123".into()
        )
    );
    let out = t.run_bin(&[
        "model",
        "update",
        "g",
        "--api-url",
        "none",
        "--no-key",
        "--active",
        "0",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let (url, key, active): (Option<String>, Option<Vec<u8>>, u8) =
        t.conn_first("SELECT api_url, api_key_encrypted, is_active FROM ai_model WHERE name = 'g'");
    assert_eq!((url, key, active), (None, None, 0));
    let out = t.run_bin(&["model", "update", "nobody", "--active", "1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(output_text(&out).contains("no model is named 'nobody'"));
    let out = t.run_bin(&["model", "update", "g"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(output_text(&out).contains("changes nothing"));
}

#[test]
fn summaries_say_what_stopped_and_what_a_dry_run_would_do() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| {
        if req.item_text() == "zły" {
            gemini_error(400, "INVALID_ARGUMENT", "bad")
        } else {
            common::fake_llm::gemini_ok(&req.item_text(), "ok", 1, 1, 0)
        }
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["dobry", "zły", "też dobry"]);
    let out = t.run_bin(&["--task", &task.to_string(), "--dry-run"]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("would process 2, 1 would fail"), "{text}");
    // An inactive model stops its task: the summary says which and why.
    t.conn_exec(&format!(
        "UPDATE ai_model SET is_active = 0 WHERE id_ai_model = {model}"
    ));
    let out = t.run_bin(&["--task", &task.to_string()]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains(&format!("task {task} stopped: model")) && text.contains("not active"),
        "{text}"
    );
    // Nothing pending, but a task in ERROR still has items: say how to resume it.
    let out = t.run_bin(&[]);
    let text = output_text(&out);
    assert!(text.contains("Nothing to do"), "{text}");
    assert!(
        text.contains(&format!("task {task} (3 pending, 0 failed)")),
        "{text}"
    );
    assert!(text.contains("ai-worker --task ID"), "{text}");
}

#[test]
fn one_message_per_error() {
    let mut t = TestDb::new();
    let out = t.run_bin(&["--task", "4242"]);
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        output_text(&out)
            .matches("task 4242 does not exist")
            .count(),
        1
    );
    let llm = FakeLlm::start(|_, _| gemini_error(401, "UNAUTHENTICATED", "API key not valid"));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let texts: Vec<String> = (0..8).map(|i| format!("t{i}")).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    let out = t.run_bin(&["--task", &task.to_string(), "--concurrency", "4"]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.matches("API error").count(), 1, "{text}");
}

#[test]
fn database_errors_are_sentences_without_driver_debug_text() {
    let t = TestDb::new();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = t
        .bin_command(&[])
        .env("DB_PORT", port.to_string())
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("database unreachable"), "{text}");
    let out = t
        .bin_command(&[])
        .env("DB_USER", "no_such_user_aiw")
        .output()
        .unwrap();
    let text2 = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text2}");
    for text in [&text, &text2] {
        for debug in ["MySqlError {", "DriverError {", "IoError {", "CodecError {"] {
            assert!(!text.contains(debug), "{text}");
        }
    }
}

#[test]
fn a_second_demo_replaces_the_first_and_keeps_its_log_quiet() {
    let _demo = DEMO
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let t = TestDb::new();
    let first = t.bin_command(&["demo"]).output().unwrap();
    let second = t.bin_command(&["demo"]).output().unwrap();
    common::drop_demo_database();
    assert!(second.status.success(), "{}", output_text(&second));
    let a = String::from_utf8_lossy(&first.stdout);
    let b = String::from_utf8_lossy(&second.stdout);
    assert_eq!(a.matches("before:").count(), b.matches("before:").count());
    assert_eq!(b.matches("--- Task").count(), 2, "{b}");
    assert!(
        !String::from_utf8_lossy(&second.stderr).contains(" INFO "),
        "quiet"
    );
}

#[test]
fn a_demo_whose_gemini_cannot_be_reached_says_why_on_stdout() {
    let _demo = DEMO
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let t = TestDb::new();
    common::drop_demo_database();
    // The demo's Gemini model, as an earlier demo left it, pointed at a closed port
    // (the test never talks to Google).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let init = t
        .bin_command(&["init-db", "-q"])
        .env("DB_NAME", ai_worker::DEMO_DB)
        .output()
        .unwrap();
    assert!(init.status.success(), "{}", output_text(&init));
    let mut conn = common::connect(&common::server_config());
    mysql::prelude::Queryable::query_drop(
        &mut conn,
        format!(
            "INSERT INTO `{}`.ai_model (name, provider, model_name, api_url) \
             VALUES ('demo-gemini', 'gemini', 'gemini-2.5-flash', 'http://127.0.0.1:{port}/v1beta')",
            ai_worker::DEMO_DB
        ),
    )
    .unwrap();
    let out = t
        .bin_command(&["demo"])
        .env("GEMINI_API_KEY", "test-key")
        .env("AI_ENV_KEY_HOSTS", "127.0.0.1")
        .output()
        .unwrap();
    common::drop_demo_database();
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("after:   (not processed)"), "{stdout}");
    assert!(
        stdout.contains(&format!("127.0.0.1:{port} refused the connection"))
            && stdout.contains("the items stay pending and the next run tries again"),
        "the reason is on stdout, not only in the log: {stdout}"
    );
}
