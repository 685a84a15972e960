//! A task as a run works on it: its row, its model, and whether it may go on. Shared
//! by the producer (which claims for it) and the executors (which run its items).

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::ai::Shape;
use crate::config::Config;
use crate::db::reuse_repository::ReuseScope;
use crate::db::status::task as task_status;
use crate::db::task_repository::Task;

/// Items a task's packed answers may miss before it stops packing (if they are at
/// least half of what was packed).
const PACK_MISSES_TOLERATED: u32 = 10;
use crate::privacy::{Level, Redactor};
use crate::stop::StopSignal;

use super::budget::Budget;
use super::cost::Pricing;
use super::kind::Kind;
use super::model::TaskModel;
use super::output_schema;
use super::permits::Permits;
use super::pipeline::Pipeline;

/// Why a task's items stop being claimed and sent before the task is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Halt {
    /// The panel paused or cancelled the task (its status now); nothing is written
    /// over it.
    Panel(u8),
    /// No item of the task can work (a bad key, an unknown model): ERROR with this
    /// message.
    Failed(String),
    /// The model's server cannot be reached or a budget is spent: the items stay
    /// PENDING for a later run; the message says why.
    Waits(String),
}

impl Halt {
    /// Which reason wins when several arrive: the panel's word, then a task error,
    /// then a wait.
    fn rank(&self) -> u8 {
        match self {
            Halt::Panel(_) => 3,
            Halt::Failed(_) => 2,
            Halt::Waits(_) => 1,
        }
    }

    /// The reason as the run summary says it.
    pub fn describe(&self) -> String {
        match self {
            Halt::Panel(status) => format!(
                "set to {} by the panel; the items not started stay pending",
                task_status::name(*status)
            ),
            Halt::Failed(m) | Halt::Waits(m) => m.clone(),
        }
    }
}

/// One task in a run.
pub struct Lane {
    /// The task's row as the run read it.
    pub task: Task,
    /// The task's model, then its fallbacks in order (`ai_model.id_fallback_model`).
    models: Vec<TaskModel>,
    /// Each model's own cap on calls in flight (`ai_model.max_concurrency`), shared
    /// by every lane on that model.
    permits: Vec<Option<Arc<Permits>>>,
    /// Which of `models` takes the task's items now.
    active: AtomicUsize,
    /// Why the task fell back, said once: "fell back to 'X' because ...".
    fell_back: Mutex<Option<String>>,
    halt: Mutex<Option<Halt>>,
    /// When the task last moved to a fallback (to try its own model again later).
    fell_back_at: Mutex<Option<Instant>>,
    /// Items sent in packs, and those a packed answer missed (sent again alone).
    packed: AtomicU32,
    pack_misses: AtomicU32,
    /// Whether the model has been told to get one text per request from now on.
    pack_refusal_taken: AtomicBool,
}

impl Lane {
    /// A lane for `task` on `models` (the task's model first, then its fallbacks),
    /// each with its permits.
    pub fn new(task: Task, models: Vec<(TaskModel, Option<Arc<Permits>>)>) -> Lane {
        let (models, permits) = models.into_iter().unzip();
        Lane {
            task,
            models,
            permits,
            active: AtomicUsize::new(0),
            fell_back: Mutex::new(None),
            halt: Mutex::new(None),
            fell_back_at: Mutex::new(None),
            packed: AtomicU32::new(0),
            pack_misses: AtomicU32::new(0),
            pack_refusal_taken: AtomicBool::new(false),
        }
    }

    /// The task's id.
    pub fn id(&self) -> u32 {
        self.task.id
    }

