//! The executor: one item at a time, on one of the run's threads. For a claimed item:
//! the task's budgets, the pipeline (a long text in parts, each part a call of its
//! own), and the decision how its claim ends, which it hands to the completer. An
//! executor holds no database connection; it borrows one from the pool for a budget.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use crate::ai::AiError;
use crate::ai::prompt_builder::Prompt;
use crate::config::Config;
use crate::db::DbError;
use crate::db::columns::ColumnType;
use crate::db::item::{Item, ItemResult, Spent};
use crate::db::pool::Pool;
use crate::stop::StopSignal;

use super::budget::Budget;
use super::budget::Reservation;
use super::claim::{Claim, ItemEnd};
use super::completer::{NotSent, Outcome, decide};
use super::lane::{Halt, Lane};
use super::permits::Permits;
use super::pipeline::{Hooks, Pipeline, Processed};
use super::plan::Plan;
use super::reuse::{self, InFlight, Lead, Turn};
use super::summary::DryRunItem;

/// Stack of an executor thread (and of a part's thread): a run may have thousands,
/// and a call needs far less than the default 2 MiB (TLS, JSON, the guards).
pub const STACK_BYTES: usize = 512 * 1024;

/// What every thread of a run shares.
pub struct Context<'a> {
    /// The configuration.
    pub config: &'a Config,
    /// The run's plan.
    pub plan: &'a Plan,
    /// Ctrl+C / SIGTERM.
    pub stop: &'a StopSignal,
    /// The run's database connections.
    pub pool: &'a Pool,
    /// One permit per call in flight, as many as the run's concurrency.
    pub permits: Permits,
    /// What `task_item.text_corrected` and `change_summary` can hold (a panel may
    /// have made them 3-byte UTF-8).
    pub result_columns: [ColumnType; 2],
    /// The texts in flight, so that a copy waits for its original's result.
    pub in_flight: InFlight,
}

/// One item on its way to an executor, with its task.
pub struct Job {
    /// The item's task.
    pub lane: Arc<Lane>,
    /// The item.
    pub work: Work,
}

/// An item to run.
pub enum Work {
    /// A claimed item, to be saved.
    Claimed(Claim),
    /// Short claimed items of one task, to be sent in one request.
    Pack(Vec<Claim>),
    /// An item read for a dry run, to be reported.
    DryRun(Item),
}

/// What an executor hands the completer for one item.
pub struct Finished {
    /// The item's task.
    pub lane: Arc<Lane>,
    /// What happened.
    pub ran: Ran,
    /// How long the executor spent on it.
    pub seconds: f64,
}

/// What happened to one item in an executor (most are ended claims, so that variant
/// is not boxed).
#[allow(clippy::large_enum_variant)]
pub enum Ran {
    /// A claimed item, and how its claim is to end.
    Ended(Claim, ItemEnd),
    /// A dry run's result, and what its calls cost.
    DryRun(Box<DryRunItem>, Spent),
    /// The database failed before the item could be decided; the claim is left to its
    /// lease.
    DbFailed(DbError),
}

/// An executor: runs jobs until the queue closes.
pub fn run_all(ctx: &Context<'_>, jobs: &Mutex<Receiver<Job>>, finished: &Sender<Finished>) {
    crate::logging::set_operation(Some(&ctx.plan.operation_uuid));
    loop {
        let job = {
            let jobs = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            jobs.recv()
        };
        let Ok(Job { lane, work }) = job else { return };
        let started = Instant::now();
        let ran = match work {
            Work::DryRun(item) => vec![dry_run(ctx, &lane, &item)],
            Work::Claimed(claim) => vec![execute(ctx, &lane, claim)],
            Work::Pack(claims) => {
                lane.note_packed(claims.len());
                execute_pack(ctx, &lane, claims)
            }
        };
        let seconds = started.elapsed().as_secs_f64() / ran.len().max(1) as f64;
        for ran in ran {
            // The completers outlive every executor; a failed send cannot happen.
            let lane = Arc::clone(&lane);
            let _ = finished.send(Finished { lane, ran, seconds });
        }
    }
}

