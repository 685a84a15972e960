//! SQL that ends claims: an item saved (PROCESSED), failed (ERROR) or handed back
//! (PENDING), several items in one transaction that touches each task row once.
//!
//! Every item write is guarded by the claim token, so a worker whose lease was taken
//! over changes nothing. A result or an error is written only while the item's
//! `text_original` is the text that was sent (its SHA-256 at the claim): if the panel
//! edited the text meanwhile, the item goes back to PENDING instead, its spending
//! still counted. The task's counters and sums change in the same transaction as the
//! item rows, so they equal what the rows say even if the worker is killed. Lock
//! order: the task rows, then the items.

use std::collections::BTreeMap;

use super::item::Spent;
use super::status::item::{ERROR, PENDING, PROCESSED, PROCESSING};
use super::{Db, DbError};
use crate::ai::Usage;

/// How a claim is to end.
#[derive(Clone, Debug, PartialEq)]
pub enum EndAction<'a> {
    /// PROCESSED with this result.
    Save {
        /// `text_corrected` (`None`: NULL, for a result kept in `result_json`).
        text_corrected: Option<&'a str>,
        /// `change_summary`.
        change_summary: &'a str,
        /// `result_json`: an analysis task's object.
        result_json: Option<&'a str>,
        /// `id_ai_model`: the model that made the result.
        id_ai_model: Option<u32>,
        /// `reused_from`: the item the result was taken from, if it was.
        reused_from: Option<u32>,
    },
    /// ERROR with this message.
    Fail {
        /// `error_message`.
        message: &'a str,
    },
    /// Back to PENDING; `attempt_counts` keeps the claim counted as an attempt (a batch
    /// line that failed), else it is given back (the item was never really tried).
    Release {
        /// Whether the claim stays counted in `attempts`.
        attempt_counts: bool,
    },
}

/// One claim to end.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimEnd<'a> {
    /// `id_task_item`.
    pub id_task_item: u32,
    /// `id_task`, whose counters change with the item.
    pub id_task: u32,
    /// The token the claim holds.
    pub claim_token: &'a str,
    /// SHA-256 (hex) of `text_original` as it was claimed; `None` = not checked.
    pub text_sha: Option<&'a str>,
    /// What to write.
    pub action: EndAction<'a>,
    /// What the item's calls cost (added to the item and its task either way).
    pub spent: Spent,
}

/// What became of one claim end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Written {
    /// Written as asked.
    Done,
    /// The text changed since the claim: back to PENDING (spending counted, attempt
    /// given back), to be processed again with the new text.
    Stale,
    /// The claim was no longer held (lease taken over, item deleted): nothing written.
    Lost,
}

/// What the ends of one batch add to one task row.
#[derive(Default)]
struct TaskDelta {
    processed: u64,
    error: u64,
    spent: Spent,
    cost_known: bool,
}

/// Adds a claim's spending to the item (`i`): tokens, cost; its reservation ends.
macro_rules! item_spend {
    () => {
        "i.tokens_input = LEAST(i.tokens_input + ?, 4294967295), \
         i.tokens_output = LEAST(i.tokens_output + ?, 4294967295), \
         i.tokens_cached = LEAST(i.tokens_cached + ?, 4294967295), \
         i.tokens_thinking = LEAST(i.tokens_thinking + ?, 4294967295), \
         i.cost = IF(? IS NULL, i.cost, COALESCE(i.cost, 0) + ?), i.cost_reserved = 0"
    };
}

/// The values of `item_spend!`, in order.
fn item_spend_params(spent: &Spent) -> Vec<mysql::Value> {
    let clamp = |n: u64| n.min(u64::from(u32::MAX));
    vec![
        clamp(spent.tokens.input).into(),
        clamp(spent.tokens.output).into(),
        clamp(spent.tokens.cached).into(),
        clamp(spent.tokens.thinking).into(),
        spent.cost.into(),
        spent.cost.into(),
    ]
}

