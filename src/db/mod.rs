//! The database layer: one small struct over one `mysql::Conn`, plus the repositories
//! that hold every SQL statement of the worker (explicit, parameterised SQL only).

pub mod batch_repository;
pub mod claim_end_repository;
pub mod columns;
pub mod item;
pub mod item_view_repository;
pub mod model_repository;
pub mod overview_repository;
pub mod pace_repository;
pub mod pool;
pub mod reuse_repository;
pub mod review_repository;
pub mod run_repository;
pub mod schema;
pub mod source_repository;
pub mod spend_repository;
pub mod status;
pub mod task_item_repository;
pub mod task_repository;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use mysql::prelude::{FromRow, Queryable};
use mysql::{Conn, OptsBuilder, Params};

use crate::config::DbConfig;

/// SQLSTATE of every "access denied" error (1045, 1698 and the rest).
const SQLSTATE_ACCESS_DENIED: &str = "28000";

/// MySQL error codes the worker reacts to.
const ER_ACCESS_DENIED: u16 = 1045;
/// "Access denied" for an account without a password that may use the socket only.
const ER_ACCESS_DENIED_NO_PASSWORD: u16 = 1698;
const ER_BAD_DB: u16 = 1049;
const ER_NO_SUCH_TABLE: u16 = 1146;
const ER_BAD_FIELD: u16 = 1054;
const ER_DUP_ENTRY: u16 = 1062;
const ER_LOCK_DEADLOCK: u16 = 1213;
const ER_LOCK_WAIT_TIMEOUT: u16 = 1205;
/// The server has no free connection (`max_connections`), or the account none
/// (`MAX_USER_CONNECTIONS`).
const ER_CON_COUNT: u16 = 1040;
const ER_USER_LIMIT_REACHED: u16 = 1226;
/// A Galera node that lost quorum refuses table work (1047) and commits (1180).
const ER_UNKNOWN_COM: u16 = 1047;
const ER_ERROR_DURING_COMMIT: u16 = 1180;

/// How much longer the socket waits for an answer than a statement waits for a row
/// lock (`innodb_lock_wait_timeout` = DB_TIMEOUT_S).
const LOCK_WAIT_MARGIN: Duration = Duration::from_secs(1);

/// How often a statement that lost a deadlock is tried again before giving up: on a
/// multi-primary Galera cluster, certification conflicts on a busy task row come in
/// bursts, and waiting out a burst costs less than a failed run.
const DEADLOCK_RETRIES: u32 = 30;

/// Statements (or transactions) run again after a deadlock or a lock wait timeout.
static DEADLOCKS_RETRIED: AtomicU64 = AtomicU64::new(0);

/// How many statements or transactions this process ran again after losing a
/// deadlock or a lock wait (for the run summary and the benchmarks).
pub fn deadlocks_retried() -> u64 {
    DEADLOCKS_RETRIED.load(Ordering::Relaxed)
}

/// Waits a little before running a deadlocked statement again: a few milliseconds
/// more each time, with jitter so that the two sides do not meet again.
fn deadlock_pause(attempt: u32) {
    DEADLOCKS_RETRIED.fetch_add(1, Ordering::Relaxed);
    let base_ms = 2u64 << attempt.min(8);
    let jitter = crate::random::random_u64() % (base_ms + 1);
    std::thread::sleep(Duration::from_millis(base_ms / 2 + jitter));
}

/// Round trips made by every `Db` of this process, for the benchmark's
/// "SQL statements per item" figure.
static STATEMENTS: AtomicU64 = AtomicU64::new(0);

/// The number of SQL statements sent by this process so far.
pub fn statements_executed() -> u64 {
    STATEMENTS.load(Ordering::Relaxed)
}

