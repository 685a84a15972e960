//! A task's model: from its `ai_model` row to a ready client, with the key decrypted
//! or taken from the environment and `requests_per_minute` shared across processes.

use crate::ai::http;
use crate::ai::retry::RetryPolicy;
use crate::ai::{CallSettings, Client, Generation, ModelSpec, Provider, Structured};
use crate::config::Config;
use crate::db::model_repository::{self, ModelRow, StoredKey};
use crate::db::pool::Pool;
use crate::db::{Db, DbError};
use std::sync::Arc;

use super::cost::Pricing;
use super::pace::DbPace;

/// A task's model, ready: the client, its prices and its daily budget.
pub struct TaskModel {
    /// Sends prompts.
    pub client: Client,
    /// `ai_model.id_ai_model`.
    pub id: u32,
    /// `ai_model.name`, for messages.
    pub name: String,
    /// The prices, if the row has them.
    pub pricing: Option<Pricing>,
    /// `ai_model.daily_budget`.
    pub daily_budget: Option<f64>,
    /// Texts longer than this go out in parts.
    pub max_chunk_chars: usize,
    /// The model as the model layer sees it (for its Batch API).
    pub spec: ModelSpec,
    /// The prices of a batch job's lines: the model's, times `batch_price_factor`.
    pub batch_pricing: Option<Pricing>,
    /// `ai_model.max_concurrency`: the most calls in flight to this model in one
    /// process (`None`: the run's concurrency applies).
    pub max_concurrency: Option<usize>,
    /// `ai_model.id_fallback_model`: the model that takes over while this one cannot.
    pub fallback: Option<u32>,
    /// `ai_model.pack_max_items`: texts one request carries at most (`None`: the
    /// task's).
    pub pack_max_items: Option<i64>,
}

/// The share of the prices a batch job is billed at when `ai_model.batch_price_factor`
/// is NULL: Gemini and OpenAI both bill batch jobs at half price.
pub const DEFAULT_BATCH_PRICE_FACTOR: f64 = 0.5;

/// The chunk limit when `ai_model.max_chunk_chars` is NULL: small enough that the
/// answer (the text again) fits the output limit of every model worth using.
pub const DEFAULT_CHUNK_CHARS: usize = 8000;

