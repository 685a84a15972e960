//! What a run did: the totals printed at the end, the `--json` output, the exit code.

use serde_json::{Value, json};

use crate::ai::Usage;
use crate::db::item::Spent;

/// Tokens and cost added up over items, a task or a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Costs {
    /// Tokens billed (input with cached, output with thinking).
    pub tokens: Usage,
    /// The cost, if every model involved has prices.
    pub cost: Option<f64>,
    /// The currency of `cost` ("mixed" when models of different currencies ran).
    pub currency: Option<String>,
}

impl Costs {
    /// Adds one claim's spending.
    pub fn add(&mut self, spent: &Spent) {
        self.tokens.add(spent.tokens);
        if let Some(cost) = spent.cost {
            *self.cost.get_or_insert(0.0) += cost;
        }
    }

    /// Adds a task's or a run's totals.
    pub fn merge(&mut self, other: &Costs) {
        self.tokens.add(other.tokens);
        if let Some(cost) = other.cost {
            *self.cost.get_or_insert(0.0) += cost;
        }
        self.currency = match (self.currency.take(), &other.currency) {
            (None, theirs) => theirs.clone(),
            (Some(ours), Some(theirs)) if ours != *theirs => Some("mixed".into()),
            (ours, _) => ours,
        };
    }

    /// "12.3456 USD", or "unknown (a model has no prices)".
    pub fn cost_text(&self) -> String {
        match (&self.cost, &self.currency) {
            (Some(cost), Some(currency)) => format!("{cost:.4} {currency}"),
            (Some(cost), None) => format!("{cost:.4}"),
            (None, _) => "unknown".into(),
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "tokens_input": self.tokens.input,
            "tokens_output": self.tokens.output,
            "tokens_cached": self.tokens.cached,
            "tokens_thinking": self.tokens.thinking,
            "cost": self.cost,
            "currency": self.currency,
        })
    }
}

/// One task's part of a run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TaskSummary {
    /// `id_task`.
    pub id_task: u32,
    /// Status after the run: NEW, IN_PROGRESS, COMPLETED or ERROR.
    pub status: String,
    /// Items this run saved as PROCESSED.
    pub items_ok: u64,
    /// Items this run marked ERROR.
    pub items_error: u64,
    /// What this run's calls for the task cost.
    pub costs: Costs,
    /// Why the task stopped or failed, if it did.
    pub message: Option<String>,
    /// The task was stopped as a whole (bad key, missing model).
    pub failed: bool,
    /// The task waits for its model's server, which could not be reached.
    pub paused: bool,
    /// What the task masks before a text leaves (`task.privacy`: all, identifiers,
    /// off).
    pub privacy: String,
    /// What the task does (`task.kind`, or as inferred): proofread, translate,
    /// analyze.
    pub kind: String,
    /// Whether, why and to which model the task's items went to a fallback.
    pub fallback: Option<String>,
}

/// What `--dry-run` would have saved for one item.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DryRunItem {
    /// `id_task_item`.
    pub id_task_item: u32,
    /// `id_task`.
    pub id_task: u32,
    /// The prompt as sent (after personal data was replaced).
    pub prompt: String,
    /// The text that would be saved.
    pub text_corrected: Option<String>,
    /// The summary that would be saved.
    pub change_summary: Option<String>,
    /// Prompt tokens.
    pub tokens_input: u64,
    /// Output tokens.
    pub tokens_output: u64,
    /// The error the item would get.
    pub error: Option<String>,
}

/// The result of one run of the engine.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunSummary {
    /// The run's id, also in `task_run` and on every row it touched.
    pub operation_uuid: String,
    /// Nothing was written.
    pub dry_run: bool,
    /// Items saved as PROCESSED.
    pub items_ok: u64,
    /// Items marked ERROR.
    pub items_error: u64,
    /// Items handed back to PENDING (stop requested, task stopped).
    pub items_released: u64,
    /// Everything the run's calls cost: tokens (input with cached, output with
    /// thinking) and money.
    pub costs: Costs,
    /// Tasks touched, in order.
    pub tasks: Vec<TaskSummary>,
    /// Results of a dry run.
    pub dry_run_items: Vec<DryRunItem>,
    /// The run ended early on Ctrl+C / SIGTERM.
    pub interrupted: bool,
    /// Statements run again after losing a deadlock or a lock wait (by this process
    /// during the run).
    pub deadlocks_retried: u64,
    /// Items this run sent in batch jobs (their results come in a later run).
    pub batch_sent: u64,
    /// Items in batch jobs the provider has not finished yet.
    pub batch_waiting: u64,
    /// One line saying what happened.
    pub message: String,
}

impl RunSummary {
    /// 0 when every handled item succeeded (or there was nothing to do), 1 when an item
    /// or a task failed, or in a dry run would have failed (so a dry run checks a key,
    /// a model or a prompt the way a script can see).
    pub fn exit_code(&self) -> u8 {
        if self.items_error > 0
            || self.tasks.iter().any(|t| t.failed || t.paused)
            || self.dry_run_items.iter().any(|i| i.error.is_some())
        {
            1
        } else if self.interrupted {
            // Cut short by Ctrl+C or SIGTERM: what was under way was saved, but the
            // work is not done, and a scheduler should be able to tell.
            4
        } else {
            0
        }
    }

