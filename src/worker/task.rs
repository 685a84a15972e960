//! One task of a run: its model, expired leases, start, the pool, then finish or pause.

use crate::db::status::item as item_status;
use crate::db::status::task as task_status;
use crate::db::task_item_repository as items;
use crate::db::task_repository::{self as tasks, ItemCounts, Task};
use crate::db::{Db, DbError};
use crate::privacy::Redactor;

use super::budget::Budget;
use super::claim::Claim;
use super::model::TaskModel;
use super::pipeline::Pipeline;
use super::pool::{self, Source, TaskRun, Work};
use super::summary::TaskSummary;
use super::{Engine, WorkerError, guards, model};

impl<'a> Engine<'a> {
    /// `--task-item`: claims the one item (or reads it, in a dry run) and runs its task
    /// on it alone.
    pub(super) fn run_single_item(&mut self, db: &mut Db, id: u32) -> Result<(), WorkerError> {
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
        let task = self.load_task(db, state.id_task)?;
        if self.plan.dry_run {
            let work = items::get(db, id)?.into_iter().map(Work::DryRun).collect();
            return self.run_task(db, &task, Some(Source::Given(work)));
        }
        if state.status_id == item_status::PROCESSING {
            // A dead worker's claim: recover it like any expired lease first.
            items::reap_expired(db, state.id_task, self.config.ai_max_attempts)?;
        }
        let lease = self.config.lease;
        match Claim::take_one(db, id, lease, &self.plan.operation_uuid)? {
            Some(claim) => {
                let given = Source::Given(vec![Work::Claimed(claim)]);
                self.run_task(db, &task, Some(given))
            }
            None => {
                log::info!(
                    "[TaskItem {id}] could not be claimed (taken by another worker or not pending); skipped"
                );
                Ok(())
            }
        }
    }

    /// Reads a task that must exist.
    pub(super) fn load_task(&self, db: &mut Db, id: u32) -> Result<Task, WorkerError> {
        tasks::get(db, id)?
            .ok_or_else(|| WorkerError::NotFound(format!("task {id} does not exist")))
    }

    /// One task: model check, start, the pool, then finish or pause.
    pub(super) fn run_task(
        &mut self,
        db: &mut Db,
        task: &Task,
        given: Option<Source>,
    ) -> Result<(), WorkerError> {
        let id = task.id;
        if self.stopped_by_batch.contains(&id) {
            return Ok(());
        }
        let report = TaskSummary {
            id_task: id,
            status: task_status::name(task.status_id).into(),
            ..TaskSummary::default()
        };
        let dry_run = self.plan.dry_run;
        let model =
            match model::model_for(db, self.config, id, task.id_ai_model, dry_run, &self.agent)? {
                Ok(model) => model,
                Err(message) => {
                    log::error!("[Task {id}] {message}");
                    return self.stop_task(db, id, given, message, report);
                }
            };
        if !dry_run && given.is_none() {
            self.reap_expired(db, id)?;
        }
        let counts = tasks::item_counts(db, id)?;
        if given.is_none() && counts.pending == 0 {
            return self.nothing_pending(db, task, counts, report);
        }
        if !dry_run {
            tasks::start(db, id, &self.plan.operation_uuid, counts.total())?;
        }
        log::info!(
            "[Task {id}] Started processing ({} records)",
            counts.total()
        );
        let source = given.unwrap_or(if dry_run {
            Source::Peek(0)
        } else {
            Source::Claim
        });
        self.process_task(db, task, &model, counts, source, report)
    }

