//! SQL for watching the work: the queue by status, recent tasks and runs, and the
//! models' recent failures (for `GET /metrics` and the status page).

use super::{Db, DbError, column};

/// Items by status (0..3) and the age in seconds of the oldest PENDING item.
pub fn queue(db: &mut Db) -> Result<(Vec<(u8, u64)>, f64), DbError> {
    let counts: Vec<(u8, u64)> = db.query(
        "SELECT status_id, COUNT(*) FROM task_item GROUP BY status_id ORDER BY status_id",
        (),
    )?;
    let oldest: Option<Option<i64>> = db.query_first(
        "SELECT TIMESTAMPDIFF(SECOND, MIN(created_at), NOW()) FROM task_item WHERE status_id = 0",
        (),
    )?;
    Ok((counts, oldest.flatten().unwrap_or(0).max(0) as f64))
}

/// Items inside batch jobs the provider has not finished, and the age of the oldest
/// such job in seconds (0 when none).
pub fn batch_queue(db: &mut Db) -> Result<(u64, f64), DbError> {
    let row: Option<(Option<u64>, Option<i64>)> = db.query_first(
        "SELECT CAST(SUM(item_count) AS UNSIGNED), \
         MAX(TIMESTAMPDIFF(SECOND, COALESCE(submitted_at, created_at), NOW())) \
         FROM ai_batch WHERE state IN ('SUBMITTING', 'RUNNING', 'CANCELLING')",
        (),
    )?;
    let (items, age) = row.unwrap_or_default();
    Ok((items.unwrap_or(0), age.unwrap_or(0).max(0) as f64))
}

/// One task as the status page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskLine {
    /// `id_task`, `name`, the model's name, `status_id`.
    pub id: u32,
    /// `task.name`.
    pub name: String,
    /// The model's name.
    pub model: String,
    /// `status_id`.
    pub status_id: u8,
    /// `records_total`, `records_processed`, `records_error`.
    pub records: (u64, u64, u64),
    /// `tokens_input`, `tokens_output`.
    pub tokens: (u64, u64),
    /// `cost` and the model's currency.
    pub cost: (Option<f64>, String),
    /// `error_message`.
    pub error_message: Option<String>,
    /// Seconds since `started_at` (None before the start) and since `updated_at`.
    pub ages: (Option<i64>, Option<i64>),
    /// Results made by a model other than the task's own (its fallback), and the
    /// names of those models.
    pub by_fallback: (u64, Option<String>),
}

/// The most recently changed tasks, newest first.
pub fn recent_tasks(db: &mut Db, limit: u32) -> Result<Vec<TaskLine>, DbError> {
    let rows: Vec<mysql::Row> = db.query(
        "SELECT t.id_task, t.name, m.name, t.status_id, \
         IF(t.status_id = 0 OR t.records_total = 0, \
         (SELECT COUNT(*) FROM task_item i WHERE i.id_task = t.id_task), t.records_total), \
         t.records_processed, \
         t.records_error, t.tokens_input, t.tokens_output, CAST(t.cost AS CHAR), m.currency, \
         t.error_message, TIMESTAMPDIFF(SECOND, t.started_at, NOW()), \
         TIMESTAMPDIFF(SECOND, t.updated_at, NOW()), \
         (SELECT COUNT(*) FROM task_item f WHERE f.id_task = t.id_task AND f.status_id = 1 \
         AND f.id_ai_model <> t.id_ai_model), \
         (SELECT GROUP_CONCAT(DISTINCT fm.name ORDER BY fm.name SEPARATOR ', ') \
         FROM task_item f JOIN ai_model fm ON fm.id_ai_model = f.id_ai_model \
         WHERE f.id_task = t.id_task AND f.status_id = 1 AND f.id_ai_model <> t.id_ai_model) \
         FROM task t JOIN ai_model m ON m.id_ai_model = t.id_ai_model \
         ORDER BY t.status_id IN (0, 1) DESC, t.updated_at DESC, t.id_task DESC LIMIT ?",
        (limit,),
    )?;
    rows.iter().map(task_line).collect()
}

fn task_line(row: &mysql::Row) -> Result<TaskLine, DbError> {
    let cost: Option<String> = column(row, 9, "task.cost")?;
    Ok(TaskLine {
        id: column(row, 0, "task.id_task")?,
        name: column(row, 1, "task.name")?,
        model: column(row, 2, "ai_model.name")?,
        status_id: column(row, 3, "task.status_id")?,
        records: (
            column(row, 4, "task.records_total")?,
            column(row, 5, "task.records_processed")?,
            column(row, 6, "task.records_error")?,
        ),
        tokens: (
            column(row, 7, "task.tokens_input")?,
            column(row, 8, "task.tokens_output")?,
        ),
        cost: (
            cost.and_then(|c| c.parse().ok()),
            column(row, 10, "ai_model.currency")?,
        ),
        error_message: column(row, 11, "task.error_message")?,
        ages: (
            column(row, 12, "task.started_at")?,
            column(row, 13, "task.updated_at")?,
        ),
        by_fallback: (
            column(row, 14, "task_item.id_ai_model")?,
            column(row, 15, "ai_model.name")?,
        ),
    })
}

/// The models' failed items of the last 24 hours: (model, failed items, last error).
pub fn model_failures(db: &mut Db) -> Result<Vec<(String, u64, Option<String>)>, DbError> {
    db.query(
        "SELECT m.name, COUNT(*), MAX(i.error_message) FROM task_item i \
         JOIN task t ON t.id_task = i.id_task JOIN ai_model m ON m.id_ai_model = t.id_ai_model \
         WHERE i.status_id = 3 AND i.processed_at > NOW() - INTERVAL 1 DAY \
         GROUP BY m.id_ai_model, m.name ORDER BY m.name",
        (),
    )
}

/// The most recent runs: (operation_uuid, trigger, started, finished, ok, error,
/// message, seconds since the run's last sign of life), newest first.
pub type RunLine = (
    String,
    String,
    Option<String>,
    Option<String>,
    u64,
    u64,
    Option<String>,
    Option<i64>,
);

/// The last `limit` runs.
pub fn recent_runs(db: &mut Db, limit: u32) -> Result<Vec<RunLine>, DbError> {
    db.query(
        "SELECT operation_uuid, `trigger`, DATE_FORMAT(started_at, '%Y-%m-%d %H:%i:%s'), \
         DATE_FORMAT(finished_at, '%Y-%m-%d %H:%i:%s'), items_ok, items_error, message, \
         TIMESTAMPDIFF(SECOND, COALESCE(heartbeat_at, started_at), NOW()) \
         FROM task_run ORDER BY started_at DESC LIMIT ?",
        (limit,),
    )
}
