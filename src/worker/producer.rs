//! The producer: the run's own thread. It keeps the run's tasks (lanes) in view,
//! claims items for every free slot as the scheduler shares them out, hands them to
//! the executors, counts what the completers report, keeps the leases of what it
//! holds alive, notices a task the panel paused or cancelled, and finishes each task
//! once nothing of it is left in flight.

use std::collections::{HashMap, HashSet};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread::Scope;
use std::time::{Duration, Instant};

use crate::db::columns;
use crate::db::model_repository;
use crate::db::status::task as task_status;
use crate::db::task_item_repository as items;
use crate::db::task_repository::{self as tasks, ItemCounts};
use crate::db::{Db, DbError};

use super::claim::Claim;
use super::completer::{self, Done, Report};
use super::executor::{self, Context, Finished, Job, Work};
use super::lane::{Halt, Lane};
use super::packing;
use super::permits::Permits;
use super::reuse::InFlight;
use super::scheduler::{self, Demand};
use super::summary::{Costs, DryRunItem, TaskSummary};
use super::{Engine, WorkerError};

/// Threads that save finished items (each with a pooled connection while it saves).
const COMPLETERS: usize = 2;
/// How often the producer looks at the tasks: the panel's pause or cancel, new
/// tasks, changed priorities.
const REFRESH_EVERY: Duration = Duration::from_secs(2);
/// How often a run tells `task_run` it is alive.
const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// Tasks a run works on at once; more wait until one of these is done.
const MAX_LANES: usize = 256;
/// Items claimed ahead of the executors at most, so that an executor that finishes
/// finds its next item waiting and claims come in a few larger statements.
const MAX_AHEAD: usize = 256;

/// Where a lane's items come from.
pub enum Source {
    /// Claim PENDING items (a normal run).
    Claim,
    /// Read PENDING items without claiming, after this id (a dry run).
    Peek(u32),
    /// This work only (`--task-item`).
    Given(Vec<Work>),
}

/// What a run did with one task.
#[derive(Default)]
pub struct Tally {
    /// Saved as PROCESSED.
    pub ok: u64,
    /// Marked ERROR.
    pub error: u64,
    /// Handed back to PENDING (stale results included).
    pub released: u64,
    /// Results discarded because another worker had taken the item over.
    pub lost: u64,
    /// What the calls cost, saved items or not.
    pub costs: Costs,
    /// Dry-run results.
    pub dry_run_items: Vec<DryRunItem>,
    /// Saved as PROCESSED by a fallback model.
    pub fallback: u64,
}

/// A lane as the producer tracks it.
pub struct Track {
    lane: Arc<Lane>,
    source: Source,
    priority: i32,
    /// Items claimed and not yet reported back.
    held: usize,
    /// Items taken this run.
    served: u64,
    /// Nothing more to claim for now.
    exhausted: bool,
    /// The task was marked IN_PROGRESS by this run (on its first item).
    started_task: bool,
    /// Claims in flight by token, for renewing their leases.
    tokens: HashMap<String, usize>,
    tally: Tally,
    report: TaskSummary,
    done_before: u64,
    total: u64,
    started: Instant,
}

impl Track {
    /// A lane about to be worked on, with its counts when it started.
    pub fn new(lane: Lane, source: Source, report: TaskSummary, counts: ItemCounts) -> Track {
        Track {
            priority: lane.task.priority,
            lane: Arc::new(lane),
            source,
            held: 0,
            served: 0,
            exhausted: false,
            started_task: false,
            tokens: HashMap::new(),
            tally: Tally::default(),
            report,
            done_before: counts.processed + counts.error,
            total: counts.total(),
            started: Instant::now(),
        }
    }

    fn is_open(&self) -> bool {
        !self.exhausted && self.lane.halted().is_none()
    }
}

/// The executors of a run, started as work arrives, up to the run's concurrency.
struct Crew<'scope, 'env> {
    scope: &'scope Scope<'scope, 'env>,
    ctx: &'env Context<'env>,
    jobs: &'env Mutex<Receiver<Job>>,
    finished: Sender<Finished>,
    started: usize,
    limit: usize,
}

impl Crew<'_, '_> {
    /// Starts executors until there are `wanted` (at most the limit).
    fn grow(&mut self, wanted: usize) {
        while self.started < wanted.min(self.limit) {
            let (ctx, jobs, finished) = (self.ctx, self.jobs, self.finished.clone());
            let spawned = std::thread::Builder::new()
                .stack_size(executor::STACK_BYTES)
                .spawn_scoped(self.scope, move || executor::run_all(ctx, jobs, &finished));
            if let Err(err) = spawned {
                log::warn!(
                    "only {} executor threads could be started ({err}); the run goes on with them",
                    self.started
                );
                self.limit = self.started.max(1);
                return;
            }
            self.started += 1;
        }
    }
}

