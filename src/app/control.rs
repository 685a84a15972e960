//! The panel's hand on a task, from the command line or `serve`: pause, resume,
//! cancel. Running workers see the new status within a few seconds, stop claiming
//! for the task, finish and save the calls in flight, and never write over it.

use serde_json::{Value, json};

use super::AppError;
use super::status::with_db;
use crate::config::Config;
use crate::db::status::task as task_status;
use crate::db::task_repository as tasks;

/// What to do with a task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskAction {
    /// PAUSED (4): nothing is claimed until it is resumed.
    Pause,
    /// NEW (0) or IN_PROGRESS (1) again, from PAUSED or CANCELLED.
    Resume,
    /// CANCELLED (5): nothing is claimed; its pending items stay pending.
    Cancel,
}

impl TaskAction {
    /// The action a command or endpoint names: `pause`, `resume` or `cancel`.
    pub fn parse(word: &str) -> Option<TaskAction> {
        match word {
            "pause" => Some(TaskAction::Pause),
            "resume" => Some(TaskAction::Resume),
            "cancel" => Some(TaskAction::Cancel),
            _ => None,
        }
    }

    /// The command's word.
    pub fn word(self) -> &'static str {
        match self {
            TaskAction::Pause => "pause",
            TaskAction::Resume => "resume",
            TaskAction::Cancel => "cancel",
        }
    }
}

/// A task's status before and after an action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The task.
    pub id_task: u32,
    /// What was asked.
    pub action: TaskAction,
    /// `status_id` before.
    pub before: u8,
    /// `status_id` after.
    pub after: u8,
}

impl Applied {
    /// What happened, as a sentence.
    pub fn describe(&self) -> String {
        let (id, before, after) = (
            self.id_task,
            task_status::name(self.before),
            task_status::name(self.after),
        );
        match (self.action, self.before == self.after) {
            (_, false) => format!(
                "task {id}: {before} -> {after}; running workers see it within a few seconds"
            ),
            (TaskAction::Resume, true) => {
                format!("task {id} is {after}, not paused or cancelled: nothing to resume")
            }
            (_, true) if self.after == task_status::COMPLETED => {
                format!("task {id} is COMPLETED: nothing to {}", self.action.word())
            }
            (_, true) => format!("task {id} is {after} already"),
        }
    }

    /// The answer as JSON (`--json`, `POST /task/{id}/...`).
    pub fn to_json(&self) -> Value {
        json!({
            "id_task": self.id_task,
            "action": self.action.word(),
            "status_before": task_status::name(self.before),
            "status": task_status::name(self.after),
            "changed": self.before != self.after,
            "message": self.describe(),
        })
    }
}

/// Pauses, resumes or cancels a task.
pub fn apply(config: &Config, id_task: u32, action: TaskAction) -> Result<Applied, AppError> {
    let to = match action {
        TaskAction::Pause => Some(task_status::PAUSED),
        TaskAction::Cancel => Some(task_status::CANCELLED),
        TaskAction::Resume => None,
    };
    with_db(config, |db| {
        let before = tasks::set_by_panel(db, id_task, to)?
            .ok_or_else(|| AppError::NotFound(format!("task {id_task} does not exist")))?;
        let after = tasks::get(db, id_task)?.map_or(before, |t| t.status_id);
        Ok(Applied {
            id_task,
            action,
            before,
            after,
        })
    })
}
