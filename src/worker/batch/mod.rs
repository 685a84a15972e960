//! Batch mode: a batch task's pending items go out as provider jobs ([`submit`]), and
//! every run first collects the jobs that finished ([`collect`]).
//!
//! Nothing is lost or paid twice across runs: a job's row and its items' claims are
//! written before anything leaves the building, the provider's job id is the first
//! thing stored after the job exists, and a job whose id was never stored is found
//! again at the provider by its key. Items in a job end only through the job's
//! collection, under the same guards and the same token-guarded writes as direct calls.

mod cancel;
mod collect;
mod submit;

use crate::ai::batch::Batches;
use crate::db::batch_repository::{self as jobs, Job, JobEnd};
use crate::db::item::Spent;
use crate::db::spend_repository as spend;
use crate::db::{Db, DbError};

use super::claim::Claim;

/// The key a part of an item is sent under: `{item}-{part}-{parts}`.
fn line_key(id_task_item: u32, part: usize, parts: usize) -> String {
    format!("{id_task_item}-{part}-{parts}")
}

/// The item and part (1-based) a line's key names.
fn parse_line_key(key: &str) -> Option<(u32, usize)> {
    let mut fields = key.split('-');
    let item = fields.next()?.parse().ok()?;
    let part = fields.next()?.parse().ok()?;
    Some((item, part))
}

/// Puts every item still in a job back to PENDING, the claim not counted as an
/// attempt (the provider never answered them); returns how many.
fn return_all(db: &mut Db, job: &Job) -> Result<u32, DbError> {
    let mut returned = 0;
    for job_item in jobs::items_in_job(db, job)? {
        let spent = Spent {
            reserved: job_item.reserved,
            ..Spent::default()
        };
        let claim = Claim::in_job(job_item.item, &job.job_key);
        if claim.release(db, &spent)? == super::Ended::Done {
            returned += 1;
        }
    }
    Ok(returned)
}

/// Ends a job none of whose remaining items the provider answered: they go back to
/// PENDING (see [`return_all`]) and the job is closed in `state`, with the message
/// `message` makes of how many went back. Returns that count and message.
fn close_unanswered(
    db: &mut Db,
    job: &Job,
    state: &'static str,
    message: impl FnOnce(u32) -> Option<String>,
) -> Result<(u32, Option<String>), DbError> {
    let returned = return_all(db, job)?;
    let message = message(returned);
    let end = JobEnd {
        state,
        returned,
        message: message.clone(),
        ..JobEnd::default()
    };
    close_job(db, job, &end)?;
    Ok((returned, message))
}

/// Closes a job and settles what it reserved of the model's daily budget against what
/// its lines cost.
fn close_job(db: &mut Db, job: &Job, end: &JobEnd) -> Result<(), DbError> {
    jobs::finish_job(db, job.id, end)?;
    if let Some((reserved, day)) = &job.daily_reserved {
        spend::settle(db, job.id_ai_model, day, *reserved, end.cost.unwrap_or(0.0))?;
    }
    Ok(())
}

/// The Batch API of a task's model, or why there is none.
fn batch_api(
    config: &crate::Config,
    spec: &crate::ai::ModelSpec,
    agent: &ureq::Agent,
) -> Result<Batches, String> {
    Batches::new(
        spec,
        config.ai_timeout,
        config.batch.inline_max_bytes,
        agent.clone(),
    )
}

/// Test builds only: aborts the process (as kill -9 would) at the named point of
/// submitting or collecting, when `AI_WORKER_FAILPOINT_BATCH` names it.
fn failpoint(point: &str) {
    if cfg!(debug_assertions)
        && std::env::var("AI_WORKER_FAILPOINT_BATCH").is_ok_and(|p| p == point)
    {
        log::error!("failpoint {point}: aborting");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_keys_round_trip_and_junk_is_refused() {
        assert_eq!(parse_line_key(&line_key(42, 2, 3)), Some((42, 2)));
        for junk in ["", "x-1-1", "42", "42-", "-1-1", "4294967296-1-1"] {
            assert_eq!(parse_line_key(junk), None, "{junk}");
        }
    }
}
