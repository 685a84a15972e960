//! A task as a run works on it: its row, its model, and whether it may go on. Shared
//! by the producer (which claims for it) and the executors (which run its items).

use std::sync::{Arc, Mutex, PoisonError};

use crate::ai::Shape;
use crate::config::Config;
use crate::db::status::task as task_status;
use crate::db::task_repository::Task;
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
    /// The task's model, ready.
    pub model: TaskModel,
    /// The model's own cap on calls in flight (`ai_model.max_concurrency`), shared by
    /// every lane on that model.
    pub model_permits: Option<Arc<Permits>>,
    halt: Mutex<Option<Halt>>,
}

impl Lane {
    /// A lane for `task` on `model`.
    pub fn new(task: Task, model: TaskModel, model_permits: Option<Arc<Permits>>) -> Lane {
        Lane {
            task,
            model,
            model_permits,
            halt: Mutex::new(None),
        }
    }

    /// The task's id.
    pub fn id(&self) -> u32 {
        self.task.id
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

    /// What the task's items go through, priced at `pricing`.
    pub fn pipeline<'l>(
        &'l self,
        config: &Config,
        stop: &'l StopSignal,
        pricing: Option<&'l Pricing>,
    ) -> Pipeline<'l> {
        pipeline_for(config, stop, &self.task, &self.model, pricing)
    }

    /// The budgets the task's direct calls are held to.
    pub fn budget(&self, dry_run: bool) -> Option<Budget<'_>> {
        budget_for(
            dry_run,
            &self.task,
            &self.model,
            self.model.pricing.as_ref(),
        )
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