/// One claimed item: within the budgets, through the pipeline, decided.
fn execute(ctx: &Context<'_>, lane: &Lane, claim: Claim) -> Ran {
    // The model that takes this item: the task's, or the fallback it moved on to.
    let at = lane.active();
    let budget = lane.budget_at(at, ctx.plan.dry_run);
    let cleared = match clear(ctx, lane, at, budget.as_ref(), claim, true) {
        Clearance::Send(cleared) => cleared,
        Clearance::Ended(ran) => return ran,
        Clearance::Busy(claim) => return execute(ctx, lane, claim),
    };
    let pipeline = lane.pipeline_at(at, ctx.config, ctx.stop);
    let processed = process(ctx, lane.permits_at(at), &pipeline, cleared.claim.item());
    conclude(ctx, lane, at, budget.as_ref(), cleared, processed)
}

/// Short items of one task in one request; an item the packed answer leaves out or
/// gets wrong is sent again alone.
fn execute_pack(ctx: &Context<'_>, lane: &Lane, claims: Vec<Claim>) -> Vec<Ran> {
    let at = lane.active();
    let budget = lane.budget_at(at, ctx.plan.dry_run);
    let mut ended = Vec::new();
    let mut cleared = Vec::new();
    // Copies of texts in flight elsewhere wait until this pack has published the
    // results it leads: waiting now could wait on a thread waiting on this one.
    let mut later = Vec::new();
    for claim in claims {
        match clear(ctx, lane, at, budget.as_ref(), claim, false) {
            Clearance::Send(ready) => cleared.push(ready),
            Clearance::Ended(ran) => ended.push(ran),
            Clearance::Busy(claim) => later.push(claim),
        }
    }
    let pipeline = lane.pipeline_at(at, ctx.config, ctx.stop);
    let permits = lane.permits_at(at);
    let packed = if cleared.len() >= 2 {
        let items: Vec<&Item> = cleared.iter().map(|c| c.claim.item()).collect();
        let _model = permits.map(Permits::acquire);
        let _run = ctx.permits.acquire();
        log::info!(
            "[Task {}] {} short texts sent in one request",
            lane.id(),
            items.len()
        );
        pipeline.process_pack(&items)
    } else {
        Vec::new()
    };
    let mut packed = packed.into_iter();
    for ready in cleared {
        let item = ready.claim.item();
        let processed = match packed.next() {
            Some(shared) => match &shared.outcome {
                Err(AiError::BadAnswer(why) | AiError::Item(why)) => {
                    log::info!("[TaskItem {}] Sent again alone: {why}", item.id);
                    lane.note_pack_miss();
                    alone(process(ctx, permits, &pipeline, item), &shared.spent)
                }
                _ => shared,
            },
            None => process(ctx, permits, &pipeline, item),
        };
        ended.push(conclude(ctx, lane, at, budget.as_ref(), ready, processed));
    }
    ended.extend(later.into_iter().map(|claim| execute(ctx, lane, claim)));
    ended
}

/// An item's own call, with its share of the packed call it was in before.
fn alone(mut single: Processed, shared: &Spent) -> Processed {
    single.spent.add(shared);
    if let Ok(result) = &mut single.outcome {
        result.spent = single.spent;
    }
    single
}

/// A claimed item cleared to be sent: the copies of its text that wait for it, and
/// what it reserved of its budgets.
struct Cleared<'c> {
    claim: Claim,
    lead: Option<Lead<'c>>,
    reservation: Reservation,
}

/// Whether an item is sent, or has already ended.
#[allow(clippy::large_enum_variant)]
enum Clearance<'c> {
    /// Cleared to be sent.
    Send(Cleared<'c>),
    /// Ended without a call (stopping, reused, over budget, the database failed).
    Ended(Ran),
    /// A copy of its text is in flight, and the caller may not wait now.
    Busy(Claim),
}

