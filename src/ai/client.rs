//! `Client::send`: one item's prompt to the task's model, through the run's rate gate
//! and retry rules, dispatched to Gemini, an OpenAI-compatible server, or echo.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::http::{Reply, check_url, classify_status, post_json, scrub};
use super::prompt_builder::{Prompt, extract_text};
use super::retry::{Attempts, Breaker, RateGate, RetryPolicy, SharedPace};
use super::spec::{CallSettings, Generation, ModelSpec, Provider, Structured};
use super::{AiError, Completion, Usage, gemini, openai};
use crate::stop::StopSignal;

/// Summary the echo provider saves, so nobody mistakes it for a correction.
pub const ECHO_SUMMARY: &str = "echo provider: no model was called";

const STRUCTURED_PLAIN: u8 = 0;
const STRUCTURED_SCHEMA: u8 = 1;
const STRUCTURED_AUTO: u8 = 2;

/// A ready-to-use connection to one model, shared by every thread of a run.
pub struct Client {
    provider: Provider,
    model_name: String,
    url: String,
    key: Option<String>,
    generation: Generation,
    timeout: Duration,
    structured: AtomicU8,
    agent: ureq::Agent,
    policy: RetryPolicy,
    gate: RateGate,
    breaker: Breaker,
}

impl Client {
    /// Prepares a client for a model. An error here (an unusable address, a missing
    /// key) stops the task with that message.
    pub fn new(
        spec: &ModelSpec,
        settings: CallSettings,
        agent: ureq::Agent,
    ) -> Result<Client, String> {
        let url = endpoint(spec)?;
        if let (Provider::Gemini, Some(budget)) = (spec.provider, spec.generation.thinking_budget) {
            gemini::check_thinking_budget(&spec.model_name, budget).map_err(|why| {
                format!("model '{}': {why} (ai_model.thinking_budget)", spec.name)
            })?;
        }
        let needs_key = match spec.provider {
            Provider::Gemini => true,
            // A self-hosted OpenAI-compatible server (Ollama, vLLM) usually has no key.
            Provider::OpenAi => custom_url(spec).is_none(),
            Provider::Echo => false,
        };
        if spec.key.is_none() && needs_key {
            return Err(format!(
                "no API key for model '{}': store one with `ai-worker model update {} --key-stdin` or set {} in .env",
                spec.name,
                spec.name,
                spec.provider.key_env().unwrap_or_default()
            ));
        }
        let structured = match spec.structured {
            Structured::Schema => STRUCTURED_SCHEMA,
            Structured::Plain => STRUCTURED_PLAIN,
            Structured::Detect => STRUCTURED_AUTO,
        };
        Ok(Client {
            provider: spec.provider,
            model_name: spec.model_name.clone(),
            url,
            key: spec.key.clone(),
            generation: spec.generation.clone(),
            timeout: timeout_for(spec, settings.timeout),
            structured: AtomicU8::new(structured),
            agent,
            policy: settings.retry,
            gate: RateGate::new(spec.requests_per_minute),
            breaker: Breaker::default(),
        })
    }

    /// Takes request slots shared with other worker processes (see [`SharedPace`]).
    pub fn share_pace(&mut self, shared: Box<dyn SharedPace>) {
        self.gate.share(shared);
    }

    /// The provider this client speaks.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// Sends one prompt, retrying what is worth retrying; an answer that `check`
    /// rejects (for example one that lost a personal-data placeholder) is retried like
    /// any other bad answer. Errors are `Item` (this item failed), `Task` (stop the
    /// task) or `Stopped` (the run is stopping).
    /// `keep_alive` runs before every wait and retry (the engine renews the item's
    /// claim there); false means the item was taken over and no more calls are made.
    /// Every call's tokens are added to `spent`, whether its answer is accepted or not.
    pub fn send<T>(
        &self,
        prompt: &Prompt,
        stop: &StopSignal,
        keep_alive: &mut dyn FnMut() -> bool,
        spent: &mut Usage,
        accept: impl Fn(Completion) -> Result<T, String>,
    ) -> Result<T, AiError> {
        let label = self.provider.label();
        let attempts = Attempts {
            policy: &self.policy,
            gate: &self.gate,
            breaker: &self.breaker,
            stop,
            label,
        };
        attempts.run(keep_alive, || {
            log::info!("[{label}] Sent prompt: {} chars", prompt.chars());
            let completion = self.call_once(prompt, spent)?;
            accept(completion).map_err(AiError::transient)
        })
    }

