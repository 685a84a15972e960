//! What the CLI prints: run summaries as text or JSON, model tables, the demo, and
//! errors (once, on stderr and in the log file).

use ai_worker::app::batch::Job;
use ai_worker::app::batch::{Cancelled, job_json};
use ai_worker::app::estimate::TaskEstimate;
use ai_worker::app::models::{AddedModel, KeyNote, ModelSummary, Rekeyed};
use ai_worker::app::review::{Exported, Reworked};
use ai_worker::app::setup::DemoReport;
use ai_worker::{AppError, DEMO_DB, DbConfig, RunSummary, logging};

/// An error for the user: on stderr, and in the log file if one is open.
pub fn error(err: &AppError) {
    line("error", &err.to_string());
    if let Some(hint) = err.hint() {
        line("hint", hint);
    }
}

fn line(label: &str, message: &str) {
    eprintln!("{label}: {message}");
    let shown = if label == "error" {
        message.to_string()
    } else {
        format!("{label}: {message}")
    };
    logging::file_line("ERROR", &shown);
}

/// The `--json` answer of a run that could not be carried out.
pub fn json_error(err: &AppError) {
    println!(
        "{}",
        serde_json::json!({"error": err.to_string(), "exit_code": err.exit_code()})
    );
}

/// A run's summary: the dry-run results, then one line; or the JSON document.
pub fn summary(summary: &RunSummary, json: bool) {
    if json {
        println!("{}", summary.to_json());
        return;
    }
    if summary.dry_run {
        for task in &summary.tasks {
            println!(
                "[DRY-RUN] [Task {}] kind: {}, privacy: {}",
                task.id_task, task.kind, task.privacy
            );
        }
    }
    for item in &summary.dry_run_items {
        println!(
            "[DRY-RUN] [TaskItem {}] (task {})",
            item.id_task_item, item.id_task
        );
        match &item.error {
            Some(e) => println!("  error: {e}"),
            None => {
                let text = item.text_corrected.as_deref().unwrap_or("");
                println!("  text_corrected: {text}");
                let summary = item.change_summary.as_deref().unwrap_or("");
                println!("  change_summary: {summary}");
                println!(
                    "  tokens: {} in / {} out",
                    item.tokens_input, item.tokens_output
                );
            }
        }
    }
    println!("{} (operation {})", summary.message, summary.operation_uuid);
}

/// `init-db` succeeded.
pub fn database_ready(db: &DbConfig) {
    println!("Database {} is ready at {}:{}", db.name, db.host, db.port);
}

/// `model list`: one line per model, never a key.
pub fn model_list(models: &[ModelSummary], json: bool) {
    if json {
        let rows: Vec<serde_json::Value> = models
            .iter()
            .map(|m| {
                serde_json::json!({
                    "id": m.id, "name": m.name, "provider": m.provider,
                    "model_name": m.model_name, "api_url": m.api_url,
                    "has_key": m.has_key, "is_active": m.is_active,
                })
            })
            .collect();
        println!("{}", serde_json::json!({ "models": rows }));
        return;
    }
    if models.is_empty() {
        println!(
            "No models yet: add one with `ai-worker model add --name NAME --provider gemini|openai|echo --model MODEL`"
        );
        return;
    }
    println!(
        "{:<4} {:<24} {:<8} {:<24} {:<4} {:<6} api_url",
        "id", "name", "provider", "model", "key", "active"
    );
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    for m in models {
        println!(
            "{:<4} {:<24} {:<8} {:<24} {:<4} {:<6} {}",
            m.id,
            m.name,
            m.provider,
            m.model_name,
            yes_no(m.has_key),
            yes_no(m.is_active),
            m.api_url.as_deref().unwrap_or("(provider default)")
        );
    }
}

