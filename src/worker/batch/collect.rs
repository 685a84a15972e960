//! Collecting: each open job of the run's scope is asked where it stands; a finished
//! one has every line matched to its item by key and saved under the same guards as a
//! direct call; lines that failed go back by the usual attempts, lines the provider
//! never answered (an expired or cancelled job) back to PENDING.

use std::collections::HashMap;

use crate::ai::batch::{Batches, JobState, JobStatus, LineResult};
use crate::ai::{AiError, Usage};
use crate::db::batch_repository::{self as jobs, Job, JobEnd, state};
use crate::db::task_repository as tasks;
use crate::db::{Db, DbError};

use super::super::claim::{Claim, Ended};
use super::super::model::{self, TaskModel};
use super::super::pipeline::{Pipeline, Processed};
use super::super::summary::TaskSummary;
use super::super::{Engine, Scope, WorkerError};
use super::{LineKey, batch_api, close_job, close_unanswered, failpoint, parse_line_key};

impl Engine<'_> {
    /// Collects the open jobs of the run's scope (all, or the task's), one at a time;
    /// a job another worker is collecting is left to it.
    pub(in crate::worker) fn collect_jobs(&mut self, db: &mut Db) -> Result<(), WorkerError> {
        let scope = match self.plan.scope {
            _ if self.plan.dry_run => return Ok(()),
            Scope::Item(_) => return Ok(()),
            Scope::Task(id) => Some(id),
            Scope::Pending => None,
        };
        for job in jobs::open_jobs(db, scope)? {
            if self.stop.is_raised() {
                break;
            }
            if !jobs::take_over(db, job.id, self.config.lease.as_secs())? {
                continue;
            }
            let collected = self.collect_job(db, &job);
            jobs::let_go(db, job.id)?;
            collected?;
        }
        Ok(())
    }

    /// One job: found (if its id was never stored), asked, cancelled if stuck, collected
    /// if finished.
    pub(in crate::worker) fn collect_job(
        &mut self,
        db: &mut Db,
        job: &Job,
    ) -> Result<(), WorkerError> {
        let Some(task) = tasks::get(db, job.id_task)? else {
            return Ok(());
        };
        let Some((model, batches)) = self.job_model(db, job)? else {
            return Ok(());
        };
        let Some(job_id) = self.job_id(db, job, &batches)? else {
            return Ok(());
        };
        let Some(status) = self.job_status(db, job, &batches, &job_id)? else {
            return Ok(());
        };
        match &status.state {
            JobState::Running | JobState::Cancelling => {
                let next = if status.state == JobState::Running {
                    state::RUNNING
                } else {
                    state::CANCELLING
                };
                jobs::checked(db, job.id, &status.provider_state, next)?;
                self.summary.batch_waiting += u64::from(job.item_count);
                let done = status.finished.map_or(String::new(), |n| {
                    format!(", {n} of {} lines finished", job.item_count)
                });
                log::info!(
                    "[Task {}] Batch job {} ({job_id}): {}{done}",
                    task.id,
                    job.id,
                    status.provider_state
                );
                Ok(())
            }
            JobState::Failed(why) => self.job_failed(db, job, &job_id, why),
            _ => self.save_job(db, job, &task, &model, &batches, &status),
        }
    }

    /// [`Engine::job_api`], `None` (said in the log) when it cannot be had now.
    fn job_model(
        &self,
        db: &mut Db,
        job: &Job,
    ) -> Result<Option<(TaskModel, Batches)>, WorkerError> {
        match self.job_api(db, job)? {
            Ok(found) => Ok(Some(found)),
            Err(why) => {
                log::warn!(
                    "[Task {}] Batch job {} cannot be checked: {why}",
                    job.id_task,
                    job.id
                );
                Ok(None)
            }
        }
    }

    /// The model a job was sent to and its Batch API, or why they cannot be had.
    pub(in crate::worker) fn job_api(
        &self,
        db: &mut Db,
        job: &Job,
    ) -> Result<Result<(TaskModel, Batches), String>, WorkerError> {
        let model = model::model_for(
            db,
            self.config,
            (job.id_task, job.id_ai_model),
            false,
            &self.agent,
            &self.pool,
        )?;
        Ok(model.and_then(|model| {
            let batches = batch_api(self.config, &model.spec, &self.agent)?;
            Ok((model, batches))
        }))
    }

    /// The provider's id of a job; for a SUBMITTING job of a worker that died, looked up
    /// by its key: adopted if the provider has it, else its items go back to PENDING.
    fn job_id(
        &mut self,
        db: &mut Db,
        job: &Job,
        batches: &Batches,
    ) -> Result<Option<String>, WorkerError> {
        if let Some(id) = &job.provider_job_id {
            return Ok(Some(id.clone()));
        }
        match batches.find(&job.job_key) {
            Ok(Some(id)) => {
                jobs::record_submitted(db, job.id, &id)?;
                log::warn!(
                    "[Task {}] Batch job {} was created ({id}) by a worker that stopped before recording it; adopted",
                    job.id_task,
                    job.id
                );
                Ok(Some(id))
            }
            Ok(None) => {
                let (returned, _) = close_unanswered(db, job, state::ABANDONED, |_| {
                    Some(
                        "the job never reached the provider; its items went back to pending".into(),
                    )
                })?;
                log::warn!(
                    "[Task {}] Batch job {} never reached the provider: {returned} items back to pending",
                    job.id_task,
                    job.id
                );
                Ok(None)
            }
            Err(e) => {
                log::warn!(
                    "[Task {}] Batch job {}: cannot look it up at the provider ({e}); the next run tries again",
                    job.id_task,
                    job.id
                );
                Ok(None)
            }
        }
    }

    /// Where a job stands; a job running longer than `BATCH_MAX_WAIT_H` is cancelled
    /// first. `None` when the provider cannot be asked now (the next run asks again).
    fn job_status(
        &mut self,
        db: &mut Db,
        job: &Job,
        batches: &Batches,
        job_id: &str,
    ) -> Result<Option<JobStatus>, WorkerError> {
        let ask = |batches: &Batches| {
            batches.status(job_id).map_err(|e| {
            log::warn!("[Task {}] Batch job {}: cannot ask the provider about it ({e}); the next run asks again", job.id_task, job.id);
        })
        };
        let Ok(status) = ask(batches) else {
            return Ok(None);
        };
        let max_wait = self.config.batch.max_wait;
        if status.state != JobState::Running || job.age_s <= max_wait.as_secs() {
            return Ok(Some(status));
        }
        let hours = max_wait.as_secs() / 3600;
        let message =
            format!("the job ran longer than BATCH_MAX_WAIT_H ({hours} h) and was cancelled");
        log::warn!(
            "[Task {}] Batch job {} ({job_id}): {message}",
            job.id_task,
            job.id
        );
        if let Err(e) = batches.cancel(job_id) {
            log::warn!(
                "[Task {}] Batch job {}: cancelling failed ({e}); the next run tries again",
                job.id_task,
                job.id
            );
            return Ok(None);
        }
        jobs::mark_stuck(db, job.id, &message)?;
        Ok(ask(batches).ok())
    }

    /// A job that failed as a whole: its items back to PENDING (they were never tried),
    /// the task stopped with a message saying why.
    fn job_failed(
        &mut self,
        db: &mut Db,
        job: &Job,
        job_id: &str,
        why: &str,
    ) -> Result<(), WorkerError> {
        let (_, message) = close_unanswered(db, job, state::FAILED, |returned| {
            Some(format!(
                "batch job {} ({job_id}) failed at the provider: {why}; its {returned} items are back to pending: fix the cause and run again",
                job.id
            ))
        })?;
        let message = message.unwrap_or_default();
        log::error!("[Task {}] {message}", job.id_task);
        tasks::fail(db, job.id_task, &self.plan.operation_uuid, &message)?;
        self.stopped_by_batch.insert(job.id_task);
        let report = TaskSummary {
            id_task: job.id_task,
            status: crate::db::status::task::name(crate::db::status::task::ERROR).into(),
            message: Some(message),
            failed: true,
            ..TaskSummary::default()
        };
        self.summary.add_task(report);
        Ok(())
    }

    /// A finished job's lines saved; the job closed with its counts and cost.
    fn save_job(
        &mut self,
        db: &mut Db,
        job: &Job,
        task: &tasks::Task,
        model: &TaskModel,
        batches: &Batches,
        status: &JobStatus,
    ) -> Result<(), WorkerError> {
        let lines = match batches.results(status) {
            Ok(lines) => lines,
            Err(e) => {
                log::warn!(
                    "[Task {}] Batch job {}: cannot read its results ({e}); the next run tries again",
                    task.id,
                    job.id
                );
                return Ok(());
            }
        };
        let pipeline = self.pipeline_for(task, model, model.batch_pricing.as_ref());
        let answered_all = status.state == JobState::Succeeded;
        let mut report = TaskSummary {
            id_task: task.id,
            status: crate::db::status::task::name(task.status_id).into(),
            ..TaskSummary::default()
        };
        let end = self.save_lines(db, job, &pipeline, lines, answered_all, &mut report)?;
        let final_state = match status.state {
            JobState::Expired => state::EXPIRED,
            JobState::Cancelled => state::CANCELLED,
            _ => state::COLLECTED,
        };
        close_job(
            db,
            job,
            &JobEnd {
                state: final_state,
                ..end.clone()
            },
        )?;
        log::info!(
            "[Task {}] Batch job {} collected ({}): {} saved, {} failed, {} back to pending",
            task.id,
            job.id,
            status.provider_state,
            end.ok,
            end.error,
            end.returned
        );
        report.costs.currency = model.batch_pricing.as_ref().map(|p| p.currency.clone());
        count_metrics(&model.name, &end, &report.costs, job.age_s as f64);
        report.message = Some(format!("batch job {} collected", job.id));
        self.summary.items_released += u64::from(end.returned);
        self.summary.add_task(report);
        Ok(())
    }

    /// Every item still in the job ended by its lines (matched by key, in any order;
    /// lines of items already ended, or with keys the job never sent, are ignored).
    fn save_lines(
        &mut self,
        db: &mut Db,
        job: &Job,
        pipeline: &Pipeline<'_>,
        lines: Vec<LineResult>,
        answered_all: bool,
        report: &mut TaskSummary,
    ) -> Result<JobEnd, DbError> {
        let mut by_item: HashMap<u32, HashMap<usize, LineResult>> = HashMap::new();
        let mut packs: Vec<(Vec<u32>, LineResult)> = Vec::new();
        for line in lines {
            match parse_line_key(&line.key) {
                Some(LineKey::Part(item, part)) => {
                    by_item.entry(item).or_default().entry(part).or_insert(line);
                }
                Some(LineKey::Pack(ids)) => packs.push((ids, line)),
                None => log::warn!(
                    "[Task {}] Batch job {}: a result line with an unknown key was ignored",
                    job.id_task,
                    job.id
                ),
            }
        }
        let job_items = jobs::items_in_job(db, job)?;
        let mut packed = pack_results(pipeline, &job_items, packs);
        let mut end = JobEnd::default();
        for job_item in job_items {
            let mut lines = by_item.remove(&job_item.item.id).unwrap_or_default();
            let claim = Claim::in_job(job_item.item, &job.job_key);
            let (processed, missing) = match packed.remove(&claim.item().id) {
                Some(processed) => (processed, false),
                None => item_result(pipeline, claim.item(), &mut lines),
            };
            let mut spent = processed.spent;
            spent.reserved = job_item.reserved;
            if let Some(cost) = spent.cost {
                *end.cost.get_or_insert(0.0) += cost;
            }
            report.costs.add(&spent);
            let outcome = if missing && !answered_all {
                Err(AiError::Stopped)
            } else if missing {
                Err(AiError::transient(
                    "the provider returned no result for this item",
                ))
            } else {
                processed.outcome.map(|mut result| {
                    result.spent = spent;
                    result
                })
            };
            self.end_item(db, claim, outcome, &spent, &mut end, report)?;
            failpoint("mid-collect");
        }
        Ok(end)
    }

    /// Ends one item of a job: saved, failed, or back to PENDING (an attempt counted
    /// for a line that failed; not counted for a line never answered).
    fn end_item(
        &mut self,
        db: &mut Db,
        claim: Claim,
        outcome: Result<crate::db::item::ItemResult, AiError>,
        spent: &crate::db::item::Spent,
        end: &mut JobEnd,
        report: &mut TaskSummary,
    ) -> Result<(), DbError> {
        let op = self.plan.operation_uuid.clone();
        let id = claim.item().id;
        let attempts = claim.item().attempts;
        let max_attempts = self.config.ai_max_attempts;
        let ended = match outcome {
            Ok(result) => {
                end.ok += 1;
                report.items_ok += 1;
                claim.complete(db, &result, &op)?
            }
            Err(AiError::Stopped) => {
                end.returned += 1;
                claim.release(db, spent)?
            }
            Err(AiError::Item(why)) => {
                log::warn!("[TaskItem {id}] {why}");
                (end.error, report.items_error) = (end.error + 1, report.items_error + 1);
                claim.fail(db, &why, &op, spent)?
            }
            Err(e) if attempts >= max_attempts => {
                let why = format!("{e} (gave up after {attempts} attempts)");
                log::warn!("[TaskItem {id}] {why}");
                (end.error, report.items_error) = (end.error + 1, report.items_error + 1);
                claim.fail(db, &why, &op, spent)?
            }
            Err(e) => {
                log::info!(
                    "[TaskItem {id}] Batch line failed ({e}); the item goes in the next job"
                );
                end.returned += 1;
                claim.requeue(db, spent)?
            }
        };
        if ended == Ended::Lost {
            log::warn!(
                "[TaskItem {id}] was taken over while its batch job ran; its line was not saved"
            );
        }
        Ok(())
    }
}