    /// The pool on a started task, then what its end says: stopped, paused or done.
    fn process_task(
        &mut self,
        db: &mut Db,
        task: &Task,
        model: &TaskModel,
        counts: ItemCounts,
        source: Source,
        mut report: TaskSummary,
    ) -> Result<(), WorkerError> {
        self.note_missing_prices(task, model);
        let batches = self.batch_for(db, task, model, matches!(source, Source::Given(_)))?;
        let pricing = match &batches {
            Some(_) => model.batch_pricing.as_ref(),
            None => model.pricing.as_ref(),
        };
        let pipeline = self.pipeline_for(task, model, pricing);
        if let Some(batches) = &batches {
            return self.submit_task(db, task, model, batches, &pipeline, report);
        }
        let budget = self.budget_of(task, model, model.pricing.as_ref());
        let tally = self.run_pool(db, task.id, &model.name, pipeline, budget, counts, source)?;
        if !self.plan.dry_run {
            model::remember_json_mode(db, model)?;
        }
        self.items_left = self.items_left.saturating_sub(tally.handled());
        report.items_ok = tally.ok;
        report.items_error = tally.error;
        report.costs = tally.costs;
        report.costs.currency = model.pricing.as_ref().map(|p| p.currency.clone());
        self.summary.items_released += tally.released;
        self.summary.dry_run_items.extend(tally.dry_run_items);
        if let Some(message) = tally.task_paused.filter(|_| tally.task_error.is_none()) {
            return self.pause_task(db, task.id, message, report);
        }
        self.end_task(db, task, tally.task_error, report)
    }

