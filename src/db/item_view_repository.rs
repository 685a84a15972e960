//! SQL for the task page: one page of a task's items with what a reviewer looks at,
//! and how many items the task has by status and review.

use super::{Db, DbError, column};

/// One item as the task page shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemView {
    /// `id_task_item`.
    pub id: u32,
    /// `status_id`, `review_status`, `export_status`.
    pub statuses: (u8, u8, u8),
    /// `text_original`.
    pub text_original: String,
    /// `text_corrected` (proofreading, translation) or `result_json` (analysis).
    pub result: (Option<String>, Option<String>),
    /// `change_summary`.
    pub change_summary: Option<String>,
    /// `tokens_input`, `tokens_output`.
    pub tokens: (u64, u64),
    /// `cost`.
    pub cost: Option<f64>,
    /// `error_message`, `export_error`.
    pub errors: (Option<String>, Option<String>),
    /// `reused_from`: the item whose result this copy took.
    pub reused_from: Option<u32>,
    /// The name of the model that made the result.
    pub model: Option<String>,
    /// `processed_at`, as `YYYY-MM-DD HH:MM:SS`.
    pub processed_at: Option<String>,
}

/// Which items a page holds: by item status and review status (None: any).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItemFilter {
    /// `status_id`.
    pub status: Option<u8>,
    /// `review_status`.
    pub review: Option<u8>,
}

/// The task's items that pass `filter`, in id order, `limit` from `offset` on (the
/// ids are picked first, on the index, so a late page reads no skipped texts).
pub fn page(
    db: &mut Db,
    id_task: u32,
    filter: ItemFilter,
    limit: u32,
    offset: u64,
) -> Result<Vec<ItemView>, DbError> {
    let rows: Vec<mysql::Row> = db.query(
        "SELECT i.id_task_item, i.status_id, i.review_status, i.export_status, \
         i.text_original, i.text_corrected, i.result_json, i.change_summary, \
         i.tokens_input, i.tokens_output, CAST(i.cost AS CHAR), i.error_message, \
         i.export_error, i.reused_from, m.name, \
         DATE_FORMAT(i.processed_at, '%Y-%m-%d %H:%i:%s') \
         FROM (SELECT id_task_item FROM task_item WHERE id_task = ? \
         AND (? IS NULL OR status_id = ?) AND (? IS NULL OR review_status = ?) \
         ORDER BY id_task_item LIMIT ? OFFSET ?) picked \
         JOIN task_item i ON i.id_task_item = picked.id_task_item \
         LEFT JOIN ai_model m ON m.id_ai_model = i.id_ai_model \
         ORDER BY i.id_task_item",
        (
            id_task,
            filter.status,
            filter.status,
            filter.review,
            filter.review,
            limit,
            offset,
        ),
    )?;
    rows.iter().map(item_view).collect()
}

fn item_view(row: &mysql::Row) -> Result<ItemView, DbError> {
    let cost: Option<String> = column(row, 10, "task_item.cost")?;
    Ok(ItemView {
        id: column(row, 0, "task_item.id_task_item")?,
        statuses: (
            column(row, 1, "task_item.status_id")?,
            column(row, 2, "task_item.review_status")?,
            column(row, 3, "task_item.export_status")?,
        ),
        text_original: column(row, 4, "task_item.text_original")?,
        result: (
            column(row, 5, "task_item.text_corrected")?,
            column(row, 6, "task_item.result_json")?,
        ),
        change_summary: column(row, 7, "task_item.change_summary")?,
        tokens: (
            column(row, 8, "task_item.tokens_input")?,
            column(row, 9, "task_item.tokens_output")?,
        ),
        cost: cost.and_then(|c| c.parse().ok()),
        errors: (
            column(row, 11, "task_item.error_message")?,
            column(row, 12, "task_item.export_error")?,
        ),
        reused_from: column(row, 13, "task_item.reused_from")?,
        model: column(row, 14, "ai_model.name")?,
        processed_at: column(row, 15, "task_item.processed_at")?,
    })
}

/// How many of the task's items have each (status, review status).
pub fn counts(db: &mut Db, id_task: u32) -> Result<Vec<(u8, u8, u64)>, DbError> {
    db.query(
        "SELECT status_id, review_status, COUNT(*) FROM task_item WHERE id_task = ? \
         GROUP BY status_id, review_status ORDER BY status_id, review_status",
        (id_task,),
    )
}
