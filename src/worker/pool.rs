//! Processes one task's items with a fixed pool of threads.
//!
//! The calling thread is the coordinator: it claims items in batches and hands them to
//! the pool through a small bounded queue, so at most a batch waits while the model
//! works. Each pool thread owns its own database connection, so saving a result never
//! waits for another thread. Measured with `scripts/bench` (see BENCHMARKS.md): at zero
//! model latency this runs at about 3,000 items/s with 1.2 SQL statements per item, so
//! a single writer thread (one connection, batched writes) would buy nothing worth its
//! complexity. Every save is one autocommit statement, so a killed process leaves
//! nothing half-written.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender, TrySendError};
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use super::summary::DryRunItem;
use crate::ai::AiError;
use crate::ai::client::Client;
use crate::ai::prompt_builder;
use crate::ai::prompt_builder::Prompt;
use crate::config::Config;
use crate::db::task_item_repository::{self as items, Item, ItemResult};
use crate::db::task_repository::{self as tasks, Task};
use crate::db::{Db, DbError};
use crate::privacy::{Redacted, Redactor};
use crate::stop::StopSignal;

/// Summary saved for an empty or blank text, which is never sent to the model.
pub const EMPTY_TEXT_SUMMARY: &str = "The text is empty: nothing to correct.";

/// Where the coordinator gets items from.
pub enum Source {
    /// Claim PENDING items in batches (a normal run).
    Claim,
    /// Read PENDING items without claiming (a dry run).
    Peek,
    /// These items only, already claimed with this token (or read, in a dry run).
    Given(Vec<Item>, String),
}

/// Everything the threads of one task share.
pub struct TaskRun<'a> {
    /// The run's configuration.
    pub config: &'a Config,
    /// The task being processed.
    pub task: &'a Task,
    /// The task's model.
    pub client: &'a Client,
    /// The run's id.
    pub operation_uuid: &'a str,
    /// Write nothing.
    pub dry_run: bool,
    /// Ctrl+C / SIGTERM.
    pub stop: &'a StopSignal,
    /// Items already done when the run started (for progress lines).
    pub done_before: u64,
    /// Items of the task when the run started (for progress lines).
    pub total: u64,
}

/// What the pool did with one task.
#[derive(Debug, Default)]
pub struct Tally {
    /// Saved as PROCESSED.
    pub ok: u64,
    /// Marked ERROR.
    pub error: u64,
    /// Handed back to PENDING.
    pub released: u64,
    /// Results discarded because another worker had taken the item over.
    pub lost: u64,
    /// Items claimed (or read) from the database.
    pub taken: u64,
    /// Prompt tokens.
    pub tokens_input: u64,
    /// Output tokens.
    pub tokens_output: u64,
    /// Why the whole task must stop, if it must.
    pub task_error: Option<String>,
    /// Dry-run results.
    pub dry_run_items: Vec<DryRunItem>,
}

/// A claimed item on its way to a pool thread.
struct Job {
    item: Item,
    claim_token: String,
    claimed_at: Instant,
}

/// What a pool thread reports back for each job.
enum Done {
    Ok {
        tokens_input: u64,
        tokens_output: u64,
    },
    Error,
    Released,
    Lost,
    DryRun(Box<DryRunItem>),
    StopTask(String),
    DbFailed(DbError),
}

/// Processes up to `budget` items of the task. `workers` are the pool's connections
/// (empty in a dry run, which needs none); their number is the concurrency.
pub fn run_task(
    run: &TaskRun<'_>,
    db: &mut Db,
    workers: &mut [Option<Db>],
    source: Source,
    budget: u64,
) -> Result<Tally, DbError> {
    let threads = workers.len().max(1);
    let (job_tx, job_rx) = mpsc::sync_channel::<Job>(threads);
    let (done_tx, done_rx) = mpsc::channel::<Done>();
    let job_rx = Mutex::new(job_rx);
    let abort = AtomicBool::new(false);
    let redactor = Redactor::new(run.config.pii_redaction);

    std::thread::scope(|scope| {
        for conn in workers.iter_mut() {
            let done_tx = done_tx.clone();
            let (job_rx, abort, redactor) = (&job_rx, &abort, &redactor);
            scope.spawn(move || {
                crate::logging::set_operation(Some(run.operation_uuid));
                worker_loop(run, conn.as_mut(), job_rx, &done_tx, abort, redactor);
            });
        }
        drop(done_tx);
        let result = coordinate(run, db, source, budget, &job_tx, &done_rx, &abort);
        drop(job_tx);
        // Drain what is still in flight after an error, so every thread finishes.
        while done_rx.recv().is_ok() {}
        result
    })
}

