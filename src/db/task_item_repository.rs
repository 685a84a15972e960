//! SQL for the `task_item` table: claiming items, saving results and errors.
//!
//! Every write that ends an item (a result or an error) changes the task's counters
//! in the same statement (a two-table `UPDATE`), guarded by the claim token: a worker
//! whose lease was taken over changes nothing, and the task's `records_processed`,
//! `records_error` and token sums always equal what the item rows say.

use super::item::Item;
use super::status::item::{ERROR, PENDING, PROCESSING};
use super::status::task::{ERROR as TASK_ERROR, IN_PROGRESS as TASK_IN_PROGRESS};
use super::{Db, DbError};

/// The columns an [`Item`] is read from, in [`ItemRow`]'s order.
macro_rules! item_columns {
    () => {
        "id_task_item, id_task, text_original, attempts, text_corrected, review_comment, \
         SHA2(text_original, 256)"
    };
}
pub(crate) use item_columns;

/// `text_original` is read as bytes: MariaDB stores byte sequences that are not UTF-8
/// (an encoded surrogate, for example) in a `utf8mb4` column, and a panel may allow NULL.
pub(crate) type ItemRow = (
    u32,
    u32,
    Option<Vec<u8>>,
    u32,
    Option<Vec<u8>>,
    Option<Vec<u8>>,
    Option<String>,
);

pub(crate) fn to_item(
    (id, id_task, text, attempts, corrected, comment, text_sha): ItemRow,
) -> Item {
    let (text_original, unreadable) = match String::from_utf8(text.unwrap_or_default()) {
        Ok(text) => (text, None),
        Err(e) => {
            let at = e.utf8_error().valid_up_to();
            let why = format!(
                "text_original is not valid UTF-8 text (invalid bytes at byte {at}); fix the stored text and retry the item"
            );
            (
                String::from_utf8_lossy(e.as_bytes()).into_owned(),
                Some(why),
            )
        }
    };
    let lossy = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
    let rejected = match (corrected, comment) {
        (Some(corrected), Some(comment)) => Some((lossy(corrected), lossy(comment))),
        _ => None,
    };
    Item {
        id,
        id_task,
        text_original,
        unreadable,
        rejected,
        attempts,
        text_sha,
    }
}

/// The claim. The index hint keeps its cost to the rows it claims whatever the
/// table's statistics say: without it, a server that has run `ANALYZE TABLE` may
/// intersect the status index with the task's and sort every pending row of the
/// task (693 ms per claim at 100,000 pending items instead of 0.3 ms).
pub const CLAIM_PENDING_SQL: &str = "UPDATE task_item FORCE INDEX (idx_task_item_task_status) \
     SET status_id = ?, claim_token = ?, claimed_until = NOW() + INTERVAL ? SECOND, \
     attempts = LEAST(attempts, 65534) + 1, operation_uuid = ?, id_ai_batch = ? \
     WHERE id_task = ? AND status_id = ? ORDER BY id_task_item LIMIT ?";

/// Claims up to `limit` PENDING items of a task, oldest first, for `lease_s` seconds,
/// and returns them. The claim is one `UPDATE ... ORDER BY ... LIMIT` marking the rows
/// with a fresh token, then a `SELECT` by that token: two workers can never claim the
/// same row, on every supported server version (no `SKIP LOCKED` needed).
pub fn claim_pending(
    db: &mut Db,
    id_task: u32,
    limit: u32,
    claim_token: &str,
    lease_s: u64,
    operation_uuid: &str,
) -> Result<Vec<Item>, DbError> {
    let claim = ClaimFor {
        id_task,
        limit,
        claim_token,
        lease_s,
        operation_uuid,
    };
    claim_pending_into(db, &claim, None)
}

/// What a claim of pending items asks for.
#[derive(Clone, Copy, Debug)]
pub struct ClaimFor<'a> {
    /// The task whose items are claimed.
    pub id_task: u32,
    /// Items at most.
    pub limit: u32,
    /// The token the items are marked with.
    pub claim_token: &'a str,
    /// Seconds the claim holds.
    pub lease_s: u64,
    /// The run claiming.
    pub operation_uuid: &'a str,
}

