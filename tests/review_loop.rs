//! The review loop: rejected results done again with the reviewer's note, accepted
//! ones written back to their source rows, never over a row that changed since.

mod common;

use ai_worker::ExportTarget;
use common::fake_llm::{FakeLlm, gemini_ok};
use common::{TestDb, output_text};
use mysql::prelude::Queryable;

/// A source database of its own with a CMS table and a shop table.
struct Source {
    name: String,
    conn: mysql::Conn,
}

impl Source {
    fn new(t: &TestDb) -> Source {
        let name = format!("{}_src", t.config.db.name);
        let mut server = common::connect(&ai_worker::DbConfig {
            name: t.config.db.name.clone(),
            ..t.config.db.clone()
        });
        server
            .query_drop(format!("CREATE DATABASE `{name}` CHARACTER SET utf8mb4"))
            .unwrap();
        let mut cfg = t.config.db.clone();
        cfg.name = name.clone();
        let mut conn = common::connect(&cfg);
        conn.query_drop("CREATE TABLE article (id INT PRIMARY KEY, body TEXT NULL)")
            .unwrap();
        conn.query_drop(
            "CREATE TABLE product (sku VARCHAR(20) PRIMARY KEY, description_html MEDIUMTEXT NOT NULL)",
        )
        .unwrap();
        Source { name, conn }
    }

    fn checksum(&mut self) -> Vec<(String, Option<u64>)> {
        self.conn.query("CHECKSUM TABLE article, product").unwrap()
    }
}

impl Drop for Source {
    fn drop(&mut self) {
        let _ = self
            .conn
            .query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.name));
    }
}

/// A Gemini fake that "corrects" by appending " (poprawione)", and records prompts.
fn corrector() -> FakeLlm {
    FakeLlm::start(|req, _| gemini_ok(&format!("{} (poprawione)", req.item_text()), "ok", 5, 5, 0))
}

fn configured(t: &mut TestDb, source: &Source) {
    let mut source_db = t.config.db.clone();
    source_db.name = source.name.clone();
    t.config.source_db = Some(source_db);
    t.config.export_allow = vec![
        ExportTarget::parse("article.body").unwrap(),
        ExportTarget::parse("product.description_html:sku").unwrap(),
    ];
}

fn add_item(t: &mut TestDb, task: u32, text: &str, source: (&str, &str, &str)) -> u32 {
    t.conn
        .exec_drop(
            "INSERT INTO task_item (id_task, text_original, source_table, source_column, source_id) VALUES (?, ?, ?, ?, ?)",
            (task, text, source.0, source.1, source.2),
        )
        .unwrap();
    t.conn.last_insert_id() as u32
}

