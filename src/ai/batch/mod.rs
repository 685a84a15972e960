//! Batch jobs: many prompts sent as one provider job, answered within 24 hours at a
//! share of the price (Gemini `batchGenerateContent`, OpenAI `/v1/batches`).
//!
//! Knows nothing of the database: the engine gives each prompt a key, stores the job
//! id [`Batches::submit`] returns, and later matches every [`LineResult`] by its key.
//! Each job carries the caller's `job_key` (OpenAI metadata, Gemini display name), so a
//! job whose id was never stored can be found again with [`Batches::find`].
//! The wire formats are summarised in `ai-api-notes.md`.

mod gemini;
mod openai;

use std::time::Duration;

use serde_json::Value;

use super::http::{self, Body, MAX_BATCH_BODY, Reply, classify_status};
use super::openai::JsonMode;
use super::prompt_builder::Prompt;
use super::spec::{Generation, ModelSpec, Provider, Structured};
use super::{AiError, Usage};

/// One prompt of a job and the key its answer comes back under.
#[derive(Clone, Debug)]
pub struct BatchRequest {
    /// Unique within the job; at most 64 characters.
    pub key: String,
    /// What is sent.
    pub prompt: Prompt,
}

/// Where a job stands, in the worker's terms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JobState {
    /// Queued or being processed: ask again later.
    Running,
    /// Cancelled by request, not finished cancelling yet: ask again later.
    Cancelling,
    /// Finished: every line has a result (an answer or an error).
    Succeeded,
    /// The window ran out; finished lines have results, the rest none.
    Expired,
    /// Cancelled; finished lines have results, the rest none.
    Cancelled,
    /// The job as a whole failed (an invalid request file, a quota): why.
    Failed(String),
}

/// A job as the provider reports it.
#[derive(Clone, Debug)]
pub struct JobStatus {
    /// What the worker does next.
    pub state: JobState,
    /// The provider's own word for it (`in_progress`, `BATCH_STATE_RUNNING`).
    pub provider_state: String,
    /// Lines finished so far (answered or failed), when the provider says.
    pub finished: Option<u64>,
    /// Where the results are, once there are any.
    output: Output,
}

/// Where a job's results are.
#[derive(Clone, Debug, Default)]
enum Output {
    #[default]
    None,
    /// Gemini inline responses, each with `metadata.key`.
    Inline(Vec<Value>),
    /// A Gemini result file (`files/...`).
    GeminiFile(String),
    /// OpenAI output and error files.
    OpenAiFiles {
        output: Option<String>,
        error: Option<String>,
    },
}

/// One line of a job's results.
#[derive(Clone, Debug)]
pub struct LineResult {
    /// The key the prompt was sent with.
    pub key: String,
    /// Tokens billed for the line (none for a line that failed before the model).
    pub usage: Usage,
    /// The answer's text (its JSON read by the line's prompt shape), or why there is
    /// none (sorted like a direct call's errors).
    pub outcome: Result<String, AiError>,
}

/// A model's Batch API.
pub struct Batches {
    provider: Provider,
    base_url: String,
    model_name: String,
    key: Option<String>,
    generation: Generation,
    json_mode: JsonMode,
    timeout: Duration,
    inline_max_bytes: u64,
    agent: ureq::Agent,
}

impl Batches {
    /// The Batch API of a model; an error (a provider without one) says why, in a
    /// sentence for the task.
    pub fn new(
        spec: &ModelSpec,
        timeout: Duration,
        inline_max_bytes: u64,
        agent: ureq::Agent,
    ) -> Result<Batches, String> {
        let base_url = match (spec.provider, spec.api_url.as_deref().map(str::trim)) {
            (Provider::Echo, _) => {
                return Err("the echo provider has no Batch API".into());
            }
            (_, Some(url)) if !url.is_empty() => url.trim_end_matches('/').to_string(),
            (Provider::Gemini, _) => super::gemini::DEFAULT_BASE_URL.to_string(),
            (Provider::OpenAi, _) => super::openai::DEFAULT_BASE_URL.to_string(),
        };
        http::check_url(&base_url)?;
        let json_mode = match spec.structured {
            Structured::Schema | Structured::Detect => JsonMode::Schema,
            Structured::Object => JsonMode::Object,
            Structured::Plain => JsonMode::Plain,
        };
        Ok(Batches {
            provider: spec.provider,
            base_url,
            model_name: spec.model_name.trim().to_string(),
            key: spec.key.clone(),
            generation: spec.generation.clone(),
            json_mode,
            timeout,
            inline_max_bytes,
            agent,
        })
    }

    /// Creates a job of `requests`, named by `job_key`, and returns the provider's job
    /// id. The caller stores it before anything else can fail.
    pub fn submit(&self, job_key: &str, requests: &[BatchRequest]) -> Result<String, AiError> {
        match self.provider {
            Provider::Gemini => gemini::submit(self, job_key, requests),
            _ => openai::submit(self, job_key, requests),
        }
    }

    /// The id of the job created with `job_key`, if the provider has one (searched
    /// among its most recent jobs).
    pub fn find(&self, job_key: &str) -> Result<Option<String>, AiError> {
        match self.provider {
            Provider::Gemini => gemini::find(self, job_key),
            _ => openai::find(self, job_key),
        }
    }

