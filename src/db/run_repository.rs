//! SQL for the `task_run` table: one row per worker run.

use super::{Db, DbError, column};

/// Records the start of a run.
pub fn insert(
    db: &mut Db,
    operation_uuid: &str,
    trigger: &str,
    host: &str,
    pid: u32,
    dry_run: bool,
) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO task_run (operation_uuid, started_at, heartbeat_at, `trigger`, host, pid, \
         dry_run) VALUES (?, NOW(), NOW(), ?, ?, ?, ?)",
        (operation_uuid, trigger, host, pid, dry_run),
    )?;
    Ok(())
}

/// A run that has said nothing for this long is taken for dead (it beats every 30 s).
pub const SILENT_FOR_S: u64 = 300;

/// Notes that the run is still alive.
pub fn heartbeat(db: &mut Db, operation_uuid: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE task_run SET heartbeat_at = NOW() WHERE operation_uuid = ?",
        (operation_uuid,),
    )?;
    Ok(())
}

/// Ends the rows of runs that died without closing them (kill -9, a second Ctrl+C, a
/// lost machine): silent for [`SILENT_FOR_S`], ended at their last heartbeat, with
/// the items still marked with their id counted. Returns how many.
pub fn close_dead(db: &mut Db) -> Result<u64, DbError> {
    db.execute(
        "UPDATE task_run r SET r.finished_at = COALESCE(r.heartbeat_at, r.started_at), \
         r.items_ok = (SELECT COUNT(*) FROM task_item i WHERE i.operation_uuid = r.operation_uuid AND i.status_id = 1), \
         r.items_error = (SELECT COUNT(*) FROM task_item i WHERE i.operation_uuid = r.operation_uuid AND i.status_id = 3), \
         r.message = 'ended without a summary: no heartbeat (the process was stopped at once or died); items counted from the rows it saved' \
         WHERE r.finished_at IS NULL AND r.dry_run = 0 \
         AND COALESCE(r.heartbeat_at, r.started_at) < NOW() - INTERVAL ? SECOND",
        (SILENT_FOR_S,),
    )
}

/// What a run did, as its `task_run` row records it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunTotals {
    /// Items saved.
    pub items_ok: u64,
    /// Items failed.
    pub items_error: u64,
    /// Input tokens billed.
    pub tokens_input: u64,
    /// Output tokens billed.
    pub tokens_output: u64,
    /// What it cost, if every model had prices.
    pub cost: Option<f64>,
}

/// Records the end of a run with its totals and a one-line message.
pub fn finish(
    db: &mut Db,
    operation_uuid: &str,
    totals: &RunTotals,
    message: &str,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE task_run SET finished_at = NOW(), items_ok = ?, items_error = ?, \
         tokens_input = ?, tokens_output = ?, cost = ?, message = ? \
         WHERE operation_uuid = ?",
        (
            totals.items_ok,
            totals.items_error,
            totals.tokens_input,
            totals.tokens_output,
            totals.cost,
            message,
            operation_uuid,
        ),
    )?;
    Ok(())
}

/// One `task_run` row, as `GET /run/{operation_uuid}` shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct RunRow {
    /// `operation_uuid`.
    pub operation_uuid: String,
    /// `started_at` as `YYYY-MM-DD HH:MM:SS`.
    pub started_at: Option<String>,
    /// `finished_at`, NULL while running (or if the process was killed).
    pub finished_at: Option<String>,
    /// `trigger`.
    pub trigger: String,
    /// `host`.
    pub host: Option<String>,
    /// `pid`.
    pub pid: Option<u32>,
    /// `items_ok`.
    pub items_ok: u64,
    /// `items_error`.
    pub items_error: u64,
    /// `message`.
    pub message: Option<String>,
    /// `tokens_input`, `tokens_output`.
    pub tokens: (u64, u64),
    /// `cost`.
    pub cost: Option<f64>,
    /// Not finished and heard from within [`SILENT_FOR_S`].
    pub running: bool,
}

/// Reads one run by its id.
pub fn get(db: &mut Db, operation_uuid: &str) -> Result<Option<RunRow>, DbError> {
    let row: Option<mysql::Row> = db.query_first(
        "SELECT operation_uuid, DATE_FORMAT(started_at, '%Y-%m-%d %H:%i:%s'), \
         DATE_FORMAT(finished_at, '%Y-%m-%d %H:%i:%s'), `trigger`, host, pid, items_ok, \
         items_error, message, tokens_input, tokens_output, CAST(cost AS CHAR), \
         finished_at IS NULL AND COALESCE(heartbeat_at, started_at) >= NOW() - INTERVAL ? SECOND \
         FROM task_run WHERE operation_uuid = ?",
        (SILENT_FOR_S, operation_uuid),
    )?;
    let Some(row) = row else { return Ok(None) };
    let cost: Option<String> = column(&row, 11, "task_run.cost")?;
    Ok(Some(RunRow {
        operation_uuid: column(&row, 0, "task_run.operation_uuid")?,
        started_at: column(&row, 1, "task_run.started_at")?,
        finished_at: column(&row, 2, "task_run.finished_at")?,
        trigger: column(&row, 3, "task_run.trigger")?,
        host: column(&row, 4, "task_run.host")?,
        pid: column(&row, 5, "task_run.pid")?,
        items_ok: column(&row, 6, "task_run.items_ok")?,
        items_error: column(&row, 7, "task_run.items_error")?,
        message: column(&row, 8, "task_run.message")?,
        tokens: (
            column(&row, 9, "task_run.tokens_input")?,
            column(&row, 10, "task_run.tokens_output")?,
        ),
        cost: cost.and_then(|c| c.parse().ok()),
        running: column::<Option<i64>>(&row, 12, "task_run.running")?.unwrap_or(0) != 0,
    }))
}