/// What is checked before an item is sent: the run or task stopping, a result for
/// its text already made (then no call), the budgets.
fn clear<'c>(
    ctx: &'c Context<'_>,
    lane: &Lane,
    at: usize,
    budget: Option<&Budget>,
    claim: Claim,
    wait: bool,
) -> Clearance<'c> {
    if ctx.stop.is_raised() || lane.halted().is_some() {
        let outcome = Outcome::NotSent(NotSent::Stopping);
        return Clearance::Ended(decided(lane, at, claim, outcome, Spent::default()));
    }
    let scope = lane.reuse_scope(at);
    let lead = match ctx
        .in_flight
        .turn(ctx.pool, scope, claim.item(), ctx.stop, wait)
    {
        Ok(Turn::Reused(mut result)) => {
            log::info!(
                "[TaskItem {}] Same text as item {}: its result reused, no call",
                claim.item().id,
                result.reused_from.unwrap_or_default()
            );
            result.id_ai_model = Some(lane.model_at(at).id);
            let outcome = Outcome::Processed(Ok(result));
            return Clearance::Ended(decided(lane, at, claim, outcome, Spent::default()));
        }
        Ok(Turn::Lead(lead)) => Some(lead),
        Ok(Turn::Send) => None,
        Ok(Turn::Busy) => return Clearance::Busy(claim),
        Err(err) => return Clearance::Ended(Ran::DbFailed(err)),
    };
    let reservation = match budget {
        Some(budget) => {
            let reserved = ctx
                .pool
                .get()
                .and_then(|mut db| budget.reserve(&mut db, &claim));
            match reserved {
                Ok(Ok(reservation)) => reservation,
                Ok(Err(why)) => {
                    let outcome = Outcome::NotSent(NotSent::BudgetReached(why));
                    return Clearance::Ended(decided(lane, at, claim, outcome, Spent::default()));
                }
                Err(err) => return Clearance::Ended(Ran::DbFailed(err)),
            }
        }
        None => Reservation::default(),
    };
    Clearance::Send(Cleared {
        claim,
        lead,
        reservation,
    })
}

/// What the calls made of a cleared item: its budgets settled, the copies waiting
/// for it given the result, the claim's end decided.
fn conclude(
    ctx: &Context<'_>,
    lane: &Lane,
    at: usize,
    budget: Option<&Budget>,
    cleared: Cleared<'_>,
    processed: Processed,
) -> Ran {
    let Cleared {
        claim,
        lead,
        reservation,
    } = cleared;
    let mut spent = processed.spent;
    spent.reserved = reservation.task;
    if let Some(budget) = budget {
        let cost = spent.cost.unwrap_or(0.0);
        let settled = ctx
            .pool
            .get()
            .and_then(|mut db| budget.settle(&mut db, &reservation, cost));
        if let Err(err) = settled {
            log::error!(
                "[TaskItem {}] the model's daily spending could not be settled: {err}",
                claim.item().id
            );
        }
    }
    let made_by = lane.model_at(at).id;
    let outcome = processed
        .outcome
        .and_then(|result| fits(ctx, result))
        .map(|mut result| {
            result.id_ai_model = Some(made_by);
            result
        });
    if let Some(lead) = lead {
        let id = claim.item().id;
        let result = outcome.as_ref().ok();
        lead.publish(result.map(|result| reuse::reusable(id, result)));
    }
    decided(lane, at, claim, Outcome::Processed(outcome), spent)
}

/// The result, if its columns can hold it; else the item fails with the column named.
fn fits(ctx: &Context<'_>, result: ItemResult) -> Result<ItemResult, AiError> {
    let [text, summary] = &ctx.result_columns;
    let refused = text
        .refuses_text(&result.text_corrected, "task_item.text_corrected")
        .or_else(|| summary.refuses_text(&result.change_summary, "task_item.change_summary"));
    match refused {
        Some(why) => Err(AiError::Item(why)),
        None => Ok(result),
    }
}

