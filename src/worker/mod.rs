//! The loop: pick a task, check its model, claim items, call the model, save, count,
//! finish, then the next task, until the item limit is reached or nothing is left.

pub mod pace;
pub mod pool;
pub mod summary;

use std::fmt;

use crate::ai::client::Client;
use crate::ai::http;
use crate::config::Config;
use crate::db::model_repository::ModelRow;
use crate::db::task_item_repository::{self as items, status as item_status};
use crate::db::task_repository::{self as tasks, Task, status as task_status};
use crate::db::{Db, DbError, model_repository, run_repository};
use crate::stop::StopSignal;
use pool::{Source, TaskRun};
pub use summary::{DryRunItem, RunSummary, TaskSummary};

/// What to run; every field mirrors a CLI flag (and a `POST /task/run` field).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `--task ID`: only this task.
    pub task: Option<u32>,
    /// `--task-item ID`: only this item.
    pub task_item: Option<u32>,
    /// `--max-item N`: items handled at most (default `WORKER_MAX_ITEMS`).
    pub max_items: Option<u32>,
    /// `--dry-run`: write nothing.
    pub dry_run: bool,
    /// `--concurrency N`: parallel model calls (default `WORKER_CONCURRENCY`).
    pub concurrency: Option<u32>,
    /// Who started the run: `cli`, `http` or `demo` (stored in `task_run.trigger`).
    pub trigger: String,
    /// Use this id instead of a fresh one (serve answers with it before the run starts).
    pub operation_uuid: Option<String>,
}

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

impl WorkerError {
    /// The process exit code this error maps to.
    pub fn exit_code(&self) -> i32 {
        match self {
            WorkerError::Db(e) => e.exit_code(),
            WorkerError::NotFound(_) | WorkerError::Usage(_) => 2,
        }
    }
}

/// Runs the engine once. This is the library entry point the CLI, `serve` and a
/// future queue consumer all call.
pub fn run(
    config: &Config,
    options: &RunOptions,
    stop: &StopSignal,
) -> Result<RunSummary, WorkerError> {
    if options.task.is_some() && options.task_item.is_some() {
        return Err(WorkerError::Usage(
            "--task and --task-item cannot be used together".into(),
        ));
    }
    let operation_uuid = options
        .operation_uuid
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    crate::logging::set_operation(Some(&operation_uuid));
    let mut db = Db::connect(&config.db)?;
    if !options.dry_run {
        let host = hostname();
        let trigger = if options.trigger.is_empty() {
            "cli"
        } else {
            &options.trigger
        };
        run_repository::insert(
            &mut db,
            &operation_uuid,
            trigger,
            &host,
            std::process::id(),
            false,
        )?;
    }
    let mut engine = Engine {
        config,
        options,
        stop,
        operation_uuid: operation_uuid.clone(),
        agent: http::agent(),
        workers: Vec::new(),
        budget: u64::from(options.max_items.unwrap_or(config.max_items)),
        summary: RunSummary {
            operation_uuid: operation_uuid.clone(),
            dry_run: options.dry_run,
            ..RunSummary::default()
        },
    };
    let result = engine.run_all(&mut db);
    let mut summary = engine.summary;
    summary.interrupted = stop.is_raised();
    summary.message = match &result {
        Ok(()) => run_message(&summary),
        Err(e) => format!("run failed: {e}"),
    };
    if !options.dry_run {
        // Best effort after a database failure: the row may not be writable.
        let closed = run_repository::finish(
            &mut db,
            &operation_uuid,
            summary.items_ok,
            summary.items_error,
            &summary.message,
        );
        if let (Ok(()), Err(e)) = (&result, closed) {
            return Err(e.into());
        }
    }
    db.close();
    log::info!("{}", summary.message);
    result.map(|()| summary)
}

/// Processes one item by id (PENDING or ERROR), as `--task-item` does.
pub fn process_item(
    config: &Config,
    id_task_item: u32,
    stop: &StopSignal,
) -> Result<RunSummary, WorkerError> {
    let options = RunOptions {
        task_item: Some(id_task_item),
        trigger: "cli".into(),
        ..RunOptions::default()
    };
    run(config, &options, stop)
}

