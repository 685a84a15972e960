//! A claimed item: the only way to end a claim is to complete, fail or release it, and
//! each of those consumes the claim, so no item can be saved twice by one worker.
//!
//! Every end is one statement guarded by the claim token (see
//! `db::task_item_repository`): a worker whose lease was taken over changes nothing
//! and learns so as [`Ended::Lost`].

use std::time::{Duration, Instant};

use crate::db::item::{Item, ItemResult, Spent};
use crate::db::task_item_repository as items;
use crate::db::{Db, DbError};

/// An item this worker holds, with the token that proves it.
#[derive(Debug)]
pub struct Claim {
    item: Item,
    token: String,
    claimed_at: Instant,
}

/// How a claim ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ended {
    /// The write was made.
    Done,
    /// Another worker had taken the item over (lease expired): nothing was written.
    Lost,
}

fn ended(changed: bool) -> Ended {
    if changed { Ended::Done } else { Ended::Lost }
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
        let claimed_at = Instant::now();
        Ok(batch
            .into_iter()
            .map(|item| Claim {
                item,
                token: token.clone(),
                claimed_at,
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
        Ok(item.map(|item| Claim {
            item,
            token,
            claimed_at: Instant::now(),
        }))
    }

    /// The item claimed.
    pub fn item(&self) -> &Item {
        &self.item
    }

    /// Saves the result (PROCESSED) and counts it on the task.
    pub fn complete(
        self,
        db: &mut Db,
        result: &ItemResult,
        operation_uuid: &str,
    ) -> Result<Ended, DbError> {
        items::update_result(db, self.item.id, &self.token, result, operation_uuid).map(ended)
    }

    /// Marks the item ERROR with `message` and counts it, and what it cost, on the task.
    pub fn fail(
        self,
        db: &mut Db,
        message: &str,
        operation_uuid: &str,
        spent: &Spent,
    ) -> Result<Ended, DbError> {
        items::mark_error(
            db,
            self.item.id,
            &self.token,
            message,
            operation_uuid,
            spent,
        )
        .map(ended)
    }

    /// Hands the item back to PENDING without counting the claim as an attempt (what
    /// its calls cost so far is still counted).
    pub fn release(self, db: &mut Db, spent: &Spent) -> Result<Ended, DbError> {
        items::release(db, self.item.id, &self.token, spent).map(ended)
    }

    /// Reserves `amount` of the task's budget before a call: false when `max_cost`
    /// would be exceeded.
    pub fn reserve(&self, db: &mut Db, amount: f64) -> Result<bool, DbError> {
        items::reserve(db, self.item.id, &self.token, amount)
    }

    /// Extends the lease when the claim is older than half of it (the item waited for
    /// a free thread or a slow model). Returns false if the lease was taken over.
    pub fn renew_if_old(&mut self, db: &mut Db, lease: Duration) -> Result<bool, DbError> {
        if self.claimed_at.elapsed() <= lease / 2 {
            return Ok(true);
        }
        let renewed = items::renew_lease(db, self.item.id, &self.token, lease.as_secs())?;
        if renewed {
            self.claimed_at = Instant::now();
        }
        Ok(renewed)
    }
}

/// Batch mode: items claimed into a job carry the job's key as their token.
impl Claim {
    /// The claim a batch job holds on one of its items.
    pub fn in_job(item: Item, job_key: &str) -> Claim {
        Claim {
            item,
            token: job_key.to_string(),
            claimed_at: Instant::now(),
        }
    }

    /// Hands the item back to PENDING with the claim counted as an attempt (a batch
    /// line that failed: the next job tries again, up to `AI_MAX_ATTEMPTS`).
    pub fn requeue(self, db: &mut Db, spent: &Spent) -> Result<Ended, DbError> {
        items::return_pending(db, self.item.id, &self.token, spent, true).map(ended)
    }
}

impl Claim {
    /// Renews the lease now (before a wait or a retry of the model call). Returns
    /// false if the lease was taken over.
    pub fn keep_alive(&self, db: &mut Db, lease: Duration) -> Result<bool, DbError> {
        items::renew_lease(db, self.item.id, &self.token, lease.as_secs())
    }
}

fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}