/// A database failure, classified by what the user can do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbError {
    /// The server could not be reached at all (exit code 3).
    Unreachable {
        /// `DB_HOST`.
        host: String,
        /// `DB_PORT`.
        port: u16,
        /// What the server or the network said.
        reason: String,
    },
    /// The server answered but refused us: wrong user/password or unknown database
    /// (a configuration problem, exit code 2).
    Refused {
        /// `DB_HOST`.
        host: String,
        /// `DB_PORT`.
        port: u16,
        /// What the server or the network said.
        reason: String,
    },
    /// The server (or the account) has no connection left for this run (exit code 3).
    TooManyConnections {
        /// `DB_HOST`.
        host: String,
        /// `DB_PORT`.
        port: u16,
        /// What the server said.
        reason: String,
    },
    /// The schema is missing or older than this worker (run `ai-worker init-db`).
    Schema(String),
    /// A row with this unique value exists already (a model name, for example).
    Duplicate(String),
    /// A deadlock or lock wait that went on after every retry.
    Deadlock(String),
    /// The connection broke in the middle of the run (exit code 3).
    Lost(String),
    /// Any other failed statement.
    Query(String),
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbError::Unreachable { host, port, reason } => write!(
                f,
                "database unreachable at {host}:{port}: {reason} (is MySQL/MariaDB running? check DB_HOST and DB_PORT)"
            ),
            DbError::Refused { host, port, reason } => write!(
                f,
                "database at {host}:{port} refused the connection: {reason}"
            ),
            DbError::TooManyConnections { host, port, reason } => write!(
                f,
                "the database at {host}:{port} has no connection left for this run: {reason}; a run holds at most DB_POOL_SIZE + 1 connections whatever its concurrency (DB_POOL_SIZE defaults to 8): raise the server's max_connections (or the account's MAX_USER_CONNECTIONS), lower DB_POOL_SIZE, or run fewer workers at once"
            ),
            DbError::Schema(reason) => write!(
                f,
                "database schema is missing or outdated: {reason} (run `ai-worker init-db`)"
            ),
            DbError::Duplicate(reason) => write!(f, "already exists: {reason}"),
            DbError::Deadlock(reason) => write!(
                f,
                "the database kept refusing a statement for lock contention ({reason}); run again"
            ),
            DbError::Lost(reason) => write!(f, "database connection lost: {reason}"),
            DbError::Query(reason) => write!(f, "database query failed: {reason}"),
        }
    }
}

impl std::error::Error for DbError {}

impl DbError {
    fn from_query(err: mysql::Error) -> DbError {
        match &err {
            mysql::Error::MySqlError(e) if e.code == ER_NO_SUCH_TABLE || e.code == ER_BAD_FIELD => {
                DbError::Schema(e.message.clone())
            }
            mysql::Error::MySqlError(e) if e.code == ER_LOCK_DEADLOCK => {
                DbError::Deadlock(describe(&err))
            }
            // Waited DB_TIMEOUT_S already (the session's innodb_lock_wait_timeout):
            // waiting again would only multiply it; the run ends like on a frozen server.
            mysql::Error::MySqlError(e) if e.code == ER_LOCK_WAIT_TIMEOUT => {
                DbError::Lost(format!(
                    "a row stayed locked by another session for longer than DB_TIMEOUT_S ({}); a transaction left open (a panel, a console) holds it",
                    describe(&err)
                ))
            }
            mysql::Error::MySqlError(e) if e.code == ER_DUP_ENTRY => {
                DbError::Duplicate(e.message.clone())
            }
            mysql::Error::MySqlError(e)
                if e.code == ER_UNKNOWN_COM || e.code == ER_ERROR_DURING_COMMIT =>
            {
                DbError::Lost(format!(
                    "{} (the database node is not part of a working cluster: it lost quorum or is still joining)",
                    describe(&err)
                ))
            }
            mysql::Error::IoError(_)
            | mysql::Error::DriverError(_)
            | mysql::Error::CodecError(_) => DbError::Lost(describe(&err)),
            _ => DbError::Query(describe(&err)),
        }
    }
}

/// A driver error as a sentence, never its debug text.
fn describe(err: &mysql::Error) -> String {
    use mysql::DriverError as D;
    let codec_io = match err {
        mysql::Error::CodecError(c) => {
            std::error::Error::source(c).and_then(|source| source.downcast_ref::<std::io::Error>())
        }
        _ => None,
    };
    if let Some(e) = codec_io {
        return describe_io(e);
    }
    match err {
        mysql::Error::IoError(e) => describe_io(e),
        mysql::Error::DriverError(D::ConnectTimeout | D::Timeout) => {
            "the server did not answer in time (DB_TIMEOUT_S)".into()
        }
        mysql::Error::DriverError(D::CouldNotConnect(Some((address, why, _)))) => {
            format!("could not connect to {address}: {why}")
        }
        mysql::Error::MySqlError(e) => format!("{} (error {})", e.message, e.code),
        other => other.to_string(),
    }
}

fn describe_io(e: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    match e.kind() {
        K::TimedOut | K::WouldBlock => {
            "the server did not answer within DB_TIMEOUT_S (frozen, overloaded or cut off)".into()
        }
        K::ConnectionRefused => "the server refused the connection".into(),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            "the server closed the connection".into()
        }
        _ => format!("network error: {e}"),
    }
}

