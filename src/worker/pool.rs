//! Moves work between the producer (the calling thread, which claims items only for
//! free executor slots) and a fixed pool of executor threads that run each item
//! through the [`Pipeline`] and end its [`Claim`].
//!
//! Each executor owns its own database connection, so saving a result never waits
//! for another thread. Measured with `scripts/bench` (see BENCHMARKS.md): at zero
//! model latency a single writer thread with batched writes would buy nothing worth
//! its complexity. Every save is one autocommit statement, so a killed process leaves
//! nothing half-written.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::budget::{Budget, Reservation};
use super::claim::{Claim, Ended};
use super::pipeline::{Hooks, Pipeline, Processed};
use super::summary::Costs;
use super::summary::DryRunItem;
use crate::ai::AiError;
use crate::ai::prompt_builder::Prompt;
use crate::db::item::{Item, ItemResult, Spent};
use crate::db::task_item_repository as items;
use crate::db::task_repository as tasks;
use crate::db::{Db, DbError};

/// Where the producer gets work from.
pub enum Source {
    /// Claim PENDING items (a normal run).
    Claim,
    /// Read PENDING items without claiming, after this id (a dry run).
    Peek(u32),
    /// This work only (`--task-item`).
    Given(Vec<Work>),
}

/// One item on its way to an executor.
pub enum Work {
    /// A claimed item, to be saved.
    Claimed(Claim),
    /// An item read for a dry run, to be reported.
    DryRun(Item),
}

/// Everything the threads of one task share.
pub struct TaskRun<'a> {
    /// The task's id.
    pub id_task: u32,
    /// What each item goes through.
    pub pipeline: Pipeline<'a>,
    /// The run's id.
    pub operation_uuid: &'a str,
    /// Write nothing (progress included).
    pub dry_run: bool,
    /// How long a claim holds.
    pub lease: Duration,
    /// Items claimed per statement at most.
    pub batch_size: u32,
    /// How often a progress line is logged.
    pub progress_every: Duration,
    /// Items already done when the run started (for progress lines).
    pub done_before: u64,
    /// Items of the task when the run started (for progress lines).
    pub total: u64,
    /// The budgets each call is held to, if the task or its model has one.
    pub budget: Option<Budget<'a>>,
    /// One permit per call in flight, as many as the run's concurrency.
    pub permits: Permits,
    /// The model's name, for the metrics.
    pub model: &'a str,
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
    /// Items taken from the source.
    pub taken: u64,
    /// What the calls cost, saved items or not.
    pub costs: Costs,
    /// Why the whole task must stop, if it must.
    pub task_error: Option<String>,
    /// Why the task must wait for a later run (its model's server cannot be reached).
    pub task_paused: Option<String>,
    /// Dry-run results.
    pub dry_run_items: Vec<DryRunItem>,
}

impl Tally {
    /// Items handled (saved, failed or reported), which count against `--max-item`.
    pub fn handled(&self) -> u64 {
        self.ok + self.error + self.dry_run_items.len() as u64
    }

    fn add(&mut self, report: Report) -> Option<DbError> {
        self.costs.add(&report.spent);
        match report.done {
            Done::Ok => self.ok += 1,
            Done::Error => self.error += 1,
            Done::Released => self.released += 1,
            Done::Lost => self.lost += 1,
            Done::DryRun(item) => self.dry_run_items.push(*item),
            Done::StopTask(message) => {
                self.released += 1;
                self.task_error.get_or_insert(message);
            }
            Done::Paused(message) => {
                self.released += 1;
                self.task_paused.get_or_insert(message);
            }
            Done::DbFailed(err) => return Some(err),
        }
        None
    }
}

/// What an executor reports back for each piece of work, and what its calls cost.
struct Report {
    done: Done,
    spent: Spent,
}

/// How a piece of work ended.
enum Done {
    Ok,
    Error,
    Released,
    Lost,
    DryRun(Box<DryRunItem>),
    StopTask(String),
    Paused(String),
    DbFailed(DbError),
}