/// Ends every claim of `ends` in one transaction (run again from the start if the
/// server chose it as a deadlock's victim); returns what became of each, in order.
pub fn end_claims(
    db: &mut Db,
    ends: &[ClaimEnd<'_>],
    operation_uuid: &str,
) -> Result<Vec<Written>, DbError> {
    if ends.is_empty() {
        return Ok(Vec::new());
    }
    if let [end] = ends {
        return Ok(vec![end_one(db, end, operation_uuid, true)?]);
    }
    let mut order: Vec<usize> = (0..ends.len()).collect();
    order.sort_by_key(|&i| ends[i].id_task_item);
    let mut task_ids: Vec<u32> = ends.iter().map(|e| e.id_task).collect();
    task_ids.sort_unstable();
    task_ids.dedup();
    db.transaction(|db| {
        // The task rows first, exclusively: every item write takes a shared lock on
        // its task row (the foreign key check), and two transactions that each held
        // one and then wanted the row exclusively would deadlock every time.
        lock_tasks(db, &task_ids)?;
        let mut written = vec![Written::Lost; ends.len()];
        let mut deltas: BTreeMap<u32, TaskDelta> = BTreeMap::new();
        for &i in &order {
            let end = &ends[i];
            written[i] = end_one(db, end, operation_uuid, false)?;
            if written[i] == Written::Lost {
                continue;
            }
            let delta = deltas.entry(end.id_task).or_default();
            add_spent(delta, &end.spent);
            match (&end.action, written[i]) {
                (EndAction::Save { .. }, Written::Done) => delta.processed += 1,
                (EndAction::Fail { .. }, Written::Done) => delta.error += 1,
                _ => {}
            }
        }
        for (id_task, delta) in &deltas {
            add_to_task(db, *id_task, delta)?;
        }
        Ok(written)
    })
}

/// Locks the task rows for the rest of the transaction, in id order.
fn lock_tasks(db: &mut Db, ids: &[u32]) -> Result<(), DbError> {
    let marks = vec!["?"; ids.len()].join(", ");
    let sql =
        format!("SELECT id_task FROM task WHERE id_task IN ({marks}) ORDER BY id_task FOR UPDATE");
    let params: Vec<mysql::Value> = ids.iter().map(|&id| id.into()).collect();
    db.query::<u32, _>(&sql, params).map(drop)
}

fn add_spent(delta: &mut TaskDelta, spent: &Spent) {
    // Each item's tokens as its row holds them (INT UNSIGNED), so that the task's
    // sums equal the rows'.
    let clamp = |n: u64| n.min(u64::from(u32::MAX));
    let sum = &mut delta.spent;
    sum.tokens.add(Usage {
        input: clamp(spent.tokens.input),
        output: clamp(spent.tokens.output),
        cached: clamp(spent.tokens.cached),
        thinking: clamp(spent.tokens.thinking),
    });
    if let Some(cost) = spent.cost {
        *sum.cost.get_or_insert(0.0) += cost;
        delta.cost_known = true;
    }
    sum.reserved += spent.reserved;
}

/// Writes one item's end; a result or error on a text edited since the claim hands
/// the item back instead. `alone`: the end goes in statements of its own, each
/// changing the task's counters too (one round trip for a lone item instead of a
/// transaction of five).
fn end_one(
    db: &mut Db,
    end: &ClaimEnd<'_>,
    operation_uuid: &str,
    alone: bool,
) -> Result<Written, DbError> {
    let counted = |processed: u64, error: u64| alone.then_some([processed, error]);
    let finished = match &end.action {
        EndAction::Save {
            text_corrected,
            change_summary,
            result_json,
            id_ai_model,
            reused_from,
        } => {
            let result = (
                *text_corrected,
                *change_summary,
                *result_json,
                *id_ai_model,
                *reused_from,
            );
            write_result(db, end, result, operation_uuid, counted(1, 0))?
        }
        EndAction::Fail { message } => {
            write_error(db, end, message, operation_uuid, counted(0, 1))?
        }
        EndAction::Release { attempt_counts } => {
            return Ok(
                if return_pending(db, end, *attempt_counts, counted(0, 0))? {
                    Written::Done
                } else {
                    Written::Lost
                },
            );
        }
    };
    if finished {
        return Ok(Written::Done);
    }
    // Not written: either the claim is gone, or the text changed under it.
    Ok(if return_pending(db, end, false, counted(0, 0))? {
        Written::Stale
    } else {
        Written::Lost
    })
}

/// The guard every end shares: the claim is held, and (when known) the text is the
/// one that was sent.
const GUARD: &str = " WHERE i.id_task_item = ? AND i.claim_token = ? AND i.status_id = ? \
     AND (? IS NULL OR SHA2(i.text_original, 256) = ?)";

fn guard_params(end: &ClaimEnd<'_>, check_text: bool) -> Vec<mysql::Value> {
    let sha = end.text_sha.filter(|_| check_text);
    vec![
        end.id_task_item.into(),
        end.claim_token.into(),
        PROCESSING.into(),
        sha.into(),
        sha.into(),
    ]
}

/// The task's counters and sums, changed in the item's own statement (`t`).
const TASK_SETS: &str = ", t.records_processed = LEAST(t.records_processed + ?, 4294967295), \
     t.records_error = LEAST(t.records_error + ?, 4294967295), \
     t.tokens_input = LEAST(t.tokens_input, 18446744069414584319) + ?, \
     t.tokens_output = LEAST(t.tokens_output, 18446744069414584319) + ?, \
     t.tokens_cached = LEAST(t.tokens_cached, 18446744069414584319) + ?, \
     t.tokens_thinking = LEAST(t.tokens_thinking, 18446744069414584319) + ?, \
     t.cost = IF(? IS NULL, t.cost, COALESCE(t.cost, 0) + ?), \
     t.cost_reserved = GREATEST(t.cost_reserved - ?, 0)";

/// Runs one item's `UPDATE` (`item_sets` and their `params`), guarded; with
/// `counted`, the task's counters change in the same statement.
fn run_end(
    db: &mut Db,
    end: &ClaimEnd<'_>,
    item_sets: &str,
    mut params: Vec<mysql::Value>,
    check_text: bool,
    counted: Option<[u64; 2]>,
) -> Result<bool, DbError> {
    let (join, task_sets) = match counted {
        Some([processed, error]) => {
            let mut delta = TaskDelta {
                processed,
                error,
                ..TaskDelta::default()
            };
            add_spent(&mut delta, &end.spent);
            let s = &delta.spent;
            let cost = delta.cost_known.then_some(s.cost.unwrap_or(0.0));
            params.extend::<[mysql::Value; 9]>([
                processed.into(),
                error.into(),
                s.tokens.input.into(),
                s.tokens.output.into(),
                s.tokens.cached.into(),
                s.tokens.thinking.into(),
                cost.into(),
                cost.into(),
                s.reserved.into(),
            ]);
            (" JOIN task t ON t.id_task = i.id_task", TASK_SETS)
        }
        None => ("", ""),
    };
    params.extend(guard_params(end, check_text));
    let sql = format!("UPDATE task_item i{join} SET {item_sets}{task_sets}{GUARD}");
    Ok(db.execute(&sql, params)? > 0)
}

/// `text_corrected`, `change_summary`, `result_json`, `id_ai_model`, `reused_from`.
type SavedResult<'a> = (
    Option<&'a str>,
    &'a str,
    Option<&'a str>,
    Option<u32>,
    Option<u32>,
);