    /// The one line that ends a run: what was done, and each task that stopped or
    /// waits, with why.
    pub fn describe(&self) -> String {
        let mut message = if self.dry_run {
            let failing = self
                .dry_run_items
                .iter()
                .filter(|i| i.error.is_some())
                .count();
            format!(
                "Dry run finished: would process {}, {failing} would fail, tokens {} in / {} out; nothing was saved",
                self.dry_run_items.len() - failing,
                self.dry_run_tokens().0,
                self.dry_run_tokens().1
            )
        } else {
            format!(
                "Run finished: {} processed, {} failed, tokens {} in / {} out, cost {}",
                self.items_ok,
                self.items_error,
                self.costs.tokens.input,
                self.costs.tokens.output,
                self.costs.cost_text()
            )
        };
        if self.items_released > 0 {
            message.push_str(&format!(", {} handed back to pending", self.items_released));
        }
        if self.deadlocks_retried > 0 {
            message.push_str(&format!(
                ", {} statements retried after lock contention",
                self.deadlocks_retried
            ));
        }
        if self.batch_sent + self.batch_waiting > 0 {
            message.push_str(&format!(
                ", {} sent in batch jobs, {} waiting for the provider",
                self.batch_sent, self.batch_waiting
            ));
        }
        for task in &self.tasks {
            if let Some(fallback) = &task.fallback {
                message.push_str(&format!("; task {} {fallback}", task.id_task));
            }
        }
        for task in self.tasks.iter().filter(|t| t.failed || t.paused) {
            let verb = if task.failed { "stopped" } else { "waits" };
            let why = task.message.as_deref().unwrap_or("no reason given");
            message.push_str(&format!("; task {} {verb}: {why}", task.id_task));
        }
        if self.interrupted {
            message.push_str(" (interrupted by a stop request)");
        }
        message
    }

    /// The line of a run that found no pending item; `stalled` are the tasks in ERROR
    /// that still have items to do: (id, pending, failed).
    pub fn nothing_to_do(&self, stalled: &[(u32, u64, u64)]) -> String {
        let mut message = "Nothing to do: no task has pending items".to_string();
        if stalled.is_empty() {
            return message;
        }
        let list: Vec<String> = stalled
            .iter()
            .map(|(id, pending, failed)| format!("task {id} ({pending} pending, {failed} failed)"))
            .collect();
        message.push_str(&format!(
            ". Tasks stopped with ERROR still have items: {}. Resume one with `ai-worker --task ID` once its cause is fixed; `--retry-failed` puts failed items back",
            list.join(", ")
        ));
        message
    }

    /// Input and output tokens of a dry run's calls.
    fn dry_run_tokens(&self) -> (u64, u64) {
        let items = self.dry_run_items.iter();
        items.fold((0, 0), |(i, o), item| {
            (i + item.tokens_input, o + item.tokens_output)
        })
    }

    /// Adds one task's figures to the run totals.
    pub fn add_task(&mut self, task: TaskSummary) {
        self.items_ok += task.items_ok;
        self.items_error += task.items_error;
        self.costs.merge(&task.costs);
        self.tasks.push(task);
    }

    /// The `--json` document (also the body `serve` answers with).
    pub fn to_json(&self) -> Value {
        let tasks: Vec<Value> = self
            .tasks
            .iter()
            .map(|t| {
                let mut task = json!({
                    "id_task": t.id_task,
                    "status": t.status,
                    "items_ok": t.items_ok,
                    "items_error": t.items_error,
                    "message": t.message,
                    "privacy": t.privacy,
                    "kind": t.kind,
                    "fallback": t.fallback,
                });
                merge(&mut task, t.costs.to_json());
                task
            })
            .collect();
        let mut doc = json!({
            "operation_uuid": self.operation_uuid,
            "dry_run": self.dry_run,
            "items_ok": self.items_ok,
            "items_error": self.items_error,
            "items_released": self.items_released,
            "interrupted": self.interrupted,
            "deadlocks_retried": self.deadlocks_retried,
            "batch_sent": self.batch_sent,
            "batch_waiting": self.batch_waiting,
            "tasks": tasks,
            "message": self.message,
            "exit_code": self.exit_code(),
        });
        merge(&mut doc, self.costs.to_json());
        if self.dry_run {
            doc["items"] = self
                .dry_run_items
                .iter()
                .map(|i| {
                    json!({
                        "id_task_item": i.id_task_item,
                        "id_task": i.id_task,
                        "prompt": i.prompt,
                        "text_corrected": i.text_corrected,
                        "change_summary": i.change_summary,
                        "tokens_input": i.tokens_input,
                        "tokens_output": i.tokens_output,
                        "error": i.error,
                    })
                })
                .collect();
        }
        doc
    }
}

/// Copies the fields of `extra` into the object `doc`.
fn merge(doc: &mut Value, extra: Value) {
    if let (Some(doc), Value::Object(extra)) = (doc.as_object_mut(), extra) {
        doc.extend(extra);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_is_1_when_anything_failed_or_would_have() {
        let mut summary = RunSummary::default();
        assert_eq!(summary.exit_code(), 0);
        summary.dry_run_items.push(DryRunItem::default());
        assert_eq!(summary.exit_code(), 0, "a dry-run item that would succeed");
        summary.dry_run_items.push(DryRunItem {
            error: Some("400".into()),
            ..DryRunItem::default()
        });
        assert_eq!(summary.exit_code(), 1, "a dry-run item that would fail");
        let failed_task = RunSummary {
            tasks: vec![TaskSummary {
                failed: true,
                ..TaskSummary::default()
            }],
            ..RunSummary::default()
        };
        assert_eq!(failed_task.exit_code(), 1);
        let failed_item = RunSummary {
            items_error: 1,
            ..RunSummary::default()
        };
        assert_eq!(failed_item.exit_code(), 1);
    }
}
