//! The model layer: prompts, the HTTP clients for Gemini and OpenAI-compatible servers,
//! the echo provider, and the retry and rate-limit rules they share.

pub mod batch;
pub mod client;
pub mod gemini;
pub mod http;
pub mod openai;
pub mod prompt_builder;
mod resolver;
pub mod retry;
mod runaway;
pub mod spec;

pub use client::Client;
pub use prompt_builder::Shape;
pub use retry::SharedPace;
pub use spec::{CallSettings, Generation, ModelSpec, Provider, Structured};

use std::fmt;
use std::time::Duration;

/// A model's answer for one item. What it cost is counted apart, in [`Usage`], for
/// every call, including those whose answer is then rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The corrected (or translated) text, or an analysis task's answer.
    pub text_corrected: String,
    /// What the model says it changed (empty for an analysis task).
    pub change_summary: String,
    /// The object of a task with an output schema (not yet checked against it).
    pub result: Option<serde_json::Value>,
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
        self.input = self.input.saturating_add(other.input);
        self.output = self.output.saturating_add(other.output);
        self.cached = self.cached.saturating_add(other.cached);
        self.thinking = self.thinking.saturating_add(other.thinking);
    }

    /// The counts held to `max` each; true if any was above it (a server that
    /// reports more tokens than any model takes in one item is not to be believed).
    pub fn clamp(&mut self, max: u64) -> bool {
        let counts = [
            &mut self.input,
            &mut self.output,
            &mut self.cached,
            &mut self.thinking,
        ];
        let mut clamped = false;
        for n in counts {
            if *n > max {
                *n = max;
                clamped = true;
            }
        }
        clamped
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
    /// The model answered, but not with something that can be saved (not our JSON, a
    /// guard said no): retried a few times with a note saying what was wrong.
    BadAnswer(String),
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
            | AiError::BadAnswer(message)
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

/// Reads the JSON object the prompt asked for (its [`Shape`]) out of the answer: the
/// whole answer, or the first complete JSON object with the expected fields anywhere
/// in it (small models wrap it in a code fence, "JSON:" or a sentence).
pub fn parse_answer(text: &str, shape: &Shape) -> Result<Completion, AiError> {
    let trimmed = text.trim();
    let mut first_error = None;
    let mut parsed_any = false;
    for (start, _) in trimmed.match_indices('{') {
        let candidate = &trimmed[start..];
        let value = match first_value(candidate) {
            Ok(value) => Some(value),
            // Small models write raw line breaks inside strings, or a trailing comma.
            Err(e) => first_value(&repaired(candidate)).ok().or_else(|| {
                first_error.get_or_insert_with(|| e.to_string());
                None
            }),
        };
        if let Some(value) = value {
            parsed_any = true;
            if let Some(found) = fields(&value, shape) {
                return Ok(found);
            }
        }
    }
    let expected = match shape {
        Shape::Correction => "the string field text_corrected or change_summary",
        Shape::TextOnly => "the string field text_corrected",
        Shape::Answer => "the string field answer",
        Shape::Object(_) => "a JSON object",
        Shape::Pack(_) => "the array items",
    };
    let key = match shape {
        Shape::Answer => "answer",
        _ => "text_corrected",
    };
    let why = match first_error {
        _ if parsed_any => format!("without {expected}"),
        Some(e) if trimmed.contains(key) => format!("with {key} but not valid JSON ({e})"),
        Some(e) => format!("not the requested JSON ({e})"),
        None => "not the requested JSON (no JSON object in it)".to_string(),
    };
    Err(AiError::BadAnswer(format!(
        "model answer {why}: {}",
        preview(trimmed)
    )))
}

/// The first JSON value at the start of `text` (what follows it is ignored).
fn first_value(text: &str) -> Result<serde_json::Value, serde_json::Error> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<serde_json::Value>();
    values.next().unwrap_or_else(|| serde_json::from_str(""))
}

/// A model's JSON made readable: raw control characters inside strings escaped
/// (a line break written as is), and a comma before `}` or `]` dropped.
fn repaired(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let (mut in_string, mut escaped) = (false, false);
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            match c {
                _ if escaped => {
                    escaped = false;
                    out.push(c);
                }
                '\\' => {
                    escaped = true;
                    out.push(c);
                }
                '"' => {
                    in_string = false;
                    out.push(c);
                }
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
            continue;
        }
        let next = chars[i + 1..].iter().find(|c| !c.is_whitespace());
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            ',' if matches!(next, Some('}' | ']')) => {}
            c => out.push(c),
        }
    }
    out
}

