//! One task of a run: opened as a lane (its model, expired leases, start), and ended
//! (stopped, waiting, or finished) once the producer is done with it.

use std::sync::Arc;

use crate::db::status::item as item_status;
use crate::db::status::task as task_status;
use crate::db::task_item_repository as items;
use crate::db::task_repository::{self as tasks, ItemCounts, Task};
use crate::db::{Db, DbError};

use super::budget::Budget;
use super::claim::Claim;
use super::executor::Work;
use super::lane::{Lane, budget_for, pipeline_for};
use super::model::TaskModel;
use super::permits::Permits;
use super::pipeline::Pipeline;
use super::producer::{Source, Track};
use super::summary::TaskSummary;
use super::{Engine, WorkerError, model};

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
            return self.run_one_lane(db, task, Some(Source::Given(work)));
        }
        if state.status_id == item_status::PROCESSING {
            // A dead worker's claim: recover it like any expired lease first.
            items::reap_expired(db, state.id_task, self.config.ai_max_attempts)?;
        }
        let lease = self.config.lease;
        match Claim::take_one(db, id, lease, &self.plan.operation_uuid)? {
            Some(claim) => {
                let given = Source::Given(vec![Work::Claimed(claim)]);
                self.run_one_lane(db, task, Some(given))
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

    /// Works one task (`--task`, `--task-item`) through the producer.
    pub(super) fn run_one_lane(
        &mut self,
        db: &mut Db,
        task: Task,
        given: Option<Source>,
    ) -> Result<(), WorkerError> {
        let lanes = self.open_lane(db, task, given)?.into_iter().collect();
        self.run_lanes(db, lanes, false)
    }

    /// Readies a task for the producer: its model checked, dead workers' leases
    /// recovered, the task started. `None` when there is nothing to do for it here: a
    /// task the panel set aside, a model that cannot work (the task stops), nothing
    /// pending (the task is closed if done), or a batch task (its items went out as
    /// a job).
    pub(super) fn open_lane(
        &mut self,
        db: &mut Db,
        task: Task,
        given: Option<Source>,
    ) -> Result<Option<Track>, WorkerError> {
        let id = task.id;
        if self.stopped_by_batch.contains(&id) {
            return Ok(None);
        }
        let privacy = match self.config.pii_redaction {
            true => super::lane::privacy_of(&task).name(),
            false => "off (PII_REDACTION=off)",
        };
        let mut report = TaskSummary {
            id_task: id,
            status: task_status::name(task.status_id).into(),
            privacy: privacy.into(),
            ..TaskSummary::default()
        };
        if task_status::held_by_panel(task.status_id) {
            let status = task_status::name(task.status_id);
            let message = format!(
                "task {id} is {status} (set by the panel); nothing is claimed for it until it is NEW or IN_PROGRESS again (`ai-worker resume --task {id}`)"
            );
            log::warn!("[Task {id}] {message}");
            release_given(db, given)?;
            report.message = Some(message);
            self.summary.add_task(report);
            return Ok(None);
        }
        let dry_run = self.plan.dry_run;
        match super::lane::work_of(&task) {
            Ok((kind, _)) => report.kind = kind.name().into(),
            Err(message) => {
                log::error!("[Task {id}] {message}");
                self.stop_task(db, id, given, message, report)?;
                return Ok(None);
            }
        }
        let model = match model::model_for(
            db,
            self.config,
            (id, task.id_ai_model),
            dry_run,
            &self.agent,
            &self.pool,
        )? {
            Ok(model) => model,
            Err(message) => {
                log::error!("[Task {id}] {message}");
                self.stop_task(db, id, given, message, report)?;
                return Ok(None);
            }
        };
        if !dry_run && given.is_none() {
            self.reap_expired(db, id)?;
        }
        let counts = tasks::item_counts(db, id)?;
        if given.is_none() && counts.pending == 0 {
            self.nothing_pending(db, &task, counts, report)?;
            return Ok(None);
        }
        self.note_missing_prices(&task, &model);
        if let Some(batches) = self.batch_for(db, &task, &model, given.is_some())? {
            let pipeline = self.pipeline_for(&task, &model, model.batch_pricing.as_ref());
            self.submit_task(db, &task, &model, &batches, &pipeline, report)?;
            return Ok(None);
        }
        let source = given.unwrap_or(if dry_run {
            Source::Peek(0)
        } else {
            Source::Claim
        });
        let chain = self.with_fallbacks(db, id, model)?;
        let models = chain
            .into_iter()
            .map(|model| {
                let permits = model.max_concurrency.map(|cap| {
                    Arc::clone(
                        self.model_permits
                            .entry(model.id)
                            .or_insert_with(|| Arc::new(Permits::new(cap))),
                    )
                });
                (model, permits)
            })
            .collect();
        let lane = Lane::new(task, models);
        Ok(Some(Track::new(lane, source, report, counts)))
    }

    /// The task's model followed by its fallbacks (`ai_model.id_fallback_model`), as
    /// far as each can be used; a cycle ends the chain.
    fn with_fallbacks(
        &mut self,
        db: &mut Db,
        id_task: u32,
        model: TaskModel,
    ) -> Result<Vec<TaskModel>, WorkerError> {
        let mut chain = vec![model];
        while let Some(next) = chain.last().and_then(|m| m.fallback) {
            if chain.iter().any(|m| m.id == next) {
                log::warn!(
                    "[Task {id_task}] the fallbacks of its model lead back to model id {next}: the chain ends there"
                );
                break;
            }
            let found = model::model_for(
                db,
                self.config,
                (id_task, next),
                self.plan.dry_run,
                &self.agent,
                &self.pool,
            )?;
            match found {
                Ok(fallback) => chain.push(fallback),
                Err(why) => {
                    log::warn!("[Task {id_task}] its fallback model cannot be used: {why}");
                    break;
                }
            }
        }
        Ok(chain)
    }

    /// What a task's items go through, priced at `pricing` (the batch price for a
    /// job's lines).
    pub(super) fn pipeline_for<'p>(
        &self,
        task: &'p Task,
        model: &'p TaskModel,
        pricing: Option<&'p crate::worker::cost::Pricing>,
    ) -> Pipeline<'p>
    where
        'a: 'p,
    {
        pipeline_for(self.config, self.stop, task, model, pricing)
    }

    /// The budgets a task's calls are held to.
    pub(super) fn budget_of<'m>(
        &self,
        task: &Task,
        model: &'m TaskModel,
        pricing: Option<&'m crate::worker::cost::Pricing>,
    ) -> Option<Budget<'m>> {
        budget_for(self.plan.dry_run, task, model, pricing)
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
        // Worth a warning where it costs money or breaks a budget; the demo's offline
        // model and a free server of your own only get an info line.
        let level = if budgets || bills(&model.spec) {
            log::Level::Warn
        } else {
            log::Level::Info
        };
        log::log!(
            level,
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
        release_given(db, given)?;
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
}

/// Whether a model is billed per token: a provider's own API (not echo, not a server
/// of your own at another address).
fn bills(spec: &crate::ai::ModelSpec) -> bool {
    let Some(default_host) = spec.provider.default_host() else {
        return false;
    };
    spec.api_url.as_deref().is_none_or(|url| {
        url.parse::<ureq::http::Uri>()
            .ok()
            .and_then(|uri| uri.host().map(|h| h.eq_ignore_ascii_case(default_host)))
            .unwrap_or(false)
    })
}

/// Hands back the claims of `--task-item` when its task cannot run.
fn release_given(db: &mut Db, given: Option<Source>) -> Result<(), DbError> {
    if let Some(Source::Given(work)) = given {
        for work in work {
            if let Work::Claimed(claim) = work {
                claim.release(db, &Default::default())?;
            }
        }
    }
    Ok(())
}
