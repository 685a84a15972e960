//! A claimed item: the only way to end a claim is to complete, fail or release it, and
//! each of those consumes the claim, so no item can be saved twice by one worker.
//!
//! Every end is guarded by the claim token, and several end in one transaction (see
//! `db::claim_end_repository`): a worker whose lease was taken over changes nothing
//! and learns so as [`Ended::Lost`]. The producer keeps the leases of the claims it
//! holds alive, by token.

use std::time::Duration;

use crate::db::claim_end_repository::{self as claim_ends, ClaimEnd, EndAction, Written};
use crate::db::item::{Item, ItemResult, Spent};
use crate::db::task_item_repository as items;
use crate::db::{Db, DbError};

/// An item this worker holds, with the token that proves it.
#[derive(Debug)]
pub struct Claim {
    item: Item,
    token: String,
}

/// How a claim ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The write was made.
    Done,
    /// The panel edited the item's text after the claim: nothing of the result was
    /// saved, the item is PENDING again (what it cost is counted).
    Stale,
    /// Another worker had taken the item over (lease expired): nothing was written.
    Lost,
}

/// How a claim is to end, as the completer decided it from the item's outcome.
#[derive(Clone, Debug, PartialEq)]
pub enum ItemEnd {
    /// PROCESSED with this result (what it cost is inside).
    Saved(ItemResult),
    /// ERROR with this message.
    Failed {
        /// `error_message`.
        message: String,
        /// What the calls cost.
        spent: Spent,
    },
    /// Back to PENDING, the claim not counted as an attempt (the run or the task
    /// stopped before the item was done).
    Released {
        /// What the calls cost so far.
        spent: Spent,
    },
    /// Back to PENDING, the claim counted as an attempt (a batch line that failed).
    Requeued {
        /// What the calls cost.
        spent: Spent,
    },
}

impl ItemEnd {
    /// What the item's calls cost, however it ends.
    pub fn spent(&self) -> Spent {
        match self {
            ItemEnd::Saved(result) => result.spent,
            ItemEnd::Failed { spent, .. }
            | ItemEnd::Released { spent }
            | ItemEnd::Requeued { spent } => *spent,
        }
    }

    fn action(&self) -> EndAction<'_> {
        match self {
            ItemEnd::Saved(result) => EndAction::Save {
                text_corrected: match result.result_json {
                    Some(_) => None,
                    None => Some(&result.text_corrected),
                },
                change_summary: &result.change_summary,
                result_json: result.result_json.as_deref(),
                id_ai_model: result.id_ai_model,
                reused_from: result.reused_from,
            },
            ItemEnd::Failed { message, .. } => EndAction::Fail { message },
            ItemEnd::Released { .. } => EndAction::Release {
                attempt_counts: false,
            },
            ItemEnd::Requeued { .. } => EndAction::Release {
                attempt_counts: true,
            },
        }
    }
}

/// Ends every claim with its end in one transaction; returns each item with how its
/// claim ended, in order. This is the one place a claim ends.
pub fn end_all(
    db: &mut Db,
    ends: &[(&Claim, &ItemEnd)],
    operation_uuid: &str,
) -> Result<Vec<Ended>, DbError> {
    let rows: Vec<ClaimEnd<'_>> = ends
        .iter()
        .map(|(claim, end)| ClaimEnd {
            id_task_item: claim.item.id,
            id_task: claim.item.id_task,
            claim_token: &claim.token,
            text_sha: claim.item.text_sha.as_deref(),
            action: end.action(),
            spent: end.spent(),
        })
        .collect();
    let written = claim_ends::end_claims(db, &rows, operation_uuid)?;
    Ok(written
        .into_iter()
        .map(|written| match written {
            Written::Done => Ended::Done,
            Written::Stale => Ended::Stale,
            Written::Lost => Ended::Lost,
        })
        .collect())
}

impl Claim {
    /// Claims up to `limit` PENDING items of a task for `lease`, oldest first.
    pub fn take_batch(
        db: &mut Db,
        id_task: u32,
        limit: u32,
        lease: Duration,
        operation_uuid: &str,
    ) -> Result<Vec<Claim>, DbError> {
        let token = new_token();
        let batch =
            items::claim_pending(db, id_task, limit, &token, lease.as_secs(), operation_uuid)?;
        Ok(batch
            .into_iter()
            .map(|item| Claim {
                item,
                token: token.clone(),
            })
            .collect())
    }

    /// Claims one item by id (PENDING, or ERROR to try again), as `--task-item` does.
    pub fn take_one(
        db: &mut Db,
        id_task_item: u32,
        lease: Duration,
        operation_uuid: &str,
    ) -> Result<Option<Claim>, DbError> {
        let token = new_token();
        let item = items::claim_one(db, id_task_item, &token, lease.as_secs(), operation_uuid)?;
        Ok(item.map(|item| Claim { item, token }))
    }

    /// The item claimed.
    pub fn item(&self) -> &Item {
        &self.item
    }

    /// The claim's token (the items of one claim statement share it).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Ends this one claim as `end` says.
    pub fn end(self, db: &mut Db, end: ItemEnd, operation_uuid: &str) -> Result<Ended, DbError> {
        let ended = end_all(db, &[(&self, &end)], operation_uuid)?;
        Ok(ended.first().copied().unwrap_or(Ended::Lost))
    }

    /// Saves the result (PROCESSED) and counts it on the task.
    pub fn complete(
        self,
        db: &mut Db,
        result: &ItemResult,
        operation_uuid: &str,
    ) -> Result<Ended, DbError> {
        self.end(db, ItemEnd::Saved(result.clone()), operation_uuid)
    }

    /// Marks the item ERROR with `message` and counts it, and what it cost, on the task.
    pub fn fail(
        self,
        db: &mut Db,
        message: &str,
        operation_uuid: &str,
        spent: &Spent,
    ) -> Result<Ended, DbError> {
        let end = ItemEnd::Failed {
            message: message.to_string(),
            spent: *spent,
        };
        self.end(db, end, operation_uuid)
    }

    /// Hands the item back to PENDING without counting the claim as an attempt (what
    /// its calls cost so far is still counted).
    pub fn release(self, db: &mut Db, spent: &Spent) -> Result<Ended, DbError> {
        self.end(db, ItemEnd::Released { spent: *spent }, "")
    }

    /// Reserves `amount` of the task's budget before a call: false when `max_cost`
    /// would be exceeded.
    pub fn reserve(&self, db: &mut Db, amount: f64) -> Result<bool, DbError> {
        items::reserve(db, self.item.id, &self.token, amount)
    }
}

/// Batch mode: items claimed into a job carry the job's key as their token.
impl Claim {
    /// The claim a batch job holds on one of its items.
    pub fn in_job(item: Item, job_key: &str) -> Claim {
        Claim {
            item,
            token: job_key.to_string(),
        }
    }

    /// Hands the item back to PENDING with the claim counted as an attempt (a batch
    /// line that failed: the next job tries again, up to `AI_MAX_ATTEMPTS`).
    pub fn requeue(self, db: &mut Db, spent: &Spent) -> Result<Ended, DbError> {
        self.end(db, ItemEnd::Requeued { spent: *spent }, "")
    }
}

fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}
