//! The application layer: what the doors (the CLI and `serve`) can ask for, and the
//! one error type they get back. The doors call nothing below this layer.

pub mod batch;
pub mod control;
mod error;
pub mod estimate;
pub mod items;
pub mod models;
pub mod review;
pub mod setup;
pub mod status;

pub use error::AppError;

use crate::config::Config;
use crate::stop::StopSignal;
use crate::worker;
pub use crate::worker::{Plan, RunOptions, RunSummary};

/// Resolves run options against the configuration, checked once (the error names the
/// flag or field).
pub fn plan(config: &Config, options: &RunOptions) -> Result<Plan, AppError> {
    Ok(Plan::resolve(config, options)?)
}

/// Runs the engine on a resolved plan.
pub fn run(config: &Config, plan: &Plan, stop: &StopSignal) -> Result<RunSummary, AppError> {
    Ok(worker::run_plan(config, plan, stop)?)
}
