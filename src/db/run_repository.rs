//! SQL for the `task_run` table: one row per worker run.

use super::{Db, DbError};

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
        "INSERT INTO task_run (operation_uuid, started_at, `trigger`, host, pid, dry_run) \
         VALUES (?, NOW(), ?, ?, ?, ?)",
        (operation_uuid, trigger, host, pid, dry_run),
    )?;
    Ok(())
}

/// Records the end of a run with its totals and a one-line message.
pub fn finish(
    db: &mut Db,
    operation_uuid: &str,
    items_ok: u64,
    items_error: u64,
    message: &str,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE task_run SET finished_at = NOW(), items_ok = ?, items_error = ?, message = ? \
         WHERE operation_uuid = ?",
        (items_ok, items_error, message, operation_uuid),
    )?;
    Ok(())
}

/// One `task_run` row, as `GET /run/{operation_uuid}` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
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
}

/// Reads one run by its id.
pub fn get(db: &mut Db, operation_uuid: &str) -> Result<Option<RunRow>, DbError> {
    type Row = (
        String,
        Option<String>,
        Option<String>,
        String,
        Option<String>,
        Option<u32>,
        u64,
        u64,
        Option<String>,
    );
    let row: Option<Row> = db.query_first(
        "SELECT operation_uuid, DATE_FORMAT(started_at, '%Y-%m-%d %H:%i:%s'), \
         DATE_FORMAT(finished_at, '%Y-%m-%d %H:%i:%s'), `trigger`, host, pid, items_ok, \
         items_error, message FROM task_run WHERE operation_uuid = ?",
        (operation_uuid,),
    )?;
    Ok(row.map(
        |(
            operation_uuid,
            started_at,
            finished_at,
            trigger,
            host,
            pid,
            items_ok,
            items_error,
            message,
        )| RunRow {
            operation_uuid,
            started_at,
            finished_at,
            trigger,
            host,
            pid,
            items_ok,
            items_error,
            message,
        },
    ))
}