/// [`claim_pending`], marking the items as sent in batch job `id_ai_batch` (`None` for
/// direct calls), so that only the job's collection ends them.
pub fn claim_pending_into(
    db: &mut Db,
    claim: &ClaimFor<'_>,
    id_ai_batch: Option<u32>,
) -> Result<Vec<Item>, DbError> {
    let claimed = db.execute(
        CLAIM_PENDING_SQL,
        (
            PROCESSING,
            claim.claim_token,
            claim.lease_s,
            claim.operation_uuid,
            id_ai_batch,
            claim.id_task,
            PENDING,
            claim.limit,
        ),
    )?;
    let claim_token = claim.claim_token;
    if claimed == 0 {
        return Ok(Vec::new());
    }
    let rows: Vec<ItemRow> = db.query(
        concat!(
            "SELECT ",
            item_columns!(),
            " FROM task_item \
             WHERE claim_token = ? ORDER BY id_task_item"
        ),
        (claim_token,),
    )?;
    Ok(rows.into_iter().map(to_item).collect())
}

/// Reads up to `limit` PENDING items with an id above `after_id`, writing nothing
/// (for `--dry-run`).
pub fn peek_pending(
    db: &mut Db,
    id_task: u32,
    after_id: u32,
    limit: u32,
) -> Result<Vec<Item>, DbError> {
    let rows: Vec<ItemRow> = db.query(
        concat!(
            "SELECT ",
            item_columns!(),
            " FROM task_item \
             FORCE INDEX (idx_task_item_task_status) \
             WHERE id_task = ? AND status_id = ? AND id_task_item > ? \
             ORDER BY id_task_item LIMIT ?"
        ),
        (id_task, PENDING, after_id, limit),
    )?;
    Ok(rows.into_iter().map(to_item).collect())
}

/// The state of one item, for `--task-item`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ItemState {
    /// `id_task`.
    pub id_task: u32,
    /// `status_id`.
    pub status_id: u8,
    /// Seconds until the lease ends (negative once expired), when claimed.
    pub lease_left_s: Option<i64>,
}

/// Reads one item's task and status.
pub fn get_state(db: &mut Db, id_task_item: u32) -> Result<Option<ItemState>, DbError> {
    let row: Option<(u32, u8, Option<i64>)> = db.query_first(
        "SELECT id_task, status_id, TIMESTAMPDIFF(SECOND, NOW(), claimed_until) \
         FROM task_item WHERE id_task_item = ?",
        (id_task_item,),
    )?;
    Ok(row.map(|(id_task, status_id, lease_left_s)| ItemState {
        id_task,
        status_id,
        lease_left_s,
    }))
}

/// Reads one item for processing without claiming it (dry run of `--task-item`).
pub fn get(db: &mut Db, id_task_item: u32) -> Result<Option<Item>, DbError> {
    let row: Option<ItemRow> = db.query_first(
        concat!(
            "SELECT ",
            item_columns!(),
            " FROM task_item \
             WHERE id_task_item = ?"
        ),
        (id_task_item,),
    )?;
    Ok(row.map(to_item))
}

/// Claims one item by id for `--task-item`: a PENDING item, or an ERROR item (then its
/// task's `records_error` goes down by one in the same statement).
pub fn claim_one(
    db: &mut Db,
    id_task_item: u32,
    claim_token: &str,
    lease_s: u64,
    operation_uuid: &str,
) -> Result<Option<Item>, DbError> {
    let mut claimed = db.execute(
        "UPDATE task_item SET status_id = ?, claim_token = ?, \
         claimed_until = NOW() + INTERVAL ? SECOND, attempts = LEAST(attempts, 65534) + 1, \
         operation_uuid = ?, error_message = NULL, id_ai_batch = NULL \
         WHERE id_task_item = ? AND status_id = ?",
        (
            PROCESSING,
            claim_token,
            lease_s,
            operation_uuid,
            id_task_item,
            PENDING,
        ),
    )?;
    if claimed == 0 {
        claimed = db.execute(
            "UPDATE task_item i JOIN task t ON t.id_task = i.id_task \
             SET i.status_id = ?, i.claim_token = ?, \
             i.claimed_until = NOW() + INTERVAL ? SECOND, i.attempts = LEAST(i.attempts, 65534) + 1, \
             i.operation_uuid = ?, i.error_message = NULL, i.id_ai_batch = NULL, \
             t.records_error = GREATEST(t.records_error, 1) - 1 \
             WHERE i.id_task_item = ? AND i.status_id = ?",
            (
                PROCESSING,
                claim_token,
                lease_s,
                operation_uuid,
                id_task_item,
                ERROR,
            ),
        )?;
    }
    if claimed == 0 {
        return Ok(None);
    }
    let row: Option<ItemRow> = db.query_first(
        concat!(
            "SELECT ",
            item_columns!(),
            " FROM task_item \
             WHERE id_task_item = ? AND claim_token = ?"
        ),
        (id_task_item, claim_token),
    )?;
    Ok(row.map(to_item))
}

