//! The model layer: prompts, the HTTP clients for Gemini and OpenAI-compatible servers,
//! the echo provider, and the retry and rate-limit rules they share.

pub mod client;
pub mod gemini;
pub mod http;
pub mod openai;
pub mod prompt_builder;
mod resolver;
pub mod retry;
pub mod spec;

pub use client::Client;
pub use retry::SharedPace;
pub use spec::{CallSettings, Generation, ModelSpec, Provider, Structured};

use std::fmt;
use std::time::Duration;

/// A model's answer for one item. What it cost is counted apart, in [`Usage`], for
/// every call, including those whose answer is then rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The corrected (or translated) text.
    pub text_corrected: String,
    /// What the model says it changed.
    pub change_summary: String,
}

/// Tokens billed, as the provider reports them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Input (prompt) tokens, cached ones included.
    pub input: u64,
    /// Output tokens, thinking/reasoning ones included.
    pub output: u64,
    /// Input tokens served from the provider's prompt cache (billed cheaper).
    pub cached: u64,
    /// Thinking/reasoning tokens (billed as output).
    pub thinking: u64,
}

impl Usage {
    /// Adds another call's usage.
    pub fn add(&mut self, other: Usage) {
        self.input += other.input;
        self.output += other.output;
        self.cached += other.cached;
        self.thinking += other.thinking;
    }
}

/// Why a model call failed, sorted by what the worker does next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AiError {
    /// Worth trying again: a timeout, a dropped connection, 429, 5xx, a garbled answer.
    Transient {
        /// What happened, for the log and, if retries run out, the item.
        message: String,
        /// How long the server asked us to wait (`Retry-After`, `retryDelay`).
        retry_after: Option<Duration>,
        /// A rate limit: every thread of the run slows down, not only this one.
        rate_limited: bool,
    },
    /// The server could not be reached (refused, reset, timed out): worth retrying,
    /// and counted by the run's circuit breaker.
    Offline(String),
    /// The server cannot be reached at all (retries ran out, the name does not
    /// resolve, the breaker opened): not the item's fault; it waits for the next run.
    Unreachable(String),
    /// This item cannot be processed (400, a safety block, the token limit, an answer
    /// that stayed wrong after every retry); other items may still work.
    Item(String),
    /// No item of this task can work (bad key, no permission, unknown model, no credit):
    /// the task stops with ERROR instead of failing every item one by one.
    Task(String),
    /// The run is stopping; the item goes back to PENDING.
    Stopped,
    /// While waiting to retry, the item's claim was taken over by another worker:
    /// calling again would pay twice for one item.
    ClaimLost,
}

impl AiError {
    /// A transient failure that is not a rate limit.
    pub fn transient(message: impl Into<String>) -> AiError {
        AiError::Transient {
            message: message.into(),
            retry_after: None,
            rate_limited: false,
        }
    }
}

impl fmt::Display for AiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AiError::Transient { message, .. }
            | AiError::Offline(message)
            | AiError::Unreachable(message)
            | AiError::Item(message)
            | AiError::Task(message) => f.write_str(message),
            AiError::Stopped => f.write_str("stopped before the model answered"),
            AiError::ClaimLost => {
                f.write_str("another worker took the item over while this one waited to retry")
            }
        }
    }
}

impl std::error::Error for AiError {}

/// Reads the JSON object the prompt asks for (`text_corrected`, `change_summary`),
/// tolerating a Markdown code fence around it, which some models add anyway.
pub fn parse_answer(text: &str) -> Result<(String, String), AiError> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed)
        .trim();
    let value: serde_json::Value = serde_json::from_str(unfenced).map_err(|e| {
        AiError::transient(format!(
            "model answer is not the requested JSON ({e}): {}",
            preview(trimmed)
        ))
    })?;
    let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_string);
    match (field("text_corrected"), field("change_summary")) {
        (Some(text), Some(summary)) => Ok((text, summary)),
        (Some(text), None) if value.get("change_summary").is_none_or(|v| v.is_null()) => {
            Ok((text, String::new()))
        }
        _ => Err(AiError::transient(format!(
            "model answer lacks the string field text_corrected or change_summary: {}",
            preview(trimmed)
        ))),
    }
}

/// The first characters of a text, for error messages that must stay short.
pub fn preview(text: &str) -> String {
    const MAX: usize = 200;
    let mut out: String = text.chars().take(MAX).collect();
    if text.chars().count() > MAX {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_plain_and_fenced_answers() {
        let plain = r#"{"text_corrected":"Ala ma kota.","change_summary":"kropka"}"#;
        assert_eq!(
            parse_answer(plain).unwrap(),
            ("Ala ma kota.".into(), "kropka".into())
        );
        let fenced = format!("```json\n{plain}\n```");
        assert_eq!(parse_answer(&fenced).unwrap().0, "Ala ma kota.");
    }

    #[test]
    fn rejects_answers_that_are_not_our_json() {
        for bad in [
            "Sure! Here is the text.",
            "{\"text\": \"x\"}",
            "{\"text_corrected\": 5, \"change_summary\": \"x\"}",
            "",
        ] {
            assert!(
                matches!(parse_answer(bad), Err(AiError::Transient { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn preview_is_bounded() {
        assert_eq!(preview(&"ż".repeat(500)).chars().count(), 201);
        assert_eq!(preview("abc"), "abc");
    }
}