    /// Which model takes the task's items now (an index for [`Lane::model_at`]).
    pub fn active(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    /// The model that takes the task's items now.
    pub fn model(&self) -> &TaskModel {
        self.model_at(self.active())
    }

    /// Model `at` of the chain (the task's own is 0).
    pub fn model_at(&self, at: usize) -> &TaskModel {
        &self.models[at.min(self.models.len() - 1)]
    }

    /// What a result must share to be reused for this task's items on model `at`;
    /// `None` when the task does not reuse (`task.reuse_results = 0`).
    pub fn reuse_scope(&self, at: usize) -> Option<ReuseScope> {
        let task = &self.task;
        task.reuse_results.then(|| ReuseScope {
            id_ai_model: self.model_at(at).id,
            description: task.description.clone(),
            kind: task.kind.clone().unwrap_or_default(),
            output_schema: task.output_schema.clone().unwrap_or_default(),
            change_summary: task.change_summary.clone().unwrap_or_default(),
        })
    }

    /// Short items sent together in one request at most: `task.pack_max_items`, else
    /// `default` (`PACK_MAX_ITEMS`), within the model's own limit; 1 once packed
    /// answers have kept missing items (a server whose JSON mode cannot carry the
    /// array).
    pub fn pack_size(&self, default: u32) -> usize {
        if self.gave_up_packing() {
            return 1;
        }
        let model = self.model().pack_max_items;
        super::packing::pack_limit(self.task.pack_max_items, model, default)
    }

    fn gave_up_packing(&self) -> bool {
        let misses = self.pack_misses.load(Ordering::Relaxed);
        misses >= PACK_MISSES_TOLERATED && misses * 2 >= self.packed.load(Ordering::Relaxed)
    }

    /// Once, after packing was given up: the model whose packed answers kept missing
    /// texts, to be remembered so that later runs send it one text per request.
    pub fn take_pack_refusal(&self) -> Option<&TaskModel> {
        let first =
            self.gave_up_packing() && !self.pack_refusal_taken.swap(true, Ordering::Relaxed);
        first.then(|| self.model())
    }

    /// `n` items are going out in one request.
    pub fn note_packed(&self, n: usize) {
        self.packed.fetch_add(n as u32, Ordering::Relaxed);
    }

    /// A packed answer missed an item (it is sent again alone); said once when the
    /// task stops packing for the rest of the run.
    pub fn note_pack_miss(&self) {
        let misses = self.pack_misses.fetch_add(1, Ordering::Relaxed) + 1;
        if misses == PACK_MISSES_TOLERATED && misses * 2 >= self.packed.load(Ordering::Relaxed) {
            log::warn!(
                "[Task {}] packed answers keep missing texts: its items go out one per request",
                self.id()
            );
        }
    }

    /// Every model of the chain.
    pub fn models(&self) -> &[TaskModel] {
        &self.models
    }

    /// The call permits of model `at`, if it has a cap.
    pub fn permits_at(&self, at: usize) -> Option<&Permits> {
        self.permits.get(at).and_then(Option::as_deref)
    }

    /// Model `from` cannot take items now (`why`): the next model of the chain takes
    /// them, if there is one. Returns its name (also when another thread moved on
    /// first); `None` when the chain has no model left.
    pub fn fall_back(&self, from: usize, why: &str) -> Option<&str> {
        if from + 1 >= self.models.len() {
            return None;
        }
        let moved = self
            .active
            .compare_exchange(from, from + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_ok();
        let next = &self.models[self.active().max(from + 1).min(self.models.len() - 1)];
        if moved {
            *self
                .fell_back_at
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
            let note = format!(
                "fell back from '{}' to '{}' because: {why}",
                self.models[from].name, next.name
            );
            log::warn!("[Task {}] {note}", self.task.id);
            self.fell_back
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(note);
        }
        Some(&next.name)
    }

    /// Hands the task's items back to its own model once it has been on a fallback
    /// for `after`: if the model still cannot take them, the next item falls back
    /// again. Returns whether it did.
    pub fn retry_primary(&self, after: Duration) -> bool {
        let mut since = self
            .fell_back_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let due = since.is_some_and(|at| at.elapsed() >= after);
        if !due || self.active() == 0 || self.halted().is_some() {
            return false;
        }
        *since = None;
        self.active.store(0, Ordering::Release);
        log::info!(
            "[Task {}] trying its own model '{}' again",
            self.task.id,
            self.models[0].name
        );
        true
    }

    /// Why the task's items went to a fallback model, if they did.
    pub fn fallback_note(&self) -> Option<String> {
        self.fell_back
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops claiming and sending for the task; returns true if this reason is now the
    /// one that holds (it ranks above any before it).
    pub fn halt(&self, why: Halt) -> bool {
        let mut halt = self.halt.lock().unwrap_or_else(PoisonError::into_inner);
        match &*halt {
            Some(held) if held.rank() >= why.rank() => false,
            _ => {
                *halt = Some(why);
                true
            }
        }
    }

    /// Why the lane stopped, if it did.
    pub fn halted(&self) -> Option<Halt> {
        self.halt
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// What the task's items go through on model `at`, at its prices.
    pub fn pipeline_at<'l>(
        &'l self,
        at: usize,
        config: &Config,
        stop: &'l StopSignal,
    ) -> Pipeline<'l> {
        let model = self.model_at(at);
        pipeline_for(config, stop, &self.task, model, model.pricing.as_ref())
    }

    /// The budgets the task's direct calls on model `at` are held to.
    pub fn budget_at(&self, at: usize, dry_run: bool) -> Option<Budget<'_>> {
        let model = self.model_at(at);
        budget_for(dry_run, &self.task, model, model.pricing.as_ref())
    }
}

/// What a task's items go through on `model`, priced at `pricing` (the batch price for
/// a job's lines).
pub fn pipeline_for<'p>(
    config: &Config,
    stop: &'p StopSignal,
    task: &'p Task,
    model: &'p TaskModel,
    pricing: Option<&'p Pricing>,
) -> Pipeline<'p> {
    let mask_markup = !task.skip_guards.iter().any(|g| g == "markup");
    let (kind, shape) = work_of(task).unwrap_or((Kind::Analyze, Shape::Answer));
    Pipeline {
        client: &model.client,
        redactor: Redactor::new(config.pii_redaction && privacy_of(task) != Level::Off)
            .with_names(privacy_of(task) == Level::All)
            .with_markup(mask_markup),
        instruction: &task.description,
        stop,
        pricing,
        skip_guards: &task.skip_guards,
        kind,
        shape,
        max_chunk_chars: model.max_chunk_chars,
    }
}