/// Reserves `amount` of the task's budget for a call about to be made, guarded by the
/// claim token: false when the task's `max_cost` would be exceeded (or the claim was
/// taken over). Items before the task row, like every statement on both tables.
pub fn reserve(
    db: &mut Db,
    id_task_item: u32,
    claim_token: &str,
    amount: f64,
) -> Result<bool, DbError> {
    let changed = db.execute(
        "UPDATE task_item i JOIN task t ON t.id_task = i.id_task \
         SET i.cost_reserved = ?, t.cost_reserved = t.cost_reserved + ? \
         WHERE i.id_task_item = ? AND i.claim_token = ? AND i.status_id = ? \
         AND (t.max_cost IS NULL OR COALESCE(t.cost, 0) + t.cost_reserved + ? <= t.max_cost)",
        (
            amount,
            amount,
            id_task_item,
            claim_token,
            PROCESSING,
            amount,
        ),
    )?;
    Ok(changed > 0)
}

/// Extends every claim made under `claim_tokens` that is still held: the run keeps
/// the leases of the items it holds (waiting or in a call) alive in a few statements.
/// Returns how many items were renewed.
pub fn renew_leases(db: &mut Db, claim_tokens: &[&str], lease_s: u64) -> Result<u64, DbError> {
    let mut renewed = 0;
    for tokens in claim_tokens.chunks(200) {
        let marks = vec!["?"; tokens.len()].join(", ");
        let sql = format!(
            "UPDATE task_item SET claimed_until = NOW() + INTERVAL ? SECOND \
             WHERE claim_token IN ({marks}) AND status_id = ?"
        );
        let mut params: Vec<mysql::Value> = vec![lease_s.into()];
        params.extend(tokens.iter().map(|&t| t.into()));
        params.push(PROCESSING.into());
        renewed += db.execute(&sql, params)?;
    }
    Ok(renewed)
}

/// What `reap_expired` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Items returned to PENDING.
    pub returned: u64,
    /// Items that ran out of attempts and became ERROR.
    pub failed: u64,
}

/// Recovers items a dead worker left PROCESSING after their lease (or with no lease
/// at all, as a hand edit may leave them): back to PENDING,
/// or ERROR once they were claimed `max_attempts` times (an item that kills workers
/// must not kill every run). Items inside a batch job are left to the job's collection,
/// which knows whether the provider answered them.
pub fn reap_expired(db: &mut Db, id_task: u32, max_attempts: u32) -> Result<Reaped, DbError> {
    let expired: Vec<(u32, u32, String)> = db.query(
        "SELECT id_task_item, attempts, CAST(cost_reserved AS CHAR) FROM task_item \
         FORCE INDEX (idx_task_item_task_status) WHERE id_task = ? AND status_id = ? \
         AND (claimed_until < NOW() OR claimed_until IS NULL) AND id_ai_batch IS NULL",
        (id_task, PROCESSING),
    )?;
    let mut reaped = Reaped::default();
    for (id, attempts, reserved) in expired {
        let reserved: f64 = reserved.parse().unwrap_or(0.0);
        if attempts < max_attempts {
            reaped.returned += reap_one(db, id, PENDING, None, reserved)?;
        } else {
            let message = format!(
                "gave up after {attempts} attempts: the worker processing this item stopped before saving a result (lease expired)"
            );
            reaped.failed += reap_one(db, id, ERROR, Some(&message), reserved)?;
        }
    }
    Ok(reaped)
}

