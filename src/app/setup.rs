//! Setting up: `init-db` (the schema) and `demo` (a sample database, tasks and a run).

use crate::config::{Config, DbConfig};
use crate::db::model_repository::{self, NewModel};
use crate::db::task_item_repository::{self as items, Outcome};
use crate::db::{Db, schema, task_repository as tasks};
use crate::stop::StopSignal;
use crate::worker::{self, RunOptions, RunSummary};

use super::AppError;

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

/// Creates the database (`DB_NAME`) if missing, and every table, index and dictionary.
pub fn init_db(db: &DbConfig) -> Result<(), AppError> {
    Ok(schema::init_db(db)?)
}

/// What the demo did, for the door to show.
#[derive(Clone, Debug, PartialEq)]
pub struct DemoReport {
    /// Gemini was called (a key was set); otherwise the offline echo model.
    pub gemini: bool,
    /// Each sample task: id, name, and its items with their results.
    pub tasks: Vec<(u32, String, Vec<Outcome>)>,
    /// The runs' totals.
    pub summary: RunSummary,
}

/// Runs the demo in [`DEMO_DB`]: schema, a model, the sample tasks, a run of each.
pub fn demo(config: &Config, stop: &StopSignal) -> Result<DemoReport, AppError> {
    let mut config = config.clone();
    config.db.name = DEMO_DB.to_string();
    schema::init_db(&config.db)?;
    let mut db = Db::connect(&config.db)?;
    let gemini = config.gemini_api_key.is_some();
    let id_model = demo_model(&mut db, &config, gemini)?;
    let mut task_ids = Vec::new();
    for (name, description, texts) in SAMPLES {
        // A second demo replaces the first one's tasks instead of piling them up.
        tasks::delete_by_name(&mut db, name)?;
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
            item_limit: Some(1000),
            trigger: "demo".into(),
            ..RunOptions::default()
        };
        let run = worker::run(&config, &options, stop)?;
        summary.items_ok += run.items_ok;
        summary.items_error += run.items_error;
        summary.costs.merge(&run.costs);
        summary.tasks.extend(run.tasks);
        summary.operation_uuid = run.operation_uuid;
    }
    let mut report = DemoReport {
        gemini,
        tasks: Vec::new(),
        summary,
    };
    for id in task_ids {
        let name = tasks::progress(&mut db, id)?
            .map(|p| p.name)
            .unwrap_or_default();
        report.tasks.push((id, name, items::outcomes(&mut db, id)?));
    }
    db.close();
    report.summary.message = format!(
        "demo finished: {} processed, {} failed",
        report.summary.items_ok, report.summary.items_error
    );
    Ok(report)
}

/// The demo's model (Gemini with the environment's key, or echo), added once.
fn demo_model(db: &mut Db, config: &Config, gemini: bool) -> Result<u32, AppError> {
    let (name, provider, model) = if gemini {
        ("demo-gemini", "gemini", "gemini-2.5-flash")
    } else {
        ("demo-echo", "echo", "echo")
    };
    if let Some(id) = model_repository::find_by_name(db, name)? {
        return Ok(id);
    }
    let new = NewModel {
        name: name.into(),
        provider: provider.into(),
        model_name: model.into(),
        api_url: None,
        requests_per_minute: None,
    };
    Ok(model_repository::add(db, &new, None, &config.ai_key_secret)? as u32)
}
