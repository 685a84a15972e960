//! The engine: pick a task, check its model, claim items, call the model, save, count,
//! finish, then the next task, until the item limit is reached or nothing is left.
//!
//! By role: [`plan`] resolves what to run; the `producer` keeps every active task
//! of the run in view (each a `lane`), and claims items for free slots as the
//! `scheduler` shares them out; each `executor` thread runs one item through the
//! [`pipeline`] (no threads, no SQL) within its `budget` and `permits`; the
//! `completer` decides how each [`claim`] ends and saves several at a time; `task`
//! opens and ends a task; `batch` sends batch tasks' items as provider jobs and
//! collects them.

mod batch;
mod budget;
pub mod chunks;
pub mod claim;
mod completer;
pub mod cost;
mod diff_summary;
mod executor;
pub mod guards;
mod kind;
mod lane;
mod model;
mod output_schema;
pub mod pace;
mod packing;
mod permits;
pub mod pipeline;
pub mod plan;
mod producer;
mod reuse;
mod scheduler;
pub mod summary;
mod task;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use crate::ai::http;
use crate::config::Config;
use crate::db::pool::Pool;
use crate::db::task_item_repository as items;
use crate::db::task_repository as tasks;
use crate::db::{Db, DbError, run_repository};
use crate::stop::StopSignal;
pub use claim::Ended;
pub use model::DEFAULT_BATCH_PRICE_FACTOR;
pub use packing::{PACK_ITEM_CHARS, pack_limit};
pub use plan::{Plan, RunOptions, Scope};
pub use summary::{DryRunItem, RunSummary, TaskSummary};

/// Why a run could not be carried out at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerError {
    /// The database failed.
    Db(DbError),
    /// `--task` or `--task-item` names a row that does not exist.
    NotFound(String),
    /// Options that contradict each other.
    Usage(String),
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::Db(e) => e.fmt(f),
            WorkerError::NotFound(m) | WorkerError::Usage(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for WorkerError {}

impl From<DbError> for WorkerError {
    fn from(e: DbError) -> Self {
        WorkerError::Db(e)
    }
}

/// What a task does: its kind as stored or inferred (`proofread`, `translate`,
/// `analyze`), or why its output schema cannot be used.
pub fn kind_of(task: &crate::db::task_repository::Task) -> Result<&'static str, String> {
    lane::work_of(task).map(|(kind, _)| kind.name())
}

/// Runs the engine once. This is the library entry point the CLI, `serve` and a
/// future queue consumer all call.
pub fn run(
    config: &Config,
    options: &RunOptions,
    stop: &StopSignal,
) -> Result<RunSummary, WorkerError> {
    let plan = Plan::resolve(config, options)?;
    run_plan(config, &plan, stop)
}

/// Processes one item by id (PENDING or ERROR), as `--task-item` does.
pub fn process_item(
    config: &Config,
    id_task_item: u32,
    stop: &StopSignal,
) -> Result<RunSummary, WorkerError> {
    let options = RunOptions {
        task_item: Some(id_task_item),
        ..RunOptions::default()
    };
    run(config, &options, stop)
}

/// Cancels a batch job (by `id_ai_batch` or the provider's id) and collects what it
/// finished; its other items go back to PENDING once the provider confirms.
pub fn cancel_batch(
    config: &Config,
    job_ref: &str,
    stop: &StopSignal,
) -> Result<(crate::db::batch_repository::Job, RunSummary), WorkerError> {
    let plan = Plan::resolve(config, &RunOptions::default())?;
    let mut db = Db::connect(&config.db)?;
    let mut engine = Engine::new(config, &plan, stop);
    let job = engine.cancel_job(&mut db, job_ref);
    db.close();
    job.map(|job| (job, engine.summary))
}

/// Runs a resolved plan: the `task_run` row, the tasks, the summary.
pub fn run_plan(
    config: &Config,
    plan: &Plan,
    stop: &StopSignal,
) -> Result<RunSummary, WorkerError> {
    let operation_uuid = plan.operation_uuid.clone();
    crate::logging::set_operation(Some(&operation_uuid));
    let mut db = Db::connect(&config.db)?;
    if !plan.dry_run {
        let (host, pid) = (hostname(), std::process::id());
        run_repository::insert(&mut db, &operation_uuid, &plan.trigger, &host, pid, false)?;
        let dead = run_repository::close_dead(&mut db)?;
        if dead > 0 {
            log::info!("Closed {dead} task_run rows of runs that ended without a summary");
        }
    }
    let mut engine = Engine::new(config, plan, stop);
    let deadlocks_before = crate::db::deadlocks_retried();
    let result = engine.run_scope(&mut db);
    let mut summary = engine.summary;
    summary.interrupted = stop.is_raised();
    summary.deadlocks_retried = crate::db::deadlocks_retried() - deadlocks_before;
    summary.message = match &result {
        Ok(()) if summary.tasks.is_empty() && plan.scope == Scope::Pending => {
            let stalled = tasks::stalled(&mut db).unwrap_or_default();
            summary.nothing_to_do(&stalled)
        }
        Ok(()) => summary.describe(),
        Err(e) => format!("run failed: {e}"),
    };
    if !plan.dry_run {
        let closed = close_run_row(config, &mut db, &summary);
        if let (Ok(()), Err(e)) = (&result, closed) {
            return Err(e.into());
        }
    }
    db.close();
    let result_label = match (&result, summary.exit_code()) {
        (Err(_), _) => "error",
        (Ok(()), 0) => "ok",
        (Ok(()), 4) => "interrupted",
        (Ok(()), _) => "failed",
    };
    if !plan.dry_run {
        crate::metrics::run(&plan.trigger, result_label);
    }
    // A failed run's message is the error, which the door shows once.
    if result.is_ok() {
        log::info!("{}", summary.message);
    }
    result.map(|()| summary)
}

