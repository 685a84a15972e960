//! SQL for batch jobs (`ai_batch`) and the items inside them.
//!
//! A job row is written before its items leave the building (state SUBMITTING, with
//! the `job_key` the provider will know the job by), the provider's job id right after
//! it is created, and the row is closed only once every item of the job has ended.
//! Items in a job are PROCESSING with the job's claim token and `id_ai_batch`; they
//! end through the same token-guarded statements as direct calls
//! (`task_item_repository`), so a line collected twice is saved once.

use super::item::Item;
use super::status::item as item_status;
use super::task_item_repository::{self as items, ClaimFor};
use super::{Db, DbError, column};

/// `ai_batch.state` values.
pub mod state {
    /// Items claimed, the job being created at the provider.
    pub const SUBMITTING: &str = "SUBMITTING";
    /// Created at the provider; results not collected yet.
    pub const RUNNING: &str = "RUNNING";
    /// Cancel asked for; waiting for the provider to confirm.
    pub const CANCELLING: &str = "CANCELLING";
    /// Every line collected.
    pub const COLLECTED: &str = "COLLECTED";
    /// The job failed as a whole at the provider.
    pub const FAILED: &str = "FAILED";
    /// The provider's window ran out; finished lines collected.
    pub const EXPIRED: &str = "EXPIRED";
    /// Cancelled; finished lines collected.
    pub const CANCELLED: &str = "CANCELLED";
    /// Never reached the provider; its items went back to PENDING.
    pub const ABANDONED: &str = "ABANDONED";
}

/// A job row.
#[derive(Clone, Debug, PartialEq)]
pub struct Job {
    /// `id_ai_batch`.
    pub id: u32,
    /// `id_task`.
    pub id_task: u32,
    /// `id_ai_model`.
    pub id_ai_model: u32,
    /// The name the provider knows the job by (also the items' claim token).
    pub job_key: String,
    /// The provider's id, once stored.
    pub provider_job_id: Option<String>,
    /// `state` (see [`state`]).
    pub state: String,
    /// The provider's last word on the job.
    pub provider_state: Option<String>,
    /// Items sent in the job.
    pub item_count: u32,
    /// Items saved, failed, and returned to PENDING by its collection.
    pub items_ok: u32,
    /// See `items_ok`.
    pub items_error: u32,
    /// See `items_ok`.
    pub items_returned: u32,
    /// What the job cost, at the batch price.
    pub cost: Option<f64>,
    /// The job was cancelled for running longer than `BATCH_MAX_WAIT_H`.
    pub stuck: bool,
    /// Why the job failed, or how it ended.
    pub error_message: Option<String>,
    /// Seconds since the job was created (or the row written).
    pub age_s: u64,
    /// Whether the row's claim ran out (a SUBMITTING row of a worker that died).
    pub claim_expired: bool,
    /// What the job reserved of the model's daily budget, and on which UTC day.
    pub daily_reserved: Option<(f64, String)>,
}

const JOB_COLUMNS: &str = "id_ai_batch, id_task, id_ai_model, job_key, provider_job_id, state, \
     provider_state, item_count, items_ok, items_error, items_returned, CAST(cost AS CHAR), \
     stuck, error_message, TIMESTAMPDIFF(SECOND, COALESCE(submitted_at, created_at), NOW()), \
     COALESCE(claimed_until < NOW(), 1), CAST(daily_reserved AS CHAR), \
     CAST(daily_reserved_day AS CHAR)";

fn to_job(row: &mysql::Row) -> Result<Job, DbError> {
    let number = |text: Option<String>| text.and_then(|t| t.parse::<f64>().ok());
    let reserved: Option<f64> = number(column(row, 16, "ai_batch.daily_reserved")?);
    let day: Option<String> = column(row, 17, "ai_batch.daily_reserved_day")?;
    Ok(Job {
        id: column(row, 0, "ai_batch.id_ai_batch")?,
        id_task: column(row, 1, "ai_batch.id_task")?,
        id_ai_model: column(row, 2, "ai_batch.id_ai_model")?,
        job_key: column(row, 3, "ai_batch.job_key")?,
        provider_job_id: column(row, 4, "ai_batch.provider_job_id")?,
        state: column(row, 5, "ai_batch.state")?,
        provider_state: column(row, 6, "ai_batch.provider_state")?,
        item_count: column(row, 7, "ai_batch.item_count")?,
        items_ok: column(row, 8, "ai_batch.items_ok")?,
        items_error: column(row, 9, "ai_batch.items_error")?,
        items_returned: column(row, 10, "ai_batch.items_returned")?,
        cost: number(column(row, 11, "ai_batch.cost")?),
        stuck: column::<u8>(row, 12, "ai_batch.stuck")? != 0,
        error_message: column(row, 13, "ai_batch.error_message")?,
        age_s: column::<Option<i64>>(row, 14, "ai_batch.submitted_at")?
            .unwrap_or(0)
            .max(0) as u64,
        claim_expired: column::<Option<i64>>(row, 15, "ai_batch.claimed_until")?.unwrap_or(1) != 0,
        daily_reserved: reserved.filter(|r| *r > 0.0).zip(day),
    })
}

