//! Status queries that `serve` and the CLI share: a task's progress, a run's row, and
//! whether the database answers.

use std::sync::Mutex;
use std::time::Duration;

use crate::config::Config;
use crate::db::{Db, overview_repository as overview, run_repository, task_repository};

pub use crate::db::status::task::name as task_status_name;
/// Writes the metrics of this process to a file (`--metrics-file`), for collectors
/// that read files rather than scrape `/metrics`.
pub use crate::metrics::write_file as write_metrics_file;
pub use run_repository::RunRow;
pub use task_repository::Progress;

use super::AppError;

/// A task's status, counters, token sums, timestamps and last error.
pub fn task(config: &Config, id_task: u32) -> Result<Progress, AppError> {
    with_db(config, |db| Ok(task_repository::progress(db, id_task)?))?
        .ok_or_else(|| AppError::NotFound(format!("task {id_task} does not exist")))
}

/// What a task does (`task.kind`, or as its instruction names it): proofread,
/// translate or analyze; or why its output schema cannot be used.
pub fn task_kind(config: &Config, id_task: u32) -> Result<Result<&'static str, String>, AppError> {
    let task = with_db(config, |db| Ok(task_repository::get(db, id_task)?))?
        .ok_or_else(|| AppError::NotFound(format!("task {id_task} does not exist")))?;
    Ok(crate::worker::kind_of(&task))
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
    /// Reads the worker's own tables (a node that answers pings but refuses table
    /// work, as a Galera node without quorum does, is not healthy). The kept
    /// connection is used; one that fails is dropped and the next check connects
    /// again, so one check waits at most one timeout.
    pub fn check(&self, config: &Config) -> Result<(), AppError> {
        let mut conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = conn.as_mut() {
            let probed = task_repository::probe(db);
            if probed.is_err() {
                *conn = None;
            }
            return Ok(probed?);
        }
        let mut cfg = config.db.clone();
        cfg.timeout = cfg.timeout.min(HEALTH_TIMEOUT);
        let mut db = Db::connect(&cfg)?;
        task_repository::probe(&mut db)?;
        *conn = Some(db);
        Ok(())
    }
}

pub(crate) fn with_db<T>(
    config: &Config,
    f: impl FnOnce(&mut Db) -> Result<T, AppError>,
) -> Result<T, AppError> {
    let mut db = Db::connect(&config.db)?;
    let result = f(&mut db);
    db.close();
    result
}

/// The metrics of this process with the queue read from the database.
pub fn metrics(config: &Config) -> Result<String, AppError> {
    let (counts, oldest, batch) = with_db(config, |db| {
        let (counts, oldest) = overview::queue(db)?;
        // A database from before batch mode has no ai_batch table: no batch jobs.
        let batch = overview::batch_queue(db).unwrap_or_default();
        Ok((counts, oldest, batch))
    })?;
    let name = |status: u8| match status {
        0 => "pending",
        1 => "processed",
        2 => "processing",
        _ => "error",
    };
    let mut items: Vec<(&'static str, u64)> = Vec::new();
    for status in 0..=3u8 {
        let count = counts
            .iter()
            .filter(|(s, _)| name(*s) == name(status))
            .map(|(_, n)| n)
            .sum();
        items.push((name(status), count));
    }
    let queue = crate::metrics::Queue {
        items,
        oldest_pending_seconds: oldest,
        batch_items_waiting: batch.0,
        oldest_batch_job_seconds: batch.1,
    };
    Ok(crate::metrics::render(Some(&queue)))
}

/// What the status page shows: recent tasks with progress, throughput and ETA,
/// recent runs, and each model's failures of the last day.
pub fn overview(config: &Config) -> Result<serde_json::Value, AppError> {
    with_db(config, |db| {
        let runs = overview::recent_runs(db, 20)?;
        // A run without a summary that has been silent past the heartbeat's window
        // died (a second Ctrl+C, kill -9): it runs no more.
        let alive = |finished: &Option<String>, silent: Option<i64>| {
            finished.is_none() && silent.is_some_and(|s| s < DEAD_RUN_SECONDS)
        };
        let any_running = runs.iter().any(|r| alive(&r.3, r.7));
        let runs: Vec<serde_json::Value> = runs
            .into_iter()
            .map(|(uuid, trigger, started, finished, ok, error, message, silent)| {
                let running = alive(&finished, silent);
                let message = match (&finished, running) {
                    (None, false) => Some("ended without a summary (no heartbeat)".to_string()),
                    _ => message,
                };
                serde_json::json!({"operation_uuid": uuid, "trigger": trigger, "started_at": started,
                    "finished_at": finished, "items_ok": ok, "items_error": error, "message": message,
                    "running": running})
            })
            .collect();
        let tasks: Vec<serde_json::Value> = overview::recent_tasks(db, 50)?
            .iter()
            .map(|t| task_json(t, any_running))
            .collect();
        let models: Vec<serde_json::Value> = overview::model_failures(db)?
            .into_iter()
            .map(|(model, failed, last)| serde_json::json!({"model": model, "failed_last_day": failed, "last_error": last}))
            .collect();
        let rate_limited: Vec<serde_json::Value> = crate::metrics::rate_limited()
            .into_iter()
            .map(|(provider, count)| serde_json::json!({"provider": provider, "count": count}))
            .collect();
        Ok(
            serde_json::json!({"tasks": tasks, "runs": runs, "models": models,
            "rate_limited_since_start": rate_limited}),
        )
    })
}

/// Seconds without a heartbeat after which a run without a summary counts as dead
/// (the heartbeat comes every 30 s).
const DEAD_RUN_SECONDS: i64 = 300;

/// A task's line; speed and ETA only while some run is alive (a task whose run died
/// has neither).
fn task_json(t: &overview::TaskLine, any_running: bool) -> serde_json::Value {
    let (total, processed, failed) = t.records;
    let done = processed + failed;
    let rate_per_min = match t.ages.0 {
        Some(secs) if secs > 0 && done > 0 && t.status_id == 1 && any_running => {
            Some(done as f64 * 60.0 / secs as f64)
        }
        _ => None,
    };
    let eta_seconds = rate_per_min
        .filter(|r| *r > 0.0)
        .map(|r| (total.saturating_sub(done) as f64 / r * 60.0).round());
    serde_json::json!({
        "id_task": t.id, "name": t.name, "model": t.model, "status": task_status_name(t.status_id),
        "records_total": total, "records_processed": processed, "records_error": failed,
        "records_pending": total.saturating_sub(done), "tokens_input": t.tokens.0,
        "tokens_output": t.tokens.1, "cost": t.cost.0, "currency": t.cost.1,
        "error_message": t.error_message, "items_per_minute": rate_per_min, "eta_seconds": eta_seconds,
        "items_by_fallback": t.by_fallback.0, "fallback_models": t.by_fallback.1,
    })
}