/// Ends one expired claim: back to PENDING, or ERROR with `message` (then counted on
/// the task); the dead worker's budget reservation is given back either way.
fn reap_one(
    db: &mut Db,
    id: u32,
    status: u8,
    message: Option<&str>,
    reserved: f64,
) -> Result<u64, DbError> {
    let failed = u8::from(message.is_some());
    let changed = db.execute(
        "UPDATE task_item i JOIN task t ON t.id_task = i.id_task \
         SET i.status_id = ?, i.claim_token = NULL, i.claimed_until = NULL, \
         i.processed_at = IF(? = 1, NOW(), i.processed_at), \
         i.error_message = IF(? = 1, CONCAT(COALESCE(CONCAT(i.error_message, '; '), ''), ?), i.error_message), \
         i.cost_reserved = 0, t.cost_reserved = GREATEST(t.cost_reserved - ?, 0), \
         t.records_error = LEAST(t.records_error, 4294967294) + ? \
         WHERE i.id_task_item = ? AND i.status_id = ? \
         AND (i.claimed_until < NOW() OR i.claimed_until IS NULL) AND i.id_ai_batch IS NULL",
        (
            status,
            failed,
            failed,
            message.unwrap_or_default(),
            reserved,
            failed,
            id,
            PROCESSING,
        ),
    )?;
    Ok(changed.min(1))
}

/// Puts a task's ERROR items back to PENDING with `attempts = 0` (`--retry-failed`),
/// and the task with them: `records_error` down by as many, an ERROR task back to
/// IN_PROGRESS. One transaction with the rows locked. Returns each item's id and
/// the error it had, for the log.
pub fn retry_failed(db: &mut Db, id_task: u32) -> Result<Vec<(u32, Option<String>)>, DbError> {
    db.transaction(|db| {
        let failed: Vec<(u32, Option<String>)> = db.query(
            "SELECT id_task_item, error_message FROM task_item \
             WHERE id_task = ? AND status_id = ? ORDER BY id_task_item FOR UPDATE",
            (id_task, ERROR),
        )?;
        if failed.is_empty() {
            return Ok(failed);
        }
        let n = db.execute(
            "UPDATE task_item SET status_id = ?, attempts = 0, error_message = NULL, \
             processed_at = NULL WHERE id_task = ? AND status_id = ?",
            (PENDING, id_task, ERROR),
        )?;
        db.execute(
            "UPDATE task SET records_error = GREATEST(records_error, ?) - ?, \
             status_id = IF(status_id = ?, ?, status_id), finished_at = NULL, \
             error_message = NULL WHERE id_task = ?",
            (n, n, TASK_ERROR, TASK_IN_PROGRESS, id_task),
        )?;
        Ok(failed)
    })
}

/// The tasks that have ERROR items, oldest first.
pub fn tasks_with_failed_items(db: &mut Db) -> Result<Vec<u32>, DbError> {
    db.query(
        "SELECT DISTINCT id_task FROM task_item WHERE status_id = ? ORDER BY id_task",
        (ERROR,),
    )
}

/// Adds an item to a task (what the panel does; used by `ai-worker demo`).
pub fn insert(db: &mut Db, id_task: u32, text_original: &str) -> Result<(), DbError> {
    db.execute(
        "INSERT INTO task_item (id_task, text_original) VALUES (?, ?)",
        (id_task, text_original),
    )?;
    Ok(())
}

/// One item's outcome, for `ai-worker demo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// `id_task_item`.
    pub id: u32,
    /// `text_original`.
    pub text_original: String,
    /// `text_corrected`.
    pub text_corrected: Option<String>,
    /// `change_summary`.
    pub change_summary: Option<String>,
    /// `tokens_input`.
    pub tokens_input: u64,
    /// `tokens_output`.
    pub tokens_output: u64,
    /// `status_id`.
    pub status_id: u8,
    /// `error_message`.
    pub error_message: Option<String>,
}

/// Every item of a task with its result, oldest first.
pub fn outcomes(db: &mut Db, id_task: u32) -> Result<Vec<Outcome>, DbError> {
    type Row = (
        u32,
        String,
        Option<String>,
        Option<String>,
        u64,
        u64,
        u8,
        Option<String>,
    );
    let rows: Vec<Row> = db.query(
        "SELECT id_task_item, text_original, text_corrected, change_summary, tokens_input, \
         tokens_output, status_id, error_message FROM task_item WHERE id_task = ? \
         ORDER BY id_task_item",
        (id_task,),
    )?;
    Ok(rows
        .into_iter()
        .map(
            |(
                id,
                text_original,
                text_corrected,
                change_summary,
                tokens_input,
                tokens_output,
                status_id,
                error_message,
            )| Outcome {
                id,
                text_original,
                text_corrected,
                change_summary,
                tokens_input,
                tokens_output,
                status_id,
                error_message,
            },
        )
        .collect())
}