#[test]
fn a_rejected_result_is_done_again_with_the_reviewers_reason() {
    let mut t = TestDb::new();
    let llm = corrector();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["Ala ma kota, tel. 600 100 200.", "Drugi tekst."]);
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    t.conn_exec(&format!(
        "UPDATE task_item SET review_status = 2, review_comment = 'Nie dopisuj niczego na końcu.' WHERE id_task_item = {}",
        ids[0]
    ));
    t.conn_exec(&format!(
        "UPDATE task_item SET review_status = 1 WHERE id_task_item = {}",
        ids[1]
    ));
    let out = t.run_bin(&["rework", "--task", &task.to_string()]);
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("1 rejected result back to pending (task "),
        "{text}"
    );
    assert_eq!(t.item_statuses(task), vec![0, 1]);
    assert_eq!(t.task_row(task).0, 1, "IN_PROGRESS again");
    t.assert_counters_match_items(task);
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let sent = llm.requests().last().unwrap().json().to_string();
    assert!(
        sent.contains("<rejected>") && sent.contains("Nie dopisuj niczego na końcu."),
        "{sent}"
    );
    assert!(
        sent.contains("(poprawione)"),
        "the rejected version is shown"
    );
    assert!(
        !sent.contains("600 100 200"),
        "personal data stays masked in the rejected version too"
    );
    let (status, review, corrected): (u8, u8, String) = t.conn_first(&format!(
        "SELECT status_id, review_status, text_corrected FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert_eq!((status, review), (1, 0));
    assert_eq!(corrected, "Ala ma kota, tel. 600 100 200. (poprawione)");
    assert_eq!(t.task_row(task).0, 2, "COMPLETED");
    t.assert_counters_match_items(task);
}

#[test]
fn export_writes_accepted_results_back_and_never_over_a_changed_row() {
    let mut t = TestDb::new();
    let mut source = Source::new(&t);
    configured(&mut t, &source);
    source
        .conn
        .query_drop("INSERT INTO article VALUES (1, 'Pierwszy artykół.'), (2, 'Drugi artykół.')")
        .unwrap();
    source
        .conn
        .query_drop("INSERT INTO product VALUES ('SKU-1', '<p>Opis <b>produktu</b></p>')")
        .unwrap();
    let llm = corrector();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &[]);
    let a1 = add_item(&mut t, task, "Pierwszy artykół.", ("article", "body", "1"));
    let a2 = add_item(&mut t, task, "Drugi artykół.", ("article", "body", "2"));
    let p1 = add_item(
        &mut t,
        task,
        "<p>Opis <b>produktu</b></p>",
        ("product", "description_html", "SKU-1"),
    );
    let secret = add_item(&mut t, task, "hasło", ("users", "password", "1"));
    let hostile = add_item(
        &mut t,
        task,
        "x",
        ("article`; DROP TABLE article; --", "body", "1"),
    );
    let orphan = add_item(&mut t, task, "bez źródła", ("", "", ""));
    t.conn_exec(&format!(
        "UPDATE task_item SET source_table = NULL WHERE id_task_item = {orphan}"
    ));
    let out = t.run_bin(&["--task", &task.to_string()]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    t.conn_exec(&format!(
        "UPDATE task_item SET review_status = 1 WHERE id_task = {task}"
    ));
    // Someone edits article 2 after its text was copied into the task.
    source
        .conn
        .query_drop("UPDATE article SET body = 'Drugi artykuł, poprawiony ręcznie.' WHERE id = 2")
        .unwrap();

    let before = (source.checksum(), t.checksum());
    let dry = ai_worker::app::review::export(&t.config, Some(task), true).unwrap();
    assert_eq!((dry.exported, dry.conflicts, dry.errors), (2, 1, 3));
    assert_eq!(
        (source.checksum(), t.checksum()),
        before,
        "a dry run writes nothing"
    );

    let done = ai_worker::app::review::export(&t.config, Some(task), false).unwrap();
    assert_eq!((done.exported, done.conflicts, done.errors), (2, 1, 3));
    assert_eq!(done.exit_code(), 1);
    let bodies: Vec<(u32, String)> = source
        .conn
        .query("SELECT id, body FROM article ORDER BY id")
        .unwrap();
    assert_eq!(bodies[0].1, "Pierwszy artykół. (poprawione)");
    assert_eq!(
        bodies[1].1, "Drugi artykuł, poprawiony ręcznie.",
        "never overwritten"
    );
    let html: String = source
        .conn
        .query_first("SELECT description_html FROM product")
        .unwrap()
        .unwrap();
    assert_eq!(html, "<p>Opis <b>produktu</b></p> (poprawione)");
    let statuses: Vec<(u32, u8, Option<String>)> = t
        .conn
        .query(format!("SELECT id_task_item, export_status, export_error FROM task_item WHERE id_task = {task} ORDER BY id_task_item"))
        .unwrap();
    let status_of = |id: u32| statuses.iter().find(|s| s.0 == id).unwrap().clone();
    assert_eq!((status_of(a1).1, status_of(p1).1), (1, 1));
    let conflict = status_of(a2);
    assert_eq!(conflict.1, 2);
    assert!(
        conflict
            .2
            .unwrap()
            .contains("it now holds: Drugi artykuł, poprawiony ręcznie.")
    );
    assert_eq!(status_of(secret).1, 3);
    assert!(status_of(secret).2.unwrap().contains("not in EXPORT_ALLOW"));
    assert_eq!(status_of(hostile).1, 3);
    assert_eq!(status_of(orphan).1, 3);
    let tables: Vec<String> = source.conn.query("SHOW TABLES").unwrap();
    assert_eq!(tables.len(), 2, "nothing was dropped");

    // Again: nothing changes.
    let before = (source.checksum(), t.checksum());
    let again = ai_worker::app::review::export(&t.config, Some(task), false).unwrap();
    assert_eq!((again.exported, again.conflicts, again.errors), (0, 0, 0));
    assert_eq!((source.checksum(), t.checksum()), before);
}

#[test]
fn an_export_killed_after_writing_the_source_loses_nothing_and_writes_nothing_twice() {
    let mut t = TestDb::new();
    let mut source = Source::new(&t);
    configured(&mut t, &source);
    source
        .conn
        .query_drop("INSERT INTO article SELECT seq, CONCAT('Tekst ', seq) FROM seq_1_to_5")
        .unwrap();
    let llm = corrector();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &[]);
    for i in 1..=5 {
        add_item(
            &mut t,
            task,
            &format!("Tekst {i}"),
            ("article", "body", &i.to_string()),
        );
    }
    assert!(t.run_bin(&["--task", &task.to_string()]).status.success());
    t.conn_exec(&format!(
        "UPDATE task_item SET review_status = 1 WHERE id_task = {task}"
    ));
    let env = |cmd: &mut std::process::Command| {
        cmd.env("SOURCE_DB_NAME", &source.name)
            .env("EXPORT_ALLOW", "article.body");
    };
    let mut killed = t.bin_command(&["export", "--task", &task.to_string()]);
    env(&mut killed);
    let out = killed
        .env("AI_WORKER_FAILPOINT_EXPORT_ABORT", "1")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the process died mid-export");
    let recorded: u64 = t.value(&format!(
        "SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND export_status = 1"
    ));
    assert_eq!(recorded, 0, "written to the source, not recorded yet");
    let mut again = t.bin_command(&["export", "--task", &task.to_string(), "--json"]);
    env(&mut again);
    let out = again.output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["exported"], 5);
    let bodies: Vec<String> = source
        .conn
        .query("SELECT body FROM article ORDER BY id")
        .unwrap();
    assert!(
        bodies
            .iter()
            .enumerate()
            .all(|(i, b)| *b == format!("Tekst {} (poprawione)", i + 1)),
        "{bodies:?}"
    );
}

