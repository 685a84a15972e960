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

use super::budget::Reservation;
use super::claim::{Claim, ItemEnd};
use super::completer::{NotSent, Outcome, decide};
use super::lane::{Halt, Lane};
use super::permits::Permits;
use super::pipeline::{Hooks, Pipeline, Processed};
use super::plan::Plan;
use super::reuse::{self, InFlight, Turn};
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
            Work::DryRun(item) => dry_run(ctx, &lane, &item),
            Work::Claimed(claim) => execute(ctx, &lane, claim),
        };
        let seconds = started.elapsed().as_secs_f64();
        // The completers outlive every executor; a failed send cannot happen.
        let _ = finished.send(Finished { lane, ran, seconds });
    }
}

/// One claimed item: within the budgets, through the pipeline, decided.
fn execute(ctx: &Context<'_>, lane: &Lane, claim: Claim) -> Ran {
    // The model that takes this item: the task's, or the fallback it moved on to.
    let at = lane.active();
    if ctx.stop.is_raised() || lane.halted().is_some() {
        return decided(
            lane,
            at,
            claim,
            Outcome::NotSent(NotSent::Stopping),
            Spent::default(),
        );
    }
    let made_by = lane.model_at(at).id;
    let lead = match ctx
        .in_flight
        .turn(ctx.pool, lane.reuse_scope(at), claim.item(), ctx.stop)
    {
        Ok(Turn::Reused(mut result)) => {
            log::info!(
                "[TaskItem {}] Same text as item {}: its result reused, no call",
                claim.item().id,
                result.reused_from.unwrap_or_default()
            );
            result.id_ai_model = Some(made_by);
            let outcome = Outcome::Processed(Ok(result));
            return decided(lane, at, claim, outcome, Spent::default());
        }
        Ok(Turn::Lead(lead)) => Some(lead),
        Ok(Turn::Send) => None,
        Err(err) => return Ran::DbFailed(err),
    };
    let budget = lane.budget_at(at, ctx.plan.dry_run);
    let reservation = match &budget {
        Some(budget) => {
            let reserved = ctx
                .pool
                .get()
                .and_then(|mut db| budget.reserve(&mut db, &claim));
            match reserved {
                Ok(Ok(reservation)) => reservation,
                Ok(Err(why)) => {
                    let outcome = Outcome::NotSent(NotSent::BudgetReached(why));
                    return decided(lane, at, claim, outcome, Spent::default());
                }
                Err(err) => return Ran::DbFailed(err),
            }
        }
        None => Reservation::default(),
    };
    let pipeline = lane.pipeline_at(at, ctx.config, ctx.stop);
    let processed = process(ctx, lane.permits_at(at), &pipeline, claim.item());
    let mut spent = processed.spent;
    spent.reserved = reservation.task;
    if let Some(budget) = &budget {
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
    let outcome = processed
        .outcome
        .and_then(|result| fits(ctx, result))
        .map(|mut result| {
            result.id_ai_model = Some(made_by);
            result
        });
    if let Some(lead) = lead {
        let id = claim.item().id;
        lead.publish(
            outcome
                .as_ref()
                .ok()
                .map(|result| reuse::reusable(id, result)),
        );
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
    report.tokens_input = processed.spent.tokens_input;
    report.tokens_output = processed.spent.tokens_output;
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