/// How many items per executor a process may hold at once: the one it works on and up
/// to two waiting. A new claim is made only once a round is used up, so each claim
/// brings two rounds (up to WORKER_BATCH_SIZE): 16 processes of 4 threads on one task
/// made 1.53 statements per item with one round ahead and ran at 0.78 of one process
/// of 64 threads; with two, 1.28 statements per item and 0.99 to 1.06 (BENCHMARKS.md).
/// A waiting claim is renewed before use if it grew old.
const ROUNDS_CLAIMED: usize = 3;

/// Processes up to `max_items` items of the task with `threads` executors. `conns` are
/// the executors' connections (empty in a dry run, which writes nothing).
pub fn run(
    run: &TaskRun<'_>,
    db: &mut Db,
    threads: usize,
    conns: &mut [Db],
    source: Source,
    max_items: u64,
) -> Result<Tally, DbError> {
    let threads = threads.max(1);
    // Never more work in the queue than it holds, so a send never blocks.
    let (work_tx, work_rx) = mpsc::sync_channel::<Work>(threads * ROUNDS_CLAIMED);
    let (done_tx, done_rx) = mpsc::channel::<Report>();
    let work_rx = Mutex::new(work_rx);
    let abort = AtomicBool::new(false);
    let mut conns = conns.iter_mut();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            let conn = conns.next();
            let done_tx = done_tx.clone();
            let (work_rx, abort) = (&work_rx, &abort);
            scope.spawn(move || {
                crate::logging::set_operation(Some(run.operation_uuid));
                execute_all(run, conn, work_rx, &done_tx, abort);
            });
        }
        drop(done_tx);
        let producer = Producer {
            run,
            source,
            threads,
            max_items,
            abort: &abort,
            tally: Tally::default(),
            in_flight: 0,
            exhausted: false,
            db_error: None,
        };
        let result = producer.feed(db, &work_tx, &done_rx);
        drop(work_tx);
        // Drain what is still in flight after an error, so every thread finishes.
        while done_rx.recv().is_ok() {}
        result
    })
}

/// The producer's side: claims work for free executors, counts what comes back, logs
/// progress, until nothing is left or the run stops.
struct Producer<'r, 'a> {
    run: &'r TaskRun<'a>,
    source: Source,
    threads: usize,
    max_items: u64,
    abort: &'r AtomicBool,
    tally: Tally,
    in_flight: usize,
    exhausted: bool,
    db_error: Option<DbError>,
}

