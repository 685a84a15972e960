#![warn(missing_docs)]
//! `ai-worker`: proofreads and translates texts stored in MySQL/MariaDB with an LLM.
//!
//! The database is the whole interface with the web panel (see `sql/schema.sql` and
//! `DB_Description.txt`). The layers, top down:
//! - the doors: the `ai-worker` binary's CLI and [`Server`] (`ai-worker serve`);
//! - [`app`]: what a door can ask for, and the one error type, [`AppError`];
//! - the engine (`worker`, entered through [`run`]): tasks, claims, the item pipeline;
//! - `ai` (the model clients, which know nothing of the database), `db` (every SQL
//!   statement), `privacy` (personal data out and back in).
//!
//! A queue consumer calls [`run`] or [`process_item`] like the CLI does. The modules
//! below the application layer are private: what is exported here is the surface.

mod ai;
pub mod app;
mod config;
mod db;
mod diff;
pub mod logging;
mod metrics;
mod privacy;
mod random;
mod serve;
mod stop;
mod suggest;
mod worker;

pub use ai::Usage;
pub use app::AppError;
pub use app::setup::DEMO_DB;
pub use config::{Config, ConfigError, DbConfig, ExportTarget, MAX_CONCURRENCY};
pub use serve::{MAX_BACKGROUND_RUNS, MAX_RUNS, ServeError, Server};
pub use stop::StopSignal;
pub use suggest::closest;
pub use worker::summary::Costs;
pub use worker::{
    DryRunItem, RunOptions, RunSummary, Scope, TaskSummary, WorkerError, process_item, run,
};

/// Not part of the library's API: what the integration tests in `tests/` reach past
/// the doors for (the schema installed directly, a claim ended by hand as a killed
/// worker would leave it, the claim statement EXPLAINed, the prompt as the fake
/// servers read it). Anything here may change without notice.
#[doc(hidden)]
pub mod internals {
    pub use crate::ai::SharedPace;
    pub use crate::ai::prompt_builder::{extract_text, extract_texts};
    pub use crate::db::claim_end_repository::{self as claim_ends, ClaimEnd, EndAction, Written};
    pub use crate::db::item::Spent;
    pub use crate::db::schema::init_db;
    pub use crate::db::status::item::PROCESSED;
    pub use crate::db::task_item_repository::{self as items, CLAIM_PENDING_SQL};
    pub use crate::db::{Db, statements_executed};
    pub use crate::privacy::{Redacted, Redactor, redact};
    pub use crate::worker::pace::DbPace;
}