/// The model of a task, or why the task cannot run (the message is stored in
/// `task.error_message`).
pub fn model_for(
    db: &mut Db,
    config: &Config,
    (id_task, id_ai_model): (u32, u32),
    dry_run: bool,
    agent: &ureq::Agent,
    pool: &Arc<Pool>,
) -> Result<Result<TaskModel, String>, DbError> {
    let Some(row) = model_repository::get(db, id_ai_model, &config.ai_key_secret)? else {
        return Ok(Err(format!(
            "model id {id_ai_model} of task {id_task} does not exist in ai_model"
        )));
    };
    let spec = spec_of(&row, config, id_task);
    let client = spec.clone().and_then(|spec| {
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
    let pricing = Pricing::from_columns(row.prices, &row.currency);
    let factor = row.batch_price_factor.unwrap_or(DEFAULT_BATCH_PRICE_FACTOR);
    Ok(client
        .and_then(|client| spec.map(|spec| (client, spec)))
        .map(|(client, spec)| TaskModel {
            client: share_pace(client, &row, pool, id_task, dry_run),
            id: row.id,
            name: row.name.clone(),
            batch_pricing: pricing.as_ref().map(|p| p.scaled(factor)),
            pricing,
            spec,
            daily_budget: row.daily_budget,
            max_chunk_chars: row
                .max_chunk_chars
                .map_or(DEFAULT_CHUNK_CHARS, |n| (n as usize).max(100)),
            max_concurrency: row.max_concurrency.filter(|&n| n > 0).map(|n| n as usize),
            fallback: row.id_fallback_model.filter(|&id| id != row.id),
            pack_max_items: row.pack_max_items,
        }))
}

/// The model layer's view of a row; an unknown provider, an inactive model or a key
/// that does not decrypt stops the task.
fn spec_of(row: &ModelRow, config: &Config, id_task: u32) -> Result<ModelSpec, String> {
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
    if let Some(url) = row.api_url.as_deref().filter(|u| http::has_userinfo(u)) {
        return Err(format!(
            "api_url of model '{}' ({}) carries a user name or password before the host; remove it and store the key encrypted (`ai-worker model update {} --api-url URL --key-stdin`)",
            row.name,
            http::redact_url(url),
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
        StoredKey::None => environment_key(row, provider, config),
    };
    Ok(ModelSpec {
        local_server: row.local_server,
        name: row.name.clone(),
        provider,
        model_name: row.model_name.clone(),
        api_url: row.api_url.clone(),
        key,
        timeout: row
            .timeout_s
            .filter(|&t| t > 0)
            .map(|t| std::time::Duration::from_secs(t.into())),
        requests_per_minute: row.requests_per_minute,
        structured: match row.structured_output {
            Some(0) => Structured::Plain,
            Some(2) => Structured::Object,
            Some(_) => Structured::Schema,
            None => Structured::Detect,
        },
        generation: Generation {
            temperature: row.temperature,
            max_output_tokens: row.max_output_tokens,
            thinking_budget: row.thinking_budget,
            reasoning_effort: row.reasoning_effort.clone(),
            service_tier: row.service_tier.clone(),
            // One key per task: its items share the fixed part of the prompt.
            cache_key: Some(format!("ai-worker-task-{id_task}")),
            own_server: false,
            frequency_penalty: None,
        },
    })
}

/// The provider's key from the environment, for a model row without a key of its own
/// whose address is the provider's own API or a host the operator named in
/// `AI_ENV_KEY_HOSTS`: a row the panel made cannot send the operator's key elsewhere.
fn environment_key(row: &ModelRow, provider: Provider, config: &Config) -> Option<String> {
    let key = match provider {
        Provider::Gemini => config.gemini_api_key.clone(),
        Provider::OpenAi => config.openai_api_key.clone(),
        Provider::Echo => None,
    }?;
    let Some(url) = row.api_url.as_deref() else {
        return Some(key);
    };
    let host = url
        .parse::<ureq::http::Uri>()
        .ok()
        .and_then(|uri| uri.host().map(str::to_ascii_lowercase))
        .unwrap_or_default();
    let allowed = provider.default_host() == Some(host.as_str())
        || config
            .env_key_hosts
            .iter()
            .any(|h| h.eq_ignore_ascii_case(&host));
    if !allowed {
        log::warn!(
            "model '{}' has no key of its own and its api_url names {host}: {} is not sent there (add {host} to AI_ENV_KEY_HOSTS to allow it, or store a key for the model)",
            row.name,
            provider.key_env().unwrap_or("the environment key")
        );
        return None;
    }
    Some(key)
}

/// Remembers the JSON mode a client found the model's server accepts, so the next
/// run does not probe again (`ai_model.structured_output`: 1 schema, 2 object, 0 plain).
pub fn remember_json_mode(db: &mut Db, model: &TaskModel) -> Result<(), DbError> {
    let Some(mode) = model.client.detected_json_mode() else {
        return Ok(());
    };
    let value = match mode {
        Structured::Plain => 0,
        Structured::Object => 2,
        Structured::Schema | Structured::Detect => 1,
    };
    model_repository::set_structured_output(db, model.id, value)
}

/// Gives a pacing client the request slots every worker process shares (dry runs
/// write nothing, so they pace on their own). Without the table, or without the
/// database, pacing stays within this process and the run goes on.
fn share_pace(
    mut client: Client,
    row: &ModelRow,
    pool: &Arc<Pool>,
    id_task: u32,
    dry_run: bool,
) -> Client {
    if dry_run || row.requests_per_minute.unwrap_or(0) == 0 {
        return client;
    }
    match DbPace::on_pool(Arc::clone(pool), row.id) {
        Ok(shared) => client.share_pace(Box::new(shared)),
        Err(err) => log::warn!(
            "[Task {id_task}] requests_per_minute of model '{}' is paced within this process only: {err}",
            row.name
        ),
    }
    client
}