impl Producer<'_, '_> {
    fn feed(
        mut self,
        db: &mut Db,
        work_tx: &mpsc::SyncSender<Work>,
        done_rx: &Receiver<Report>,
    ) -> Result<Tally, DbError> {
        let started = Instant::now();
        let mut next_progress = started + self.run.progress_every;
        loop {
            let stopping = self.run.pipeline.stop.is_raised()
                || self.abort.load(Ordering::Relaxed)
                || self.db_error.is_some();
            if !stopping && !self.exhausted {
                self.fill(db, work_tx)?;
            }
            if self.in_flight == 0 && (self.exhausted || stopping) {
                break;
            }
            let wait = next_progress.saturating_duration_since(Instant::now());
            match done_rx.recv_timeout(wait) {
                Ok(done) => {
                    self.count(done);
                    // Take every answer already waiting, so claims come in batches.
                    while let Ok(done) = done_rx.try_recv() {
                        self.count(done);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    self.log_progress(started);
                    if !self.run.dry_run {
                        tasks::update_progress(db, self.run.id_task, self.run.operation_uuid)?;
                    }
                    next_progress = Instant::now() + self.run.progress_every;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        match self.db_error {
            Some(err) => Err(err),
            None => Ok(self.tally),
        }
    }

    /// Claims work ahead (up to a batch and the items left) once the executors have
    /// used up a round: fewer, larger claims, and an executor that finishes finds its
    /// next item waiting.
    fn fill(&mut self, db: &mut Db, work_tx: &mpsc::SyncSender<Work>) -> Result<(), DbError> {
        let left = self.max_items - self.tally.taken;
        if left == 0 {
            self.exhausted = true;
            return Ok(());
        }
        if self.in_flight > self.threads {
            return Ok(());
        }
        let free = (self.threads * ROUNDS_CLAIMED - self.in_flight) as u64;
        let want = free.min(self.run.batch_size.into()).min(left);
        if want == 0 {
            return Ok(());
        }
        let batch = self.take(db, want)?;
        self.exhausted = batch.is_empty();
        self.tally.taken += batch.len() as u64;
        for work in batch {
            self.in_flight += 1;
            // The queue holds as many as there are executors: never full.
            let _ = work_tx.send(work);
        }
        Ok(())
    }

    /// Counts one executor's report; the first reason to stop the task is logged,
    /// once, however many threads ran into it.
    fn count(&mut self, report: Report) {
        self.in_flight -= 1;
        if let Done::StopTask(message) = &report.done
            && self.tally.task_error.is_none()
        {
            log::error!("[Task {}] API error: {message}", self.run.id_task);
        }
        if let Some(err) = self.tally.add(report) {
            self.db_error.get_or_insert(err);
        }
    }

    /// The next `want` pieces of work from the source.
    fn take(&mut self, db: &mut Db, want: u64) -> Result<Vec<Work>, DbError> {
        let want = u32::try_from(want).unwrap_or(u32::MAX);
        let run = self.run;
        let batch: Vec<Work> = match &mut self.source {
            Source::Claim => {
                Claim::take_batch(db, run.id_task, want, run.lease, run.operation_uuid)?
                    .into_iter()
                    .map(Work::Claimed)
                    .collect()
            }
            Source::Peek(after) => {
                let batch = items::peek_pending(db, run.id_task, *after, want)?;
                if let Some(last) = batch.last() {
                    *after = last.id;
                }
                batch.into_iter().map(Work::DryRun).collect()
            }
            Source::Given(given) => std::mem::take(given),
        };
        if !batch.is_empty() {
            log::info!(
                "[Task {}] Fetched {} records with status 0 (pending)",
                run.id_task,
                batch.len()
            );
        }
        Ok(batch)
    }

    fn log_progress(&self, started: Instant) {
        let done_now = self.tally.handled();
        let done = self.run.done_before + done_now;
        let secs = started.elapsed().as_secs_f64().max(0.001);
        let rate = done_now as f64 / secs;
        let left = self.run.total.saturating_sub(done);
        let eta = if rate > 0.0 {
            format!("{:.0}s", left as f64 / rate)
        } else {
            "unknown".into()
        };
        // A slow model does less than one item a second: say how many a minute.
        let speed = if rate >= 1.0 || done_now == 0 {
            format!("{rate:.1} items/s")
        } else {
            format!("{:.1} items/min", rate * 60.0)
        };
        log::info!(
            "[Task {}] Progress: {done}/{} records, {speed}, ETA {eta}",
            self.run.id_task,
            self.run.total
        );
    }
}

/// An executor: takes work until the queue closes.
fn execute_all(
    run: &TaskRun<'_>,
    mut db: Option<&mut Db>,
    work_rx: &Mutex<Receiver<Work>>,
    done: &Sender<Report>,
    abort: &AtomicBool,
) {
    loop {
        let work = {
            let rx = work_rx.lock().unwrap_or_else(PoisonError::into_inner);
            rx.recv()
        };
        let Ok(work) = work else { return };
        let started = std::time::Instant::now();
        let report = match work {
            Work::DryRun(item) => dry_run(run, &item),
            Work::Claimed(claim) => match db.as_deref_mut() {
                Some(db) => execute(run, db, claim, abort).unwrap_or_else(|err| {
                    log::error!("[Task {}] {err}", run.id_task);
                    unpaid(Done::DbFailed(err))
                }),
                None => unpaid(Done::DbFailed(DbError::Query(
                    "an executor without a database connection got a claimed item".into(),
                ))),
            },
        };
        if matches!(
            report.done,
            Done::StopTask(_) | Done::Paused(_) | Done::DbFailed(_)
        ) {
            abort.store(true, Ordering::Relaxed);
        }
        count_metrics(run, &report, started.elapsed().as_secs_f64());
        // The producer outlives every executor; a failed send cannot happen.
        let _ = done.send(report);
    }
}

/// Adds an item's end, tokens and cost to the process's metrics.
fn count_metrics(run: &TaskRun<'_>, report: &Report, seconds: f64) {
    let status = match report.done {
        Done::Ok => "processed",
        Done::Error => "error",
        Done::Released | Done::StopTask(_) | Done::Paused(_) => "released",
        Done::Lost => "lost",
        Done::DryRun(_) | Done::DbFailed(_) => return,
    };
    crate::metrics::item(status, run.model, seconds);
    let spent = &report.spent;
    crate::metrics::tokens("input", spent.tokens_input);
    crate::metrics::tokens("cached", spent.tokens_cached);
    crate::metrics::tokens("output", spent.tokens_output);
    crate::metrics::tokens("thinking", spent.tokens_thinking);
    if let (Some(cost), Some(pricing)) = (spent.cost, run.pipeline.pricing) {
        crate::metrics::cost(&pricing.currency, cost);
    }
}

/// A report of work that made no call.
fn unpaid(done: Done) -> Report {
    Report {
        done,
        spent: Spent::default(),
    }
}

/// Runs one claimed item through the pipeline, within the budgets, and ends its claim.
fn execute(
    run: &TaskRun<'_>,
    db: &mut Db,
    mut claim: Claim,
    abort: &AtomicBool,
) -> Result<Report, DbError> {
    let id = claim.item().id;
    if run.pipeline.stop.is_raised() || abort.load(Ordering::Relaxed) {
        return release(db, claim, Spent::default(), Done::Released);
    }
    if !claim.renew_if_old(db, run.lease)? {
        log::warn!("[TaskItem {id}] Lease expired before processing; another worker took it over");
        return Ok(unpaid(Done::Lost));
    }
    let reservation = match &run.budget {
        Some(budget) => match budget.reserve(db, &claim)? {
            Ok(reservation) => reservation,
            Err(why) => {
                return release(db, claim, Spent::default(), Done::Paused(why));
            }
        },
        None => Reservation::default(),
    };
    let processed = process(run, db, &claim);
    let mut spent = processed.spent;
    spent.reserved = reservation.task;
    if let Some(budget) = &run.budget {
        budget.settle(db, &reservation, spent.cost.unwrap_or(0.0))?;
    }
    finish(run, db, claim, processed.outcome, spent)
}

/// The pipeline, with the claim kept alive through its waits. A long text goes out in
/// parts, each in a thread of its own; every call holds one of the run's permits, so
/// the run never has more calls in flight than its concurrency.
fn process(run: &TaskRun<'_>, db: &mut Db, claim: &Claim) -> Processed {
    let item = claim.item();
    let parts = run.pipeline.parts(item);
    if parts.len() > 1 {
        log::info!(
            "[TaskItem {}] Long text: sent in {} parts",
            item.id,
            parts.len()
        );
        let processed = std::thread::scope(|scope| {
            let handles: Vec<_> = parts
                .iter()
                .map(|part| {
                    scope.spawn(|| {
                        let _permit = run.permits.acquire();
                        let hooks = Hooks {
                            on_prompt: &mut |_| {},
                            keep_alive: &mut || true,
                        };
                        run.pipeline.process_text(item, &part.text, hooks)
                    })
                })
                .collect();
            handles.into_iter().map(joined).collect()
        });
        return run.pipeline.join(&parts, processed);
    }
    let id = item.id;
    let mut keep_alive = || match claim.keep_alive(db, run.lease) {
        Ok(alive) => alive,
        Err(err) => {
            log::warn!("[TaskItem {id}] cannot renew the lease: {err}");
            true
        }
    };
    let hooks = Hooks {
        on_prompt: &mut |_| {},
        keep_alive: &mut keep_alive,
    };
    let _permit = run.permits.acquire();
    run.pipeline.process(item, hooks)
}

/// A part's thread's result (the pipeline catches panics itself; this is the last
/// line).
fn joined(handle: std::thread::ScopedJoinHandle<'_, Processed>) -> Processed {
    handle.join().unwrap_or_else(|_| Processed {
        spent: Spent::default(),
        outcome: Err(AiError::Item("internal error in a part's thread".into())),
    })
}

/// Permits for model calls: as many as the run's concurrency, shared by its executors
/// and the parts of long texts.
pub struct Permits {
    free: Mutex<usize>,
    returned: std::sync::Condvar,
}

/// One call's permit, given back when dropped.
pub struct Permit<'a>(&'a Permits);

impl Permits {
    /// `n` permits.
    pub fn new(n: usize) -> Permits {
        Permits {
            free: Mutex::new(n.max(1)),
            returned: std::sync::Condvar::new(),
        }
    }

    /// Waits for a free permit.
    pub fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .returned
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.returned.notify_one();
    }
}

/// Ends the claim as the outcome says: saved, failed, handed back, or lost.
fn finish(
    run: &TaskRun<'_>,
    db: &mut Db,
    claim: Claim,
    outcome: Result<ItemResult, AiError>,
    spent: Spent,
) -> Result<Report, DbError> {
    let id = claim.item().id;
    match outcome {
        Ok(mut result) => {
            result.spent = spent;
            save(run, db, claim, &result)
        }
        Err(AiError::Task(message)) => release(db, claim, spent, Done::StopTask(message)),
        Err(AiError::Stopped) => release(db, claim, spent, Done::Released),
        Err(AiError::Unreachable(message)) => release(db, claim, spent, Done::Paused(message)),
        Err(AiError::ClaimLost) => {
            log::warn!("[TaskItem {id}] {}; not called again", AiError::ClaimLost);
            Ok(Report {
                done: Done::Lost,
                spent,
            })
        }
        Err(err) => {
            let message = err.to_string();
            log::error!("[TaskItem {id}] Error: {message}");
            let done = match claim.fail(db, &message, run.operation_uuid, &spent)? {
                Ended::Done => Done::Error,
                Ended::Lost => Done::Lost,
            };
            Ok(Report { done, spent })
        }
    }
}

/// Saves a result, or says why it was discarded.
fn save(
    run: &TaskRun<'_>,
    db: &mut Db,
    claim: Claim,
    result: &ItemResult,
) -> Result<Report, DbError> {
    let id = claim.item().id;
    let spent = result.spent;
    match claim.complete(db, result, run.operation_uuid)? {
        Ended::Done => {
            log::info!("[TaskItem {id}] Result received, text_corrected saved");
            Ok(Report {
                done: Done::Ok,
                spent,
            })
        }
        Ended::Lost => {
            let why = match items::get_state(db, id)? {
                None => "the item was deleted (or its task) while the model worked on it",
                Some(_) => "the lease expired and another worker took the item over",
            };
            log::warn!("[TaskItem {id}] Result discarded: {why}");
            Ok(Report {
                done: Done::Lost,
                spent,
            })
        }
    }
}

/// Hands the item back (what its calls cost is still counted) and reports `done`, or
/// a loss if another worker had taken it over.
fn release(db: &mut Db, claim: Claim, spent: Spent, done: Done) -> Result<Report, DbError> {
    let done = match claim.release(db, &spent)? {
        Ended::Done => done,
        Ended::Lost if matches!(done, Done::Released) => Done::Lost,
        Ended::Lost => done,
    };
    Ok(Report { done, spent })
}

/// A dry run: the same call, reported instead of saved.
fn dry_run(run: &TaskRun<'_>, item: &Item) -> Report {
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
    let processed = run.pipeline.process(item, hooks);
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
    Report {
        done: Done::DryRun(Box::new(report)),
        spent: processed.spent,
    }
}