/// Column `index` of a row a repository read, as `T`. `name` (`table.column`) is in
/// the error when the server sent something that does not convert, such as a NULL
/// where the schema has NOT NULL or a column changed by hand.
pub(crate) fn column<T: mysql::prelude::FromValue>(
    row: &mysql::Row,
    index: usize,
    name: &str,
) -> Result<T, DbError> {
    row.get_opt(index)
        .and_then(Result::ok)
        .ok_or_else(|| DbError::Query(format!("{name} has an unexpected type or value")))
}

/// A row as `T`, or an error naming the table the statement reads.
fn convert<T: FromRow>(row: mysql::Row, sql: &str) -> Result<T, DbError> {
    T::from_row_opt(row).map_err(|_| {
        let table = sql
            .split_whitespace()
            .skip_while(|w| !w.eq_ignore_ascii_case("FROM"))
            .nth(1)
            .unwrap_or("a table");
        DbError::Query(format!(
            "a row of {table} holds a value of an unexpected type (a NULL where the schema has NOT NULL, or a column changed by hand); run `ai-worker init-db` or fix the row"
        ))
    })
}

fn is_deadlock(err: &mysql::Error) -> bool {
    matches!(err, mysql::Error::MySqlError(e) if e.code == ER_LOCK_DEADLOCK)
}

/// One connection to the database: connect, query, execute, close.
pub struct Db {
    conn: Conn,
    in_transaction: bool,
    /// The connection failed in a way that leaves it unusable (lost, timed out): a
    /// pool drops it instead of handing it out again.
    broken: bool,
}

impl Db {
    /// Connects to the configured database.
    pub fn connect(cfg: &DbConfig) -> Result<Db, DbError> {
        Db::open(cfg, Some(&cfg.name))
    }

    /// Connects to the server without selecting a database (for `init-db`).
    pub fn connect_server(cfg: &DbConfig) -> Result<Db, DbError> {
        Db::open(cfg, None)
    }