    /// What a task's items go through, priced at `pricing` (the batch price for a job's
    /// lines).
    pub(super) fn pipeline_for<'p>(
        &self,
        task: &'p Task,
        model: &'p TaskModel,
        pricing: Option<&'p crate::worker::cost::Pricing>,
    ) -> Pipeline<'p>
    where
        'a: 'p,
    {
        let mask_markup = !task.skip_guards.iter().any(|g| g == "markup");
        Pipeline {
            client: &model.client,
            redactor: Redactor::new(self.config.pii_redaction).with_markup(mask_markup),
            instruction: &task.description,
            stop: self.stop,
            pricing,
            skip_guards: &task.skip_guards,
            bounds: guards::bounds_for(&task.description),
            max_chunk_chars: model.max_chunk_chars,
        }
    }

    /// The budgets a task's calls are held to (none in a dry run, which spends
    /// nothing it could record).
    pub(super) fn budget_of<'m>(
        &self,
        task: &Task,
        model: &'m TaskModel,
        pricing: Option<&'m crate::worker::cost::Pricing>,
    ) -> Option<Budget<'m>> {
        let task_limited = task.max_cost.is_some();
        let daily = model.daily_budget.map(|_| (model.id, model.name.as_str()));
        if self.plan.dry_run || !(task_limited || daily.is_some()) {
            return None;
        }
        Some(Budget {
            pricing: pricing?,
            instruction_chars: task.description.chars().count() as u64,
            task_limited,
            daily,
        })
    }

    /// Says once per run and model that costs are unknown without prices (and that a
    /// budget cannot hold without them).
    fn note_missing_prices(&mut self, task: &Task, model: &TaskModel) {
        if model.pricing.is_some() || !self.models_without_prices.insert(model.id) {
            return;
        }
        let name = &model.name;
        let budgets = task.max_cost.is_some() || model.daily_budget.is_some();
        let consequence = if budgets {
            "its budgets (task.max_cost, daily_budget) cannot be held either"
        } else {
            "costs are not computed"
        };
        log::warn!(
            "[Task {}] model '{name}' has no prices: {consequence}; set them with `ai-worker model update {name} --price-input N --price-output N` (per 1 million tokens)",
            task.id
        );
    }

    /// The model's server cannot be reached: the task keeps its items PENDING and its
    /// status, says why in `error_message`, and the next run tries again.
    pub(super) fn pause_task(
        &mut self,
        db: &mut Db,
        id: u32,
        message: String,
        mut report: TaskSummary,
    ) -> Result<(), WorkerError> {
        let reason = if message.contains("budget") {
            "budget"
        } else {
            "unreachable"
        };
        crate::metrics::task_paused(reason);
        let message = format!("{message}; the items stay pending and the next run tries again");
        log::error!("[Task {id}] {message}");
        if !self.plan.dry_run {
            tasks::pause(db, id, &self.plan.operation_uuid, &message)?;
        }
        report.message = Some(message);
        report.paused = true;
        self.summary.add_task(report);
        Ok(())
    }

    /// After the pool: stop the task if the model said so, else finish or pause it.
    pub(super) fn end_task(
        &mut self,
        db: &mut Db,
        task: &Task,
        task_error: Option<String>,
        mut report: TaskSummary,
    ) -> Result<(), WorkerError> {
        let (id, dry_run) = (task.id, self.plan.dry_run);
        match task_error {
            Some(message) => return self.stop_task(db, id, None, message, report),
            None if !dry_run => self.close_task(db, task, &mut report)?,
            None => {}
        }
        self.summary.add_task(report);
        Ok(())
    }

    /// A task without pending items: closed if everything is done, skipped if empty.
    fn nothing_pending(
        &mut self,
        db: &mut Db,
        task: &Task,
        counts: ItemCounts,
        mut report: TaskSummary,
    ) -> Result<(), WorkerError> {
        if !self.plan.dry_run {
            self.close_task(db, task, &mut report)?;
        }
        if counts.total() == 0 {
            log::info!("[Task {}] has no items yet; skipped", task.id);
        } else {
            self.summary.add_task(report);
        }
        Ok(())
    }

    /// Runs the pool on a task with as many threads as the plan and the items left allow.
    #[allow(clippy::too_many_arguments)]
    fn run_pool(
        &mut self,
        db: &mut Db,
        id_task: u32,
        model_name: &str,
        pipeline: Pipeline<'_>,
        budget: Option<Budget<'_>>,
        counts: ItemCounts,
        source: Source,
    ) -> Result<pool::Tally, DbError> {
        let threads = (self.plan.concurrency as u64).min(self.items_left).max(1) as usize;
        self.open_connections(threads)?;
        let run = TaskRun {
            id_task,
            pipeline,
            operation_uuid: &self.plan.operation_uuid,
            dry_run: self.plan.dry_run,
            lease: self.config.lease,
            batch_size: self.config.batch_size,
            progress_every: self.config.progress_every,
            done_before: counts.processed + counts.error,
            total: counts.total(),
            budget,
            permits: pool::Permits::new(self.plan.concurrency),
            model: model_name,
        };
        let conns = &mut self.connections[..];
        pool::run(&run, db, threads, conns, source, self.items_left)
    }

    /// Stops a task as a whole (no usable model, a bad key): given items go back to
    /// PENDING, the task gets ERROR with the message.
    pub(super) fn stop_task(
        &mut self,
        db: &mut Db,
        id: u32,
        given: Option<Source>,
        message: String,
        mut report: TaskSummary,
    ) -> Result<(), WorkerError> {
        if let Some(Source::Given(work)) = given {
            for work in work {
                if let Work::Claimed(claim) = work {
                    claim.release(db, &Default::default())?;
                }
            }
        }
        if !self.plan.dry_run {
            tasks::fail(db, id, &self.plan.operation_uuid, &message)?;
        }
        report.status = task_status::name(task_status::ERROR).into();
        report.message = Some(message);
        report.failed = true;
        self.summary.add_task(report);
        Ok(())
    }

    /// Returns items of dead workers (expired leases) to PENDING, or ERROR after
    /// `AI_MAX_ATTEMPTS` claims.
    fn reap_expired(&self, db: &mut Db, id: u32) -> Result<(), DbError> {
        let max_attempts = self.config.ai_max_attempts;
        let reaped = items::reap_expired(db, id, max_attempts)?;
        if reaped.returned + reaped.failed > 0 {
            log::warn!(
                "[Task {id}] Recovered {} items from expired leases ({} back to pending, {} failed after {max_attempts} attempts)",
                reaped.returned + reaped.failed,
                reaped.returned,
                reaped.failed,
            );
        }
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
        let Some(done) = tasks::finish(db, id, &self.plan.operation_uuid)? else {
            let c = tasks::item_counts(db, id)?;
            if c.total() > 0 {
                tasks::update_progress(db, id, &self.plan.operation_uuid)?;
                log::info!(
                    "[Task {id}] Paused - {}/{} records done, {} pending, {} being processed",
                    c.processed + c.error,
                    c.total(),
                    c.pending,
                    c.processing
                );
            }
            let status = tasks::get(db, id)?.map_or(task.status_id, |t| t.status_id);
            report.status = task_status::name(status).into();
            return Ok(());
        };
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
        Ok(())
    }

    /// Opens executor connections up to `n` (none in a dry run, which writes nothing);
    /// they are kept for the whole run.
    fn open_connections(&mut self, n: usize) -> Result<(), DbError> {
        while !self.plan.dry_run && self.connections.len() < n {
            self.connections.push(Db::connect(&self.config.db)?);
        }
        Ok(())
    }
}
