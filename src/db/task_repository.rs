//! SQL for the `task` table: choosing the next task, starting, progress, finishing.

use super::status::{item as item_status, task as status};
use super::{Db, DbError, column};

/// The columns of a task the worker needs to process it.
#[derive(Clone, Debug, PartialEq)]
pub struct Task {
    /// `id_task`.
    pub id: u32,
    /// `id_ai_model`: the model that processes the task.
    pub id_ai_model: u32,
    /// `name`, for log lines.
    pub name: String,
    /// `description`: the instruction for the model.
    pub description: String,
    /// `status_id`.
    pub status_id: u8,
    /// `max_cost`: the task's budget, if the panel set one.
    pub max_cost: Option<f64>,
    /// `skip_guards`: the guards this task switches off (`markup`, `length`).
    pub skip_guards: Vec<String>,
    /// `batch`: 0 direct calls, 1 batch jobs, 2 batch jobs with direct calls once a job
    /// got stuck (see [`batch_mode`]).
    pub batch: u8,
    /// `priority`: higher runs first; equal priorities share a run's capacity.
    pub priority: i32,
    /// `privacy`: `all`, `identifiers` or `off`; `None` = `all`.
    pub privacy: Option<String>,
    /// `kind`: `proofread`, `translate`, `analyze`; `None` = inferred.
    pub kind: Option<String>,
    /// `output_schema`: the JSON Schema of an analysis task's answer object.
    pub output_schema: Option<String>,
    /// `reuse_results`: identical texts are sent once (NULL or anything but 0 = on).
    pub reuse_results: bool,
    /// `change_summary`: `model` (`None`: the model writes it) or `diff` (the worker
    /// writes it from a word diff; the model is asked for the text only).
    pub change_summary: Option<String>,
    /// `pack_max_items`: short texts sent together at most (`None`: the worker's
    /// `PACK_MAX_ITEMS`; 1 or less: never packed).
    pub pack_max_items: Option<i64>,
}

/// `task.batch` values.
pub mod batch_mode {
    /// One call per item.
    pub const DIRECT: u8 = 0;
    /// Batch jobs; a stuck job's items wait for the next job (any value but the
    /// other two is read as this).
    #[allow(dead_code)]
    pub const BATCH: u8 = 1;
    /// Batch jobs; once a job got stuck, the task's items go out as direct calls.
    pub const BATCH_OR_DIRECT: u8 = 2;
}

const TASK_COLUMNS: &str = "id_task, id_ai_model, name, description, status_id, \
     CAST(max_cost AS CHAR), skip_guards, batch, priority, privacy, kind, output_schema, \
     reuse_results, change_summary, pack_max_items";

fn text_of(bytes: Option<Vec<u8>>) -> String {
    String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned()
}

/// A task row. Text columns are read as bytes: a NULL (a panel that altered the
/// column) reads as empty, and bytes that are not UTF-8 as U+FFFD (the instruction is
/// still sent; an empty one gets the default instruction).
fn to_task(row: mysql::Row) -> Result<Task, DbError> {
    let bytes = |i: usize, name: &str| column::<Option<Vec<u8>>>(&row, i, name);
    let optional = |i: usize, name: &str| {
        Ok::<_, DbError>(
            bytes(i, name)?
                .map(|b| text_of(Some(b)).trim().to_string())
                .filter(|t| !t.is_empty()),
        )
    };
    let max_cost: Option<String> = column(&row, 5, "task.max_cost")?;
    Ok(Task {
        id: column(&row, 0, "task.id_task")?,
        id_ai_model: column(&row, 1, "task.id_ai_model")?,
        name: text_of(bytes(2, "task.name")?),
        description: text_of(bytes(3, "task.description")?),
        status_id: column(&row, 4, "task.status_id")?,
        max_cost: max_cost.and_then(|m| m.parse().ok()),
        skip_guards: text_of(bytes(6, "task.skip_guards")?)
            .split(',')
            .map(|g| g.trim().to_ascii_lowercase())
            .filter(|g| !g.is_empty())
            .collect(),
        batch: column(&row, 7, "task.batch")?,
        priority: column(&row, 8, "task.priority")?,
        privacy: optional(9, "task.privacy")?.map(|p| p.to_ascii_lowercase()),
        kind: optional(10, "task.kind")?.map(|k| k.to_ascii_lowercase()),
        output_schema: optional(11, "task.output_schema")?,
        reuse_results: column::<Option<i64>>(&row, 12, "task.reuse_results")?
            .is_none_or(|r| r != 0),
        change_summary: optional(13, "task.change_summary")?.map(|c| c.to_ascii_lowercase()),
        pack_max_items: column(&row, 14, "task.pack_max_items")?,
    })
}

