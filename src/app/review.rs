//! After review: `rework` sends REJECTED results again with the reviewer's note, and
//! `export` writes ACCEPTED results back to their source rows, never over a row that
//! changed since its text was copied.

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::ai::{preview, preview_of};
use crate::config::{Config, ExportTarget};
use crate::db::columns::{self, ColumnType};
use crate::db::review_repository::{self as review, Accepted, export_status};
use crate::db::{Db, DbError, source_repository as source};

use super::AppError;

/// Results exported per source transaction.
const EXPORT_BATCH: u32 = 100;

/// What `rework` put back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reworked {
    /// Items back to PENDING.
    pub items: u64,
    /// Their tasks.
    pub tasks: Vec<u32>,
}

/// REJECTED results of `--task ID` (or of every task) back to PENDING; the rejected
/// versions go to the log, the next run sends each item with its reviewer's note.
pub fn rework(config: &Config, id_task: Option<u32>) -> Result<Reworked, AppError> {
    let mut db = Db::connect(&config.db)?;
    must_exist(&mut db, id_task)?;
    let mut done = Reworked::default();
    for id in review::tasks_to_rework(&mut db, id_task)? {
        let items = review::rework(&mut db, id)?;
        for (item, rejected) in &items {
            log::info!(
                "[TaskItem {item}] Back to pending for rework; the rejected version was: {rejected}"
            );
        }
        log::info!(
            "[Task {id}] {} rejected results back to pending",
            items.len()
        );
        done.items += items.len() as u64;
        done.tasks.push(id);
    }
    db.close();
    Ok(done)
}

/// What `export` did, or in a dry run would do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Exported {
    /// Nothing was written.
    pub dry_run: bool,
    /// Written to the source (or already there from an export that was cut short).
    pub exported: u64,
    /// Not written: the source changed since the text was copied.
    pub conflicts: u64,
    /// Not written: not allowed, no such row, missing reference.
    pub errors: u64,
    /// Each item that was not exported, and why.
    pub problems: Vec<(u32, String)>,
    /// Put back to be exported again by `--retry`.
    pub retried: u64,
    /// Accepted items whose export ended in a conflict or an error (in this run or an
    /// earlier one) and that only `--retry` tries again.
    pub waiting: u64,
}

impl Exported {
    /// 0 when everything went back, 1 when something did not.
    pub fn exit_code(&self) -> u8 {
        u8::from(self.conflicts + self.errors > 0)
    }

    /// One line for the log and the CLI.
    pub fn message(&self) -> String {
        let verb = if self.dry_run {
            "would be exported"
        } else {
            "exported"
        };
        let mut line = format!(
            "Export finished: {} {verb}, {} {}, {} {}",
            self.exported,
            self.conflicts,
            plural(self.conflicts, "conflict", "conflicts"),
            self.errors,
            plural(self.errors, "error", "errors")
        );
        if self.retried > 0 {
            line.push_str(&format!("; {} put back by --retry", self.retried));
        }
        if self.waiting > 0 {
            line.push_str(&format!(
                "; {} {} after a conflict or an error: fix the cause, then run `ai-worker export --retry`",
                self.waiting,
                plural(self.waiting, "item waits", "items wait")
            ));
        }
        line
    }

    /// The `--json` document (also what `POST /task/export` answers).
    pub fn to_json(&self) -> Value {
        let problems: Vec<Value> = self
            .problems
            .iter()
            .map(|(id, why)| json!({"id_task_item": id, "message": why}))
            .collect();
        json!({
            "dry_run": self.dry_run, "exported": self.exported, "conflicts": self.conflicts,
            "errors": self.errors, "problems": problems, "message": self.message(),
            "retried": self.retried, "waiting": self.waiting,
            "exit_code": self.exit_code(),
        })
    }
}

/// `--task ID` names a task that exists, or the command says so (exit 2).
fn must_exist(db: &mut Db, id_task: Option<u32>) -> Result<(), AppError> {
    match id_task {
        Some(id) if crate::db::task_repository::get(db, id)?.is_none() => {
            Err(AppError::NotFound(format!("task {id} does not exist")))
        }
        _ => Ok(()),
    }
}

