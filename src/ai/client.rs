//! `Client::send`: one item's prompt to the task's model, through the run's rate gate
//! and retry rules, dispatched to Gemini, an OpenAI-compatible server, or echo.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use super::http::{Reply, check_url, classify_status, post_json, scrub};
use super::prompt_builder::{Prompt, extract_text};
use super::retry::{RateGate, RetryPolicy, SharedPace, with_retries};
use super::{AiError, Completion, gemini, openai};
use crate::config::Config;
use crate::db::model_repository::{ModelRow, StoredKey};
use crate::stop::StopSignal;

/// Summary the echo provider saves, so nobody mistakes it for a correction.
pub const ECHO_SUMMARY: &str = "echo provider: no model was called";

/// Which wire format a model speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Provider {
    /// Google Gemini `generateContent`.
    Gemini,
    /// OpenAI Chat Completions (GPT-5, Ollama, vLLM, llama.cpp, LM Studio).
    OpenAi,
    /// Returns the text unchanged without any network call (smoke tests, demo).
    Echo,
}

impl Provider {
    /// Reads `ai_model.provider`.
    pub fn parse(name: &str) -> Option<Provider> {
        match name.trim().to_ascii_lowercase().as_str() {
            "gemini" => Some(Provider::Gemini),
            "openai" => Some(Provider::OpenAi),
            "echo" => Some(Provider::Echo),
            _ => None,
        }
    }

    /// The name used in log lines, e.g. `[Gemini] Sent prompt: 280 chars`.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Gemini => "Gemini",
            Provider::OpenAi => "OpenAI",
            Provider::Echo => "Echo",
        }
    }
}

const STRUCTURED_PLAIN: u8 = 0;
const STRUCTURED_SCHEMA: u8 = 1;
const STRUCTURED_AUTO: u8 = 2;

/// A ready-to-use connection to one model, shared by every thread of a run.
pub struct Client {
    provider: Provider,
    model_name: String,
    url: String,
    key: Option<String>,
    temperature: Option<f64>,
    max_output_tokens: Option<u32>,
    timeout: Duration,
    structured: AtomicU8,
    agent: ureq::Agent,
    policy: RetryPolicy,
    gate: RateGate,
}