/// The results of the items that went out several to a line, by item id (an item a
/// line names that is no longer in the job is left out; the line's tokens are then
/// shared among the others).
fn pack_results(
    pipeline: &Pipeline<'_>,
    job_items: &[jobs::JobItem],
    packs: Vec<(Vec<u32>, LineResult)>,
) -> HashMap<u32, Processed> {
    let mut results = HashMap::new();
    for (ids, line) in packs {
        let members: Vec<(usize, &crate::db::item::Item)> = ids
            .iter()
            .enumerate()
            .filter_map(|(k, id)| {
                let in_job = job_items.iter().find(|j| j.item.id == *id)?;
                Some((k + 1, &in_job.item))
            })
            .filter(|(_, item)| !results.contains_key(&item.id))
            .collect();
        if members.is_empty() {
            continue;
        }
        let outcomes = pipeline.check_pack_line(&members, line.usage, line.outcome);
        for ((_, item), processed) in members.iter().zip(outcomes) {
            results.insert(item.id, processed);
        }
    }
    results
}

/// An item's result from its lines: each part checked like a direct call's answer,
/// the parts joined. `true` when some part has no line (the provider never answered it).
fn item_result(
    pipeline: &Pipeline<'_>,
    item: &crate::db::item::Item,
    lines: &mut HashMap<usize, LineResult>,
) -> (Processed, bool) {
    let parts = pipeline.parts(item);
    let mut processed = Vec::with_capacity(parts.len());
    let mut missing = false;
    for (n, part) in parts.iter().enumerate() {
        let (usage, answer) = match lines.remove(&(n + 1)) {
            Some(line) => (line.usage, line.outcome),
            None if part.text.trim().is_empty() => (Usage::default(), Err(AiError::Stopped)),
            None => {
                missing = true;
                (Usage::default(), Err(AiError::Stopped))
            }
        };
        processed.push(pipeline.check_line(item, &part.text, usage, answer));
    }
    (pipeline.join(&parts, processed), missing)
}

/// Adds a collected job's items, tokens and cost to the process's metrics (each item's
/// duration is the job's age: that is how long it waited for its answer).
fn count_metrics(model: &str, end: &JobEnd, costs: &crate::worker::summary::Costs, seconds: f64) {
    let counts = [
        ("processed", end.ok),
        ("error", end.error),
        ("released", end.returned),
    ];
    for (status, n) in counts {
        for _ in 0..n {
            crate::metrics::item(status, model, seconds);
        }
    }
    crate::metrics::tokens("input", costs.tokens.input);
    crate::metrics::tokens("cached", costs.tokens.cached);
    crate::metrics::tokens("output", costs.tokens.output);
    crate::metrics::tokens("thinking", costs.tokens.thinking);
    if let (Some(cost), Some(currency)) = (costs.cost, &costs.currency) {
        crate::metrics::cost(currency, cost);
    }
}
