//! Submitting: pending items of a batch task claimed into a job row, then sent as one
//! provider job, whose id is stored the moment the provider gives it.

use crate::ai::AiError;
use crate::ai::batch::{BatchRequest, Batches};
use crate::db::batch_repository::{self as jobs, NewJob, state};
use crate::db::item::Item;
use crate::db::task_repository::{Task, batch_mode};
use crate::db::{Db, DbError};

use super::super::budget::Budget;
use super::super::claim::Claim;
use super::super::model::TaskModel;
use super::super::packing;
use super::super::pipeline::{Hooks, Pipeline};
use super::super::summary::TaskSummary;
use super::super::{Engine, WorkerError};
use super::{batch_api, close_unanswered, failpoint, line_key, pack_key};

/// How one job's submission went.
enum Submitted {
    /// No pending item was left.
    Nothing,
    /// A job went out with this many items (or they ended without a call).
    Job(u64),
    /// The task cannot go on (a refused job): its message.
    TaskError(String),
    /// Not now (a budget, an outage): why; the items wait.
    Paused(String),
}

impl Engine<'_> {
    /// The Batch API a task's items go through this run, if any: not in a dry run, not
    /// for `--task-item`, not after a stuck job of a task that falls back to direct calls.
    pub(in crate::worker) fn batch_for(
        &self,
        db: &mut Db,
        task: &Task,
        model: &TaskModel,
        given: bool,
    ) -> Result<Option<Batches>, DbError> {
        if task.batch == batch_mode::DIRECT || self.plan.dry_run || given {
            return Ok(None);
        }
        if model.spec.is_local_server() {
            log::warn!(
                "[Task {}] task.batch is set, but model '{}' is a server of your own, which has no Batch API: its items go out as direct calls (set task.batch = 0, or `ai-worker model update {} --local-server no` if api_url is a gateway that has one)",
                task.id,
                model.spec.name,
                model.spec.name
            );
            return Ok(None);
        }
        if task.batch == batch_mode::BATCH_OR_DIRECT && jobs::had_stuck_job(db, task.id)? {
            log::info!(
                "[Task {}] A batch job of this task got stuck: its items go out as direct calls (task.batch = 2)",
                task.id
            );
            return Ok(None);
        }
        match batch_api(self.config, &model.spec, &self.agent) {
            Ok(batches) => Ok(Some(batches)),
            Err(why) => {
                log::warn!(
                    "[Task {}] task.batch is set, but {why}: its items go out as direct calls",
                    task.id
                );
                Ok(None)
            }
        }
    }

    /// A started batch task: its pending items go out in jobs of `BATCH_MAX_ITEMS`; a
    /// later run collects them.
    pub(in crate::worker) fn submit_task(
        &mut self,
        db: &mut Db,
        task: &Task,
        model: &TaskModel,
        batches: &Batches,
        pipeline: &Pipeline<'_>,
        mut report: TaskSummary,
    ) -> Result<(), WorkerError> {
        let budget = self.budget_of(task, model, model.batch_pricing.as_ref());
        let (mut sent, mut job_count) = (0, 0);
        let pack_size = packing::pack_limit(
            task.pack_max_items,
            model.pack_max_items,
            self.config.pack_max_items,
        );
        while self.item_limit_left > 0 && !self.stop.is_raised() {
            let limit = self
                .item_limit_left
                .min(self.config.batch.items_per_job.into()) as u32;
            let send = JobToSend {
                task,
                model,
                batches,
                pipeline,
                budget: budget.as_ref(),
                limit,
                pack_size,
            };
            match self.submit_job(db, &send, &mut report)? {
                Submitted::Nothing => break,
                Submitted::Job(n) => {
                    (sent, job_count) = (sent + n, job_count + 1);
                    self.summary.batch_sent += n;
                    self.item_limit_left = self.item_limit_left.saturating_sub(n);
                }
                Submitted::TaskError(message) => {
                    return self.stop_task(db, task.id, None, message, report);
                }
                Submitted::Paused(message) => return self.pause_task(db, task.id, message, report),
            }
        }
        if job_count > 0 {
            log::info!(
                "[Task {}] {sent} items sent in {job_count} batch job(s); a later run collects the results (the provider answers within 24 h)",
                task.id
            );
        }
        self.end_task(db, task, None, report)
    }

    /// One job: the row and its items' claims, the requests, the provider's job id.
    fn submit_job(
        &mut self,
        db: &mut Db,
        send: &JobToSend<'_, '_>,
        report: &mut TaskSummary,
    ) -> Result<Submitted, WorkerError> {
        let job_key = uuid::Uuid::new_v4().to_string();
        let new = NewJob {
            id_task: send.task.id,
            id_ai_model: send.model.id,
            job_key: &job_key,
            operation_uuid: &self.plan.operation_uuid,
            submit_lease_s: self.config.lease.as_secs(),
            window_s: self.config.batch.max_wait.as_secs() + 3600,
        };
        let Some((id, claimed)) = jobs::create_job(db, &new, send.limit)? else {
            return Ok(Submitted::Nothing);
        };
        let count = claimed.len() as u64;
        let prepared = self.prepare_job(db, send, &job_key, claimed, report)?;
        if let Some((amount, day)) = &prepared.daily {
            jobs::set_daily_reservation(db, id, *amount, day)?;
        }
        let job = jobs::find_job(db, &id.to_string())?.ok_or_else(|| {
            WorkerError::Db(DbError::Query(format!(
                "batch job {id} vanished while it was submitted"
            )))
        })?;
        if prepared.requests.is_empty() {
            close_unanswered(db, &job, state::COLLECTED, |_| None)?;
            return Ok(match prepared.over_budget {
                Some(message) => Submitted::Paused(message),
                None => Submitted::Job(count),
            });
        }
        failpoint("before-create");
        let outcome = send.batches.submit(&job_key, &prepared.requests);
        if let Ok(provider_id) = &outcome {
            failpoint("after-create");
            jobs::record_submitted(db, id, provider_id)?;
            log::info!(
                "[Task {}] Batch job {id} ({provider_id}) submitted: {} requests",
                send.task.id,
                prepared.requests.len()
            );
        }
        match (outcome, prepared.over_budget) {
            (Ok(_), Some(message)) => Ok(Submitted::Paused(message)),
            (Ok(_), None) => Ok(Submitted::Job(count)),
            (Err(e), _) => self.submit_failed(db, &job, e),
        }
    }

    /// The provider did not take the job. A refusal (4xx) returns the items and stops
    /// the task; anything else may or may not have created the job, so the row stays
    /// SUBMITTING and a run after `WORKER_LEASE_S` asks the provider for it by its key.
    fn submit_failed(
        &mut self,
        db: &mut Db,
        job: &crate::db::batch_repository::Job,
        err: AiError,
    ) -> Result<Submitted, WorkerError> {
        match err {
            AiError::Task(why) | AiError::Item(why) => {
                let (_, message) = close_unanswered(db, job, state::FAILED, |returned| {
                    Some(format!(
                        "the batch job could not be created: {why}; its {returned} items are back to pending"
                    ))
                })?;
                let message = message.unwrap_or_default();
                Ok(Submitted::TaskError(message))
            }
            other => {
                log::warn!(
                    "[Task {}] Batch job {}: no answer to its creation ({other}); a run after WORKER_LEASE_S asks the provider for it, so it is never created twice",
                    job.id_task,
                    job.id
                );
                Ok(Submitted::Paused(format!(
                    "the provider's Batch API did not answer: {other}"
                )))
            }
        }
    }

    /// The requests of a job's items; items needing no call (blank, unreadable) end
    /// at once, and items over budget go back to PENDING.
    fn prepare_job(
        &mut self,
        db: &mut Db,
        send: &JobToSend<'_, '_>,
        job_key: &str,
        claimed: Vec<Item>,
        report: &mut TaskSummary,
    ) -> Result<PreparedJob, DbError> {
        let mut prepared = PreparedJob::default();
        for item in claimed {
            let claim = Claim::in_job(item, job_key);
            if prepared.over_budget.is_some() {
                claim.release(db, &Default::default())?;
                continue;
            }
            let parts = send.pipeline.parts(claim.item());
            let needs_call =
                claim.item().unreadable.is_none() && !claim.item().text_original.trim().is_empty();
            if !needs_call {
                self.end_without_call(db, send.pipeline, claim, report)?;
                continue;
            }
            if let Some(budget) = send.budget {
                match budget.reserve(db, &claim)? {
                    Ok(reservation) => {
                        if let Some((amount, day)) = reservation.daily {
                            let total = prepared.daily.get_or_insert((0.0, day));
                            total.0 += amount;
                        }
                    }
                    Err(message) => {
                        claim.release(db, &Default::default())?;
                        prepared.over_budget = Some(message);
                        continue;
                    }
                }
            }
            // An item sent for the first time may share a line with other short texts;
            // one that failed before goes alone.
            if send.pack_size > 1
                && claim.item().attempts <= 1
                && let Some(len) = packing::packable_item(claim.item())
            {
                prepared.pack(send, claim.item().clone(), len);
                continue;
            }
            for (n, part) in parts.iter().enumerate() {
                if let Some(prompt) = send.pipeline.prompt_for(claim.item(), &part.text) {
                    let key = line_key(claim.item().id, n + 1, parts.len());
                    prepared.requests.push(BatchRequest { key, prompt });
                }
            }
        }
        prepared.flush_pack(send.pipeline);
        Ok(prepared)
    }

    /// A blank or unreadable item: saved or failed without a call, as a direct run does.
    fn end_without_call(
        &mut self,
        db: &mut Db,
        pipeline: &Pipeline<'_>,
        claim: Claim,
        report: &mut TaskSummary,
    ) -> Result<(), DbError> {
        let hooks = Hooks {
            on_prompt: &mut |_| {},
            keep_alive: &mut || true,
        };
        let processed = pipeline.process(claim.item(), hooks);
        let op = &self.plan.operation_uuid;
        match processed.outcome {
            Ok(result) => {
                claim.complete(db, &result, op)?;
                report.items_ok += 1;
            }
            Err(e) => {
                claim.fail(db, &e.to_string(), op, &processed.spent)?;
                report.items_error += 1;
            }
        }
        Ok(())
    }
}

