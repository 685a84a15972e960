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
