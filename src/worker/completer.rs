//! The completer: how a claim ends ([`decide`], pure), and the place where finished
//! items are saved: several at a time in one transaction that touches each task row
//! once, then reported to the producer.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};

use crate::ai::AiError;
use crate::db::item::{ItemResult, Spent};
use crate::db::{Db, DbError, task_item_repository as items};

use super::claim::{self, Claim, Ended, ItemEnd};
use super::executor::{Context, Finished, Ran};
use super::lane::{Halt, Lane};
use super::summary::DryRunItem;

/// Items saved in one transaction at most: enough that a busy run commits rarely,
/// few enough that a transaction stays short under lock contention (and on Galera).
const ITEMS_PER_TRANSACTION: usize = 64;

/// What an executor made of an item.
pub enum Outcome {
    /// The pipeline ran: the result, or why there is none.
    Processed(Result<ItemResult, AiError>),
    /// Nothing was sent.
    NotSent(NotSent),
}

/// Why an item was not sent.
pub enum NotSent {
    /// The run is stopping or the task halted.
    Stopping,
    /// A budget would be exceeded (the message says which).
    BudgetReached(String),
}

/// How a claim ends for an outcome, and whether its task must halt: a result is
/// saved, an item's own failure fails it, and anything that is not the item's fault
/// hands it back (a bad key or an unknown model also stops the task; an unreachable
/// server or a spent budget makes it wait).
pub fn decide(outcome: Outcome, spent: Spent) -> (ItemEnd, Option<Halt>) {
    let back = ItemEnd::Released { spent };
    match outcome {
        Outcome::Processed(Ok(mut result)) => {
            result.spent = spent;
            (ItemEnd::Saved(result), None)
        }
        Outcome::Processed(Err(AiError::Task(m))) => (back, Some(Halt::Failed(m))),
        Outcome::Processed(Err(AiError::Unreachable(m))) => (back, Some(Halt::Waits(m))),
        Outcome::Processed(Err(AiError::Stopped | AiError::ClaimLost)) => (back, None),
        Outcome::Processed(Err(err)) => {
            let message = err.to_string();
            (ItemEnd::Failed { message, spent }, None)
        }
        Outcome::NotSent(NotSent::Stopping) => (back, None),
        Outcome::NotSent(NotSent::BudgetReached(m)) => (back, Some(Halt::Waits(m))),
    }
}

/// What the completer tells the producer about one item.
pub struct Report {
    /// The item's task.
    pub id_task: u32,
    /// The claim's token (the producer keeps the leases of the tokens it holds).
    pub claim_token: Option<String>,
    /// How it ended.
    pub done: Done,
    /// What its calls cost, saved or not.
    pub spent: Spent,
    /// Made by a fallback of the task's model.
    pub by_fallback: bool,
}

/// How an item ended.
pub enum Done {
    /// Saved as PROCESSED.
    Ok,
    /// Marked ERROR.
    Error,
    /// Handed back to PENDING.
    Released,
    /// The text changed after the claim: PENDING again, to be sent with the new text.
    Stale,
    /// Another worker had taken the item over; nothing was written.
    Lost,
    /// A dry run's result.
    DryRun(Box<DryRunItem>),
    /// The database failed.
    DbFailed(DbError),
}

/// A completer: saves what the executors finish until they are all gone.
pub fn run_all(ctx: &Context<'_>, finished: &Mutex<Receiver<Finished>>, reports: &Sender<Report>) {
    crate::logging::set_operation(Some(&ctx.plan.operation_uuid));
    loop {
        let batch = {
            let finished = finished.lock().unwrap_or_else(PoisonError::into_inner);
            let Ok(first) = finished.recv() else { return };
            let mut batch = vec![first];
            while batch.len() < ITEMS_PER_TRANSACTION {
                match finished.try_recv() {
                    Ok(more) => batch.push(more),
                    Err(_) => break,
                }
            }
            batch
        };
        for report in complete(ctx, batch) {
            // The producer outlives every completer; a failed send cannot happen.
            let _ = reports.send(report);
        }
    }
}

/// One claim to end, with what the metrics need.
struct Ending {
    lane: Arc<Lane>,
    claim: Claim,
    end: ItemEnd,
    seconds: f64,
}