/// A real read of the worker's tables, for health checks.
pub fn probe(db: &mut Db) -> Result<(), DbError> {
    db.query_first::<u32, _>("SELECT id_task FROM task ORDER BY id_task LIMIT 1", ())
        .map(drop)
}

/// Loads one task by id.
pub fn get(db: &mut Db, id_task: u32) -> Result<Option<Task>, DbError> {
    let sql = format!("SELECT {TASK_COLUMNS} FROM task WHERE id_task = ?");
    db.query_first::<mysql::Row, _>(&sql, (id_task,))?
        .map(to_task)
        .transpose()
}

/// Up to `limit` tasks that are NEW or IN_PROGRESS, higher `priority` first, then
/// oldest first: the tasks a run works on.
pub fn active(db: &mut Db, limit: usize) -> Result<Vec<Task>, DbError> {
    let sql = format!(
        "SELECT {TASK_COLUMNS} FROM task WHERE status_id IN (?, ?) \
         ORDER BY priority DESC, id_task LIMIT ?"
    );
    let rows: Vec<mysql::Row> = db.query(&sql, (status::NEW, status::IN_PROGRESS, limit as u64))?;
    rows.into_iter().map(to_task).collect()
}

/// The status and priority of each of these tasks that still exists: (id, status,
/// priority). A run reads them every few seconds to see what the panel changed.
pub fn states(db: &mut Db, ids: &[u32]) -> Result<Vec<(u32, u8, i32)>, DbError> {
    let mut states = Vec::with_capacity(ids.len());
    for ids in ids.chunks(500) {
        let marks = vec!["?"; ids.len()].join(", ");
        let sql =
            format!("SELECT id_task, status_id, priority FROM task WHERE id_task IN ({marks})");
        let params: Vec<mysql::Value> = ids.iter().map(|&id| id.into()).collect();
        states.extend(db.query::<(u32, u8, i32), _>(&sql, params)?);
    }
    Ok(states)
}

/// Sets a task's status for the panel (`ai-worker pause|resume|cancel`): PAUSED or
/// CANCELLED from any status but COMPLETED; "resume" (`None`) sets a PAUSED or
/// CANCELLED task IN_PROGRESS if it was started, else NEW. Returns the status before,
/// or `None` if the task does not exist.
pub fn set_by_panel(db: &mut Db, id_task: u32, to: Option<u8>) -> Result<Option<u8>, DbError> {
    db.transaction(|db| {
        let before: Option<u8> = db.query_first(
            "SELECT status_id FROM task WHERE id_task = ? FOR UPDATE",
            (id_task,),
        )?;
        let Some(before) = before else {
            return Ok(None);
        };
        match to {
            Some(status) => db.execute(
                "UPDATE task SET status_id = ? WHERE id_task = ? AND status_id <> ?",
                (status, id_task, status::COMPLETED),
            )?,
            None => db.execute(
                "UPDATE task SET status_id = IF(started_at IS NULL, ?, ?), error_message = NULL \
                 WHERE id_task = ? AND status_id IN (?, ?)",
                (
                    status::NEW,
                    status::IN_PROGRESS,
                    id_task,
                    status::PAUSED,
                    status::CANCELLED,
                ),
            )?,
        };
        Ok(Some(before))
    })
}