    /// Where a job stands.
    pub fn status(&self, job_id: &str) -> Result<JobStatus, AiError> {
        match self.provider {
            Provider::Gemini => gemini::status(self, job_id),
            _ => openai::status(self, job_id),
        }
    }

    /// Every result line of a job (finished lines only for an expired or cancelled one).
    pub fn results(&self, status: &JobStatus) -> Result<Vec<LineResult>, AiError> {
        let files = match &status.output {
            Output::GeminiFile(file) => vec![Some(file)],
            Output::OpenAiFiles { output, error } => vec![output.as_ref(), error.as_ref()],
            _ => Vec::new(),
        };
        if let Some(bad) = files.into_iter().flatten().find(|f| !id_ok(f)) {
            return Err(AiError::transient(format!(
                "the {} Batch API named a result file ai-worker does not accept: {}",
                self.label(),
                super::preview(bad)
            )));
        }
        match &status.output {
            Output::None => Ok(Vec::new()),
            Output::Inline(lines) => Ok(lines.iter().map(gemini::line).collect()),
            Output::GeminiFile(file) => gemini::file_results(self, file),
            Output::OpenAiFiles { output, error } => {
                openai::file_results(self, output.as_deref(), error.as_deref())
            }
        }
    }

    /// Asks the provider to cancel a job (finished lines keep their results).
    pub fn cancel(&self, job_id: &str) -> Result<(), AiError> {
        match self.provider {
            Provider::Gemini => gemini::cancel(self, job_id),
            _ => openai::cancel(self, job_id),
        }
    }

    /// The provider's name for messages.
    fn label(&self) -> &'static str {
        self.provider.label()
    }

    /// The authentication headers of every call.
    fn auth(&self) -> Vec<(&'static str, String)> {
        match (&self.key, self.provider) {
            (Some(key), Provider::Gemini) => vec![("x-goog-api-key", key.clone())],
            (Some(key), _) => vec![("Authorization", format!("Bearer {key}"))],
            (None, _) => Vec::new(),
        }
    }

    /// One call; any status but 200 is an error sorted like a direct call's.
    fn call(
        &self,
        method: &str,
        url: &str,
        extra: &[(&str, &str)],
        body: Option<Body<'_>>,
    ) -> Result<Reply, AiError> {
        let auth = self.auth();
        let mut headers: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
        headers.extend_from_slice(extra);
        let key = self.key.as_deref();
        let reply = http::send(
            &self.agent,
            method,
            url,
            &headers,
            body,
            self.timeout,
            MAX_BATCH_BODY,
        )
        .map_err(|e| http::scrub_error(e, key))?;
        crate::metrics::request(self.label(), &reply.status.to_string());
        if reply.status == 200 {
            Ok(reply)
        } else {
            Err(classify_status(self.label(), &reply, key))
        }
    }

    /// A call whose answer is JSON.
    fn call_json(&self, method: &str, url: &str, body: Option<&Value>) -> Result<Value, AiError> {
        let text = body.map(Value::to_string);
        let body = text.as_deref().map(|t| Body {
            content_type: "application/json",
            bytes: t.as_bytes(),
        });
        let reply = self.call(method, url, &[], body)?;
        parse_json(self.label(), &reply.body)
    }
}

/// A JSON answer of the Batch API, or a transient error saying what came instead.
fn parse_json(label: &str, body: &str) -> Result<Value, AiError> {
    serde_json::from_str(body).map_err(|_| {
        AiError::transient(format!(
            "malformed answer from the {label} Batch API (not JSON): {}",
            super::preview(body.trim())
        ))
    })
}

/// A field of a provider's answer that must be a string, or a transient error.
fn text_field(label: &str, value: &Value, pointer: &str) -> Result<String, AiError> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .ok_or_else(|| {
            AiError::transient(format!(
                "malformed answer from the {label} Batch API (no {pointer}): {}",
                super::preview(&value.to_string())
            ))
        })
}

/// An id the provider gave (a job, a file) that goes into later addresses: letters,
/// digits and `-_./:` only, no `..`, at most 255 characters; anything else is refused as
/// a malformed answer, so a hostile answer cannot steer a later request elsewhere.
fn id_field(label: &str, value: &Value, pointer: &str) -> Result<String, AiError> {
    let id = text_field(label, value, pointer)?;
    if id_ok(&id) {
        Ok(id)
    } else {
        Err(AiError::transient(format!(
            "the {label} Batch API answered with an id ai-worker does not accept: {}",
            super::preview(&id)
        )))
    }
}

/// Whether an id may go into an address (see [`id_field`]).
fn id_ok(id: &str) -> bool {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-_./:".contains(c);
    !id.is_empty()
        && id.len() <= 255
        && id.chars().all(allowed)
        && !id.contains("..")
        && !id.starts_with('/')
}

/// The lines of a JSONL file that are JSON objects (blank lines skipped; a line that
/// is not JSON is reported once, by number, and skipped: its item is sent again).
fn jsonl(label: &str, text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(value) => out.push(value),
            Err(_) => log::warn!(
                "[{label}] Line {} of a batch result file is not JSON and was skipped (an item without a result is tried again)",
                n + 1
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests;