#[test]
fn serve_answers_rework_and_export_requests() {
    let t = TestDb::new();
    let stop = std::sync::Arc::new(ai_worker::StopSignal::new());
    let server =
        ai_worker::Server::bind(&t.config, "127.0.0.1:0", std::sync::Arc::clone(&stop)).unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || server.run());
    let post = |path: &str, body: &str| {
        let (status, body) = common::http(addr, "POST", path, None, body);
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        (status, json)
    };
    let (status, body) = post("/task/export", r#"{"dry_run":true}"#);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["dry_run"].as_bool(), body["exported"].as_u64()),
        (Some(true), Some(0))
    );
    let (status, body) = post("/task/rework", "");
    assert_eq!((status, body["items"].as_u64()), (200, Some(0)));
    let (status, body) = post("/task/export", r#"{"tsk":1}"#);
    assert_eq!(status, 400);
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("unknown field 'tsk'")
    );
    stop.raise();
}

#[test]
fn export_retry_puts_conflicts_and_errors_back_once_the_cause_is_fixed() {
    let mut t = TestDb::new();
    let mut source = Source::new(&t);
    source
        .conn
        .query_drop("INSERT INTO article (id, body) VALUES (1, 'Stary opis.')")
        .unwrap();
    configured(&mut t, &source);
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &[]);
    let id = add_item(&mut t, task, "Stary opis.", ("article", "body", "1"));
    t.conn_exec(&format!(
        "UPDATE task_item SET status_id = 1, review_status = 1, text_corrected = 'Nowy opis.' WHERE id_task_item = {id}"
    ));
    // Not allowed yet: an error that waits.
    let allowed = std::mem::take(&mut t.config.export_allow);
    let first = ai_worker::app::review::export(&t.config, Some(task), false).unwrap();
    assert_eq!((first.errors, first.waiting), (1, 1));
    assert!(
        first.message().contains("export --retry"),
        "{}",
        first.message()
    );
    t.config.export_allow = allowed;
    let again = ai_worker::app::review::export(&t.config, Some(task), false).unwrap();
    assert_eq!(
        (again.exported, again.waiting),
        (0, 1),
        "without --retry it waits"
    );
    let out = t
        .bin_command(&["export", "--retry", "--task", &task.to_string(), "--json"])
        .env("EXPORT_ALLOW", "article.body")
        .env("SOURCE_DB_NAME", &source.name)
        .output()
        .unwrap();
    let done: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (done["retried"].as_u64(), done["exported"].as_u64()),
        (Some(1), Some(1)),
        "{done}"
    );
    assert_eq!(done["waiting"], 0);
    for command in [
        ["rework", "--task", "9999"],
        ["export", "--task", "9999"],
        ["--batch-status", "--task", "9999"],
    ] {
        let out = t.run_bin(&command);
        assert_eq!(out.status.code(), Some(2), "{command:?}");
        assert!(
            output_text(&out).contains("task 9999 does not exist"),
            "{command:?}"
        );
    }
}