/// The coordinator's loop: claim, queue, count, log progress, until nothing is left.
fn coordinate(
    run: &TaskRun<'_>,
    db: &mut Db,
    mut source: Source,
    budget: u64,
    job_tx: &SyncSender<Job>,
    done_rx: &Receiver<Done>,
    abort: &AtomicBool,
) -> Result<Tally, DbError> {
    let mut tally = Tally::default();
    let mut waiting: VecDeque<Job> = VecDeque::new();
    let mut in_flight: u64 = 0;
    let mut exhausted = false;
    let mut peek_after = 0u32;
    let mut db_error: Option<DbError> = None;
    let started = Instant::now();
    let mut next_progress = started + run.config.progress_every;
    let task_id = run.task.id;

    loop {
        let stopping = run.stop.is_raised() || abort.load(Ordering::Relaxed) || db_error.is_some();
        if stopping && !waiting.is_empty() {
            // Claimed but never handed to a thread: give them back at once.
            for job in waiting.drain(..) {
                if !run.dry_run && items::release(db, job.item.id, &job.claim_token)? {
                    tally.released += 1;
                }
            }
        }
        if !stopping && waiting.is_empty() && !exhausted {
            let want = (budget - tally.taken).min(run.config.batch_size.into());
            let batch = if want == 0 {
                (Vec::new(), String::new())
            } else {
                take_batch(run, db, &mut source, want, &mut peek_after)?
            };
            let (batch, token) = batch;
            if batch.is_empty() {
                exhausted = true;
            } else {
                log::info!(
                    "[Task {task_id}] Fetched {} records with status 0 (pending)",
                    batch.len()
                );
                tally.taken += batch.len() as u64;
                let claimed_at = Instant::now();
                waiting.extend(batch.into_iter().map(|item| Job {
                    claim_token: token.clone(),
                    item,
                    claimed_at,
                }));
            }
        }
        // Hand jobs to the pool while the queue has room.
        while let Some(job) = waiting.pop_front() {
            match job_tx.try_send(job) {
                Ok(()) => in_flight += 1,
                Err(TrySendError::Full(job)) | Err(TrySendError::Disconnected(job)) => {
                    waiting.push_front(job);
                    break;
                }
            }
        }
        if in_flight == 0 && waiting.is_empty() && (exhausted || stopping) {
            break;
        }
        let wait = next_progress.saturating_duration_since(Instant::now());
        match done_rx.recv_timeout(wait) {
            Ok(done) => {
                in_flight -= 1;
                match done {
                    Done::Ok {
                        tokens_input,
                        tokens_output,
                    } => {
                        tally.ok += 1;
                        tally.tokens_input += tokens_input;
                        tally.tokens_output += tokens_output;
                    }
                    Done::Error => tally.error += 1,
                    Done::Released => tally.released += 1,
                    Done::Lost => tally.lost += 1,
                    Done::DryRun(item) => tally.dry_run_items.push(*item),
                    Done::StopTask(message) => {
                        tally.released += 1;
                        tally.task_error.get_or_insert(message);
                    }
                    Done::DbFailed(err) => {
                        db_error.get_or_insert(err);
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                log_progress(run, &tally, started);
                if !run.dry_run {
                    tasks::update_progress(db, task_id, run.operation_uuid)?;
                }
                next_progress = Instant::now() + run.config.progress_every;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    match db_error {
        Some(err) => Err(err),
        None => Ok(tally),
    }
}

/// Takes the next batch from the source, with the claim token that guards it (empty
/// in a dry run, which claims nothing).
fn take_batch(
    run: &TaskRun<'_>,
    db: &mut Db,
    source: &mut Source,
    want: u64,
    peek_after: &mut u32,
) -> Result<(Vec<Item>, String), DbError> {
    let want = u32::try_from(want).unwrap_or(u32::MAX);
    match source {
        Source::Claim => {
            let token = uuid::Uuid::new_v4().to_string();
            let lease_s = run.config.lease.as_secs();
            let batch =
                items::list_pending(db, run.task.id, want, &token, lease_s, run.operation_uuid)?;
            Ok((batch, token))
        }
        Source::Peek => {
            let batch = items::peek_pending(db, run.task.id, *peek_after, want)?;
            if let Some(last) = batch.last() {
                *peek_after = last.id;
            }
            Ok((batch, String::new()))
        }
        Source::Given(given, token) => Ok((std::mem::take(given), token.clone())),
    }
}

fn log_progress(run: &TaskRun<'_>, tally: &Tally, started: Instant) {
    let done_now = tally.ok + tally.error + tally.dry_run_items.len() as u64;
    let done = run.done_before + done_now;
    let secs = started.elapsed().as_secs_f64().max(0.001);
    let rate = done_now as f64 / secs;
    let left = run.total.saturating_sub(done);
    let eta = if rate > 0.0 {
        format!("{:.0}s", left as f64 / rate)
    } else {
        "unknown".into()
    };
    log::info!(
        "[Task {}] Progress: {done}/{} records, {rate:.1} items/s, ETA {eta}",
        run.task.id,
        run.total
    );
}

/// A pool thread: takes jobs until the queue closes.
fn worker_loop(
    run: &TaskRun<'_>,
    mut db: Option<&mut Db>,
    jobs: &Mutex<Receiver<Job>>,
    done: &Sender<Done>,
    abort: &AtomicBool,
    redactor: &Redactor,
) {
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(PoisonError::into_inner);
            rx.recv()
        };
        let Ok(job) = job else { return };
        let outcome = match handle(run, db.as_deref_mut(), &job, abort, redactor) {
            Ok(outcome) => outcome,
            Err(err) => {
                abort.store(true, Ordering::Relaxed);
                log::error!("[TaskItem {}] {err}", job.item.id);
                Done::DbFailed(err)
            }
        };
        if let Done::StopTask(_) = outcome {
            abort.store(true, Ordering::Relaxed);
        }
        // The coordinator outlives every thread; a failed send cannot happen.
        let _ = done.send(outcome);
    }
}

/// Processes one job: skip if stopping, call the model, save the result or the error.
fn handle(
    run: &TaskRun<'_>,
    db: Option<&mut Db>,
    job: &Job,
    abort: &AtomicBool,
    redactor: &Redactor,
) -> Result<Done, DbError> {
    let item = &job.item;
    let Some(db) = db.filter(|_| !run.dry_run) else {
        return Ok(dry_run(run, item, redactor));
    };
    if run.stop.is_raised() || abort.load(Ordering::Relaxed) {
        return release(db, job);
    }
    let lease = run.config.lease;
    if job.claimed_at.elapsed() > lease / 2
        && !items::renew_lease(db, item.id, &job.claim_token, lease.as_secs())?
    {
        log::warn!(
            "[TaskItem {}] Lease expired before processing; another worker took it over",
            item.id
        );
        return Ok(Done::Lost);
    }
    let result = match complete(run, item, &prepare(run, item, redactor)) {
        Ok(result) => result,
        Err(AiError::Task(message)) => {
            log::error!("[Task {}] API error: {message}", item.id_task);
            items::release(db, item.id, &job.claim_token)?;
            return Ok(Done::StopTask(message));
        }
        Err(AiError::Stopped) => return release(db, job),
        Err(err) => {
            let message = err.to_string();
            log::error!("[TaskItem {}] Error: {message}", item.id);
            return Ok(
                if items::mark_error(db, item.id, &job.claim_token, &message, run.operation_uuid)? {
                    Done::Error
                } else {
                    Done::Lost
                },
            );
        }
    };
    if items::update_result(db, item.id, &job.claim_token, &result, run.operation_uuid)? {
        log::info!(
            "[TaskItem {}] Result received, text_corrected saved",
            item.id
        );
        Ok(Done::Ok {
            tokens_input: result.tokens_input,
            tokens_output: result.tokens_output,
        })
    } else {
        log::warn!(
            "[TaskItem {}] Result discarded: the lease expired and another worker took the item over",
            item.id
        );
        Ok(Done::Lost)
    }
}

fn release(db: &mut Db, job: &Job) -> Result<Done, DbError> {
    Ok(if items::release(db, job.item.id, &job.claim_token)? {
        Done::Released
    } else {
        Done::Lost
    })
}

/// What is sent for one item: the text with personal data replaced, and the prompt.
fn prepare(run: &TaskRun<'_>, item: &Item, redactor: &Redactor) -> (Redacted, Prompt) {
    let redacted = redactor.redact(&item.text_original);
    let prompt = prompt_builder::build(&run.task.description, redacted.text());
    (redacted, prompt)
}

/// The model's result for one item, with personal data put back. Blank texts are
/// answered without a model call.
fn complete(
    run: &TaskRun<'_>,
    item: &Item,
    (redacted, prompt): &(Redacted, Prompt),
) -> Result<ItemResult, AiError> {
    if item.text_original.trim().is_empty() {
        return Ok(ItemResult {
            text_corrected: item.text_original.clone(),
            change_summary: EMPTY_TEXT_SUMMARY.to_string(),
            tokens_input: 0,
            tokens_output: 0,
        });
    }
    let completion = run.client.send_checked(prompt, run.stop, |c| {
        redacted
            .restore(&c.text_corrected)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })?;
    let text_corrected = redacted
        .restore(&completion.text_corrected)
        .map_err(|e| AiError::Item(e.to_string()))?;
    let change_summary = redacted.restore_lenient(&completion.change_summary);
    Ok(ItemResult {
        text_corrected,
        change_summary,
        tokens_input: completion.tokens_input,
        tokens_output: completion.tokens_output,
    })
}

/// A dry run: the same call, reported instead of saved.
fn dry_run(run: &TaskRun<'_>, item: &Item, redactor: &Redactor) -> Done {
    let prepared = prepare(run, item, redactor);
    let prompt = &prepared.1;
    log::debug!(
        "[TaskItem {}] Prompt as sent:\n--- system ---\n{}\n--- user ---\n{}",
        item.id,
        prompt.system,
        prompt.user
    );
    let mut report = DryRunItem {
        id_task_item: item.id,
        id_task: item.id_task,
        prompt: prompt.user.clone(),
        ..DryRunItem::default()
    };
    match complete(run, item, &prepared) {
        Ok(result) => {
            report.text_corrected = Some(result.text_corrected);
            report.change_summary = Some(result.change_summary);
            report.tokens_input = result.tokens_input;
            report.tokens_output = result.tokens_output;
        }
        Err(err) => report.error = Some(err.to_string()),
    }
    log::info!("[TaskItem {}] Dry run: result not saved", item.id);
    Done::DryRun(Box::new(report))
}
