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
    /// `ai_model.local_server`: `api_url` is a server of one's own; `None` = judged
    /// from the address.
    pub local_server: Option<bool>,
}

impl ModelSpec {
    /// Whether the model is served by a server of one's own (Ollama, vLLM,
    /// llama.cpp) rather than by the provider or a gateway to it: such servers read
    /// `max_tokens`, get a default output cap, and have no Batch API. Unless the row
    /// says, an `api_url` naming localhost, a private or loopback address, or a
    /// one-word host is one's own; any other address is a gateway.
    pub fn is_local_server(&self) -> bool {
        is_local_server(self.api_url.as_deref(), self.local_server)
    }
}

/// [`ModelSpec::is_local_server`] from a model row's `api_url` and `local_server`.
pub fn is_local_server(api_url: Option<&str>, stored: Option<bool>) -> bool {
    let url = api_url.map(str::trim).filter(|u| !u.is_empty());
    match (stored, url) {
        (Some(local), _) => local,
        (None, Some(url)) => looks_local(url),
        (None, None) => false,
    }
}

/// Whether a URL's host is this machine or the local network.
fn looks_local(url: &str) -> bool {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let host = host.to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") || !host.contains(['.', ':']) {
        return true;
    }
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_loopback()
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
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
    /// OpenAI `frequency_penalty`: sent only on a retry after a loop, to a server of
    /// one's own (a penalty from the first call would also punish the repeats a
    /// faithful copy of the text needs).
    pub frequency_penalty: Option<f64>,
    /// OpenAI `prompt_cache_key`: the same for every item of a task, so that the
    /// provider's prompt cache can serve the fixed part of the prompt.
    pub cache_key: Option<String>,
    /// A server of one's own (see [`ModelSpec::is_local_server`]): the output limit
    /// goes as `max_tokens` too, and `json_object` carries the schema.
    pub own_server: bool,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_of_ones_own_are_told_from_gateways() {
        for local in [
            "http://localhost:11434/v1",
            "http://127.0.0.1:8080/v1",
            "http://192.168.1.20:8000/v1",
            "http://10.0.0.5/v1",
            "http://gpu-box:8000/v1",
            "http://[::1]:8080/v1",
        ] {
            assert!(is_local_server(Some(local), None), "{local}");
        }
        for gateway in [
            "https://litellm.example.com/v1",
            "https://api.openai.com/v1",
            "https://my-resource.openai.azure.com/openai",
            "https://8.8.8.8/v1",
        ] {
            assert!(!is_local_server(Some(gateway), None), "{gateway}");
        }
        assert!(!is_local_server(None, None));
        assert!(!is_local_server(Some("http://127.0.0.1:1/v1"), Some(false)));
        assert!(is_local_server(
            Some("https://llm.example.com/v1"),
            Some(true)
        ));
    }
}