/// Marks a task IN_PROGRESS for this run: `started_at` on the first start, the run's
/// `operation_uuid`, `records_total` (counted by the caller, outside the task row's
/// lock), and no stale error or finish time. A task the panel paused or cancelled is
/// left as it is: returns false.
pub fn start(db: &mut Db, id_task: u32, operation_uuid: &str, total: u64) -> Result<bool, DbError> {
    let changed = db.execute(
        "UPDATE task SET status_id = ?, started_at = COALESCE(started_at, NOW()), \
         finished_at = NULL, error_message = NULL, operation_uuid = ?, records_total = ? \
         WHERE id_task = ? AND status_id NOT IN (?, ?)",
        (
            status::IN_PROGRESS,
            operation_uuid,
            total,
            id_task,
            status::PAUSED,
            status::CANCELLED,
        ),
    )?;
    Ok(changed > 0)
}

/// Refreshes what cannot be counted as items are saved: `records_total` (the panel may
/// add items while a task runs) and the run that last touched the task.
///
/// `records_processed`, `records_error` and the token sums are not recounted here:
/// `task_item_repository` changes them in the same statement as the item row, so they
/// equal what the item rows say at every moment, even if the worker is killed.
pub fn update_progress(db: &mut Db, id_task: u32, operation_uuid: &str) -> Result<(), DbError> {
    let total = count_items(db, id_task)?;
    db.execute(
        "UPDATE task SET operation_uuid = ?, records_total = ? WHERE id_task = ?",
        (operation_uuid, total, id_task),
    )?;
    Ok(())
}

/// A task's items, counted by a plain (non-locking) read of the task's index entries
/// before the task row is touched: counting inside the `UPDATE` would hold the task
/// row while reading every item, the lock order that deadlocked against saves.
fn count_items(db: &mut Db, id_task: u32) -> Result<u64, DbError> {
    let total: Option<u64> = db.query_first(
        "SELECT COUNT(*) FROM task_item FORCE INDEX (idx_task_item_task_status) \
         WHERE id_task = ?",
        (id_task,),
    )?;
    Ok(total.unwrap_or(0))
}

/// How many items of a task are in each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItemCounts {
    /// Waiting (status 0).
    pub pending: u64,
    /// Done (status 1).
    pub processed: u64,
    /// Claimed by a worker (status 2).
    pub processing: u64,
    /// Failed (status 3).
    pub error: u64,
}

impl ItemCounts {
    /// All items of the task.
    pub fn total(&self) -> u64 {
        self.pending + self.processed + self.processing + self.error
    }
}

/// Counts a task's items by status.
pub fn item_counts(db: &mut Db, id_task: u32) -> Result<ItemCounts, DbError> {
    let rows: Vec<(u8, u64)> = db.query(
        "SELECT status_id, COUNT(*) FROM task_item WHERE id_task = ? GROUP BY status_id",
        (id_task,),
    )?;
    let mut counts = ItemCounts::default();
    for (status, n) in rows {
        match status {
            item_status::PENDING => counts.pending = n,
            item_status::PROCESSED => counts.processed = n,
            item_status::PROCESSING => counts.processing = n,
            _ => counts.error += n,
        }
    }
    Ok(counts)
}

/// Tasks stopped with ERROR that still have PENDING or ERROR items, oldest first:
/// (id, pending, failed), so that "nothing to do" can say how to resume them.
pub fn stalled(db: &mut Db) -> Result<Vec<(u32, u64, u64)>, DbError> {
    db.query(
        "SELECT t.id_task, CAST(SUM(i.status_id = ?) AS UNSIGNED), \
         CAST(SUM(i.status_id = ?) AS UNSIGNED) \
         FROM task t JOIN task_item i ON i.id_task = t.id_task \
         WHERE t.status_id = ? AND i.status_id IN (?, ?) \
         GROUP BY t.id_task ORDER BY t.id_task LIMIT 20",
        (
            item_status::PENDING,
            item_status::ERROR,
            status::ERROR,
            item_status::PENDING,
            item_status::ERROR,
        ),
    )
}

