//! Shared test helpers: a database of its own per test, a fake LLM server speaking the
//! real Gemini and OpenAI wire formats on 127.0.0.1, and a runner for the binary.
#![allow(dead_code)]

pub mod browser;
pub mod fake_batch;
pub mod fake_llm;
pub mod proxy;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use ai_worker::Config;
use ai_worker::DbConfig;
use mysql::prelude::Queryable;
use mysql::{Conn, Opts, OptsBuilder};

/// The server named by `TEST_DATABASE_URL` (default: the local root account).
pub fn server_config() -> DbConfig {
    let url = std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306/test".into());
    let opts = Opts::from_url(&url).expect("TEST_DATABASE_URL is a mysql:// URL");
    DbConfig {
        host: opts.get_ip_or_hostname().to_string(),
        port: opts.get_tcp_port(),
        user: opts.get_user().unwrap_or("root").to_string(),
        password: opts.get_pass().unwrap_or("").to_string(),
        name: String::new(),
        timeout: std::time::Duration::from_secs(60),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A database created for one test and dropped at the end of it.
pub struct TestDb {
    pub config: Config,
    pub conn: Conn,
}

impl TestDb {
    /// Creates `aiwt_<pid>_<n>` and applies the schema with `init_db`.
    pub fn new() -> TestDb {
        let mut db = server_config();
        db.name = format!(
            "aiwt_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        ai_worker::internals::init_db(&db).expect("init_db on the test server");
        let mut config = Config::defaults();
        config.db = db.clone();
        config.ai_retry_base = std::time::Duration::from_millis(1);
        config.ai_max_retries = 2;
        config.ai_key_secret = "test-secret".into();
        // One text per request unless a test packs on purpose: the fakes answer one
        // text (tests/cost_per_item.rs packs).
        config.pack_max_items = 1;
        let conn = connect(&db);
        TestDb { config, conn }
    }

    /// Adds a model row; returns its id.
    pub fn model(
        &mut self,
        provider: &str,
        model_name: &str,
        api_url: Option<&str>,
        key: Option<&str>,
    ) -> u32 {
        let name = format!(
            "{provider}-{model_name}-{}",
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        self.conn
            .exec_drop(
                "INSERT INTO ai_model (name, provider, model_name, api_url, api_key_encrypted) \
                 VALUES (?, ?, ?, ?, IF(? IS NULL, NULL, AES_ENCRYPT(?, ?)))",
                (name, provider, model_name, api_url, key, key, "test-secret"),
            )
            .unwrap();
        self.conn.last_insert_id() as u32
    }

    /// Adds a task with these texts; returns (task id, item ids).
    pub fn task(&mut self, model: u32, texts: &[&str]) -> (u32, Vec<u32>) {
        self.conn
            .exec_drop(
                "INSERT INTO task (id_ai_model, name, description) VALUES (?, 'test task', 'Popraw błędy.')",
                (model,),
            )
            .unwrap();
        let task = self.conn.last_insert_id() as u32;
        let mut ids = Vec::new();
        for text in texts {
            self.conn
                .exec_drop(
                    "INSERT INTO task_item (id_task, text_original) VALUES (?, ?)",
                    (task, text),
                )
                .unwrap();
            ids.push(self.conn.last_insert_id() as u32);
        }
        (task, ids)
    }

    /// Runs a statement that returns nothing.
    pub fn conn_exec(&mut self, sql: &str) {
        self.conn.query_drop(sql).unwrap();
    }

    /// Runs a query returning one row.
    pub fn conn_first<T: mysql::prelude::FromRow>(&mut self, sql: &str) -> T {
        self.conn.query_first::<T, _>(sql).unwrap().expect("a row")
    }

    /// Runs a query returning one value.
    pub fn value<T: mysql::prelude::FromValue>(&mut self, sql: &str) -> T {
        self.conn.query_first::<T, _>(sql).unwrap().expect("a row")
    }

    /// (status_id, records_total, records_processed, records_error, tokens_input, tokens_output)
    pub fn task_row(&mut self, task: u32) -> (u8, u64, u64, u64, u64, u64) {
        self.conn
            .exec_first(
                "SELECT status_id, records_total, records_processed, records_error, tokens_input, tokens_output FROM task WHERE id_task = ?",
                (task,),
            )
            .unwrap()
            .unwrap()
    }

    /// Asserts the task's counters equal what its item rows say.
    pub fn assert_counters_match_items(&mut self, task: u32) {
        let (_, _, processed, error, tin, tout) = self.task_row(task);
        let (p, e, i, o): (u64, u64, u64, u64) = self
            .conn
            .exec_first(
                "SELECT CAST(COALESCE(SUM(status_id = 1), 0) AS UNSIGNED), CAST(COALESCE(SUM(status_id = 3), 0) AS UNSIGNED), \
                 CAST(COALESCE(SUM(tokens_input), 0) AS UNSIGNED), CAST(COALESCE(SUM(tokens_output), 0) AS UNSIGNED) \
                 FROM task_item WHERE id_task = ?",
                (task,),
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            (processed, error, tin, tout),
            (p, e, i, o),
            "task {task} counters vs item rows"
        );
    }

    /// Item statuses in id order.
    pub fn item_statuses(&mut self, task: u32) -> Vec<u8> {
        self.conn
            .exec(
                "SELECT status_id FROM task_item WHERE id_task = ? ORDER BY id_task_item",
                (task,),
            )
            .unwrap()
    }

    /// A checksum of every table, to prove a run wrote nothing.
    pub fn checksum(&mut self) -> Vec<(String, Option<u64>)> {
        self.conn
            .query("CHECKSUM TABLE task_status, task_item_status, review_status, ai_model, task, task_item, task_run, ai_model_pace")
            .unwrap()
    }

    /// Runs the built binary with this database configured through the environment.
    pub fn run_bin(&self, args: &[&str]) -> Output {
        self.bin_command(args).output().expect("run ai-worker")
    }

    /// The binary as a command, configured for this database (no `.env` is read).
    pub fn bin_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ai-worker"));
        let db = &self.config.db;
        cmd.args(["--env-file", empty_env_file().to_str().unwrap()])
            .args(args)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DB_HOST", &db.host)
            .env("DB_PORT", db.port.to_string())
            .env("DB_USER", &db.user)
            .env("DB_PASSWORD", &db.password)
            .env("DB_NAME", &db.name)
            .env("AI_KEY_SECRET", "test-secret")
            .env("AI_RETRY_BASE_MS", "1")
            .env("AI_MAX_RETRIES", "2")
            .env("PACK_MAX_ITEMS", "1")
            .env("RUST_LOG", "info");
        cmd
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = self
            .conn
            .query_drop(format!("DROP DATABASE IF EXISTS `{}`", self.config.db.name));
    }
}

/// A connection to a test database.
pub fn connect(db: &DbConfig) -> Conn {
    let opts = OptsBuilder::new()
        .ip_or_hostname(Some(db.host.clone()))
        .tcp_port(db.port)
        .user(Some(db.user.clone()))
        .pass(Some(db.password.clone()))
        .db_name(Some(db.name.clone()))
        .prefer_socket(false)
        .init(vec!["SET NAMES utf8mb4"]);
    Conn::new(opts).expect("connect to the test database")
}

/// An empty `.env`, so binaries started by tests read only their environment.
pub fn empty_env_file() -> PathBuf {
    let path = std::env::temp_dir().join("ai-worker-tests-empty.env");
    if !path.exists() {
        std::fs::write(&path, "").unwrap();
    }
    path
}

/// Both output streams of a finished process, for assertions and failure messages.
pub fn output_text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether `line` is one whole log record: a UTC time, a level, a message, and no
/// second record run into it (which would show as a second time stamp).
pub fn is_log_record(line: &str) -> bool {
    fn stamp_at(b: &[u8], i: usize) -> bool {
        let shape = b"dddd-dd-ddTdd:dd:ddZ";
        b.len() >= i + shape.len()
            && shape.iter().zip(&b[i..]).all(|(s, c)| match s {
                b'd' => c.is_ascii_digit(),
                s => s == c,
            })
    }
    let b = line.as_bytes();
    let level_ok = ["INFO  ", "WARN  ", "ERROR ", "DEBUG ", "TRACE "]
        .iter()
        .any(|l| line.get(21..27) == Some(*l));
    stamp_at(b, 0) && b.get(20) == Some(&b' ') && level_ok && !(1..b.len()).any(|i| stamp_at(b, i))
}

/// Drops the database `ai-worker demo` always uses, which no per-test name covers.
pub fn drop_demo_database() {
    let mut conn = connect(&server_config());
    conn.query_drop(format!("DROP DATABASE IF EXISTS `{}`", ai_worker::DEMO_DB))
        .unwrap();
}

/// Waits for every started process and asserts each one succeeded.
pub fn wait_all_succeed(children: Vec<std::process::Child>) {
    for child in children {
        let out = child.wait_with_output().expect("wait for ai-worker");
        assert!(out.status.success(), "{}", output_text(&out));
    }
}

/// One HTTP/1.1 request to `serve` over a fresh connection: the status code (0 when
/// the answer has none) and the body. A read timeout keeps a hung server from hanging
/// the test.
pub fn http(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(120)))
        .unwrap();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    split_response(&out)
}

/// The status code (0 when there is none) and the body of a raw HTTP answer.
pub fn split_response(out: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(out);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}