/// What one job is made of.
struct JobToSend<'a, 'p> {
    task: &'a Task,
    model: &'a TaskModel,
    batches: &'a Batches,
    pipeline: &'a Pipeline<'p>,
    budget: Option<&'a Budget<'a>>,
    limit: u32,
    /// Short texts one line carries at most (1: none share).
    pack_size: usize,
}

/// A job's requests, what it reserved of the daily budget, and whether the budget
/// stopped it short.
#[derive(Default)]
struct PreparedJob {
    requests: Vec<BatchRequest>,
    daily: Option<(f64, String)>,
    over_budget: Option<String>,
    /// Short texts waiting to go out together in one line, and their characters.
    pack: (Vec<Item>, usize),
}

impl PreparedJob {
    /// Adds a short text to the line being filled; a full line goes out first.
    fn pack(&mut self, send: &JobToSend<'_, '_>, item: Item, len: usize) {
        let (group, chars) = &self.pack;
        let mut ids: Vec<u32> = group.iter().map(|i| i.id).collect();
        ids.push(item.id);
        ids.sort_unstable();
        let full = group.len() >= send.pack_size
            || chars + len > packing::PACK_CHARS
            || pack_key(&ids).is_none();
        if full {
            self.flush_pack(send.pipeline);
        }
        self.pack.0.push(item);
        self.pack.1 += len;
    }

    /// The texts waiting to go together as one line (one text: a line of its own).
    fn flush_pack(&mut self, pipeline: &Pipeline<'_>) {
        let (mut group, _) = std::mem::take(&mut self.pack);
        group.sort_by_key(|item| item.id);
        let ids: Vec<u32> = group.iter().map(|item| item.id).collect();
        match pack_key(&ids) {
            Some(key) if group.len() > 1 => {
                let items: Vec<&Item> = group.iter().collect();
                let prompt = pipeline.pack_prompt(&items);
                self.requests.push(BatchRequest { key, prompt });
            }
            // One text (or ids that cannot share a key): a line each.
            _ => {
                for item in &group {
                    if let Some(prompt) = pipeline.prompt_for(item, &item.text_original) {
                        let key = line_key(item.id, 1, 1);
                        self.requests.push(BatchRequest { key, prompt });
                    }
                }
            }
        }
    }
}