/// A task's spending against its budget: (cost, reserved by calls in flight,
/// max_cost), for the message that pauses it.
pub fn budget(db: &mut Db, id_task: u32) -> Result<(f64, f64, Option<f64>), DbError> {
    let row: Option<(Option<String>, String, Option<String>)> = db.query_first(
        "SELECT CAST(cost AS CHAR), CAST(cost_reserved AS CHAR), CAST(max_cost AS CHAR) \
         FROM task WHERE id_task = ?",
        (id_task,),
    )?;
    let (cost, reserved, max) = row.unwrap_or_else(|| (None, "0".into(), None));
    let number = |t: &str| t.parse::<f64>().unwrap_or(0.0);
    Ok((
        cost.as_deref().map_or(0.0, number),
        number(&reserved),
        max.as_deref().map(number),
    ))
}

/// The pending work of a task, for `--estimate`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingWork {
    /// `id_task`.
    pub id_task: u32,
    /// `name`.
    pub name: String,
    /// `id_ai_model`.
    pub id_ai_model: u32,
    /// PENDING items.
    pub items: u64,
    /// Distinct texts among them (copies are sent once when the task reuses results).
    pub distinct_items: u64,
    /// Of the items, those of at most `short_chars` characters (short enough to share
    /// a request).
    pub short_items: u64,
    /// Characters of their texts together.
    pub text_chars: u64,
    /// Characters of the task's instruction.
    pub instruction_chars: u64,
    /// `task.batch`: the items go out in batch jobs (billed at the batch price).
    pub batch: u8,
}

/// The pending items of one task, or of every NEW or IN_PROGRESS task, counted and
/// measured in SQL (nothing is read item by item).
pub fn pending_work(
    db: &mut Db,
    id_task: Option<u32>,
    short_chars: usize,
) -> Result<Vec<PendingWork>, DbError> {
    type Row = (u32, Option<Vec<u8>>, u32, u64, u64, u64, u8, u64, u64);
    let rows: Vec<Row> = db.query(
        "SELECT t.id_task, t.name, t.id_ai_model, COUNT(*), \
         CAST(COALESCE(SUM(CHAR_LENGTH(i.text_original)), 0) AS UNSIGNED), \
         CAST(COALESCE(CHAR_LENGTH(t.description), 0) AS UNSIGNED), t.batch, \
         COUNT(DISTINCT SHA2(i.text_original, 256)), \
         CAST(COALESCE(SUM(CHAR_LENGTH(i.text_original) <= ?), 0) AS UNSIGNED) \
         FROM task t JOIN task_item i ON i.id_task = t.id_task \
         WHERE i.status_id = ? AND ((? IS NULL AND t.status_id IN (?, ?)) OR t.id_task = ?) \
         GROUP BY t.id_task, t.name, t.id_ai_model, t.description, t.batch ORDER BY t.id_task",
        (
            short_chars as u64,
            item_status::PENDING,
            id_task,
            status::NEW,
            status::IN_PROGRESS,
            id_task,
        ),
    )?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id_task,
                name,
                id_ai_model,
                items,
                text_chars,
                instruction_chars,
                batch,
                distinct,
                short,
            )| {
                PendingWork {
                    id_task,
                    name: text_of(name),
                    id_ai_model,
                    items,
                    distinct_items: distinct,
                    short_items: short,
                    text_chars,
                    instruction_chars,
                    batch,
                }
            },
        )
        .collect())
}

