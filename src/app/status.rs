//! Status queries that `serve` and the CLI share: a task's progress, a run's row, and
//! whether the database answers.

use std::sync::Mutex;
use std::time::Duration;

use crate::config::Config;
use crate::db::{Db, run_repository, task_repository};

pub use run_repository::RunRow;
pub use task_repository::Progress;
pub use task_repository::status::name as task_status_name;

use super::AppError;

/// A task's status, counters, token sums, timestamps and last error.
pub fn task(config: &Config, id_task: u32) -> Result<Progress, AppError> {
    with_db(config, |db| Ok(task_repository::progress(db, id_task)?))?
        .ok_or_else(|| AppError::NotFound(format!("task {id_task} does not exist")))
}

/// One run's `task_run` row.
pub fn run(config: &Config, operation_uuid: &str) -> Result<RunRow, AppError> {
    let is_uuid = operation_uuid.len() == 36
        && operation_uuid
            .chars()
            .all(|c| c.is_ascii_hexdigit() || c == '-');
    if !is_uuid {
        return Err(AppError::Usage(
            "operation_uuid must be a UUID such as 4f1c2a9e-0c3b-4d5e-8f60-1a2b3c4d5e6f".into(),
        ));
    }
    with_db(config, |db| Ok(run_repository::get(db, operation_uuid)?))?
        .ok_or_else(|| AppError::NotFound(format!("run {operation_uuid} does not exist")))
}

/// How long `/health` waits for the database before it says the database is down.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// Whether the database answers, on one kept connection (a probe every few seconds
/// must not open a socket each time) that waits at most a few seconds.
#[derive(Default)]
pub struct HealthCheck {
    conn: Mutex<Option<Db>>,
}

impl HealthCheck {
    /// Pings the database, reconnecting when the kept connection broke.
    pub fn check(&self, config: &Config) -> Result<(), AppError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = conn.as_mut()
            && db.ping().is_ok()
        {
            return Ok(());
        }
        *conn = None;
        let mut cfg = config.db.clone();
        cfg.timeout = cfg.timeout.min(HEALTH_TIMEOUT);
        let mut db = Db::connect(&cfg)?;
        db.ping()?;
        *conn = Some(db);
        Ok(())
    }
}

fn with_db<T>(
    config: &Config,
    f: impl FnOnce(&mut Db) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let mut db = Db::connect(&config.db)?;
    let result = f(&mut db);
    db.close();
    result
}
