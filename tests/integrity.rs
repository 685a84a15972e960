//! Integrity against a careless panel and a hostile server: nothing overwritten, no
//! run aborted by one row, no secret quoted.

mod common;

use ai_worker::{ExportTarget, RunOptions, StopSignal, run};
use common::fake_llm::{FakeLlm, Reply, gemini_ok};
use common::{TestDb, output_text};

/// Accepted items whose source is `product.name` in the test's own database.
fn exported_products(t: &mut TestDb, rows: &[(&str, &str, &str)]) -> (u32, Vec<u32>) {
    t.conn_exec(
        "CREATE TABLE product (id INT PRIMARY KEY, name VARCHAR(100) \
         CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci)",
    );
    t.config.export_allow = vec![ExportTarget::parse("product.name:id").unwrap()];
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &[]);
    let mut ids = Vec::new();
    for (source_id, original, now_in_source) in rows {
        if let Ok(id) = source_id.parse::<u32>() {
            t.conn_exec(&format!(
                "INSERT INTO product (id, name) VALUES ({id}, '{now_in_source}')"
            ));
        }
        t.conn_exec(&format!(
            "INSERT INTO task_item (id_task, text_original, text_corrected, status_id, review_status, \
             source_table, source_column, source_id) \
             VALUES ({task}, '{original}', '{original} (poprawione)', 1, 1, 'product', 'name', '{source_id}')"
        ));
        ids.push(t.value::<u32>("SELECT LAST_INSERT_ID()"));
    }
    (task, ids)
}

fn export_status(t: &mut TestDb, id: u32) -> (u8, Option<String>) {
    t.conn_first(&format!(
        "SELECT export_status, export_error FROM task_item WHERE id_task_item = {id}"
    ))
}

#[test]
fn export_never_overwrites_an_edit_of_letter_case_or_trailing_spaces() {
    let mut t = TestDb::new();
    let (_, ids) = exported_products(
        &mut t,
        &[
            ("1", "Zamek", "zamek"),
            ("2", "Zamek", "Zamek  "),
            ("3", "Zamek", "Zamek"),
        ],
    );
    let done = ai_worker::app::review::export(&t.config, None, false).unwrap();
    assert_eq!((done.exported, done.conflicts), (1, 2));
    let names: Vec<String> = t.conn.query_map_names();
    assert_eq!(names, vec!["zamek", "Zamek  ", "Zamek (poprawione)"]);
    assert_eq!(export_status(&mut t, ids[0]).0, 2, "conflict");
    assert_eq!(export_status(&mut t, ids[1]).0, 2, "conflict");
    assert_eq!(export_status(&mut t, ids[2]).0, 1, "exported");
}

/// The `name` column of `product`, by id.
trait Names {
    fn query_map_names(&mut self) -> Vec<String>;
}

impl Names for mysql::Conn {
    fn query_map_names(&mut self) -> Vec<String> {
        use mysql::prelude::Queryable;
        self.query("SELECT name FROM product ORDER BY id").unwrap()
    }
}

#[test]
fn a_key_that_does_not_fit_the_target_fails_its_item_and_the_batch_goes_on() {
    let mut t = TestDb::new();
    let (_, ids) = exported_products(
        &mut t,
        &[
            ("1abc", "Brama", ""),
            ("2", "Most", "Most"),
            ("3", "Wieża", "Wieża"),
        ],
    );
    t.conn_exec("ALTER TABLE product MODIFY name VARCHAR(100) CHARACTER SET utf8mb3");
    t.conn_exec(&format!(
        "UPDATE task_item SET text_original = 'Wieża', text_corrected = 'Wieża 🏰' WHERE id_task_item = {}",
        ids[2]
    ));
    let done = ai_worker::app::review::export(&t.config, None, false).unwrap();
    assert_eq!((done.exported, done.errors), (1, 2));
    let (status, why) = export_status(&mut t, ids[0]);
    assert_eq!(status, 3);
    assert!(why.unwrap().contains("not a whole number"));
    let (status, why) = export_status(&mut t, ids[2]);
    assert_eq!(status, 3);
    let why = why.unwrap();
    assert!(why.contains("product.name is utf8mb3"), "{why}");
    assert_eq!(t.conn.query_map_names(), vec!["Most (poprawione)", "Wieża"]);
}