fn write_result(
    db: &mut Db,
    end: &ClaimEnd<'_>,
    (text_corrected, change_summary, result_json, id_ai_model, reused_from): SavedResult<'_>,
    operation_uuid: &str,
    counted: Option<[u64; 2]>,
) -> Result<bool, DbError> {
    let mut params: Vec<mysql::Value> = vec![
        text_corrected.into(),
        change_summary.into(),
        result_json.into(),
        id_ai_model.into(),
        reused_from.into(),
        PROCESSED.into(),
        operation_uuid.into(),
    ];
    params.extend(item_spend_params(&end.spent));
    let sets = concat!(
        "i.text_corrected = ?, i.change_summary = ?, i.result_json = ?, \
         i.id_ai_model = COALESCE(?, i.id_ai_model), i.reused_from = ?, \
         i.text_hash = SHA2(i.text_original, 256), i.status_id = ?, \
         i.processed_at = NOW(), i.operation_uuid = ?, i.error_message = NULL, \
         i.claim_token = NULL, i.claimed_until = NULL, ",
        item_spend!()
    );
    run_end(db, end, sets, params, true, counted)
}

fn write_error(
    db: &mut Db,
    end: &ClaimEnd<'_>,
    message: &str,
    operation_uuid: &str,
    counted: Option<[u64; 2]>,
) -> Result<bool, DbError> {
    let mut params: Vec<mysql::Value> = vec![ERROR.into(), message.into(), operation_uuid.into()];
    params.extend(item_spend_params(&end.spent));
    let sets = concat!(
        "i.status_id = ?, i.error_message = ?, i.operation_uuid = ?, \
         i.processed_at = NOW(), i.claim_token = NULL, i.claimed_until = NULL, ",
        item_spend!()
    );
    run_end(db, end, sets, params, true, counted)
}

fn return_pending(
    db: &mut Db,
    end: &ClaimEnd<'_>,
    attempt_counts: bool,
    counted: Option<[u64; 2]>,
) -> Result<bool, DbError> {
    let mut params: Vec<mysql::Value> = vec![PENDING.into(), attempt_counts.into()];
    params.extend(item_spend_params(&end.spent));
    let sets = concat!(
        "i.status_id = ?, i.claim_token = NULL, i.claimed_until = NULL, \
         i.attempts = IF(?, i.attempts, GREATEST(i.attempts, 1) - 1), ",
        item_spend!()
    );
    run_end(db, end, sets, params, false, counted)
}

/// Adds a batch's counts and spending to one task row, and gives back what its calls
/// had reserved of the task's budget.
fn add_to_task(db: &mut Db, id_task: u32, delta: &TaskDelta) -> Result<(), DbError> {
    let s = &delta.spent;
    let cost = delta.cost_known.then_some(s.cost.unwrap_or(0.0));
    db.execute(
        "UPDATE task SET \
         records_processed = LEAST(records_processed + ?, 4294967295), \
         records_error = LEAST(records_error + ?, 4294967295), \
         tokens_input = LEAST(tokens_input, 18446744069414584319) + ?, \
         tokens_output = LEAST(tokens_output, 18446744069414584319) + ?, \
         tokens_cached = LEAST(tokens_cached, 18446744069414584319) + ?, \
         tokens_thinking = LEAST(tokens_thinking, 18446744069414584319) + ?, \
         cost = IF(? IS NULL, cost, COALESCE(cost, 0) + ?), \
         cost_reserved = GREATEST(cost_reserved - ?, 0) WHERE id_task = ?",
        (
            delta.processed,
            delta.error,
            s.tokens.input,
            s.tokens.output,
            s.tokens.cached,
            s.tokens.thinking,
            cost,
            cost,
            s.reserved,
            id_task,
        ),
    )?;
    Ok(())
}
