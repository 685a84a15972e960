//! `ai-worker demo`: one command that creates the database `ai_worker_demo`, loads
//! sample tasks with real typos, runs the worker on them and prints each text before
//! and after. Offline (echo model) unless `GEMINI_API_KEY` is set.

use std::io::Write;

use crate::config::Config;
use crate::db::model_repository::{self, NewModel};
use crate::db::{Db, schema, task_item_repository as items, task_repository as tasks};
use crate::stop::StopSignal;
use crate::worker::{self, RunOptions, RunSummary, WorkerError};

/// The database the demo uses, so it never touches real data.
pub const DEMO_DB: &str = "ai_worker_demo";

const SAMPLES: &[(&str, &str, &[&str])] = &[
    (
        "Demo: korekta (PL)",
        "Popraw błędy ortograficzne i stylistyczne w poniższym tekście bez zmiany znaczenia.",
        &[
            "Wczoraj poszłem do sklepu i kupiłem chleb, mleko oraz jabka.",
            "Prosze o kontakt pod adresem jan.kowalski@example.pl w sprawie zamowienia.",
            "Napewno przyjdziemy na spotkanie, chyba że bedzie padać.",
        ],
    ),
    (
        "Demo: proofreading (EN)",
        "Correct spelling and grammar mistakes in the text below without changing its meaning.",
        &[
            "Their going to the libary tomorow to returne the books.",
            "The comittee have not recieved you're application yet.",
        ],
    ),
];

/// Runs the demo, printing to `out`. Returns the run summary.
pub fn run(
    config: &Config,
    stop: &StopSignal,
    out: &mut dyn Write,
) -> Result<RunSummary, WorkerError> {
    let mut config = config.clone();
    config.db.name = DEMO_DB.to_string();
    schema::init_db(&config.db)?;
    let mut db = Db::connect(&config.db)?;
    let use_gemini = config.gemini_api_key.is_some();
    let (model_name, provider, model) = if use_gemini {
        ("demo-gemini", "gemini", "gemini-2.5-flash")
    } else {
        ("demo-echo", "echo", "echo")
    };
    let id_model = match model_repository::find_by_name(&mut db, model_name)? {
        Some(id) => id,
        None => {
            let new = NewModel {
                name: model_name.into(),
                provider: provider.into(),
                model_name: model.into(),
                api_url: None,
                requests_per_minute: None,
            };
            model_repository::add(&mut db, &new, None, &config.ai_key_secret)? as u32
        }
    };
    let banner = if use_gemini {
        "Using Gemini (gemini-2.5-flash) with GEMINI_API_KEY from the environment."
    } else {
        "GEMINI_API_KEY is not set: using the offline ECHO model, which returns every text\n\
         unchanged. Set GEMINI_API_KEY in .env to see real corrections."
    };
    let _ = writeln!(
        out,
        "=== ai-worker demo (database {DEMO_DB}) ===\n{banner}\n"
    );
    let mut task_ids = Vec::new();
    for (name, description, texts) in SAMPLES {
        let id = tasks::insert(&mut db, id_model, name, description)?;
        for text in *texts {
            items::insert(&mut db, id, text)?;
        }
        task_ids.push(id);
    }
    let mut summary = RunSummary::default();
    for &id in &task_ids {
        let options = RunOptions {
            task: Some(id),
            max_items: Some(1000),
            trigger: "demo".into(),
            ..RunOptions::default()
        };
        let run = worker::run(&config, &options, stop)?;
        summary.items_ok += run.items_ok;
        summary.items_error += run.items_error;
        summary.tokens_input += run.tokens_input;
        summary.tokens_output += run.tokens_output;
        summary.tasks.extend(run.tasks);
        summary.operation_uuid = run.operation_uuid;
    }
    for &id in &task_ids {
        let name = tasks::progress(&mut db, id)?
            .map(|p| p.name)
            .unwrap_or_default();
        let _ = writeln!(out, "--- Task {id}: {name} ---");
        for item in items::outcomes(&mut db, id)? {
            let _ = writeln!(out, "[TaskItem {}]", item.id);
            let _ = writeln!(out, "  before:  {}", item.text_original);
            let _ = writeln!(
                out,
                "  after:   {}",
                item.text_corrected.as_deref().unwrap_or("(not processed)")
            );
            let _ = writeln!(
                out,
                "  summary: {}",
                item.change_summary
                    .or(item.error_message)
                    .unwrap_or_default()
            );
            let _ = writeln!(
                out,
                "  tokens:  {} in / {} out",
                item.tokens_input, item.tokens_output
            );
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(
        out,
        "Done: {} processed, {} failed. Inspect the tables in database {DEMO_DB}.",
        summary.items_ok, summary.items_error
    );
    db.close();
    summary.message = format!(
        "demo finished: {} processed, {} failed",
        summary.items_ok, summary.items_error
    );
    Ok(summary)
}
