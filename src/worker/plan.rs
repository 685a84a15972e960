//! A run's options resolved once against the configuration: every value has one name
//! and is checked here, so the engine below never falls back to a default itself.

use crate::config::{Config, MAX_CONCURRENCY};

use super::WorkerError;

/// What to run; every field mirrors a CLI flag (and a `POST /task/run` field). `None`
/// means "the configured default".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `--task ID`: only this task.
    pub task: Option<u32>,
    /// `--task-item ID`: only this item.
    pub task_item: Option<u32>,
    /// `--max-item N`: items handled at most (default `WORKER_MAX_ITEMS`).
    pub item_limit: Option<u32>,
    /// `--dry-run`: write nothing.
    pub dry_run: bool,
    /// `--concurrency N`: parallel model calls (default `WORKER_CONCURRENCY`).
    pub concurrency: Option<u32>,
    /// `--retry-failed`: put the tasks' ERROR items back to PENDING first.
    pub retry_failed: bool,
    /// Who started the run: `cli`, `http` or `demo` (stored in `task_run.trigger`).
    pub trigger: String,
    /// Use this id instead of a fresh one (serve answers with it before the run starts).
    pub operation_uuid: Option<String>,
}

/// Which items a run works on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Every active task with pending items, at once (by priority, then round-robin).
    Pending,
    /// One task's pending items.
    Task(u32),
    /// One item.
    Item(u32),
}

/// A run, resolved and validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// Which items.
    pub scope: Scope,
    /// Items handled at most, successful or failed.
    pub item_limit: u64,
    /// Parallel model calls (threads), 1 to [`MAX_CONCURRENCY`].
    pub concurrency: usize,
    /// Write nothing.
    pub dry_run: bool,
    /// Put ERROR items back to PENDING before the run.
    pub retry_failed: bool,
    /// `task_run.trigger`.
    pub trigger: String,
    /// The run's id.
    pub operation_uuid: String,
}

impl Plan {
    /// Resolves `options` against `config`; the error names the flag that is wrong.
    pub fn resolve(config: &Config, options: &RunOptions) -> Result<Plan, WorkerError> {
        let scope = match (options.task, options.task_item) {
            (Some(_), Some(_)) => {
                return Err(WorkerError::Usage(
                    "--task and --task-item cannot be used together".into(),
                ));
            }
            (Some(task), None) => Scope::Task(task),
            (None, Some(item)) => Scope::Item(item),
            (None, None) => Scope::Pending,
        };
        if options.retry_failed && matches!(scope, Scope::Item(_)) {
            return Err(WorkerError::Usage(
                "--retry-failed goes with --task ID or alone; --task-item already retries a failed item".into(),
            ));
        }
        let concurrency = options.concurrency.unwrap_or(config.concurrency);
        if concurrency as usize > MAX_CONCURRENCY {
            return Err(WorkerError::Usage(format!(
                "--concurrency must be at most {MAX_CONCURRENCY}"
            )));
        }
        let trigger = match options.trigger.as_str() {
            "" => "cli".to_string(),
            other => other.to_string(),
        };
        Ok(Plan {
            scope,
            item_limit: u64::from(options.item_limit.unwrap_or(config.item_limit)),
            concurrency: (concurrency as usize).max(1),
            dry_run: options.dry_run,
            retry_failed: options.retry_failed,
            trigger,
            operation_uuid: options
                .operation_uuid
                .clone()
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_come_from_the_configuration_once() {
        let config = Config::defaults();
        let plan = Plan::resolve(&config, &RunOptions::default()).unwrap();
        assert_eq!(plan.scope, Scope::Pending);
        assert_eq!(plan.item_limit, u64::from(config.item_limit));
        assert_eq!(plan.concurrency, config.concurrency as usize);
        assert_eq!(plan.trigger, "cli");
        assert_eq!(plan.operation_uuid.len(), 36);
        let given = RunOptions {
            task: Some(7),
            item_limit: Some(3),
            concurrency: Some(9),
            trigger: "http".into(),
            operation_uuid: Some("op".into()),
            ..RunOptions::default()
        };
        let plan = Plan::resolve(&config, &given).unwrap();
        assert_eq!(
            (
                plan.scope,
                plan.item_limit,
                plan.concurrency,
                plan.trigger.as_str()
            ),
            (Scope::Task(7), 3, 9, "http")
        );
        assert_eq!(plan.operation_uuid, "op");
    }

    #[test]
    fn contradictions_and_excess_are_usage_errors() {
        let config = Config::defaults();
        let both = RunOptions {
            task: Some(1),
            task_item: Some(2),
            ..RunOptions::default()
        };
        let err = Plan::resolve(&config, &both).unwrap_err();
        assert!(err.to_string().contains("together"), "{err}");
        let many = RunOptions {
            concurrency: Some(MAX_CONCURRENCY as u32 + 1),
            ..RunOptions::default()
        };
        let err = Plan::resolve(&config, &many).unwrap_err();
        assert!(err.to_string().contains("at most 4096"), "{err}");
    }
}
