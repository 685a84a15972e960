//! Google Gemini `generateContent` (REST, v1beta): request body and response parsing.

use serde_json::{Value, json};

use super::prompt_builder::Prompt;
use super::{AiError, Completion, parse_answer, preview};

/// The provider default for `ai_model.api_url`.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// `{base}/models/{model}:generateContent`, the model name percent-encoded so that
/// it stays one path segment whatever it holds (`/`, `..`, `?`, `#`).
pub fn endpoint(base_url: &str, model_name: &str) -> String {
    format!(
        "{}/models/{}:generateContent",
        base_url.trim_end_matches('/'),
        path_segment(model_name.trim())
    )
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The request body: system instruction, user text, and JSON output with a schema.
pub fn request_body(
    prompt: &Prompt,
    temperature: Option<f64>,
    max_output_tokens: Option<u32>,
) -> Value {
    let mut generation = json!({
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {
                "text_corrected": {"type": "STRING"},
                "change_summary": {"type": "STRING"}
            },
            "required": ["text_corrected", "change_summary"],
            "propertyOrdering": ["text_corrected", "change_summary"]
        }
    });
    if let Some(t) = temperature {
        generation["temperature"] = json!(t);
    }
    if let Some(m) = max_output_tokens {
        generation["maxOutputTokens"] = json!(m);
    }
    json!({
        "systemInstruction": {"parts": [{"text": prompt.system}]},
        "contents": [{"role": "user", "parts": [{"text": prompt.user}]}],
        "generationConfig": generation
    })
}

/// A finish reason other than a normal stop is never a result.
fn check_finish(candidate: &Value) -> Result<(), AiError> {
    let finish = candidate
        .get("finishReason")
        .and_then(Value::as_str)
        .unwrap_or("STOP");
    match finish {
        "STOP" => Ok(()),
        "MAX_TOKENS" => Err(AiError::Item(
            "Gemini stopped at the output token limit (finishReason MAX_TOKENS): raise ai_model.max_output_tokens (thinking counts towards it)".into(),
        )),
        other => Err(AiError::Item(format!(
            "Gemini refused to answer (finishReason {other})"
        ))),
    }
}

/// Reads a 200 response: the answer text (thought parts left out), the finish reason,
/// blocks, and token usage (thinking tokens are billed as output).
pub fn parse_response(body: &str) -> Result<Completion, AiError> {
    let value: Value = serde_json::from_str(body).map_err(|_| {
        AiError::transient(format!(
            "malformed response body from Gemini (not JSON): {}",
            preview(body.trim())
        ))
    })?;
    if let Some(reason) = value
        .pointer("/promptFeedback/blockReason")
        .and_then(Value::as_str)
    {
        return Err(AiError::Item(format!(
            "Gemini blocked the prompt (blockReason {reason})"
        )));
    }
    let Some(candidate) = value.pointer("/candidates/0") else {
        return Err(AiError::transient(format!(
            "malformed response body from Gemini (no candidates): {}",
            preview(body.trim())
        )));
    };
    check_finish(candidate)?;
    let text: String = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter(|p| !p.get("thought").and_then(Value::as_bool).unwrap_or(false))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let (text_corrected, change_summary) = parse_answer(&text)?;
    let usage = |name: &str| {
        value
            .pointer(&format!("/usageMetadata/{name}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    Ok(Completion {
        text_corrected,
        change_summary,
        tokens_input: usage("promptTokenCount"),
        tokens_output: usage("candidatesTokenCount") + usage("thoughtsTokenCount"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_and_body_follow_the_wire_format() {
        assert_eq!(
            endpoint("http://127.0.0.1:9/v1beta/", "gemini-2.5-pro"),
            "http://127.0.0.1:9/v1beta/models/gemini-2.5-pro:generateContent"
        );
        let prompt = Prompt {
            system: "S".into(),
            user: "U".into(),
        };
        let body = request_body(&prompt, Some(0.2), Some(1024));
        assert_eq!(body["systemInstruction"]["parts"][0]["text"], "S");
        assert_eq!(body["contents"][0]["parts"][0]["text"], "U");
        assert_eq!(
            body["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 1024);
        assert_eq!(body["generationConfig"]["temperature"], 0.2);
        let bare = request_body(&prompt, None, None);
        assert!(bare["generationConfig"].get("temperature").is_none());
    }

    #[test]
    fn parses_answer_skipping_thoughts_and_counts_thinking_tokens() {
        let body = r#"{"candidates":[{"content":{"parts":[
            {"text":"thinking...","thought":true},
            {"text":"{\"text_corrected\":\"Zażółć\",\"change_summary\":\"ok\"}"}]},
            "finishReason":"STOP"}],
            "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":7}}"#;
        let c = parse_response(body).unwrap();
        assert_eq!(c.text_corrected, "Zażółć");
        assert_eq!((c.tokens_input, c.tokens_output), (10, 12));
    }

    #[test]
    fn blocks_and_limits_are_item_errors() {
        let safety = r#"{"candidates":[{"finishReason":"SAFETY"}]}"#;
        assert!(matches!(parse_response(safety), Err(AiError::Item(m)) if m.contains("SAFETY")));
        let recitation = r#"{"candidates":[{"finishReason":"RECITATION"}]}"#;
        assert!(
            matches!(parse_response(recitation), Err(AiError::Item(m)) if m.contains("RECITATION"))
        );
        let max = r#"{"candidates":[{"finishReason":"MAX_TOKENS","content":{"parts":[]}}]}"#;
        assert!(matches!(parse_response(max), Err(AiError::Item(m)) if m.contains("MAX_TOKENS")));
        let blocked = r#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"}}"#;
        assert!(
            matches!(parse_response(blocked), Err(AiError::Item(m)) if m.contains("PROHIBITED_CONTENT"))
        );
    }

    #[test]
    fn garbage_is_transient() {
        for body in [
            "<html>502</html>",
            "{}",
            r#"{"candidates":[{"content":{"parts":[{"text":"no json"}]}}]}"#,
        ] {
            assert!(
                matches!(parse_response(body), Err(AiError::Transient { .. })),
                "{body}"
            );
        }
    }
}