/// What an answer object holds for `shape`: `text_corrected` and `change_summary`
/// (a missing or null summary is an empty one), an `answer`, or the object itself.
fn fields(value: &serde_json::Value, shape: &Shape) -> Option<Completion> {
    match shape {
        Shape::Correction | Shape::TextOnly => {
            let text_corrected = value.get("text_corrected")?.as_str()?.to_string();
            let change_summary = match value.get("change_summary") {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(summary) => summary.as_str()?.to_string(),
            };
            Some(Completion {
                text_corrected,
                change_summary,
                result: None,
            })
        }
        Shape::Answer => Some(Completion {
            text_corrected: value.get("answer")?.as_str()?.to_string(),
            change_summary: String::new(),
            result: None,
        }),
        Shape::Object(_) => value.is_object().then(|| Completion {
            text_corrected: String::new(),
            change_summary: String::new(),
            result: Some(value.clone()),
        }),
        // The entries are read one by one, each by the shape inside.
        Shape::Pack(_) => value
            .get("items")
            .filter(|i| i.is_array())
            .map(|items| Completion {
                text_corrected: String::new(),
                change_summary: String::new(),
                result: Some(items.clone()),
            }),
    }
}

/// One entry of a packed answer read by the shape inside the pack (an object's under
/// `result`); `None` when it lacks what that shape needs.
pub fn entry_completion(entry: &serde_json::Value, inner: &Shape) -> Option<Completion> {
    match inner {
        Shape::Object(_) => fields(entry.get("result")?, inner),
        other => fields(entry, other),
    }
}

pub use runaway::loop_note;

/// The first 200 characters of a text, for error messages that must stay short.
pub fn preview(text: &str) -> String {
    preview_of(text, 200)
}

/// The first `max` characters of a text, with "…" when some were left out.
pub fn preview_of(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).collect();
    if text.chars().count() > max {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(c: Completion) -> (String, String) {
        (c.text_corrected, c.change_summary)
    }

    #[test]
    fn parses_plain_and_fenced_answers() {
        let plain = r#"{"text_corrected":"Ala ma kota.","change_summary":"kropka"}"#;
        assert_eq!(
            pair(parse_answer(plain, &Shape::Correction).unwrap()),
            ("Ala ma kota.".into(), "kropka".into())
        );
        let fenced = format!("```json\n{plain}\n```");
        assert_eq!(
            parse_answer(&fenced, &Shape::Correction)
                .unwrap()
                .text_corrected,
            "Ala ma kota."
        );
    }

    #[test]
    fn rejects_answers_that_are_not_our_json() {
        for bad in [
            "Sure! Here is the text.",
            "{\"text\": \"x\"}",
            "{\"text_corrected\": 5, \"change_summary\": \"x\"}",
            "",
            "{\"text_corrected\": \"cut",
        ] {
            assert!(
                matches!(
                    parse_answer(bad, &Shape::Correction),
                    Err(AiError::BadAnswer(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn finds_the_object_in_prose_around_it() {
        let object = r#"{"text_corrected":"Ala ma kota.","change_summary":"kropka"}"#;
        for wrapped in [
            format!("JSON: {object}"),
            format!("Here is the corrected text:\n{object}\nI hope this helps!"),
            format!("```\n{object}\n```"),
            format!("{{\"note\": 1}} and then {object}"),
        ] {
            assert_eq!(
                pair(parse_answer(&wrapped, &Shape::Correction).unwrap()),
                ("Ala ma kota.".into(), "kropka".into()),
                "{wrapped}"
            );
        }
    }

    #[test]
    fn readable_json_with_raw_line_breaks_or_a_trailing_comma_is_read() {
        let raw =
            "{\"text_corrected\": \"Pierwsza linia.\nDruga\tlinia.\", \"change_summary\": \"ok\",}";
        let c = parse_answer(raw, &Shape::Correction).unwrap();
        assert_eq!(c.text_corrected, "Pierwsza linia.\nDruga\tlinia.");
        let broken = "{\"text_corrected\": \"cut off";
        let err = parse_answer(broken, &Shape::Correction)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("with text_corrected but not valid JSON"),
            "{err}"
        );
    }

    #[test]
    fn an_analysis_answer_and_an_object_are_read_by_their_shape() {
        let answer =
            parse_answer("```json\n{\"answer\": \"pozytywny\"}\n```", &Shape::Answer).unwrap();
        assert_eq!(
            (
                answer.text_corrected.as_str(),
                answer.change_summary.as_str()
            ),
            ("pozytywny", "")
        );
        let schema = serde_json::json!({"type": "object"});
        let object = parse_answer(
            "Wynik: {\"sentiment\": \"zły\"}",
            &Shape::Object(schema.clone()),
        )
        .unwrap();
        assert_eq!(object.result.unwrap()["sentiment"], "zły");
        let err = parse_answer("{\"text_corrected\": \"x\"}", &Shape::Answer).unwrap_err();
        assert!(
            err.to_string().contains("without the string field answer"),
            "{err}"
        );
        assert!(parse_answer("nic", &Shape::Object(schema)).is_err());
    }

    #[test]
    fn preview_is_bounded() {
        assert_eq!(preview(&"ż".repeat(500)).chars().count(), 201);
        assert_eq!(preview("abc"), "abc");
    }
}