fn jobs(db: &mut Db, filter: &str, params: Vec<mysql::Value>) -> Result<Vec<Job>, DbError> {
    let sql = format!("SELECT {JOB_COLUMNS} FROM ai_batch WHERE {filter} ORDER BY id_ai_batch");
    let rows: Vec<mysql::Row> = db.query(&sql, params)?;
    rows.iter().map(to_job).collect()
}

/// Jobs not ended yet (SUBMITTING, RUNNING, CANCELLING), of one task or all.
pub fn open_jobs(db: &mut Db, id_task: Option<u32>) -> Result<Vec<Job>, DbError> {
    let open = "state IN ('SUBMITTING', 'RUNNING', 'CANCELLING')";
    match id_task {
        Some(id) => jobs(db, &format!("{open} AND id_task = ?"), vec![id.into()]),
        None => jobs(db, open, Vec::new()),
    }
}

/// Every job of a task, oldest first (the most recent `limit`).
pub fn jobs_of_task(db: &mut Db, id_task: u32, limit: u32) -> Result<Vec<Job>, DbError> {
    let filter = "id_task = ? AND id_ai_batch >= COALESCE((SELECT MIN(id_ai_batch) FROM \
         (SELECT id_ai_batch FROM ai_batch WHERE id_task = ? ORDER BY id_ai_batch DESC LIMIT ?) AS recent), 0)";
    jobs(
        db,
        filter,
        vec![id_task.into(), id_task.into(), limit.into()],
    )
}

/// A job by its `id_ai_batch` or the provider's job id.
pub fn find_job(db: &mut Db, id: &str) -> Result<Option<Job>, DbError> {
    let found = match id.trim().parse::<u32>() {
        Ok(n) => jobs(db, "id_ai_batch = ?", vec![n.into()])?,
        Err(_) => jobs(db, "provider_job_id = ?", vec![id.trim().into()])?,
    };
    Ok(found.into_iter().next())
}

/// Whether a job of the task was cancelled for being stuck.
pub fn had_stuck_job(db: &mut Db, id_task: u32) -> Result<bool, DbError> {
    let found: Option<u8> = db.query_first(
        "SELECT 1 FROM ai_batch WHERE id_task = ? AND stuck = 1 LIMIT 1",
        (id_task,),
    )?;
    Ok(found.is_some())
}

/// What a new job is: its task, model and run, and how long its claims hold.
#[derive(Clone, Copy, Debug)]
pub struct NewJob<'a> {
    /// The task whose pending items go in the job.
    pub id_task: u32,
    /// The task's model.
    pub id_ai_model: u32,
    /// The name the provider will know the job by; also the items' claim token.
    pub job_key: &'a str,
    /// The run submitting it.
    pub operation_uuid: &'a str,
    /// Seconds the row stays this worker's while it submits.
    pub submit_lease_s: u64,
    /// Seconds the items' claim holds: the job's whole window.
    pub window_s: u64,
}

/// Writes a SUBMITTING job and claims up to `limit` pending items into it, in one
/// transaction; returns the job's id and its items (none: nothing was written).
pub fn create_job(
    db: &mut Db,
    job: &NewJob<'_>,
    limit: u32,
) -> Result<Option<(u32, Vec<Item>)>, DbError> {
    db.transaction(|db| {
        db.execute(
            "INSERT INTO ai_batch (id_task, id_ai_model, job_key, state, operation_uuid, claimed_until) \
             VALUES (?, ?, ?, ?, ?, NOW() + INTERVAL ? SECOND)",
            (job.id_task, job.id_ai_model, job.job_key, state::SUBMITTING, job.operation_uuid, job.submit_lease_s),
        )?;
        let id: Option<u32> = db.query_first("SELECT LAST_INSERT_ID()", ())?;
        let id = id.unwrap_or_default();
        let claim = ClaimFor {
            id_task: job.id_task,
            limit,
            claim_token: job.job_key,
            lease_s: job.window_s,
            operation_uuid: job.operation_uuid,
        };
        let claimed = items::claim_pending_into(db, &claim, Some(id))?;
        if claimed.is_empty() {
            db.execute("DELETE FROM ai_batch WHERE id_ai_batch = ?", (id,))?;
            return Ok(None);
        }
        db.execute(
            "UPDATE ai_batch SET item_count = ? WHERE id_ai_batch = ?",
            (claimed.len() as u32, id),
        )?;
        Ok(Some((id, claimed)))
    })
}

