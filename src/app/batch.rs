//! Batch jobs as the doors see them: `--batch-status`, `--cancel-batch` and the jobs
//! `GET /task/{id}` lists.

use serde_json::{Value, json};

use crate::config::Config;
use crate::db::batch_repository as jobs;
pub use crate::db::batch_repository::Job;
use crate::stop::StopSignal;
use crate::worker::{self, RunSummary};

use super::AppError;
use super::status::with_db;

/// Jobs shown per task by `GET /task/{id}` and `--batch-status --task`.
const JOBS_PER_TASK: u32 = 100;

/// The open jobs (of every task), or every job of one task (its latest 100).
pub fn jobs(config: &Config, task: Option<u32>) -> Result<Vec<Job>, AppError> {
    with_db(config, |db| {
        Ok(match task {
            Some(id) => {
                if crate::db::task_repository::get(db, id)?.is_none() {
                    return Err(AppError::NotFound(format!("task {id} does not exist")));
                }
                jobs::jobs_of_task(db, id, JOBS_PER_TASK)?
            }
            None => jobs::open_jobs(db, None)?,
        })
    })
}

/// One job as JSON.
pub fn job_json(job: &Job) -> Value {
    json!({
        "id_ai_batch": job.id,
        "id_task": job.id_task,
        "provider_job_id": job.provider_job_id,
        "state": job.state,
        "provider_state": job.provider_state,
        "items": job.item_count,
        "items_ok": job.items_ok,
        "items_error": job.items_error,
        "items_returned": job.items_returned,
        "cost": job.cost,
        "stuck": job.stuck,
        "age_s": job.age_s,
        "error_message": job.error_message,
    })
}

/// A job cancelled by `--cancel-batch`, and what collecting it did.
#[derive(Debug)]
pub struct Cancelled {
    /// The job as it was when cancelled.
    pub job: Job,
    /// Items saved and returned by collecting it.
    pub summary: RunSummary,
    /// The job's state after the cancel.
    pub state_now: String,
}

/// Cancels a job (by `id_ai_batch` or the provider's id): what it finished is saved,
/// its other items go back to PENDING once the provider confirms the cancel.
pub fn cancel(config: &Config, job_ref: &str, stop: &StopSignal) -> Result<Cancelled, AppError> {
    let (job, summary) = worker::cancel_batch(config, job_ref, stop)?;
    let state_now = with_db(config, |db| Ok(jobs::find_job(db, &job.id.to_string())?))?
        .map_or_else(|| job.state.clone(), |j| j.state);
    Ok(Cancelled {
        job,
        summary,
        state_now,
    })
}