/// Ends the run's `task_run` row; after a database failure on a fresh connection, so
/// that `GET /run/{id}` never says "running" for a run that ended.
fn close_run_row(config: &Config, db: &mut Db, summary: &RunSummary) -> Result<(), DbError> {
    let totals = run_repository::RunTotals {
        items_ok: summary.items_ok,
        items_error: summary.items_error,
        tokens_input: summary.costs.tokens.input,
        tokens_output: summary.costs.tokens.output,
        cost: summary.costs.cost,
    };
    let finish = |db: &mut Db| {
        run_repository::finish(db, &summary.operation_uuid, &totals, &summary.message)
    };
    finish(db).or_else(|first| {
        let mut fresh = Db::connect(&config.db).map_err(|_| first.clone())?;
        finish(&mut fresh).map_err(|_| first)
    })
}

fn hostname() -> String {
    std::env::var("COMPUTERNAME")
        .or_else(|_| std::env::var("HOSTNAME"))
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

impl Engine<'_> {
    /// `--retry-failed`: the scope's ERROR items back to PENDING, their old errors
    /// kept in the log only. A dry run only says how many it would put back.
    fn retry_failed(&mut self, db: &mut Db) -> Result<(), WorkerError> {
        let tasks = match self.plan.scope {
            Scope::Task(id) => vec![self.load_task(db, id)?.id],
            _ => items::tasks_with_failed_items(db)?,
        };
        for id in tasks {
            if self.plan.dry_run {
                let failed = tasks::item_counts(db, id)?.error;
                log::info!(
                    "[Task {id}] Dry run: {failed} failed items would be put back to pending"
                );
                continue;
            }
            let failed = items::retry_failed(db, id)?;
            for (item, error) in &failed {
                let was = error.as_deref().unwrap_or("no message");
                log::info!("[TaskItem {item}] Back to pending (it failed with: {was})");
            }
            log::info!(
                "[Task {id}] {} failed items put back to pending",
                failed.len()
            );
        }
        Ok(())
    }
}

/// One run in progress.
struct Engine<'a> {
    config: &'a Config,
    plan: &'a Plan,
    stop: &'a StopSignal,
    agent: ureq::Agent,
    /// The run's connections beside its own (`DB_POOL_SIZE`), shared by its threads.
    pool: Arc<Pool>,
    /// The call permits of each model with a cap of its own (`max_concurrency`).
    model_permits: HashMap<u32, Arc<permits::Permits>>,
    /// What is left of the plan's `item_limit` (`--max-item`): items this run may
    /// still claim.
    item_limit_left: u64,
    /// Models already named as having no prices (said once per run).
    models_without_prices: HashSet<u32>,
    /// Tasks this run stopped because a batch job of theirs failed as a whole: not
    /// run again until someone fixes the cause.
    stopped_by_batch: HashSet<u32>,
    summary: RunSummary,
}

impl<'a> Engine<'a> {
    /// A run of `plan` about to start.
    fn new(config: &'a Config, plan: &'a Plan, stop: &'a StopSignal) -> Engine<'a> {
        Engine {
            config,
            plan,
            stop,
            agent: http::agent(),
            pool: Arc::new(Pool::new(&config.db, config.db_pool_size)),
            model_permits: HashMap::new(),
            item_limit_left: plan.item_limit,
            models_without_prices: Default::default(),
            stopped_by_batch: Default::default(),
            summary: RunSummary {
                operation_uuid: plan.operation_uuid.clone(),
                dry_run: plan.dry_run,
                ..RunSummary::default()
            },
        }
    }
}

impl Engine<'_> {
    /// Works through the plan's scope: one item, one task, or every active task at
    /// once.
    fn run_scope(&mut self, db: &mut Db) -> Result<(), WorkerError> {
        if !self.plan.dry_run {
            // The pool's first connection now: a server with none to spare ends the
            // run before any call is paid for.
            drop(self.pool.get()?);
        }
        if self.plan.retry_failed {
            self.retry_failed(db)?;
        }
        self.collect_jobs(db)?;
        match self.plan.scope {
            Scope::Item(id) => self.run_single_item(db, id),
            Scope::Task(id) => {
                let task = self.load_task(db, id)?;
                self.run_one_lane(db, task, None)
            }
            Scope::Pending => self.run_lanes(db, Vec::new(), true),
        }
    }
}
