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

/// Longest line key: gateways in front of the Batch APIs cap `custom_id` at 64.
const MAX_KEY_LEN: usize = 64;

/// The key of a line that carries several items (ids ascending):
/// `p{first}-{bitmap}`, the bitmap in hex with bit `i` for item `first + i`, so any
/// ids fit that lie close together. `None` when they do not fit [`MAX_KEY_LEN`].
fn pack_key(ids: &[u32]) -> Option<String> {
    let (&first, _) = ids.split_first()?;
    let mut bits: Vec<u8> = Vec::new();
    for &id in ids {
        let offset = id.checked_sub(first)? as usize;
        let (nibble, bit) = (offset / 4, offset % 4);
        if nibble >= MAX_KEY_LEN {
            return None;
        }
        if bits.len() <= nibble {
            bits.resize(nibble + 1, 0);
        }
        bits[nibble] |= 1 << bit;
    }
    let hex: String = bits
        .iter()
        .map(|b| char::from_digit(u32::from(*b), 16).unwrap_or('0'))
        .collect();
    let key = format!("p{first}-{hex}");
    (key.len() <= MAX_KEY_LEN).then_some(key)
}

/// What a line's key names.
#[derive(Debug, PartialEq, Eq)]
enum LineKey {
    /// One part (from 1) of one item.
    Part(u32, usize),
    /// Several items, in their order in the line.
    Pack(Vec<u32>),
}

/// What a line's key names; `None` for a key the worker never writes.
fn parse_line_key(key: &str) -> Option<LineKey> {
    if let Some(pack) = key.strip_prefix('p') {
        let (first, hex) = pack.split_once('-')?;
        let first: u32 = first.parse().ok()?;
        let mut ids = Vec::new();
        for (nibble, c) in hex.chars().enumerate() {
            let bits = c.to_digit(16)?;
            for bit in 0..4 {
                if bits & (1 << bit) != 0 {
                    ids.push(first.checked_add(u32::try_from(nibble * 4 + bit).ok()?)?);
                }
            }
        }
        return (!ids.is_empty()).then_some(LineKey::Pack(ids));
    }
    let mut fields = key.split('-');
    let item = fields.next()?.parse().ok()?;
    let part = fields.next()?.parse().ok()?;
    Some(LineKey::Part(item, part))
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
        assert_eq!(
            parse_line_key(&line_key(42, 2, 3)),
            Some(LineKey::Part(42, 2))
        );
        for junk in [
            "",
            "x-1-1",
            "42",
            "42-",
            "-1-1",
            "4294967296-1-1",
            "p",
            "p1-",
            "p1-g",
            "px-1",
        ] {
            assert_eq!(parse_line_key(junk), None, "{junk}");
        }
    }

    #[test]
    fn a_pack_key_names_every_item_and_stays_short() {
        let ids = [4_000_000_000, 4_000_000_001, 4_000_000_007, 4_000_000_150];
        let key = pack_key(&ids).unwrap();
        assert!(
            key.len() <= MAX_KEY_LEN && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
            "{key}"
        );
        assert_eq!(parse_line_key(&key), Some(LineKey::Pack(ids.to_vec())));
        let twenty: Vec<u32> = (100..120).collect();
        assert_eq!(pack_key(&twenty).as_deref(), Some("p100-fffff"));
        assert_eq!(pack_key(&[1, 1_000]), None, "too far apart");
        assert_eq!(pack_key(&[5, 4]), None, "not ascending");
        assert_eq!(pack_key(&[]), None);
        assert_eq!(parse_line_key("p4294967295-3"), None, "past the largest id");
    }
}
