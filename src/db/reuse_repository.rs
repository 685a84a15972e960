//! SQL that finds a result already made for the same text, so that a copy of a text
//! (a catalogue where many products share one description) is not paid for again.

use super::status::item::PROCESSED;
use super::{Db, DbError, column};

/// What must match for a result to be reused: the model that made it, the task's
/// instruction (byte for byte), kind, output schema and change-summary mode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ReuseScope {
    /// `task_item.id_ai_model` of the result.
    pub id_ai_model: u32,
    /// `task.description`.
    pub description: String,
    /// `task.kind` (`""` = inferred from the instruction).
    pub kind: String,
    /// `task.output_schema` (`""` = none).
    pub output_schema: String,
    /// `task.change_summary` (`""` = the model writes it).
    pub change_summary: String,
}

/// A result that can be given to a copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reusable {
    /// `id_task_item` of the item that has it (`reused_from` of the copy).
    pub id: u32,
    /// `text_corrected` (NULL for an analysis object).
    pub text_corrected: Option<String>,
    /// `change_summary`.
    pub change_summary: String,
    /// `result_json`.
    pub result_json: Option<String>,
}

/// `review_status` REJECTED: such a result is never reused.
const REJECTED: u8 = 2;
/// `review_status` ACCEPTED: preferred when several results match.
const ACCEPTED: u8 = 1;

/// A PROCESSED result for a text whose SHA-256 is `text_sha`, in `scope`, that no
/// reviewer rejected, from a task that allows reuse; an accepted one first.
pub fn find(db: &mut Db, text_sha: &str, scope: &ReuseScope) -> Result<Option<Reusable>, DbError> {
    let row: Option<mysql::Row> = db.query_first(
        "SELECT i.id_task_item, i.text_corrected, i.change_summary, i.result_json \
         FROM task_item i JOIN task t ON t.id_task = i.id_task \
         WHERE i.text_hash = ? AND i.status_id = ? AND i.review_status <> ? \
         AND i.id_ai_model = ? \
         AND CAST(COALESCE(t.description, '') AS BINARY) = CAST(? AS BINARY) \
         AND LOWER(TRIM(COALESCE(t.kind, ''))) = ? \
         AND TRIM(COALESCE(t.output_schema, '')) = ? \
         AND LOWER(TRIM(COALESCE(t.change_summary, ''))) = ? \
         AND COALESCE(t.reuse_results, 1) <> 0 \
         ORDER BY i.review_status = ? DESC, i.id_task_item LIMIT 1",
        (
            text_sha,
            PROCESSED,
            REJECTED,
            scope.id_ai_model,
            scope.description.as_str(),
            scope.kind.as_str(),
            scope.output_schema.as_str(),
            scope.change_summary.as_str(),
            ACCEPTED,
        ),
    )?;
    let Some(row) = row else { return Ok(None) };
    let summary: Option<String> = column(&row, 2, "task_item.change_summary")?;
    Ok(Some(Reusable {
        id: column(&row, 0, "task_item.id_task_item")?,
        text_corrected: column(&row, 1, "task_item.text_corrected")?,
        change_summary: summary.unwrap_or_default(),
        result_json: column(&row, 3, "task_item.result_json")?,
    }))
}