/// What `finish` decided.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finished {
    /// The final status (COMPLETED or ERROR).
    pub status_id: u8,
    /// Items counted.
    pub counts: ItemCounts,
    /// "N of M items failed", when some did.
    pub message: Option<String>,
}

/// Closes a task whose items are all PROCESSED or ERROR: COMPLETED if none failed,
/// else ERROR with "N of M items failed"; `finished_at` set. Returns `None` (and
/// changes nothing) while any item is still PENDING or PROCESSING.
pub fn finish(
    db: &mut Db,
    id_task: u32,
    operation_uuid: &str,
) -> Result<Option<Finished>, DbError> {
    let counts = item_counts(db, id_task)?;
    if counts.pending + counts.processing > 0 || counts.total() == 0 {
        return Ok(None);
    }
    let (status_id, message) = if counts.error == 0 {
        (status::COMPLETED, None)
    } else {
        (
            status::ERROR,
            Some(format!(
                "{} of {} items failed",
                counts.error,
                counts.total()
            )),
        )
    };
    // Guarded: if another worker or the panel added or reclaimed an item meanwhile,
    // nothing changes and the task stays open. The items are locked before the task
    // row, the order every statement that touches both tables keeps.
    let changed = db.transaction(|db| {
        let open: Option<u8> = db.query_first(
            "SELECT 1 FROM task_item FORCE INDEX (idx_task_item_task_status) \
             WHERE id_task = ? AND status_id IN (?, ?) LIMIT 1 LOCK IN SHARE MODE",
            (id_task, item_status::PENDING, item_status::PROCESSING),
        )?;
        if open.is_some() {
            return Ok(0);
        }
        db.execute(
            "UPDATE task SET status_id = ?, error_message = ?, finished_at = NOW(), \
             operation_uuid = ?, records_total = ? WHERE id_task = ? AND status_id NOT IN (?, ?)",
            (
                status_id,
                message.clone(),
                operation_uuid,
                counts.total(),
                id_task,
                status::PAUSED,
                status::CANCELLED,
            ),
        )
    })?;
    Ok((changed > 0).then_some(Finished {
        status_id,
        counts,
        message,
    }))
}

/// Stops a task with ERROR and a message for the panel (a missing model, a bad key).
/// Its unprocessed items stay PENDING, so fixing the cause and running again resumes it.
pub fn fail(db: &mut Db, id_task: u32, operation_uuid: &str, message: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE task SET status_id = ?, error_message = ?, finished_at = NOW(), \
         operation_uuid = ?, started_at = COALESCE(started_at, NOW()) \
         WHERE id_task = ? AND status_id NOT IN (?, ?)",
        (
            status::ERROR,
            message,
            operation_uuid,
            id_task,
            status::PAUSED,
            status::CANCELLED,
        ),
    )?;
    Ok(())
}

/// Notes why a task waits (its model's server cannot be reached) without changing
/// its status: the items stay PENDING and the next run resumes it.
pub fn pause(
    db: &mut Db,
    id_task: u32,
    operation_uuid: &str,
    message: &str,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE task SET error_message = ?, operation_uuid = ? \
         WHERE id_task = ? AND status_id NOT IN (?, ?)",
        (
            message,
            operation_uuid,
            id_task,
            status::PAUSED,
            status::CANCELLED,
        ),
    )?;
    Ok(())
}

/// Deletes the tasks with this name and their items (`ai-worker demo` replaces its
/// own sample tasks this way; it runs only in its own database).
pub fn delete_by_name(db: &mut Db, name: &str) -> Result<u64, DbError> {
    db.execute("DELETE FROM task WHERE name = ?", (name,))
}

/// Creates a task (what the panel does; used by `ai-worker demo`). Returns its id.
pub fn insert(
    db: &mut Db,
    id_ai_model: u32,
    name: &str,
    description: &str,
) -> Result<u32, DbError> {
    db.execute(
        "INSERT INTO task (id_ai_model, name, description) VALUES (?, ?, ?)",
        (id_ai_model, name, description),
    )?;
    let id: Option<u32> = db.query_first("SELECT LAST_INSERT_ID()", ())?;
    Ok(id.unwrap_or(0))
}

