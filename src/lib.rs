//! `ai-worker`: proofreads and translates texts stored in MySQL/MariaDB with an LLM.
//!
//! The database is the whole interface with the web panel (see `sql/schema.sql` and
//! `DB_Description.txt`). The engine is a library call, [`worker::run`], used by the
//! CLI (`main.rs`), by `ai-worker serve`, and by any future queue consumer.

pub mod ai;
pub mod config;
pub mod db;
pub mod demo;
pub mod logging;
pub mod privacy;
pub mod serve;
pub mod stop;
pub mod worker;

pub use config::Config;
pub use stop::StopSignal;
pub use worker::{RunOptions, RunSummary, WorkerError, process_item, run};
