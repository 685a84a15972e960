#![warn(missing_docs)]
//! `ai-worker`: proofreads and translates texts stored in MySQL/MariaDB with an LLM.
//!
//! The database is the whole interface with the web panel (see `sql/schema.sql` and
//! `DB_Description.txt`). The layers, top down:
//! - the doors: the `ai-worker` binary's CLI and [`Server`] (`ai-worker serve`);
//! - [`app`]: what a door can ask for, and the one error type, [`AppError`];
//! - the engine ([`run`], [`Plan`], [`Claim`]): tasks, claims, the item pipeline;
//! - `ai` (the model clients, which know nothing of the database), `db` (every SQL
//!   statement), `privacy` (personal data out and back in).
//!
//! A queue consumer calls [`run`] or [`process_item`] like the CLI does.

pub mod ai;
pub mod app;
mod config;
pub mod db;
pub mod logging;
pub mod metrics;
mod privacy;
mod random;
mod serve;
mod stop;
mod suggest;
mod worker;

pub use app::AppError;
pub use app::setup::DEMO_DB;
pub use config::{Config, ConfigError, DbConfig, ExportTarget, MAX_CONCURRENCY};
pub use privacy::{Redacted, Redactor};
pub use serve::{MAX_BACKGROUND_RUNS, MAX_RUNS, RunRequest, ServeError, Server, parse_run_request};
pub use stop::StopSignal;
pub use suggest::closest;
pub use worker::pace::DbPace;
pub use worker::{
    Claim, DryRunItem, Ended, Plan, RunOptions, RunSummary, Scope, TaskSummary, WorkerError,
    process_item, run,
};