/// `model add` succeeded; a warning on stderr when runs would lack a key.
pub fn model_added(name: &str, added: &AddedModel) {
    let key_note = match &added.key {
        KeyNote::Stored => "key stored encrypted".to_string(),
        KeyNote::FromEnvironment(var) => {
            format!("no key stored: {var} from the environment is used")
        }
        KeyNote::NotNeeded => "no key: none is needed".to_string(),
        KeyNote::Missing(var) => format!("no key stored, and {var} is not set"),
    };
    println!("Model '{name}' added with id {} ({key_note})", added.id);
    if let KeyNote::Missing(var) = &added.key {
        let warning = format!(
            "model '{name}' has no key: its tasks stop with \"no API key\" until you store one with `ai-worker model update {name} --key-stdin` or set {var}"
        );
        eprintln!("warning: {warning}");
        logging::file_line("WARN", &warning);
    }
}

/// `model update` succeeded.
pub fn model_updated(name: &str) {
    println!("Model '{name}' updated");
}

/// `model rekey` succeeded: model names, never keys.
pub fn rekeyed(outcome: &Rekeyed) {
    let names = |list: &[String]| {
        if list.is_empty() {
            "none".to_string()
        } else {
            list.join(", ")
        }
    };
    println!(
        "Re-encrypted with AI_KEY_SECRET: {}. Already using it: {}.",
        names(&outcome.changed),
        names(&outcome.already)
    );
}

/// The demo: each text before and after, with its summary and tokens.
pub fn demo(report: &DemoReport) {
    let banner = if report.gemini {
        "Using Gemini (gemini-2.5-flash) with GEMINI_API_KEY from the environment."
    } else {
        "GEMINI_API_KEY is not set: using the offline ECHO model, which returns every text\n\
         unchanged. Set GEMINI_API_KEY in .env to see real corrections."
    };
    println!("=== ai-worker demo (database {DEMO_DB}) ===\n{banner}\n");
    for (id, name, items) in &report.tasks {
        println!("--- Task {id}: {name} ---");
        for item in items {
            println!("[TaskItem {}]", item.id);
            println!("  before:  {}", item.text_original);
            let after = item.text_corrected.as_deref().unwrap_or("(not processed)");
            println!("  after:   {after}");
            let summary = item.change_summary.as_ref().or(item.error_message.as_ref());
            println!("  summary: {}", summary.map_or("", String::as_str));
            println!(
                "  tokens:  {} in / {} out",
                item.tokens_input, item.tokens_output
            );
        }
        println!();
    }
    println!(
        "Done: {} processed, {} failed. Inspect the tables in database {DEMO_DB}.",
        report.summary.items_ok, report.summary.items_error
    );
    // Items left unprocessed have their reason in the run's summary (the model could
    // not be reached, its key was refused, ...): said here, not only in the log.
    if report.summary.exit_code() != 0 {
        println!("{}", report.summary.describe());
    }
}

/// One task's estimated cost, as the table shows it.
fn estimate_cost(t: &TaskEstimate) -> String {
    match t.cost {
        Some(c) if t.batch => format!("{c:.4} {} (batch)", t.currency),
        Some(c) => format!("{c:.4} {}", t.currency),
        None => "no prices".into(),
    }
}

/// `--estimate`: per task and in total, without any call made.
pub fn estimate(tasks: &[TaskEstimate], json: bool) {
    if json {
        let rows: Vec<serde_json::Value> = tasks
            .iter()
            .map(|t| {
                serde_json::json!({
                    "id_task": t.id_task, "name": t.name, "model": t.model, "items": t.items,
                    "tokens_input": t.tokens_input, "tokens_output": t.tokens_output,
                    "cost": t.cost, "currency": t.currency, "batch": t.batch,
                })
            })
            .collect();
        println!("{}", serde_json::json!({"estimate": rows}));
        return;
    }
    println!(
        "{:<6} {:<24} {:<16} {:>8} {:>12} {:>12} {:>14}",
        "task", "name", "model", "items", "tokens in", "tokens out", "cost"
    );
    for t in tasks {
        println!(
            "{:<6} {:<24} {:<16} {:>8} {:>12} {:>12} {:>14}",
            t.id_task,
            t.name,
            t.model,
            t.items,
            t.tokens_input,
            t.tokens_output,
            estimate_cost(t)
        );
    }
    let items: u64 = tasks.iter().map(|t| t.items).sum();
    let tokens_in: u64 = tasks.iter().map(|t| t.tokens_input).sum();
    let tokens_out: u64 = tasks.iter().map(|t| t.tokens_output).sum();
    let mut costs: Vec<(String, f64)> = Vec::new();
    for t in tasks {
        if let Some(c) = t.cost {
            match costs.iter_mut().find(|(cur, _)| *cur == t.currency) {
                Some((_, sum)) => *sum += c,
                None => costs.push((t.currency.clone(), c)),
            }
        }
    }
    let cost: Vec<String> = costs
        .iter()
        .map(|(cur, c)| format!("{c:.4} {cur}"))
        .collect();
    println!(
        "Total: {items} items, about {tokens_in} tokens in and {tokens_out} out, cost {} (an estimate: about 3.5 characters a token; no model was called)",
        if cost.is_empty() {
            "unknown".into()
        } else {
            cost.join(" + ")
        }
    );
}

