//! SQL for the review loop on `task_item`: REJECTED items back to PENDING (rework),
//! ACCEPTED items read for export and marked with how their export went.

use super::status::item::{PENDING, PROCESSED};
use super::status::task::IN_PROGRESS;
use super::{Db, DbError};

/// `review_status` values (written by the panel).
pub mod review {
    /// Nobody has looked at the result yet.
    pub const UNREVIEWED: u8 = 0;
    /// A person accepted the result.
    pub const ACCEPTED: u8 = 1;
    /// A person rejected the result.
    pub const REJECTED: u8 = 2;
}

/// `export_status` values (written by `ai-worker export`).
pub mod export_status {
    /// Not exported yet.
    pub const NOT_YET: u8 = 0;
    /// Written to the source.
    pub const EXPORTED: u8 = 1;
    /// The source changed since the text was copied: not written.
    pub const CONFLICT: u8 = 2;
    /// Could not be written (not allowed, no such row, bad reference).
    pub const ERROR: u8 = 3;
}

/// The tasks with REJECTED results, or `id_task` if it has any.
pub fn tasks_to_rework(db: &mut Db, id_task: Option<u32>) -> Result<Vec<u32>, DbError> {
    db.query(
        "SELECT DISTINCT id_task FROM task_item FORCE INDEX (idx_task_item_review) \
         WHERE review_status = ? AND status_id = ? AND (? IS NULL OR id_task = ?) \
         ORDER BY id_task",
        (review::REJECTED, PROCESSED, id_task, id_task),
    )
}

/// Puts a task's REJECTED results back to PENDING for another call (keeping the
/// rejected text and the reviewer's comment, which the next prompt carries), with
/// `review_status` and `attempts` back to 0; the task counts them as not processed
/// and is IN_PROGRESS again. One transaction; returns each item and its rejected text.
pub fn rework(db: &mut Db, id_task: u32) -> Result<Vec<(u32, String)>, DbError> {
    db.transaction(|db| {
        let rows: Vec<(u32, Option<Vec<u8>>)> = db.query(
            "SELECT id_task_item, text_corrected FROM task_item \
             WHERE id_task = ? AND review_status = ? AND status_id = ? \
             ORDER BY id_task_item FOR UPDATE",
            (id_task, review::REJECTED, PROCESSED),
        )?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let n = db.execute(
            "UPDATE task_item SET status_id = ?, review_status = 0, attempts = 0, \
             processed_at = NULL, export_status = 0, export_error = NULL \
             WHERE id_task = ? AND review_status = ? AND status_id = ?",
            (PENDING, id_task, review::REJECTED, PROCESSED),
        )?;
        db.execute(
            "UPDATE task SET records_processed = GREATEST(records_processed, ?) - ?, \
             status_id = ?, finished_at = NULL WHERE id_task = ?",
            (n, n, IN_PROGRESS, id_task),
        )?;
        Ok(rows
            .into_iter()
            .map(|(id, text)| {
                (
                    id,
                    String::from_utf8_lossy(&text.unwrap_or_default()).into(),
                )
            })
            .collect())
    })
}

/// An ACCEPTED result waiting to be exported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// `id_task_item`.
    pub id: u32,
    /// `id_task`.
    pub id_task: u32,
    /// `source_table`, `source_column`, `source_id` as the panel wrote them.
    pub source: (Option<String>, Option<String>, Option<String>),
    /// `text_original`: what the source held when the text was copied.
    pub text_original: String,
    /// `text_corrected`: what goes back.
    pub text_corrected: String,
}

/// Up to `limit` ACCEPTED, PROCESSED items not exported yet, with ids above `after`.
pub fn accepted(
    db: &mut Db,
    id_task: Option<u32>,
    after: u32,
    limit: u32,
) -> Result<Vec<Accepted>, DbError> {
    type Row = (
        u32,
        u32,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
    );
    let rows: Vec<Row> = db.query(
        "SELECT id_task_item, id_task, source_table, source_column, source_id, \
         text_original, text_corrected FROM task_item FORCE INDEX (idx_task_item_review) \
         WHERE review_status = ? AND export_status = ? AND status_id = ? \
         AND text_corrected IS NOT NULL \
         AND (? IS NULL OR id_task = ?) AND id_task_item > ? ORDER BY id_task_item LIMIT ?",
        (
            review::ACCEPTED,
            export_status::NOT_YET,
            PROCESSED,
            id_task,
            id_task,
            after,
            limit,
        ),
    )?;
    let text =
        |bytes: Option<Vec<u8>>| String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned();
    Ok(rows
        .into_iter()
        .map(
            |(id, id_task, table, column, source_id, original, corrected)| Accepted {
                id,
                id_task,
                source: (table, column, source_id),
                text_original: text(original),
                text_corrected: text(corrected),
            },
        )
        .collect())
}

/// Puts accepted items whose export ended in a conflict or an error back to be
/// exported again (`export --retry`); returns how many.
pub fn retry_exports(db: &mut Db, id_task: Option<u32>) -> Result<u64, DbError> {
    db.execute(
        "UPDATE task_item SET export_status = ?, export_error = NULL \
         WHERE review_status = ? AND export_status IN (?, ?) AND (? IS NULL OR id_task = ?)",
        (
            export_status::NOT_YET,
            review::ACCEPTED,
            export_status::CONFLICT,
            export_status::ERROR,
            id_task,
            id_task,
        ),
    )
}

/// Accepted items whose export ended in a conflict or an error, waiting for
/// `export --retry`.
pub fn exports_waiting(db: &mut Db, id_task: Option<u32>) -> Result<u64, DbError> {
    let n: Option<u64> = db.query_first(
        "SELECT COUNT(*) FROM task_item \
         WHERE review_status = ? AND export_status IN (?, ?) AND (? IS NULL OR id_task = ?)",
        (
            review::ACCEPTED,
            export_status::CONFLICT,
            export_status::ERROR,
            id_task,
            id_task,
        ),
    )?;
    Ok(n.unwrap_or(0))
}

/// Records how an item's export went (only once: an exported item is never touched).
pub fn mark_export(db: &mut Db, id: u32, status: u8, error: Option<&str>) -> Result<(), DbError> {
    db.execute(
        "UPDATE task_item SET export_status = ?, export_error = ?, \
         exported_at = IF(? = 1, NOW(), exported_at) \
         WHERE id_task_item = ? AND export_status = 0",
        (status, error, status, id),
    )?;
    Ok(())
}