fn plural(n: u64, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// How one item's export ends.
enum Outcome {
    Exported,
    Conflict(String),
    Error(String),
}

/// Writes the ACCEPTED results of `--task ID` (or of every task) back to their source
/// rows, a transaction per batch on the source; `dry_run` only reads.
pub fn export(config: &Config, id_task: Option<u32>, dry_run: bool) -> Result<Exported, AppError> {
    export_with(config, id_task, dry_run, false)
}

/// [`export`], first putting conflicts and errors of earlier exports back to be tried
/// again when `retry` (`export --retry`, `"retry": true`), after their cause is fixed.
pub fn export_with(
    config: &Config,
    id_task: Option<u32>,
    dry_run: bool,
    retry: bool,
) -> Result<Exported, AppError> {
    let mut db = Db::connect(&config.db)?;
    must_exist(&mut db, id_task)?;
    let mut src = Db::connect(config.source_db())?;
    let mut summary = Exported {
        dry_run,
        ..Exported::default()
    };
    if retry && !dry_run {
        summary.retried = review::retry_exports(&mut db, id_task)?;
    }
    let mut after = 0;
    let mut columns = Columns::default();
    loop {
        let batch = review::accepted(&mut db, id_task, after, EXPORT_BATCH)?;
        let Some(last) = batch.last() else { break };
        after = last.id;
        let outcomes: Vec<Outcome> = if dry_run {
            batch
                .iter()
                .map(|item| check(config, &mut src, &mut columns, item, true))
                .collect::<Result<_, _>>()?
        } else {
            src.transaction(|src| {
                batch
                    .iter()
                    .map(|item| check(config, src, &mut columns, item, false))
                    .collect::<Result<_, _>>()
            })?
        };
        failpoint_after_source_commit();
        for (item, outcome) in batch.iter().zip(outcomes) {
            record(&mut db, &mut summary, item, outcome, dry_run)?;
        }
    }
    summary.waiting = review::exports_waiting(&mut db, id_task)?;
    log::info!("{}", summary.message());
    db.close();
    src.close();
    Ok(summary)
}

/// The source columns' types, read once per export.
#[derive(Default)]
struct Columns(HashMap<(String, String), Option<ColumnType>>);

impl Columns {
    fn get(
        &mut self,
        src: &mut Db,
        table: &str,
        column: &str,
    ) -> Result<Option<ColumnType>, DbError> {
        let key = (table.to_string(), column.to_string());
        if let Some(known) = self.0.get(&key) {
            return Ok(known.clone());
        }
        let found = columns::column_type(src, table, column)?;
        self.0.insert(key, found.clone());
        Ok(found)
    }

    /// Why the item's key or result cannot go into its target, if they cannot.
    fn refuse(
        &mut self,
        src: &mut Db,
        target: &ExportTarget,
        source_id: &str,
        text: &str,
    ) -> Result<Option<String>, DbError> {
        let (table, column, pk) = (&target.table, &target.column, &target.pk);
        let pk_type = self.get(src, table, pk)?.unwrap_or_default();
        let column_type = self.get(src, table, column)?.unwrap_or_default();
        Ok(pk_type
            .refuses_key(source_id, &format!("{table}.{pk}"))
            .or_else(|| column_type.refuses_text(text, &format!("{table}.{column}"))))
    }
}

/// One item against its source row: written (unless `dry_run`), or why not. A
/// value the source refuses fails this item only.
fn check(
    config: &Config,
    src: &mut Db,
    columns: &mut Columns,
    item: &Accepted,
    dry_run: bool,
) -> Result<Outcome, DbError> {
    let (target, source_id) = match target_of(config, item) {
        Ok(found) => found,
        Err(why) => return Ok(Outcome::Error(why)),
    };
    if let Some(why) = columns.refuse(src, &target, &source_id, &item.text_corrected)? {
        return Ok(Outcome::Error(why));
    }
    if !dry_run {
        let written = source::compare_and_set(
            src,
            &target,
            &source_id,
            &item.text_original,
            &item.text_corrected,
        );
        match written {
            Ok(true) => return Ok(Outcome::Exported),
            Ok(false) => {}
            Err(DbError::Query(why)) => {
                return Ok(Outcome::Error(format!(
                    "the source database refused the write: {why}"
                )));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(match source::current(src, &target, &source_id)? {
        None => Outcome::Error(format!(
            "{}.{} has no row with {} = '{}'",
            target.table,
            target.column,
            target.pk,
            preview(&source_id)
        )),
        Some(now) if now.as_deref() == Some(item.text_original.as_str()) && dry_run => {
            Outcome::Exported
        }
        // Written by an export that stopped before it could record it.
        Some(now) if now.as_deref() == Some(item.text_corrected.as_str()) => Outcome::Exported,
        Some(now) => Outcome::Conflict(format!(
            "{}.{} of row {} changed since the text was copied; it now holds: {}",
            target.table,
            target.column,
            preview(&source_id),
            now.as_deref()
                .map_or_else(|| "NULL".to_string(), preview_short)
        )),
    })
}

/// The first 120 characters of a value from the source database.
fn preview_short(text: &str) -> String {
    preview_of(text, 120)
}

/// The allowed target an item names, and its row id; or why it has none.
fn target_of(config: &Config, item: &Accepted) -> Result<(ExportTarget, String), String> {
    let (table, column, id) = &item.source;
    let (Some(table), Some(column), Some(id)) = (table, column, id) else {
        return Err(
            "source_table, source_column or source_id is empty: nothing to write back to".into(),
        );
    };
    let allowed = config
        .export_allow
        .iter()
        .find(|t| t.table == *table && t.column == *column);
    match allowed {
        Some(target) => Ok((target.clone(), id.clone())),
        None => Err(format!(
            "{}.{} is not in EXPORT_ALLOW: nothing was written (add table.column[:pk] to EXPORT_ALLOW to allow it)",
            preview_short(table),
            preview_short(column)
        )),
    }
}

fn record(
    db: &mut Db,
    summary: &mut Exported,
    item: &Accepted,
    outcome: Outcome,
    dry_run: bool,
) -> Result<(), DbError> {
    let (status, why) = match outcome {
        Outcome::Exported => {
            summary.exported += 1;
            (export_status::EXPORTED, None)
        }
        Outcome::Conflict(why) => {
            summary.conflicts += 1;
            (export_status::CONFLICT, Some(why))
        }
        Outcome::Error(why) => {
            summary.errors += 1;
            (export_status::ERROR, Some(why))
        }
    };
    if let Some(why) = &why {
        log::warn!("[TaskItem {}] Not exported: {why}", item.id);
        summary.problems.push((item.id, why.clone()));
    }
    if !dry_run {
        review::mark_export(db, item.id, status, why.as_deref())?;
    }
    Ok(())
}

/// Test builds only: `AI_WORKER_FAILPOINT_EXPORT_ABORT=1` ends the process right after
/// a batch is committed to the source and before it is recorded, as a kill -9 would.
fn failpoint_after_source_commit() {
    if cfg!(debug_assertions)
        && std::env::var("AI_WORKER_FAILPOINT_EXPORT_ABORT").is_ok_and(|v| v == "1")
    {
        std::process::abort();
    }
}
