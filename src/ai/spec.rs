//! What the model layer needs to know about one model, independent of where it is
//! stored: the provider, the address, the key and the call settings.

use std::time::Duration;

use super::retry::RetryPolicy;

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
    /// Reads a provider name (`gemini`, `openai`, `echo`, any case).
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

    /// The host of the provider's own API, the one place an environment key goes
    /// to without the operator saying otherwise.
    pub fn default_host(self) -> Option<&'static str> {
        match self {
            Provider::Gemini => Some("generativelanguage.googleapis.com"),
            Provider::OpenAi => Some("api.openai.com"),
            Provider::Echo => None,
        }
    }

    /// The environment variable whose key is used when none is stored.
    pub fn key_env(self) -> Option<&'static str> {
        match self {
            Provider::Gemini => Some("GEMINI_API_KEY"),
            Provider::OpenAi => Some("OPENAI_API_KEY"),
            Provider::Echo => None,
        }
    }
}

/// How a model asks for JSON answers (`ai_model.structured_output`: 1, 2, 0, NULL).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Structured {
    /// A strict JSON schema (`response_format: json_schema`), 1.
    Schema,
    /// `response_format: json_object`, 2.
    Object,
    /// A plain "answer with JSON" instruction, 0.
    Plain,
    /// NULL: try the schema; step down on each rejection (and remember what worked).
    Detect,
}

/// One model as the client needs it. Built by the engine from the stored row, with
/// the key already decrypted (or taken from the environment).
#[derive(Clone, PartialEq)]
pub struct ModelSpec {
    /// The panel's label, for messages.
    pub name: String,
    /// The provider's wire format.
    pub provider: Provider,
    /// The provider's model name, e.g. `gemini-2.5-pro`.
    pub model_name: String,
    /// Base URL up to the API version; `None` = the provider default.
    pub api_url: Option<String>,
    /// The API key, if any.
    pub key: Option<String>,
    /// Timeout of one call; `None` = [`CallSettings::timeout`].
    pub timeout: Option<Duration>,
    /// Requests per minute for all worker processes together; `None` = unlimited.
    pub requests_per_minute: Option<u32>,
    /// How JSON answers are requested.
    pub structured: Structured,
    /// What is asked of the model besides the prompt.
    pub generation: Generation,
}

/// The request settings that change what a call costs or how it is answered.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Generation {
    /// Sampling temperature; `None` = the provider default.
    pub temperature: Option<f64>,
    /// Output token limit; `None` = the provider default.
    pub max_output_tokens: Option<u32>,
    /// Gemini `thinkingConfig.thinkingBudget` (0 off, -1 dynamic); `None` = default.
    pub thinking_budget: Option<i32>,
    /// OpenAI `reasoning_effort` (`minimal`, `low`, `medium`, `high`).
    pub reasoning_effort: Option<String>,
    /// OpenAI `service_tier` (`flex`: half price, slower).
    pub service_tier: Option<String>,
    /// OpenAI `prompt_cache_key`: the same for every item of a task, so that the
    /// provider's prompt cache can serve the fixed part of the prompt.
    pub cache_key: Option<String>,
    /// Also send the output limit as `max_tokens` (servers other than OpenAI's).
    pub legacy_max_tokens: bool,
}

impl std::fmt::Debug for ModelSpec {
    // Hand-written so a key can never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelSpec")
            .field("name", &self.name)
            .field("provider", &self.provider)
            .field("model_name", &self.model_name)
            .field("api_url", &self.api_url)
            .finish_non_exhaustive()
    }
}

/// Settings every call of a run shares, from the worker's configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallSettings {
    /// Timeout of one call when the model sets none.
    pub timeout: Duration,
    /// Retries and backoff.
    pub retry: RetryPolicy,
}
