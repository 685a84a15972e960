//! MySQL 5.7 compatibility: the schema and a full task under MySQL 5.7's strict default
//! `sql_mode`, which adds ONLY_FULL_GROUP_BY, NO_ZERO_IN_DATE and NO_ZERO_DATE to
//! MariaDB's default.
//!
//! The worker opens its own connections, so the mode is set server-wide
//! (`SET GLOBAL`) and put back when the test ends, even when it fails. That is why this
//! test has a binary of its own: `cargo test` runs test binaries one after another, so
//! no other test's connection is opened meanwhile.

mod common;

use common::fake_llm::{FakeLlm, gemini_error, gemini_ok};
use common::{TestDb, output_text};
use mysql::prelude::Queryable;

/// MySQL 5.7's default `sql_mode`.
const MYSQL_57_STRICT: &str = "ONLY_FULL_GROUP_BY,STRICT_TRANS_TABLES,NO_ZERO_IN_DATE,\
NO_ZERO_DATE,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION";

/// Sets the server's global `sql_mode` and restores the previous one when dropped.
struct GlobalSqlMode {
    conn: mysql::Conn,
    previous: String,
}

impl GlobalSqlMode {
    fn set(mode: &str) -> GlobalSqlMode {
        let mut conn = common::connect(&common::server_config());
        let previous: String = conn
            .query_first("SELECT @@GLOBAL.sql_mode")
            .unwrap()
            .unwrap();
        conn.exec_drop("SET GLOBAL sql_mode = ?", (mode,)).unwrap();
        GlobalSqlMode { conn, previous }
    }
}

impl Drop for GlobalSqlMode {
    fn drop(&mut self) {
        let _ = self
            .conn
            .exec_drop("SET GLOBAL sql_mode = ?", (&self.previous,));
    }
}

#[test]
fn schema_and_a_full_task_work_under_mysql_57_strict_mode() {
    let _mode = GlobalSqlMode::set(MYSQL_57_STRICT);
    // New connections get the mode: the schema below is created under it.
    let mut t = TestDb::new();
    let session: String = t.value("SELECT @@SESSION.sql_mode");
    for flag in ["ONLY_FULL_GROUP_BY", "STRICT_TRANS_TABLES", "NO_ZERO_DATE"] {
        assert!(session.contains(flag), "{session}");
    }
    // Strict mode really bites: an out-of-range value is an error, not a warning.
    assert!(
        t.conn
            .query_drop(
                "INSERT INTO task_item_status (id_task_item_status, name) VALUES (1000, 'x')"
            )
            .is_err()
    );

    // init-db again changes nothing, and a model is stored through the binary.
    let before = t.checksum();
    let out = t.run_bin(&["init-db"]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(t.checksum(), before);
    let llm = FakeLlm::start(|req, _| {
        let text = req.item_text();
        if text.contains("odrzuć") {
            gemini_error(400, "INVALID_ARGUMENT", "bad request")
        } else {
            gemini_ok(&text, "Bez zmian.", 10, 2, 0)
        }
    });
    let out = t
        .bin_command(&[
            "model",
            "add",
            "--name",
            "g",
            "--provider",
            "gemini",
            "--model",
            "gemini-2.5-pro",
            "--api-url",
            &llm.base_url,
            "--rpm",
            "60000",
        ])
        .env("GEMINI_API_KEY", "k")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let out = t.run_bin(&["model", "list"]);
    assert!(
        output_text(&out).contains("gemini-2.5-pro"),
        "{}",
        output_text(&out)
    );

    let model: u32 = t.value("SELECT id_ai_model FROM ai_model WHERE name = 'g'");
    let (task, _) = t.task(model, &["jeden", "dwa", "odrzuć to", "cztery"]);
    let dry = t.checksum();
    let out = t.run_bin(&["--task", &task.to_string(), "--dry-run"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an item would fail: {}",
        output_text(&out)
    );
    assert!(output_text(&out).contains("(400): INVALID_ARGUMENT"));
    assert_eq!(t.checksum(), dry, "a dry run writes nothing");

    let out = t.run_bin(&["--task", &task.to_string(), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", output_text(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (doc["items_ok"].as_u64(), doc["items_error"].as_u64()),
        (Some(3), Some(1))
    );
    assert_eq!(t.item_statuses(task), vec![1, 1, 3, 1]);
    let (_, total, processed, errors, tokens_in, tokens_out) = t.task_row(task);
    assert_eq!(
        (total, processed, errors, tokens_in, tokens_out),
        (4, 3, 1, 30, 6)
    );
    t.assert_counters_match_items(task);
    let finished: u64 = t.value("SELECT COUNT(*) FROM task_run WHERE finished_at IS NOT NULL");
    assert_eq!(finished, 1);
    // The shared request slots (requests_per_minute) work under the strict mode too.
    let slots: u64 = t.value(&format!(
        "SELECT COUNT(*) FROM ai_model_pace WHERE id_ai_model = {model} AND next_slot_us > 0"
    ));
    assert_eq!(slots, 1);
}