    fn open(cfg: &DbConfig, db_name: Option<&str>) -> Result<Db, DbError> {
        let opts = OptsBuilder::new()
            .ip_or_hostname(Some(cfg.host.clone()))
            .tcp_port(cfg.port)
            .user(Some(cfg.user.clone()))
            .pass(Some(cfg.password.clone()))
            .db_name(db_name.map(str::to_string))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(cfg.timeout.min(Duration::from_secs(10))))
            // A second beyond the lock wait below: a row held elsewhere surfaces as
            // what it is, not as a server that stopped answering.
            .read_timeout(Some(cfg.timeout + LOCK_WAIT_MARGIN))
            .write_timeout(Some(cfg.timeout + LOCK_WAIT_MARGIN))
            .stmt_cache_size(Some(64))
            // Affected rows count the rows a guarded UPDATE matched, changed or not (a
            // lease renewed twice in one second changes nothing, yet is still held).
            .additional_capabilities(mysql::consts::CapabilityFlags::CLIENT_FOUND_ROWS)
            .init(vec![
                "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci".to_string(),
                // A row lock held elsewhere (a frozen panel transaction) ends the wait
                // within DB_TIMEOUT_S too, as an error the run reports.
                format!(
                    "SET SESSION innodb_lock_wait_timeout = {}",
                    cfg.timeout.as_secs().clamp(1, 1_073_741_824)
                ),
            ]);
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        let conn = Conn::new(opts).map_err(|err| {
            let (host, port) = (cfg.host.clone(), cfg.port);
            match &err {
                mysql::Error::MySqlError(e) if e.state == SQLSTATE_ACCESS_DENIED => {
                    // Root without a password refused over TCP is the socket-only root
                    // of Debian and Ubuntu; anyone else has a wrong name or password.
                    let socket_only = e.code == ER_ACCESS_DENIED_NO_PASSWORD
                        || (cfg.password.is_empty() && cfg.user == "root");
                    let advice = if socket_only {
                        "an account that may log in only through the local socket, as root often is on Linux, cannot be used over TCP: create a user with a password for ai-worker and set DB_USER and DB_PASSWORD"
                    } else {
                        "check DB_USER and DB_PASSWORD (and that this user may connect from this machine)"
                    };
                    DbError::Refused {
                        host,
                        port,
                        reason: format!("{}; {advice}", e.message),
                    }
                }
                mysql::Error::MySqlError(e)
                    if e.code == ER_CON_COUNT || e.code == ER_USER_LIMIT_REACHED =>
                {
                    DbError::TooManyConnections {
                        host,
                        port,
                        reason: format!("{} (error {})", e.message, e.code),
                    }
                }
                mysql::Error::MySqlError(e) if e.code == ER_BAD_DB => DbError::Refused {
                    host,
                    port,
                    reason: format!(
                        "{}; check DB_NAME, or create the database with `ai-worker init-db`",
                        e.message
                    ),
                },
                mysql::Error::MySqlError(e) if e.code == ER_ACCESS_DENIED => {
                    DbError::Refused {
                        host,
                        port,
                        reason: format!("{}; check DB_USER and DB_PASSWORD", e.message),
                    }
                }
                _ => DbError::Unreachable {
                    host,
                    port,
                    reason: describe(&err),
                },
            }
        })?;
        Ok(Db {
            conn,
            in_transaction: false,
            broken: false,
        })
    }

    /// Runs a SELECT and returns every row. A row whose values do not convert (a NULL
    /// where the schema has NOT NULL, a column changed by hand) is an error naming the
    /// statement's table, never a panic.
    pub fn query<T: FromRow, P: Into<Params>>(
        &mut self,
        sql: &str,
        params: P,
    ) -> Result<Vec<T>, DbError> {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        let rows: Vec<mysql::Row> = self.conn.exec(sql, params).map_err(|e| self.failed(e))?;
        rows.into_iter().map(|row| convert(row, sql)).collect()
    }

    /// Runs a SELECT and returns its first row, if any.
    pub fn query_first<T: FromRow, P: Into<Params>>(
        &mut self,
        sql: &str,
        params: P,
    ) -> Result<Option<T>, DbError> {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        let row: Option<mysql::Row> = self
            .conn
            .exec_first(sql, params)
            .map_err(|e| self.failed(e))?;
        row.map(|row| convert(row, sql)).transpose()
    }

    /// Runs an INSERT/UPDATE/DELETE (autocommit) and returns the number of affected
    /// rows. A statement that lost a deadlock is run again: every statement of the
    /// worker is a single atomic step, so running it again is safe.
    pub fn execute<P: Into<Params>>(&mut self, sql: &str, params: P) -> Result<u64, DbError> {
        let params = params.into();
        let mut attempt = 0;
        loop {
            STATEMENTS.fetch_add(1, Ordering::Relaxed);
            match self.conn.exec_drop(sql, params.clone()) {
                Ok(()) => return Ok(self.conn.affected_rows()),
                // Inside a transaction the server rolled it all back: the caller
                // (`transaction`) runs the whole of it again.
                Err(err)
                    if is_deadlock(&err) && !self.in_transaction && attempt < DEADLOCK_RETRIES =>
                {
                    deadlock_pause(attempt);
                    attempt += 1;
                }
                Err(err) => return Err(self.failed(err)),
            }
        }
    }

    /// Runs a statement as text, without parameters (schema DDL, transaction control).
    pub fn execute_text(&mut self, sql: &str) -> Result<(), DbError> {
        STATEMENTS.fetch_add(1, Ordering::Relaxed);
        self.conn.query_drop(sql).map_err(|e| self.failed(e))
    }

    /// Classifies a failed statement, and remembers when it left the connection
    /// unusable.
    fn failed(&mut self, err: mysql::Error) -> DbError {
        let err = DbError::from_query(err);
        if matches!(err, DbError::Lost(_)) {
            self.broken = true;
        }
        err
    }

    /// Whether a statement on this connection failed in a way that leaves it unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Checks that the server still answers.
    pub fn ping(&mut self) -> Result<(), DbError> {
        self.query_first::<u8, _>("SELECT 1", ()).map(|_| ())
    }

    /// Runs `work` in a transaction: committed if it returns Ok, rolled back if not;
    /// run again from the start when the server chose it as a deadlock's victim.
    pub fn transaction<T>(
        &mut self,
        mut work: impl FnMut(&mut Db) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let mut attempt = 0;
        loop {
            match self.transaction_once(&mut work) {
                Err(DbError::Deadlock(_)) if attempt < DEADLOCK_RETRIES => {
                    deadlock_pause(attempt);
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    fn transaction_once<T>(
        &mut self,
        work: &mut impl FnMut(&mut Db) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.execute_text("START TRANSACTION")?;
        self.in_transaction = true;
        let result = work(self).and_then(|value| {
            self.execute_text("COMMIT")?;
            Ok(value)
        });
        self.in_transaction = false;
        if result.is_err() {
            let _ = self.execute_text("ROLLBACK");
        }
        result
    }

    /// Closes the connection politely.
    pub fn close(self) {
        drop(self.conn);
    }
}