/// `pause|resume|cancel`: the task's status before and after.
pub fn task_control(applied: &ai_worker::app::control::Applied, json: bool) {
    if json {
        println!("{}", applied.to_json());
    } else {
        println!("{}", applied.describe());
    }
}

/// `rework`: how many results go back, from which tasks.
pub fn reworked(done: &Reworked, json: bool) {
    if json {
        println!(
            "{}",
            serde_json::json!({"items": done.items, "tasks": done.tasks})
        );
        return;
    }
    let tasks: Vec<String> = done.tasks.iter().map(u32::to_string).collect();
    match done.items {
        0 => println!("No rejected results to rework"),
        n => println!(
            "{n} rejected {} back to pending ({} {}); the next run sends {} with the reviewers' notes",
            if n == 1 { "result" } else { "results" },
            if tasks.len() == 1 { "task" } else { "tasks" },
            tasks.join(", "),
            if n == 1 { "it" } else { "them" },
        ),
    }
}

/// `export`: what was written back, and each item that was not.
pub fn exported(done: &Exported, json: bool) {
    if json {
        println!("{}", done.to_json());
        return;
    }
    for (id, why) in &done.problems {
        println!("[TaskItem {id}] {why}");
    }
    println!("{}", done.message());
}

/// `--batch-status`: one line per job.
pub fn batch_jobs(jobs: &[Job], json: bool) {
    if json {
        let jobs: Vec<serde_json::Value> = jobs.iter().map(job_json).collect();
        println!("{}", serde_json::json!({ "batches": jobs }));
        return;
    }
    if jobs.is_empty() {
        println!("No open batch jobs");
        return;
    }
    println!("JOB  TASK  STATE       ITEMS  OK     FAILED  BACK   HOURS  PROVIDER ID");
    for j in jobs {
        let state = match &j.provider_state {
            Some(p) if j.state == "RUNNING" => format!("{} ({p})", j.state),
            _ => j.state.clone(),
        };
        println!(
            "{:<4} {:<5} {:<11} {:<6} {:<6} {:<7} {:<6} {:<6} {}",
            j.id,
            j.id_task,
            state,
            j.item_count,
            j.items_ok,
            j.items_error,
            j.items_returned,
            j.age_s / 3600,
            j.provider_job_id.as_deref().unwrap_or("-")
        );
    }
}

/// `--cancel-batch`: what became of the job.
pub fn batch_cancelled(done: &Cancelled, json: bool) {
    let s = &done.summary;
    if json {
        let mut job = job_json(&done.job);
        job["state"] = done.state_now.clone().into();
        println!(
            "{}",
            serde_json::json!({"batch": job, "items_ok": s.items_ok, "items_error": s.items_error, "items_returned": s.items_released})
        );
        return;
    }
    let id = done.job.id;
    if done.state_now == "CANCELLING" {
        println!(
            "Batch job {id}: cancel requested; the provider is still cancelling it, and the next run collects what it finished and puts the rest back to pending"
        );
    } else {
        println!(
            "Batch job {id} cancelled: {} saved, {} failed, {} back to pending",
            s.items_ok, s.items_error, s.items_released
        );
    }
}