fn run_message(summary: &RunSummary) -> String {
    let mut message = format!(
        "Run finished: {} processed, {} failed, tokens {} in / {} out",
        summary.items_ok, summary.items_error, summary.tokens_input, summary.tokens_output
    );
    if summary.items_released > 0 {
        message.push_str(&format!(
            ", {} handed back to pending",
            summary.items_released
        ));
    }
    if summary.interrupted {
        message.push_str(" (interrupted by a stop request)");
    }
    if summary.tasks.is_empty() {
        message = "Nothing to do: no task has pending items".into();
    }
    message
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

struct Engine<'a> {
    config: &'a Config,
    options: &'a RunOptions,
    stop: &'a StopSignal,
    operation_uuid: String,
    agent: ureq::Agent,
    /// The pool's connections, opened on first need and kept for the whole run.
    workers: Vec<Option<Db>>,
    budget: u64,
    summary: RunSummary,
}

impl Engine<'_> {
    fn run_all(&mut self, db: &mut Db) -> Result<(), WorkerError> {
        if let Some(id) = self.options.task_item {
            return self.run_single_item(db, id);
        }
        if let Some(id) = self.options.task {
            let task = tasks::get(db, id)?
                .ok_or_else(|| WorkerError::NotFound(format!("task {id} does not exist")))?;
            return self.run_task(db, &task, None);
        }
        let mut after = 0;
        while self.budget > 0 && !self.stop.is_raised() {
            let Some(task) = tasks::get_next(db, after)? else {
                break;
            };
            after = task.id;
            self.run_task(db, &task, None)?;
        }
        Ok(())
    }

    fn run_single_item(&mut self, db: &mut Db, id: u32) -> Result<(), WorkerError> {
        let state = items::get_state(db, id)?
            .ok_or_else(|| WorkerError::NotFound(format!("task item {id} does not exist")))?;
        let skip = match state.status_id {
            item_status::PROCESSED => Some("is already PROCESSED; skipped"),
            item_status::PROCESSING if state.lease_left_s.is_some_and(|s| s >= 0) => {
                Some("is being processed by another worker; skipped")
            }
            _ => None,
        };
        if let Some(reason) = skip {
            log::info!("[TaskItem {id}] {reason}");
            return Ok(());
        }
        let task = tasks::get(db, state.id_task)?.ok_or_else(|| {
            WorkerError::NotFound(format!("task {} does not exist", state.id_task))
        })?;
        if self.options.dry_run {
            let item = items::get(db, id)?.into_iter().collect();
            return self.run_task(db, &task, Some(Source::Given(item, String::new())));
        }
        if state.status_id == item_status::PROCESSING {
            // A dead worker's claim: recover it like any expired lease first.
            items::reap_expired(db, state.id_task, self.config.ai_max_attempts)?;
        }
        let token = uuid::Uuid::new_v4().to_string();
        match items::claim_one(
            db,
            id,
            &token,
            self.config.lease.as_secs(),
            &self.operation_uuid,
        )? {
            Some(item) => self.run_task(db, &task, Some(Source::Given(vec![item], token))),
            None => {
                log::info!(
                    "[TaskItem {id}] could not be claimed (taken by another worker or not pending); skipped"
                );
                Ok(())
            }
        }
    }

    /// Gives a pacing client the request slots every worker process shares (dry runs
    /// write nothing, so they pace on their own). Without the table, or without the
    /// database, pacing stays within this process and the run goes on.
    fn share_pace(&self, mut client: Client, model: &ModelRow, id_task: u32) -> Client {
        if self.options.dry_run || model.requests_per_minute.unwrap_or(0) == 0 {
            return client;
        }
        match pace::DbPace::open(&self.config.db, model.id) {
            Ok(shared) => client.share_pace(Box::new(shared)),
            Err(err) => log::warn!(
                "[Task {id_task}] requests_per_minute of model '{}' is paced within this process only: {err}",
                model.name
            ),
        }
        client
    }

    /// One task: model check, start, the pool, then finish or stop.
    fn run_task(
        &mut self,
        db: &mut Db,
        task: &Task,
        given: Option<Source>,
    ) -> Result<(), WorkerError> {
        let id = task.id;
        let dry_run = self.options.dry_run;
        let mut report = TaskSummary {
            id_task: id,
            status: task_status::name(task.status_id).into(),
            ..TaskSummary::default()
        };
        let client = match model_repository::get(db, task.id_ai_model, &self.config.ai_key_secret)?
        {
            None => Err(format!(
                "model id {} of task {id} does not exist in ai_model",
                task.id_ai_model
            )),
            Some(model) => Client::new(&model, self.config, self.agent.clone())
                .map(|client| self.share_pace(client, &model, id)),
        };
        let client = match client {
            Ok(client) => client,
            Err(message) => {
                log::error!("[Task {id}] {message}");
                if let Some(Source::Given(items, token)) = &given {
                    for item in items.iter().filter(|_| !dry_run) {
                        items::release(db, item.id, token)?;
                    }
                }
                if !dry_run {
                    tasks::fail(db, id, &self.operation_uuid, &message)?;
                    report.status = task_status::name(task_status::ERROR).into();
                }
                report.message = Some(message);
                report.failed = true;
                self.summary.add_task(report);
                return Ok(());
            }
        };
        if !dry_run && given.is_none() {
            let reaped = items::reap_expired(db, id, self.config.ai_max_attempts)?;
            if reaped.returned + reaped.failed > 0 {
                log::warn!(
                    "[Task {id}] Recovered {} items from expired leases ({} back to pending, {} failed after {} attempts)",
                    reaped.returned + reaped.failed,
                    reaped.returned,
                    reaped.failed,
                    self.config.ai_max_attempts
                );
            }
        }
        let counts = tasks::item_counts(db, id)?;
        if given.is_none() && counts.pending == 0 {
            if !dry_run {
                self.close_task(db, task, &mut report)?;
            }
            if counts.total() == 0 {
                log::info!("[Task {id}] has no items yet; skipped");
                return Ok(());
            }
            self.summary.add_task(report);
            return Ok(());
        }
        if !dry_run {
            tasks::start(db, id, &self.operation_uuid)?;
        }
        log::info!(
            "[Task {id}] Started processing ({} records)",
            counts.total()
        );
        let source = given.unwrap_or(if dry_run { Source::Peek } else { Source::Claim });
        let threads = u64::from(self.options.concurrency.unwrap_or(self.config.concurrency))
            .min(self.budget)
            .max(1);
        self.open_workers(threads as usize)?;
        let run = TaskRun {
            config: self.config,
            task,
            client: &client,
            operation_uuid: &self.operation_uuid,
            dry_run,
            stop: self.stop,
            done_before: counts.processed + counts.error,
            total: counts.total(),
        };
        let tally = pool::run_task(
            &run,
            db,
            &mut self.workers[..threads as usize],
            source,
            self.budget,
        )?;
        let handled = tally.ok + tally.error + tally.dry_run_items.len() as u64;
        self.budget = self.budget.saturating_sub(handled);
        report.items_ok = tally.ok;
        report.items_error = tally.error;
        report.tokens_input = tally.tokens_input;
        report.tokens_output = tally.tokens_output;
        self.summary.items_released += tally.released;
        self.summary.dry_run_items.extend(tally.dry_run_items);
        if let Some(message) = tally.task_error {
            if !dry_run {
                tasks::fail(db, id, &self.operation_uuid, &message)?;
            }
            report.status = task_status::name(task_status::ERROR).into();
            report.message = Some(message);
            report.failed = true;
        } else if !dry_run {
            self.close_task(db, task, &mut report)?;
        }
        self.summary.add_task(report);
        Ok(())
    }

    /// Finishes the task if nothing is left, else logs where it stands.
    fn close_task(
        &self,
        db: &mut Db,
        task: &Task,
        report: &mut TaskSummary,
    ) -> Result<(), DbError> {
        let id = task.id;
        match tasks::finish(db, id, &self.operation_uuid)? {
            Some(done) => {
                let c = done.counts;
                log::info!(
                    "[Task {id}] Processing finished - {}/{} records",
                    c.processed,
                    c.total()
                );
                if let Some(m) = &done.message {
                    log::warn!("[Task {id}] {m}");
                }
                report.status = task_status::name(done.status_id).into();
                report.message = done.message;
            }
            None => {
                let c = tasks::item_counts(db, id)?;
                if c.total() > 0 {
                    tasks::update_progress(db, id, &self.operation_uuid)?;
                    log::info!(
                        "[Task {id}] Paused - {}/{} records done, {} pending, {} being processed",
                        c.processed + c.error,
                        c.total(),
                        c.pending,
                        c.processing
                    );
                }
                report.status =
                    task_status::name(tasks::get(db, id)?.map_or(task.status_id, |t| t.status_id))
                        .into();
            }
        }
        Ok(())
    }

    /// Opens pool connections up to `n` (none in a dry run, which writes nothing).
    fn open_workers(&mut self, n: usize) -> Result<(), DbError> {
        while self.workers.len() < n {
            let conn = if self.options.dry_run {
                None
            } else {
                Some(Db::connect(&self.config.db)?)
            };
            self.workers.push(conn);
        }
        Ok(())
    }
}
