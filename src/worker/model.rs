//! A task's model: from its `ai_model` row to a ready client, with the key decrypted
//! or taken from the environment and `requests_per_minute` shared across processes.

use crate::ai::retry::RetryPolicy;
use crate::ai::{CallSettings, Client, ModelSpec, Provider, Structured};
use crate::config::Config;
use crate::db::model_repository::{self, ModelRow, StoredKey};
use crate::db::{Db, DbError};

use super::pace::DbPace;

/// The client for a task's model, or why the task cannot run (the message is stored
/// in `task.error_message`).
pub fn client_for(
    db: &mut Db,
    config: &Config,
    id_task: u32,
    id_ai_model: u32,
    dry_run: bool,
    agent: &ureq::Agent,
) -> Result<Result<Client, String>, DbError> {
    let Some(row) = model_repository::get(db, id_ai_model, &config.ai_key_secret)? else {
        return Ok(Err(format!(
            "model id {id_ai_model} of task {id_task} does not exist in ai_model"
        )));
    };
    let client = spec_of(&row, config).and_then(|spec| {
        let settings = CallSettings {
            timeout: config.ai_timeout,
            retry: RetryPolicy {
                max_retries: config.ai_max_retries,
                base: config.ai_retry_base,
                // The claim is renewed before every wait: half a lease always fits.
                max_wait: config.lease / 2,
            },
        };
        Client::new(&spec, settings, agent.clone())
    });
    Ok(client.map(|client| share_pace(client, &row, config, id_task, dry_run)))
}

/// The model layer's view of a row; an unknown provider, an inactive model or a key
/// that does not decrypt stops the task.
fn spec_of(row: &ModelRow, config: &Config) -> Result<ModelSpec, String> {
    let provider = Provider::parse(&row.provider).ok_or_else(|| {
        format!(
            "model '{}' has unknown provider '{}' (use gemini, openai or echo)",
            row.name, row.provider
        )
    })?;
    if !row.is_active {
        return Err(format!(
            "model '{}' is not active (ai_model.is_active = 0)",
            row.name
        ));
    }
    let key = match &row.key {
        StoredKey::Decrypted(key) => Some(key.clone()),
        StoredKey::Undecryptable => {
            return Err(format!(
                "the API key of model '{}' cannot be decrypted with this AI_KEY_SECRET (wrong or missing secret in .env; store the key again with `ai-worker model update NAME --key-stdin`, or fix AI_KEY_SECRET)",
                row.name
            ));
        }
        StoredKey::None => match provider {
            Provider::Gemini => config.gemini_api_key.clone(),
            Provider::OpenAi => config.openai_api_key.clone(),
            Provider::Echo => None,
        },
    };
    Ok(ModelSpec {
        name: row.name.clone(),
        provider,
        model_name: row.model_name.clone(),
        api_url: row.api_url.clone(),
        key,
        temperature: row.temperature,
        max_output_tokens: row.max_output_tokens,
        timeout: row
            .timeout_s
            .filter(|&t| t > 0)
            .map(|t| std::time::Duration::from_secs(t.into())),
        requests_per_minute: row.requests_per_minute,
        structured: match row.structured_output {
            Some(true) => Structured::Schema,
            Some(false) => Structured::Plain,
            None => Structured::Detect,
        },
    })
}

/// Gives a pacing client the request slots every worker process shares (dry runs
/// write nothing, so they pace on their own). Without the table, or without the
/// database, pacing stays within this process and the run goes on.
fn share_pace(
    mut client: Client,
    row: &ModelRow,
    config: &Config,
    id_task: u32,
    dry_run: bool,
) -> Client {
    if dry_run || row.requests_per_minute.unwrap_or(0) == 0 {
        return client;
    }
    match DbPace::open(&config.db, row.id) {
        Ok(shared) => client.share_pace(Box::new(shared)),
        Err(err) => log::warn!(
            "[Task {id_task}] requests_per_minute of model '{}' is paced within this process only: {err}",
            row.name
        ),
    }
    client
}
