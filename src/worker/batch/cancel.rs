//! `--cancel-batch`: one job cancelled at the provider, then collected like any
//! finished job (lines the provider finished are saved, the rest go back to PENDING).

use crate::db::Db;
use crate::db::batch_repository::{self as jobs, Job, state};

use super::super::{Engine, WorkerError};

impl Engine<'_> {
    /// Cancels a job named by `id_ai_batch` or the provider's id; returns it as it was.
    pub(in crate::worker) fn cancel_job(
        &mut self,
        db: &mut Db,
        job_ref: &str,
    ) -> Result<Job, WorkerError> {
        let job = jobs::find_job(db, job_ref)?.ok_or_else(|| {
            WorkerError::NotFound(format!(
                "batch job {job_ref} does not exist (see --batch-status)"
            ))
        })?;
        let open = [state::SUBMITTING, state::RUNNING, state::CANCELLING];
        if !open.contains(&job.state.as_str()) {
            return Err(WorkerError::Usage(format!(
                "batch job {} has already ended ({})",
                job.id, job.state
            )));
        }
        let Some(provider_id) = job.provider_job_id.clone() else {
            return Err(WorkerError::Usage(format!(
                "batch job {} is still being submitted; cancel it once --batch-status shows it RUNNING",
                job.id
            )));
        };
        let (_, batches) = self.job_api(db, &job)?.map_err(WorkerError::Usage)?;
        batches.cancel(&provider_id).map_err(|e| {
            WorkerError::Usage(format!(
                "the provider did not cancel batch job {} ({provider_id}): {e}",
                job.id
            ))
        })?;
        jobs::checked(db, job.id, "cancelling", state::CANCELLING)?;
        log::info!(
            "[Task {}] Batch job {} ({provider_id}): cancel requested",
            job.id_task,
            job.id
        );
        if jobs::take_over(db, job.id, self.config.lease.as_secs())? {
            let refreshed = jobs::find_job(db, &job.id.to_string())?.unwrap_or(job.clone());
            let collected = self.collect_job(db, &refreshed);
            jobs::let_go(db, job.id)?;
            collected?;
        }
        Ok(job)
    }
}