/// A task's status and progress, as `GET /task/{id}` and `ai-worker demo` show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// `id_task`.
    pub id: u32,
    /// `name`.
    pub name: String,
    /// `status_id`.
    pub status_id: u8,
    /// `records_total`.
    pub records_total: u64,
    /// `records_processed`.
    pub records_processed: u64,
    /// `records_error`.
    pub records_error: u64,
    /// `tokens_input`.
    pub tokens_input: u64,
    /// `tokens_output`.
    pub tokens_output: u64,
    /// `error_message`.
    pub error_message: Option<String>,
    /// `operation_uuid`.
    pub operation_uuid: Option<String>,
    /// `created_at`, `started_at`, `finished_at`, `updated_at` as `YYYY-MM-DD HH:MM:SS`.
    pub times: [Option<String>; 4],
    /// `tokens_cached`, `tokens_thinking`.
    pub tokens_cached_thinking: (u64, u64),
    /// `cost`, `max_cost`, and the model's `currency`.
    pub cost: (Option<f64>, Option<f64>, String),
    /// `privacy`, `priority`.
    pub privacy_priority: (Option<String>, i32),
}

fn decimal(text: Option<String>) -> Option<f64> {
    text.and_then(|t| t.parse().ok())
}

/// Reads a task's status, counters, token sums, timestamps and last error.
pub fn progress(db: &mut Db, id_task: u32) -> Result<Option<Progress>, DbError> {
    let row: Option<mysql::Row> = db.query_first(
        "SELECT id_task, name, status_id, records_total, records_processed, records_error, \
         tokens_input, tokens_output, error_message, operation_uuid, \
         DATE_FORMAT(created_at, '%Y-%m-%d %H:%i:%s'), DATE_FORMAT(started_at, '%Y-%m-%d %H:%i:%s'), \
         DATE_FORMAT(finished_at, '%Y-%m-%d %H:%i:%s'), DATE_FORMAT(updated_at, '%Y-%m-%d %H:%i:%s'), \
         tokens_cached, tokens_thinking, CAST(cost AS CHAR), CAST(max_cost AS CHAR), \
         (SELECT currency FROM ai_model m WHERE m.id_ai_model = task.id_ai_model), \
         privacy, priority FROM task WHERE id_task = ?",
        (id_task,),
    )?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Progress {
        id: column(&row, 0, "task.id_task")?,
        name: column(&row, 1, "task.name")?,
        status_id: column(&row, 2, "task.status_id")?,
        records_total: column(&row, 3, "task.records_total")?,
        records_processed: column(&row, 4, "task.records_processed")?,
        records_error: column(&row, 5, "task.records_error")?,
        tokens_input: column(&row, 6, "task.tokens_input")?,
        tokens_output: column(&row, 7, "task.tokens_output")?,
        error_message: column(&row, 8, "task.error_message")?,
        operation_uuid: column(&row, 9, "task.operation_uuid")?,
        times: [
            column(&row, 10, "task.created_at")?,
            column(&row, 11, "task.started_at")?,
            column(&row, 12, "task.finished_at")?,
            column(&row, 13, "task.updated_at")?,
        ],
        tokens_cached_thinking: (
            column(&row, 14, "task.tokens_cached")?,
            column(&row, 15, "task.tokens_thinking")?,
        ),
        cost: (
            decimal(column(&row, 16, "task.cost")?),
            decimal(column(&row, 17, "task.max_cost")?),
            column::<Option<String>>(&row, 18, "ai_model.currency")?.unwrap_or_default(),
        ),
        privacy_priority: (
            column(&row, 19, "task.privacy")?,
            column(&row, 20, "task.priority")?,
        ),
    }))
}