/// Saves a batch of finished items and says how each ended.
fn complete(ctx: &Context<'_>, batch: Vec<Finished>) -> Vec<Report> {
    let mut reports = Vec::with_capacity(batch.len());
    let mut endings = Vec::new();
    for Finished { lane, ran, seconds } in batch {
        match ran {
            Ran::Ended(claim, end) => endings.push(Ending {
                lane,
                claim,
                end,
                seconds,
            }),
            Ran::DryRun(item, spent) => reports.push(Report {
                id_task: lane.id(),
                claim_token: None,
                done: Done::DryRun(item),
                spent,
                by_fallback: false,
            }),
            Ran::DbFailed(err) => reports.push(unsaved(lane.id(), None, err)),
        }
    }
    if endings.is_empty() {
        return reports;
    }
    let ended = match ctx.pool.get() {
        Ok(mut db) => end_claims(&mut db, &endings, &ctx.plan.operation_uuid),
        Err(err) => vec![Err(err); endings.len()],
    };
    for (ending, ended) in endings.into_iter().zip(ended) {
        reports.push(report(ctx, ending, ended));
    }
    reports
}

/// How a claim ended, and the end written instead of the one decided (an item whose
/// result the database refused is failed with the reason).
type EndedAs = Result<(Ended, Option<ItemEnd>), DbError>;

/// Ends the claims in one transaction; if the database refuses it for one item's
/// data, each claim alone, and an item whose result the database refuses fails with
/// that reason instead of aborting the run.
fn end_claims(db: &mut Db, endings: &[Ending], op: &str) -> Vec<EndedAs> {
    let pairs: Vec<(&Claim, &ItemEnd)> = endings.iter().map(|e| (&e.claim, &e.end)).collect();
    match claim::end_all(db, &pairs, op) {
        Ok(ended) => ended.into_iter().map(|e| Ok((e, None))).collect(),
        Err(DbError::Query(_)) if pairs.len() > 1 => {
            pairs.iter().map(|&pair| end_alone(db, pair, op)).collect()
        }
        Err(DbError::Query(why)) => pairs
            .iter()
            .map(|&pair| refused(db, pair, &why, op))
            .collect(),
        Err(err) => vec![Err(err); pairs.len()],
    }
}

fn end_alone(db: &mut Db, pair: (&Claim, &ItemEnd), op: &str) -> EndedAs {
    match claim::end_all(db, &[pair], op) {
        Ok(ended) => Ok((ended.first().copied().unwrap_or(Ended::Lost), None)),
        Err(DbError::Query(why)) => refused(db, pair, &why, op),
        Err(err) => Err(err),
    }
}

/// The database refused an item's end for its data: the item fails with the reason.
fn refused(db: &mut Db, (claim, end): (&Claim, &ItemEnd), why: &str, op: &str) -> EndedAs {
    let message = format!(
        "the database refused to save this item's result ({why}); fix the column or the data and retry the item"
    );
    log::error!("[TaskItem {}] {message}", claim.item().id);
    let failed = ItemEnd::Failed {
        message,
        spent: end.spent(),
    };
    let ended = claim::end_all(db, &[(claim, &failed)], op)?;
    Ok((ended.first().copied().unwrap_or(Ended::Lost), Some(failed)))
}

/// A report of work the database failed to end.
fn unsaved(id_task: u32, claim_token: Option<String>, err: DbError) -> Report {
    Report {
        id_task,
        claim_token,
        done: Done::DbFailed(err),
        spent: Spent::default(),
        by_fallback: false,
    }
}