/// Stores what a job reserved of the model's daily budget (given back at collection).
pub fn set_daily_reservation(db: &mut Db, id: u32, amount: f64, day: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE ai_batch SET daily_reserved = ?, daily_reserved_day = ? WHERE id_ai_batch = ?",
        (amount, day, id),
    )
    .map(drop)
}

/// Stores the provider's job id: the job is RUNNING. The first write after the job
/// was created, so a crash cannot lose it.
pub fn record_submitted(db: &mut Db, id: u32, provider_job_id: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE ai_batch SET provider_job_id = ?, state = ?, submitted_at = COALESCE(submitted_at, NOW()), \
         claimed_until = NULL WHERE id_ai_batch = ?",
        (provider_job_id, state::RUNNING, id),
    )
    .map(drop)
}

/// Takes a job over for this run for `lease_s` (a SUBMITTING row of a dead worker, or
/// a job being collected), unless another worker holds it; true if taken.
pub fn take_over(db: &mut Db, id: u32, lease_s: u64) -> Result<bool, DbError> {
    let changed = db.execute(
        "UPDATE ai_batch SET claimed_until = NOW() + INTERVAL ? SECOND \
         WHERE id_ai_batch = ? AND (claimed_until IS NULL OR claimed_until < NOW())",
        (lease_s, id),
    )?;
    Ok(changed > 0)
}

/// Gives a job back after this run looked at it (another run may take it at once).
pub fn let_go(db: &mut Db, id: u32) -> Result<(), DbError> {
    db.execute(
        "UPDATE ai_batch SET claimed_until = NULL WHERE id_ai_batch = ?",
        (id,),
    )
    .map(drop)
}

/// Notes what the provider said about a job.
pub fn checked(
    db: &mut Db,
    id: u32,
    provider_state: &str,
    next_state: &str,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE ai_batch SET provider_state = ?, state = ?, checked_at = NOW() WHERE id_ai_batch = ?",
        (provider_state, next_state, id),
    )
    .map(drop)
}

/// Marks a job cancelled for running too long.
pub fn mark_stuck(db: &mut Db, id: u32, message: &str) -> Result<(), DbError> {
    db.execute(
        "UPDATE ai_batch SET stuck = 1, state = ?, error_message = ? WHERE id_ai_batch = ?",
        (state::CANCELLING, message, id),
    )
    .map(drop)
}

/// How a job ended.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct JobEnd {
    /// Final state (see [`state`]).
    pub state: &'static str,
    /// Items saved.
    pub ok: u32,
    /// Items failed.
    pub error: u32,
    /// Items back to PENDING.
    pub returned: u32,
    /// What the lines cost, at the batch price.
    pub cost: Option<f64>,
    /// Why it failed, or how it ended.
    pub message: Option<String>,
}

/// Closes a job after every item of it has ended; the daily reservation is settled by
/// the caller in the same breath.
pub fn finish_job(db: &mut Db, id: u32, end: &JobEnd) -> Result<(), DbError> {
    db.execute(
        "UPDATE ai_batch SET state = ?, items_ok = items_ok + ?, items_error = items_error + ?, \
         items_returned = items_returned + ?, cost = IF(? IS NULL, cost, COALESCE(cost, 0) + ?), \
         error_message = COALESCE(?, error_message), finished_at = NOW(), claimed_until = NULL, \
         daily_reserved = 0 WHERE id_ai_batch = ?",
        (
            end.state,
            end.ok,
            end.error,
            end.returned,
            end.cost,
            end.cost,
            end.message.clone(),
            id,
        ),
    )
    .map(drop)
}

/// An item still inside a job, with what it reserved of the task's budget.
#[derive(Clone, Debug, PartialEq)]
pub struct JobItem {
    /// The item as a direct call would see it.
    pub item: Item,
    /// `cost_reserved`, given back when it ends.
    pub reserved: f64,
}

/// The items of a job that are still PROCESSING under its key.
pub fn items_in_job(db: &mut Db, job: &Job) -> Result<Vec<JobItem>, DbError> {
    type Row = (
        u32,
        u32,
        Option<Vec<u8>>,
        u32,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<String>,
        Option<String>,
    );
    let rows: Vec<Row> = db.query(
        concat!(
            "SELECT ",
            items::item_columns!(),
            ", CAST(cost_reserved AS CHAR) FROM task_item \
             WHERE id_ai_batch = ? AND status_id = ? AND claim_token = ? ORDER BY id_task_item"
        ),
        (job.id, item_status::PROCESSING, job.job_key.as_str()),
    )?;
    Ok(rows
        .into_iter()
        .map(
            |(id, task, text, attempts, corrected, comment, sha, reserved)| JobItem {
                item: items::to_item((id, task, text, attempts, corrected, comment, sha)),
                reserved: reserved.and_then(|r| r.parse().ok()).unwrap_or(0.0),
            },
        )
        .collect())
}