/// The task's kind of work and the answer it asks for: `task.kind`, or the kind its
/// instruction names (an output schema makes it an analysis); an analysis answers
/// with text, or with the object `task.output_schema` describes. `Err` names what is
/// wrong with that schema (checked before any call).
pub fn work_of(task: &Task) -> Result<(Kind, Shape), String> {
    let kind = match (&task.kind, &task.output_schema) {
        (None, Some(_)) => Kind::Analyze,
        (stored, _) => Kind::of(stored.as_deref(), &task.description),
    };
    let shape = match (kind, &task.output_schema) {
        (Kind::Analyze, Some(schema)) => Shape::Object(output_schema::parse(schema)?),
        (Kind::Analyze, None) => Shape::Answer,
        _ if task.change_summary.as_deref() == Some("diff") => Shape::TextOnly,
        _ => Shape::Correction,
    };
    Ok((kind, shape))
}

/// The task's privacy level (`task.privacy`).
pub fn privacy_of(task: &Task) -> Level {
    Level::parse(task.privacy.as_deref())
}

/// The budgets a task's calls are held to (none in a dry run, which spends nothing it
/// could record, nor without prices).
pub fn budget_for<'m>(
    dry_run: bool,
    task: &Task,
    model: &'m TaskModel,
    pricing: Option<&'m Pricing>,
) -> Option<Budget<'m>> {
    let task_limited = task.max_cost.is_some();
    let daily = model.daily_budget.map(|_| (model.id, model.name.as_str()));
    if dry_run || !(task_limited || daily.is_some()) {
        return None;
    }
    Some(Budget {
        pricing: pricing?,
        instruction_chars: task.description.chars().count() as u64,
        task_limited,
        daily,
    })
}