impl Client {
    /// Prepares a client for a model row. An error here (unknown provider, missing or
    /// undecryptable key, inactive model) stops the task with that message.
    pub fn new(model: &ModelRow, config: &Config, agent: ureq::Agent) -> Result<Client, String> {
        let provider = Provider::parse(&model.provider).ok_or_else(|| {
            format!(
                "model '{}' has unknown provider '{}' (use gemini, openai or echo)",
                model.name, model.provider
            )
        })?;
        if !model.is_active {
            return Err(format!(
                "model '{}' is not active (ai_model.is_active = 0)",
                model.name
            ));
        }
        let env_key = match provider {
            Provider::Gemini => (config.gemini_api_key.clone(), "GEMINI_API_KEY"),
            Provider::OpenAi => (config.openai_api_key.clone(), "OPENAI_API_KEY"),
            Provider::Echo => (None, ""),
        };
        let key = match &model.key {
            StoredKey::Decrypted(key) => Some(key.clone()),
            StoredKey::Undecryptable => {
                return Err(format!(
                    "the API key of model '{}' cannot be decrypted with this AI_KEY_SECRET (wrong or missing secret in .env; store the key again with `ai-worker model add` or fix AI_KEY_SECRET)",
                    model.name
                ));
            }
            StoredKey::None => env_key.0,
        };
        let custom_url = model
            .api_url
            .as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty());
        let url = match provider {
            Provider::Gemini => gemini::endpoint(
                custom_url.unwrap_or(gemini::DEFAULT_BASE_URL),
                &model.model_name,
            ),
            Provider::OpenAi => openai::endpoint(custom_url.unwrap_or(openai::DEFAULT_BASE_URL)),
            Provider::Echo => String::new(),
        };
        if !matches!(provider, Provider::Echo) {
            if let Some(custom) = custom_url {
                check_url(custom).map_err(|why| {
                    format!(
                        "model '{}' has an unusable ai_model.api_url: {why} (for example http://127.0.0.1:11434/v1)",
                        model.name
                    )
                })?;
            }
            check_url(&url).map_err(|why| {
                format!(
                    "model '{}' cannot be called: {why} (check ai_model.model_name '{}')",
                    model.name, model.model_name
                )
            })?;
        }
        let needs_key = match provider {
            Provider::Gemini => true,
            // A self-hosted OpenAI-compatible server (Ollama, vLLM) usually has no key.
            Provider::OpenAi => custom_url.is_none(),
            Provider::Echo => false,
        };
        if key.is_none() && needs_key {
            return Err(format!(
                "no API key for model '{}': store one with `ai-worker model add` or set {} in .env",
                model.name, env_key.1
            ));
        }
        let structured = match model.structured_output {
            Some(true) => STRUCTURED_SCHEMA,
            Some(false) => STRUCTURED_PLAIN,
            None => STRUCTURED_AUTO,
        };
        Ok(Client {
            provider,
            model_name: model.model_name.clone(),
            url,
            key,
            temperature: model.temperature,
            max_output_tokens: model.max_output_tokens,
            timeout: model
                .timeout_s
                .filter(|&t| t > 0)
                .map(|t| Duration::from_secs(t.into()))
                .unwrap_or(config.ai_timeout),
            structured: AtomicU8::new(structured),
            agent,
            policy: RetryPolicy {
                max_retries: config.ai_max_retries,
                base: config.ai_retry_base,
            },
            gate: RateGate::new(model.requests_per_minute),
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

    /// Sends one prompt, retrying what is worth retrying. Errors are `Item` (this item
    /// failed), `Task` (stop the task) or `Stopped` (the run is stopping).
    pub fn send(&self, prompt: &Prompt, stop: &StopSignal) -> Result<Completion, AiError> {
        self.send_checked(prompt, stop, |_| Ok(()))
    }

    /// Like `send`, but an answer that `check` rejects is retried like any other bad
    /// answer (for example one that lost a personal-data placeholder).
    pub fn send_checked(
        &self,
        prompt: &Prompt,
        stop: &StopSignal,
        check: impl Fn(&Completion) -> Result<(), String>,
    ) -> Result<Completion, AiError> {
        let label = self.provider.label();
        with_retries(&self.policy, &self.gate, stop, label, || {
            log::info!("[{label}] Sent prompt: {} chars", prompt.chars());
            let completion = self.call_once(prompt)?;
            check(&completion).map_err(AiError::transient)?;
            Ok(completion)
        })
    }

    fn call_once(&self, prompt: &Prompt) -> Result<Completion, AiError> {
        match self.provider {
            Provider::Echo => Ok(Completion {
                text_corrected: extract_text(&prompt.user).unwrap_or_default().to_string(),
                change_summary: ECHO_SUMMARY.to_string(),
                tokens_input: 0,
                tokens_output: 0,
            }),
            Provider::Gemini => {
                let body = gemini::request_body(prompt, self.temperature, self.max_output_tokens);
                let headers: Vec<(&str, &str)> = self
                    .key
                    .iter()
                    .map(|k| ("x-goog-api-key", k.as_str()))
                    .collect();
                let reply = self.post(&body, &headers)?;
                gemini::parse_response(&reply.body)
            }
            Provider::OpenAi => self.call_openai(prompt),
        }
    }

    fn call_openai(&self, prompt: &Prompt) -> Result<Completion, AiError> {
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
                self.temperature,
                self.max_output_tokens,
                mode != STRUCTURED_PLAIN,
            );
            match self.post(&body, &headers) {
                Ok(reply) => {
                    if mode == STRUCTURED_AUTO {
                        self.structured.store(STRUCTURED_SCHEMA, Ordering::Relaxed);
                    }
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