/// When the producer's periodic work is due.
struct Clock {
    next_progress: Instant,
    next_refresh: Instant,
    next_renew: Instant,
    next_heartbeat: Instant,
    progress_every: Duration,
    renew_every: Duration,
}

impl Clock {
    fn wait(&self) -> Duration {
        let next = self
            .next_progress
            .min(self.next_refresh)
            .min(self.next_renew);
        next.saturating_duration_since(Instant::now())
    }

    fn due(at: &mut Instant, every: Duration) -> bool {
        let now = Instant::now();
        if now < *at {
            return false;
        }
        *at = now + every;
        true
    }
}

impl Engine<'_> {
    /// Works the lanes (and, with `discover`, every active task it finds) until
    /// nothing is left, the item limit is reached, or the run stops.
    pub(super) fn run_lanes(
        &mut self,
        db: &mut Db,
        lanes: Vec<Track>,
        discover: bool,
    ) -> Result<(), WorkerError> {
        let pool = Arc::clone(&self.pool);
        let column = |db: &mut Db, name| {
            columns::column_type(db, "task_item", name).map(Option::unwrap_or_default)
        };
        let result_columns = [column(db, "text_corrected")?, column(db, "change_summary")?];
        let ctx = Context {
            config: self.config,
            plan: self.plan,
            stop: self.stop,
            pool: &pool,
            permits: Permits::new(self.plan.concurrency),
            result_columns,
            in_flight: InFlight::default(),
        };
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (finished_tx, finished_rx) = mpsc::channel::<Finished>();
        let (report_tx, report_rx) = mpsc::channel::<Report>();
        let (job_rx, finished_rx) = (Mutex::new(job_rx), Mutex::new(finished_rx));
        std::thread::scope(|scope| {
            for _ in 0..COMPLETERS {
                let (ctx, finished_rx, report_tx) = (&ctx, &finished_rx, report_tx.clone());
                scope.spawn(move || completer::run_all(ctx, finished_rx, &report_tx));
            }
            drop(report_tx);
            let mut crew = Crew {
                scope,
                ctx: &ctx,
                jobs: &job_rx,
                finished: finished_tx,
                started: 0,
                limit: self.plan.concurrency,
            };
            let result = self.produce(db, &mut crew, job_tx, &report_rx, lanes, discover);
            drop(crew);
            // Whatever is still in flight after an error is drained, so every thread ends.
            while report_rx.recv().is_ok() {}
            result
        })
    }

    fn produce(
        &mut self,
        db: &mut Db,
        crew: &mut Crew<'_, '_>,
        jobs: Sender<Job>,
        reports: &Receiver<Report>,
        mut tracks: Vec<Track>,
        discover: bool,
    ) -> Result<(), WorkerError> {
        let mut seen: HashSet<u32> = tracks.iter().map(|t| t.lane.id()).collect();
        let mut db_error: Option<DbError> = None;
        let now = Instant::now();
        let mut clock = Clock {
            next_progress: now + self.config.progress_every,
            next_refresh: now,
            next_renew: now + self.config.lease / 4,
            next_heartbeat: now + HEARTBEAT_EVERY,
            progress_every: self.config.progress_every,
            renew_every: (self.config.lease / 4).max(Duration::from_secs(1)),
        };
        loop {
            let stopping = self.stop.is_raised() || db_error.is_some();
            if !stopping && Clock::due(&mut clock.next_refresh, REFRESH_EVERY) {
                self.refresh(db, &mut tracks, &mut seen, discover)?;
            }
            if !stopping {
                self.fill(db, crew, &jobs, &mut tracks)?;
            }
            if db_error.is_none() {
                self.finish_lanes(db, &mut tracks, stopping)?;
            }
            if tracks.iter().all(|t| t.held == 0) {
                if stopping || self.item_limit_left == 0 {
                    break;
                }
                if tracks.is_empty() {
                    if discover && self.discover(db, &mut tracks, &mut seen)? > 0 {
                        continue;
                    }
                    break;
                }
            }
            match reports.recv_timeout(clock.wait()) {
                Ok(report) => {
                    count(&mut tracks, report, &mut db_error);
                    while let Ok(report) = reports.try_recv() {
                        count(&mut tracks, report, &mut db_error);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if Clock::due(&mut clock.next_progress, clock.progress_every) && db_error.is_none() {
                self.log_progress(db, &tracks)?;
            }
            if Clock::due(&mut clock.next_renew, clock.renew_every) && db_error.is_none() {
                self.renew_leases(db, &tracks)?;
            }
            if Clock::due(&mut clock.next_heartbeat, HEARTBEAT_EVERY)
                && db_error.is_none()
                && !self.plan.dry_run
            {
                crate::db::run_repository::heartbeat(db, &self.plan.operation_uuid)?;
            }
        }
        drop(jobs);
        match db_error {
            Some(err) => Err(err.into()),
            None => Ok(()),
        }
    }

    /// Claims for every free slot: the run's concurrency plus a little ahead, shared
    /// out by the scheduler, within each model's own cap.
    fn fill(
        &mut self,
        db: &mut Db,
        crew: &mut Crew<'_, '_>,
        jobs: &Sender<Job>,
        tracks: &mut [Track],
    ) -> Result<(), DbError> {
        let concurrency = self.plan.concurrency;
        // A round ahead (at least two items): claims of several items each, and an
        // executor that finishes finds its next item waiting.
        let ahead = concurrency.clamp(2, MAX_AHEAD);
        // Calls, not items: a task whose short texts go out several to a request
        // holds a slot per request.
        let held: usize = tracks
            .iter()
            .map(|t| t.held.div_ceil(self.per_job(t)))
            .sum();
        let target = concurrency + ahead;
        // Executors all busy: wait until a whole round is free, so that a claim is
        // worth its statements.
        if held >= target || (held >= concurrency && target - held < ahead) {
            return Ok(());
        }
        let free = (target - held).min(usize::try_from(self.item_limit_left).unwrap_or(usize::MAX));
        let demands: Vec<Demand> = tracks
            .iter()
            .map(|t| Demand {
                priority: t.priority,
                model: t.lane.model().id,
                held: t.held.div_ceil(self.per_job(t)),
                served: t.served,
                open: t.is_open(),
            })
            .collect();
        let shares = scheduler::share(&demands, free, &model_room(tracks));
        for (track, want) in tracks.iter_mut().zip(shares) {
            if want > 0 {
                let per_job = self.per_job(track);
                let left = usize::try_from(self.item_limit_left).unwrap_or(usize::MAX);
                let taken = self.take(db, track, (want * per_job).min(left))?;
                let reuse = track.lane.task.reuse_results;
                for work in packing::into_jobs(taken, per_job, reuse) {
                    let lane = Arc::clone(&track.lane);
                    // The executors outlive the producer's sends; a failed send cannot happen.
                    let _ = jobs.send(Job { lane, work });
                }
            }
        }
        crew.grow(
            tracks
                .iter()
                .map(|t| t.held.div_ceil(self.per_job(t)))
                .sum(),
        );
        Ok(())
    }

    /// Items one job of the track carries at most: several short texts in one
    /// request, or one (dry runs show each prompt as it would go alone).
    fn per_job(&self, track: &Track) -> usize {
        if self.plan.dry_run {
            return 1;
        }
        track.lane.pack_size(self.config.pack_max_items)
    }

    /// Marks the task IN_PROGRESS when its first item is about to be taken (a task
    /// waiting behind others stays NEW); false if the panel set it aside meanwhile.
    fn start_task(&self, db: &mut Db, track: &mut Track) -> Result<bool, DbError> {
        if track.started_task {
            return Ok(true);
        }
        let id = track.lane.id();
        if !self.plan.dry_run && !tasks::start(db, id, &self.plan.operation_uuid, track.total)? {
            let status = tasks::get(db, id)?.map_or(task_status::CANCELLED, |t| t.status_id);
            track.lane.halt(Halt::Panel(status));
            if let Source::Given(given) = &mut track.source {
                for work in std::mem::take(given) {
                    if let Work::Claimed(claim) = work {
                        claim.release(db, &Default::default())?;
                    }
                }
            }
            return Ok(false);
        }
        log::info!("[Task {id}] Started processing ({} records)", track.total);
        track.started_task = true;
        Ok(true)
    }

    /// Up to `want` items of one lane from its source.
    fn take(&mut self, db: &mut Db, track: &mut Track, want: usize) -> Result<Vec<Work>, DbError> {
        let id = track.lane.id();
        if !self.start_task(db, track)? {
            return Ok(Vec::new());
        }
        let step = self.config.claim_max.max(1) as usize;
        let mut taken: Vec<Work> = Vec::new();
        while taken.len() < want && !track.exhausted {
            let ask = (want - taken.len()).min(step);
            let got: Vec<Work> = match &mut track.source {
                Source::Claim => {
                    let (lease, op) = (self.config.lease, &self.plan.operation_uuid);
                    Claim::take_batch(db, id, ask as u32, lease, op)?
                        .into_iter()
                        .map(Work::Claimed)
                        .collect()
                }
                Source::Peek(after) => {
                    let batch = items::peek_pending(db, id, *after, ask as u32)?;
                    if let Some(last) = batch.last() {
                        *after = last.id;
                    }
                    batch.into_iter().map(Work::DryRun).collect()
                }
                Source::Given(given) => std::mem::take(given),
            };
            track.exhausted = got.len() < ask || matches!(track.source, Source::Given(_));
            taken.extend(got);
        }
        for work in &taken {
            if let Work::Claimed(claim) = work {
                *track.tokens.entry(claim.token().to_string()).or_default() += 1;
            }
        }
        let n = taken.len();
        if n > 0 {
            log::info!("[Task {id}] Fetched {n} records with status 0 (pending)");
        }
        track.held += n;
        track.served += n as u64;
        self.item_limit_left = self.item_limit_left.saturating_sub(n as u64);
        Ok(taken)
    }

    /// Reads the lanes' tasks again: one the panel paused, cancelled or deleted
    /// halts (its items not started go back); a changed priority counts from now on;
    /// with `discover`, new active tasks join the run.
    fn refresh(
        &mut self,
        db: &mut Db,
        tracks: &mut Vec<Track>,
        seen: &mut HashSet<u32>,
        discover: bool,
    ) -> Result<(), WorkerError> {
        let ids: Vec<u32> = tracks.iter().map(|t| t.lane.id()).collect();
        let states = tasks::states(db, &ids)?;
        for track in tracks.iter_mut() {
            let id = track.lane.id();
            track.lane.retry_primary(self.config.fallback_retry);
            match states.iter().find(|s| s.0 == id) {
                Some(&(_, status, priority)) => {
                    track.priority = priority;
                    if task_status::held_by_panel(status) && track.lane.halt(Halt::Panel(status)) {
                        log::warn!(
                            "[Task {id}] {}; calls in flight finish and are saved",
                            Halt::Panel(status).describe()
                        );
                    }
                }
                None => {
                    track.lane.halt(Halt::Panel(task_status::CANCELLED));
                    log::warn!("[Task {id}] was deleted while the run worked on it");
                }
            }
        }
        if discover {
            self.discover(db, tracks, seen)?;
        }
        Ok(())
    }

    /// Opens lanes for active tasks this run has not seen yet; returns how many.
    fn discover(
        &mut self,
        db: &mut Db,
        tracks: &mut Vec<Track>,
        seen: &mut HashSet<u32>,
    ) -> Result<usize, WorkerError> {
        if tracks.len() >= MAX_LANES || self.item_limit_left == 0 || self.stop.is_raised() {
            return Ok(0);
        }
        let mut opened = 0;
        for task in tasks::active(db, MAX_LANES * 2)? {
            if tracks.len() >= MAX_LANES {
                break;
            }
            if !seen.insert(task.id) {
                continue;
            }
            if let Some(track) = self.open_lane(db, task, None)? {
                tracks.push(track);
                opened += 1;
            }
        }
        Ok(opened)
    }

    /// Finishes every lane with nothing in flight that can get no more work.
    fn finish_lanes(
        &mut self,
        db: &mut Db,
        tracks: &mut Vec<Track>,
        stopping: bool,
    ) -> Result<(), WorkerError> {
        let mut i = 0;
        while i < tracks.len() {
            let t = &tracks[i];
            let done = t.held == 0 && (stopping || self.item_limit_left == 0 || !t.is_open());
            if done {
                let track = tracks.remove(i);
                self.finish_lane(db, track)?;
            } else {
                i += 1;
            }
        }
        Ok(())
    }

    /// Keeps the leases of every claim in flight.
    fn renew_leases(&self, db: &mut Db, tracks: &[Track]) -> Result<(), DbError> {
        if self.plan.dry_run {
            return Ok(());
        }
        let tokens: Vec<&str> = tracks
            .iter()
            .flat_map(|t| t.tokens.keys().map(String::as_str))
            .collect();
        if !tokens.is_empty() {
            items::renew_leases(db, &tokens, self.config.lease.as_secs())?;
        }
        Ok(())
    }

    /// A progress line per lane with work done, and its `records_total` refreshed.
    fn log_progress(&self, db: &mut Db, tracks: &[Track]) -> Result<(), DbError> {
        for track in tracks {
            log_progress(track);
            if !self.plan.dry_run {
                tasks::update_progress(db, track.lane.id(), &self.plan.operation_uuid)?;
            }
        }
        Ok(())
    }
}

/// A model whose packed answers kept missing texts gets one text per request in later
/// runs too (`ai_model.pack_max_items = 1`, never over an operator's own setting).
fn remember_pack_refusal(db: &mut Db, lane: &Lane) -> Result<(), DbError> {
    if let Some(model) = lane.take_pack_refusal()
        && model_repository::refuse_packs(db, model.id)?
    {
        log::warn!(
            "model '{}' could not answer several texts in one request: later runs send it one text per request (ai_model.pack_max_items = 1; `ai-worker model update {} --pack-max-items none` lets it try again)",
            model.name,
            model.name
        );
    }
    Ok(())
}

/// The free room of each model with a cap of its own (`ai_model.max_concurrency`).
fn model_room(tracks: &[Track]) -> HashMap<u32, usize> {
    let mut room: HashMap<u32, usize> = HashMap::new();
    for track in tracks {
        if let Some(cap) = track.lane.model().max_concurrency {
            room.entry(track.lane.model().id).or_insert(cap);
        }
    }
    for track in tracks {
        if let Some(left) = room.get_mut(&track.lane.model().id) {
            *left = left.saturating_sub(track.held);
        }
    }
    room
}

/// Counts one completer's report on its lane.
fn count(tracks: &mut [Track], report: Report, db_error: &mut Option<DbError>) {
    let Some(track) = tracks.iter_mut().find(|t| t.lane.id() == report.id_task) else {
        return;
    };
    track.held = track.held.saturating_sub(1);
    if let Some(token) = &report.claim_token
        && let Some(n) = track.tokens.get_mut(token)
    {
        *n -= 1;
        if *n == 0 {
            track.tokens.remove(token);
        }
    }
    let tally = &mut track.tally;
    tally.costs.add(&report.spent);
    match report.done {
        Done::Ok => {
            tally.ok += 1;
            tally.fallback += u64::from(report.by_fallback);
        }
        Done::Error => tally.error += 1,
        Done::Released => {
            tally.released += 1;
            // Handed back without a halt (its model fell back): claim it again.
            if track.lane.halted().is_none() && matches!(track.source, Source::Claim) {
                track.exhausted = false;
            }
        }
        Done::Stale => {
            tally.released += 1;
            // The item is pending again: claim it again with its new text.
            if matches!(track.source, Source::Claim) {
                track.exhausted = false;
            }
        }
        Done::Lost => tally.lost += 1,
        Done::DryRun(item) => tally.dry_run_items.push(*item),
        Done::DbFailed(err) => {
            db_error.get_or_insert(err);
        }
    }
}

fn log_progress(track: &Track) {
    let done_now = track.tally.ok + track.tally.error + track.tally.dry_run_items.len() as u64;
    if done_now == 0 && track.held == 0 {
        return;
    }
    let done = track.done_before + done_now;
    let secs = track.started.elapsed().as_secs_f64().max(0.001);
    let rate = done_now as f64 / secs;
    let left = track.total.saturating_sub(done);
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
        track.lane.id(),
        track.total
    );
}

impl Engine<'_> {
    /// Finishes one lane: its model's JSON mode remembered, its tally in the summary,
    /// then the task stopped, waiting, left to the panel, or closed if done.
    fn finish_lane(&mut self, db: &mut Db, track: Track) -> Result<(), WorkerError> {
        let Track {
            lane,
            tally,
            report,
            ..
        } = track;
        let mut report = report;
        let (id, dry_run) = (lane.id(), self.plan.dry_run);
        if !dry_run {
            for model in lane.models() {
                super::model::remember_json_mode(db, model)?;
            }
            remember_pack_refusal(db, &lane)?;
        }
        report.items_ok = tally.ok;
        report.items_error = tally.error;
        report.costs = tally.costs;
        report.costs.currency = lane.model().pricing.as_ref().map(|p| p.currency.clone());
        report.fallback = lane
            .fallback_note()
            .map(|note| format!("{note} ({} items saved by a fallback)", tally.fallback));
        self.summary.items_released += tally.released;
        self.summary.dry_run_items.extend(tally.dry_run_items);
        match lane.halted() {
            Some(Halt::Failed(message)) => self.stop_task(db, id, None, message, report),
            Some(Halt::Waits(message)) => self.pause_task(db, id, message, report),
            Some(halt @ Halt::Panel(status)) => {
                report.status = task_status::name(status).into();
                report.message = Some(halt.describe());
                self.summary.add_task(report);
                Ok(())
            }
            None => self.end_task(db, &lane.task, None, report),
        }
    }
}