#[test]
fn a_result_its_column_cannot_hold_fails_that_item_only() {
    let mut t = TestDb::new();
    t.conn_exec("ALTER TABLE task_item MODIFY text_corrected MEDIUMTEXT CHARACTER SET utf8mb3");
    let llm = FakeLlm::start(|req, _| {
        let text = req.item_text();
        let answer = if text.starts_with("emoji") {
            format!("{text} 🙂")
        } else {
            text
        };
        gemini_ok(&answer, "ok", 10, 5, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(
        model,
        &["pierwszy tekst", "emoji w odpowiedzi", "trzeci tekst"],
    );
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    assert_eq!(t.item_statuses(task), vec![1, 3, 1]);
    let why: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        ids[1]
    ));
    assert!(why.contains("task_item.text_corrected is utf8mb3"), "{why}");
    assert!(why.contains("utf8mb4"), "the fix is named: {why}");
    t.assert_counters_match_items(task);
}

#[test]
fn absurd_token_counts_and_runaway_answers_fail_their_item_only() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| {
        let text = req.item_text();
        if text == "absurd" {
            let body = serde_json::json!({
                "candidates": [{"content": {"role": "model", "parts": [{"text":
                    serde_json::json!({"text_corrected": "absurd", "change_summary": "ok"}).to_string()}]},
                    "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": u64::MAX, "candidatesTokenCount": u64::MAX,
                                  "totalTokenCount": u64::MAX}
            });
            return Reply::new(200, body.to_string());
        }
        if text == "krótki" {
            return gemini_ok(&"bla ".repeat(5000), "ok", 10, 5, 0);
        }
        gemini_ok(&text, "ok", 10, 5, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    t.conn_exec(&format!(
        "UPDATE ai_model SET price_input = 1, price_output = 1 WHERE id_ai_model = {model}"
    ));
    let (task, ids) = t.task(model, &["absurd", "krótki", "zwykły tekst"]);
    let summary = run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert_eq!((summary.items_ok, summary.items_error), (2, 1));
    assert_eq!(t.item_statuses(task), vec![1, 3, 1]);
    let (tokens, cost): (u64, String) = t.conn_first(&format!(
        "SELECT tokens_input, CAST(cost AS CHAR) FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert_eq!(tokens, u64::from(u32::MAX), "held to what the column holds");
    assert!(cost.parse::<f64>().unwrap() < 10_000.0, "{cost}");
    let why: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        ids[1]
    ));
    assert!(why.contains("far longer than any correction"), "{why}");
    t.assert_counters_match_items(task);
}

#[test]
fn secrets_are_never_quoted() {
    let mut t = TestDb::new();
    // A .env syntax error names the line and the key, not the value.
    let dir = std::env::temp_dir().join(format!("aiw-integrity-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let env = dir.join("broken.env");
    std::fs::write(&env, "DB_NAME=x\nAI_KEY_SECRET='tajne-haslo-123\\'x\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ai-worker"))
        .args(["--env-file", env.to_str().unwrap(), "--task", "1"])
        .env_clear()
        .output()
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(
        text.contains("line 2") && text.contains("AI_KEY_SECRET"),
        "{text}"
    );
    assert!(!text.contains("tajne-haslo"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
    // A password in an address: refused by model add, never shown for a panel's row.
    let out = t.run_bin(&[
        "model",
        "add",
        "--name",
        "g",
        "--provider",
        "openai",
        "--model",
        "m",
        "--api-url",
        "http://user:s3cret@127.0.0.1:9/v1",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        !output_text(&out).contains("s3cret"),
        "{}",
        output_text(&out)
    );
    let model = t.model(
        "openai",
        "m",
        Some("http://user:s3cret@127.0.0.1:9/v1"),
        Some("k"),
    );
    let (task, _) = t.task(model, &["tekst"]);
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert!(
        !output_text(&out).contains("s3cret"),
        "{}",
        output_text(&out)
    );
    let message: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {task}"
    ));
    assert!(
        message.contains("***@127.0.0.1") && !message.contains("s3cret"),
        "{message}"
    );
    let listed = output_text(&t.run_bin(&["model", "list"]));
    assert!(
        listed.contains("***@127.0.0.1") && !listed.contains("s3cret"),
        "{listed}"
    );
}

#[test]
fn an_environment_key_goes_only_to_the_providers_own_host_unless_allowed() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), None);
    let (task, _) = t.task(model, &["a"]);
    let mut cmd = t.bin_command(&["--task", &task.to_string()]);
    cmd.env("GEMINI_API_KEY", "AIzaOPERATORSKEY");
    let out = cmd.output().unwrap();
    assert!(
        output_text(&out).contains("AI_ENV_KEY_HOSTS"),
        "{}",
        output_text(&out)
    );
    assert!(llm.requests().is_empty(), "no key, no call");
    let mut cmd = t.bin_command(&["--task", &task.to_string()]);
    cmd.env("GEMINI_API_KEY", "AIzaOPERATORSKEY")
        .env("AI_ENV_KEY_HOSTS", "127.0.0.1");
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    let sent = llm.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0].headers.get("x-goog-api-key").map(String::as_str),
        Some("AIzaOPERATORSKEY")
    );
}

#[test]
fn a_row_locked_by_another_session_ends_the_run_within_db_timeout() {
    use mysql::prelude::Queryable;
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &["a", "b"]);
    // A panel's transaction left open on the task row.
    let mut panel = common::connect(&t.config.db);
    panel.query_drop("START TRANSACTION").unwrap();
    panel
        .query_drop(format!(
            "SELECT * FROM task WHERE id_task = {task} FOR UPDATE"
        ))
        .unwrap();
    let mut cmd = t.bin_command(&["--task", &task.to_string()]);
    cmd.env("DB_TIMEOUT_S", "2");
    let out = cmd.output().unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("stayed locked by another session"), "{text}");
    panel.query_drop("ROLLBACK").unwrap();
}

#[test]
fn a_result_the_database_refuses_fails_that_item_and_the_others_are_saved() {
    let mut t = TestDb::new();
    // A panel's narrower column: a long answer does not fit (strict mode refuses it).
    t.conn_exec("ALTER TABLE task_item MODIFY change_summary VARCHAR(20) NULL");
    let llm = FakeLlm::start(|req, _| {
        let text = req.item_text();
        let summary = if text.starts_with("długi") {
            "x".repeat(50)
        } else {
            "ok".into()
        };
        gemini_ok(&text, &summary, 5, 5, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["pierwszy", "długi opis zmian", "trzeci"]);
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert_eq!(t.item_statuses(task), vec![1, 3, 1]);
    let why: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        ids[1]
    ));
    assert!(
        why.contains("the database refused to save this item's result"),
        "{why}"
    );
    t.assert_counters_match_items(task);
}