/// How one claim ended, logged and counted in the metrics.
fn report(ctx: &Context<'_>, ending: Ending, ended: EndedAs) -> Report {
    let Ending {
        lane,
        claim,
        mut end,
        seconds,
    } = ending;
    let id = claim.item().id;
    let token = Some(claim.token().to_string());
    let spent = end.spent();
    let ended = match ended {
        Ok((ended, instead)) => {
            end = instead.unwrap_or(end);
            ended
        }
        Err(err) => {
            log::error!("[Task {}] {err}", lane.id());
            return unsaved(lane.id(), token, err);
        }
    };
    let done = match (ended, &end) {
        (Ended::Done, ItemEnd::Saved(_)) => {
            log::info!("[TaskItem {id}] Result received, text_corrected saved");
            Done::Ok
        }
        (Ended::Done, ItemEnd::Failed { .. }) => Done::Error,
        (Ended::Done, _) => Done::Released,
        (Ended::Stale, _) => {
            log::warn!(
                "[TaskItem {id}] Result discarded: text_original was edited after the claim; the item is pending again and goes out with the new text"
            );
            Done::Stale
        }
        (Ended::Lost, _) => {
            log::warn!("[TaskItem {id}] Result discarded: {}", lost_why(ctx, id));
            Done::Lost
        }
    };
    count_metrics(&lane, &done, &spent, seconds);
    let primary = lane.model_at(0).id;
    let by_fallback =
        matches!(&end, ItemEnd::Saved(r) if r.id_ai_model.is_some_and(|m| m != primary));
    Report {
        id_task: lane.id(),
        claim_token: token,
        done,
        spent,
        by_fallback,
    }
}

/// Why a claim was no longer held.
fn lost_why(ctx: &Context<'_>, id: u32) -> &'static str {
    let state = ctx
        .pool
        .get()
        .and_then(|mut db| items::get_state(&mut db, id));
    match state {
        Ok(None) => "the item was deleted (or its task) while the model worked on it",
        _ => "the lease expired and another worker took the item over",
    }
}

/// Adds an item's end, tokens and cost to the process's metrics.
fn count_metrics(lane: &Lane, done: &Done, spent: &Spent, seconds: f64) {
    let status = match done {
        Done::Ok => "processed",
        Done::Error => "error",
        Done::Released | Done::Stale => "released",
        Done::Lost => "lost",
        Done::DryRun(_) | Done::DbFailed(_) => return,
    };
    crate::metrics::item(status, &lane.model().name, seconds);
    crate::metrics::tokens("input", spent.tokens.input);
    crate::metrics::tokens("cached", spent.tokens.cached);
    crate::metrics::tokens("output", spent.tokens.output);
    crate::metrics::tokens("thinking", spent.tokens.thinking);
    if let (Some(cost), Some(pricing)) = (spent.cost, &lane.model().pricing) {
        crate::metrics::cost(&pricing.currency, cost);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spent() -> Spent {
        Spent {
            tokens: crate::ai::Usage {
                input: 7,
                ..Default::default()
            },
            ..Spent::default()
        }
    }

    #[test]
    fn a_result_is_saved_with_what_every_call_cost() {
        let result = ItemResult {
            id_ai_model: None,
            reused_from: None,
            result_json: None,
            text_corrected: "Ala".into(),
            change_summary: "nic".into(),
            spent: Spent::default(),
        };
        let (end, halt) = decide(Outcome::Processed(Ok(result)), spent());
        assert_eq!(halt, None);
        assert!(matches!(&end, ItemEnd::Saved(r) if r.spent.tokens.input == 7));
    }

    #[test]
    fn what_is_not_the_items_fault_hands_it_back() {
        let cases = [
            (
                AiError::Task("bad key".into()),
                Some(Halt::Failed("bad key".into())),
            ),
            (
                AiError::Unreachable("down".into()),
                Some(Halt::Waits("down".into())),
            ),
            (AiError::Stopped, None),
            (AiError::ClaimLost, None),
        ];
        for (err, halt) in cases {
            let (end, got) = decide(Outcome::Processed(Err(err)), spent());
            assert_eq!(end, ItemEnd::Released { spent: spent() });
            assert_eq!(got, halt);
        }
        let budget = Outcome::NotSent(NotSent::BudgetReached("spent".into()));
        let (end, halt) = decide(budget, Spent::default());
        assert!(matches!(end, ItemEnd::Released { .. }));
        assert_eq!(halt, Some(Halt::Waits("spent".into())));
    }

    #[test]
    fn an_items_own_failure_fails_it_and_keeps_its_cost() {
        let (end, halt) = decide(
            Outcome::Processed(Err(AiError::Item("400".into()))),
            spent(),
        );
        assert_eq!(halt, None);
        assert!(
            matches!(end, ItemEnd::Failed { ref message, spent } if message.contains("400") && spent.tokens.input == 7)
        );
    }
}