    fn call_once(&self, prompt: &Prompt, spent: &mut Usage) -> Result<Completion, AiError> {
        match self.provider {
            Provider::Echo => Ok(Completion {
                text_corrected: extract_text(&prompt.user).unwrap_or_default().to_string(),
                change_summary: ECHO_SUMMARY.to_string(),
            }),
            Provider::Gemini => {
                let body = gemini::request_body(prompt, &self.generation);
                let headers: Vec<(&str, &str)> = self
                    .key
                    .iter()
                    .map(|k| ("x-goog-api-key", k.as_str()))
                    .collect();
                let reply = self.post(&body, &headers)?;
                spent.add(gemini::usage(&reply.body));
                gemini::parse_response(&reply.body)
            }
            Provider::OpenAi => self.call_openai(prompt, spent),
        }
    }

    fn call_openai(&self, prompt: &Prompt, spent: &mut Usage) -> Result<Completion, AiError> {
        let bearer = self.key.as_ref().map(|k| format!("Bearer {k}"));
        let headers: Vec<(&str, &str)> = bearer
            .iter()
            .map(|b| ("Authorization", b.as_str()))
            .collect();
        loop {
            let mode = self.structured.load(Ordering::Relaxed);
            let body = openai::request_body(
                &self.model_name,
                prompt,
                &self.generation,
                mode != STRUCTURED_PLAIN,
            );
            match self.post(&body, &headers) {
                Ok(reply) => {
                    if mode == STRUCTURED_AUTO {
                        self.structured.store(STRUCTURED_SCHEMA, Ordering::Relaxed);
                    }
                    spent.add(openai::usage(&reply.body));
                    return openai::parse_response(&reply.body);
                }
                Err(AiError::Item(message))
                    if mode == STRUCTURED_AUTO && openai::rejects_response_format(&message) =>
                {
                    if self
                        .structured
                        .compare_exchange(
                            STRUCTURED_AUTO,
                            STRUCTURED_PLAIN,
                            Ordering::Relaxed,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                    {
                        log::warn!(
                            "[OpenAI] Server rejected response_format json_schema for model {}; using a plain JSON prompt from now on (set ai_model.structured_output = 0 to skip this check)",
                            self.model_name
                        );
                    }
                }
                Err(other) => return Err(other),
            }
        }
    }

    /// POSTs and turns any status but 200 into an error.
    fn post(&self, body: &serde_json::Value, headers: &[(&str, &str)]) -> Result<Reply, AiError> {
        let reply = post_json(&self.agent, &self.url, headers, body, self.timeout).map_err(
            |e| match e {
                AiError::Transient {
                    message,
                    retry_after,
                    rate_limited,
                } => AiError::Transient {
                    message: scrub(&message, self.key.as_deref()),
                    retry_after,
                    rate_limited,
                },
                AiError::Offline(message) => AiError::Offline(scrub(&message, self.key.as_deref())),
                other => other,
            },
        )?;
        if reply.status == 200 {
            Ok(reply)
        } else {
            Err(classify_status(
                self.provider.label(),
                &reply,
                self.key.as_deref(),
            ))
        }
    }
}

/// The model's address stripped of blanks, when `api_url` sets one.
fn custom_url(spec: &ModelSpec) -> Option<&str> {
    spec.api_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
}

/// The full endpoint of a model, checked before any call so that a typo stops its
/// task with a clear message instead of failing every item after retries.
fn endpoint(spec: &ModelSpec) -> Result<String, String> {
    let custom = custom_url(spec);
    let name = spec.model_name.trim();
    if spec.provider != Provider::Echo
        && (name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(format!(
            "model '{}' cannot be called: a model name is one word without spaces (check ai_model.model_name '{}')",
            spec.name, spec.model_name
        ));
    }
    let url = match spec.provider {
        Provider::Gemini => {
            gemini::endpoint(custom.unwrap_or(gemini::DEFAULT_BASE_URL), &spec.model_name)
        }
        Provider::OpenAi => openai::endpoint(custom.unwrap_or(openai::DEFAULT_BASE_URL)),
        Provider::Echo => return Ok(String::new()),
    };
    if let Some(custom) = custom {
        check_url(custom).map_err(|why| {
            format!(
                "model '{}' has an unusable ai_model.api_url: {why} (for example http://127.0.0.1:11434/v1)",
                spec.name
            )
        })?;
    }
    check_url(&url).map_err(|why| {
        format!(
            "model '{}' cannot be called: {why} (check ai_model.model_name '{}')",
            spec.name, spec.model_name
        )
    })?;
    Ok(url)
}

/// A call's timeout: the model's, else the configured one; OpenAI's flex tier answers
/// slowly and gets three times as long.
fn timeout_for(spec: &ModelSpec, default: Duration) -> Duration {
    let timeout = spec.timeout.unwrap_or(default);
    match spec.generation.service_tier.as_deref() {
        Some(tier) if tier.eq_ignore_ascii_case("flex") => timeout * 3,
        _ => timeout,
    }
}