/// The claim's end as the completer's rule decides it; a reason to stop the whole
/// task takes effect at once, so no other item of it is sent.
fn decided(lane: &Lane, at: usize, claim: Claim, outcome: Outcome, spent: Spent) -> Ran {
    let (end, halt) = decide(outcome, spent);
    // A model that cannot take items now hands them to its fallback, if it has one:
    // the item goes back to pending and is sent again, to the next model.
    let halt = match halt {
        Some(Halt::Waits(why)) if lane.fall_back(at, &why).is_some() => None,
        other => other,
    };
    if let Some(halt) = halt
        && lane.halt(halt.clone())
    {
        match &halt {
            Halt::Failed(m) => log::error!("[Task {}] API error: {m}", lane.id()),
            other => log::warn!("[Task {}] {}", lane.id(), other.describe()),
        }
    }
    if let ItemEnd::Failed { message, .. } = &end {
        log::error!("[TaskItem {}] Error: {message}", claim.item().id);
    }
    Ran::Ended(claim, end)
}

/// The pipeline on one item. A long text goes out in parts, each in a thread of its
/// own; every call holds the model's permit (if it has a cap) and one of the run's.
fn process(
    ctx: &Context<'_>,
    model_permits: Option<&Permits>,
    pipeline: &Pipeline<'_>,
    item: &Item,
) -> Processed {
    let parts = pipeline.parts(item);
    let call = |text: &str| {
        let _model = model_permits.map(Permits::acquire);
        let _run = ctx.permits.acquire();
        let hooks = Hooks {
            on_prompt: &mut |_| {},
            keep_alive: &mut || true,
        };
        pipeline.process_text(item, text, hooks)
    };
    if parts.len() <= 1 {
        return call(&item.text_original);
    }
    log::info!(
        "[TaskItem {}] Long text: sent in {} parts",
        item.id,
        parts.len()
    );
    let processed = std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .iter()
            .map(|part| {
                std::thread::Builder::new()
                    .stack_size(STACK_BYTES)
                    .spawn_scoped(scope, || call(&part.text))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| match handle {
                Ok(handle) => handle.join().unwrap_or_else(|_| part_failed("panicked")),
                Err(_) => part_failed("could not be started (the system has no threads left)"),
            })
            .collect()
    });
    pipeline.join(&parts, processed)
}

/// A part whose thread failed (the pipeline catches panics itself; this is the last
/// line).
fn part_failed(why: &str) -> Processed {
    Processed {
        spent: Spent::default(),
        outcome: Err(AiError::Item(format!(
            "internal error: a part's thread {why}"
        ))),
    }
}

/// A dry run: the same call, reported instead of saved.
fn dry_run(ctx: &Context<'_>, lane: &Lane, item: &Item) -> Ran {
    let pipeline = lane.pipeline_at(lane.active(), ctx.config, ctx.stop);
    let mut report = DryRunItem {
        id_task_item: item.id,
        id_task: item.id_task,
        ..DryRunItem::default()
    };
    let mut seen = |prompt: &Prompt| {
        log::debug!(
            "[TaskItem {}] Prompt as sent:\n--- system ---\n{}\n--- user ---\n{}",
            item.id,
            prompt.system,
            prompt.user
        );
        report.prompt = prompt.user.clone();
    };
    let hooks = Hooks {
        on_prompt: &mut seen,
        keep_alive: &mut || true,
    };
    let processed = {
        let _run = ctx.permits.acquire();
        pipeline.process(item, hooks)
    };
    report.tokens_input = processed.spent.tokens.input;
    report.tokens_output = processed.spent.tokens.output;
    match processed.outcome {
        Ok(result) => {
            report.text_corrected = Some(result.text_corrected);
            report.change_summary = Some(result.change_summary);
        }
        Err(err) => report.error = Some(err.to_string()),
    }
    log::info!("[TaskItem {}] Dry run: result not saved", item.id);
    Ran::DryRun(Box::new(report), processed.spent)
}
