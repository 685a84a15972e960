//! Google Gemini `generateContent` (REST, v1beta): request body and response parsing.

use serde_json::{Value, json};

use super::prompt_builder::Prompt;
use super::spec::Generation;
use super::{AiError, Usage, preview};

/// The provider default for `ai_model.api_url`.
pub const DEFAULT_BASE_URL: &str = "https://generativelanguage.googleapis.com/v1beta";

/// `{base}/models/{model}:generateContent`, the model name percent-encoded so that
/// it stays one path segment whatever it holds (`/`, `..`, `?`, `#`).
pub fn endpoint(base_url: &str, model_name: &str) -> String {
    model_method(base_url, model_name, "generateContent")
}

/// `{base}/models/{model}:{method}`, the model name kept one path segment.
pub fn model_method(base_url: &str, model_name: &str, method: &str) -> String {
    format!(
        "{}/models/{}:{method}",
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

/// The keywords of a JSON Schema that Gemini's `responseSchema` (its OpenAPI subset)
/// takes; a task's output schema with any other is refused before a call.
pub const SCHEMA_KEYWORDS: &[&str] = &[
    "type",
    "properties",
    "required",
    "items",
    "enum",
    "description",
    "nullable",
    "format",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "additionalProperties",
    "title",
];

/// A JSON Schema in Gemini's spelling: upper-case types, the properties in the order
/// they were written (`propertyOrdering`), no `additionalProperties`.
pub fn response_schema(schema: &Value) -> Value {
    let Some(object) = schema.as_object() else {
        return schema.clone();
    };
    let mut out = serde_json::Map::new();
    for (key, value) in object {
        match key.as_str() {
            "type" => {
                let upper = value.as_str().map(str::to_ascii_uppercase);
                out.insert(
                    key.clone(),
                    upper.map_or_else(|| value.clone(), Value::from),
                );
            }
            "properties" => {
                let properties = value.as_object().cloned().unwrap_or_default();
                // The required fields in the order given, then the others.
                let required: Vec<&str> = object
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                let mut order: Vec<Value> = required
                    .iter()
                    .filter(|name| properties.contains_key(**name))
                    .map(|name| Value::from(*name))
                    .collect();
                order.extend(
                    properties
                        .keys()
                        .filter(|name| !required.contains(&name.as_str()))
                        .cloned()
                        .map(Value::from),
                );
                let converted: serde_json::Map<String, Value> = properties
                    .iter()
                    .map(|(name, p)| (name.clone(), response_schema(p)))
                    .collect();
                out.insert(key.clone(), Value::Object(converted));
                out.insert("propertyOrdering".into(), Value::Array(order));
            }
            "items" => {
                out.insert(key.clone(), response_schema(value));
            }
            "additionalProperties" | "title" => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    Value::Object(out)
}

/// The request body: system instruction, user text, and JSON output with a schema.
/// The fixed parts come first and are the same for every item of a task.
pub fn request_body(prompt: &Prompt, settings: &Generation) -> Value {
    let mut generation = json!({
        "responseMimeType": "application/json",
        "responseSchema": response_schema(&prompt.shape.json_schema())
    });
    if let Some(t) = settings.temperature {
        generation["temperature"] = json!(t);
    }
    if let Some(m) = settings.max_output_tokens {
        generation["maxOutputTokens"] = json!(m);
    }
    if let Some(budget) = settings.thinking_budget {
        generation["thinkingConfig"] = json!({"thinkingBudget": budget});
    }
    json!({
        "systemInstruction": {"parts": [{"text": prompt.system}]},
        "contents": [{"role": "user", "parts": [{"text": prompt.user}]}],
        "generationConfig": generation
    })
}

/// Checks `thinking_budget` against what the model family accepts (Gemini API
/// reference, thinking): 2.5 Pro 128-32768 and cannot switch thinking off, 2.5 Flash
/// 0-24576, 2.5 Flash-Lite 0 or 512-24576; -1 (dynamic) everywhere.
pub fn check_thinking_budget(model_name: &str, budget: i32) -> Result<(), String> {
    let name = model_name.to_ascii_lowercase();
    let range = if name.contains("flash-lite") {
        (512, 24_576, true)
    } else if name.contains("flash") {
        (1, 24_576, true)
    } else if name.contains("pro") {
        (128, 32_768, false)
    } else {
        return Ok(());
    };
    let (min, max, can_be_off) = range;
    let ok = budget == -1 || (budget == 0 && can_be_off) || (min..=max).contains(&budget);
    if ok {
        return Ok(());
    }
    let off = if can_be_off { "0 (off), " } else { "" };
    Err(format!(
        "thinking_budget {budget} is not accepted by {model_name}: use -1 (dynamic), {off}or {min} to {max}"
    ))
}

/// A finish reason other than a normal stop is never a result.
fn check_finish(candidate: &Value, text: &str) -> Result<(), AiError> {
    let finish = candidate
        .get("finishReason")
        .and_then(Value::as_str)
        .unwrap_or("STOP");
    match finish {
        "STOP" => Ok(()),
        "MAX_TOKENS" => {
            let looping = super::loop_note(text);
            let advice = if looping.is_empty() {
                ": raise ai_model.max_output_tokens (thinking counts towards it)"
            } else {
                ""
            };
            let message = format!(
                "Gemini stopped at the output token limit (finishReason MAX_TOKENS){looping}{advice}"
            );
            // A loop is a bad draw, asked again; a text too long for the limit is not.
            Err(if looping.is_empty() {
                AiError::Item(message)
            } else {
                AiError::BadAnswer(message)
            })
        }
        other => Err(AiError::Item(format!(
            "Gemini refused to answer (finishReason {other})"
        ))),
    }
}

/// Reads a 200 response: the answer text (thought parts left out), checked for the
/// finish reason and blocks; the caller reads the JSON in it by the prompt's shape.
pub fn parse_response(body: &str) -> Result<String, AiError> {
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
    check_finish(candidate, &text)?;
    Ok(text)
}

/// The tokens a 200 response says were billed (`usageMetadata`): thinking tokens are
/// billed as output; cached tokens are part of the prompt's.
pub fn usage(body: &str) -> Usage {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Usage::default();
    };
    let count = |name: &str| {
        value
            .pointer(&format!("/usageMetadata/{name}"))
            .and_then(Value::as_u64)
            .unwrap_or(0)
    };
    let thinking = count("thoughtsTokenCount");
    Usage {
        input: count("promptTokenCount"),
        output: count("candidatesTokenCount") + thinking,
        cached: count("cachedContentTokenCount"),
        thinking,
    }
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
            shape: crate::ai::Shape::Correction,
        };
        let settings = Generation {
            temperature: Some(0.2),
            max_output_tokens: Some(1024),
            thinking_budget: Some(0),
            ..Generation::default()
        };
        let body = request_body(&prompt, &settings);
        assert_eq!(body["systemInstruction"]["parts"][0]["text"], "S");
        assert_eq!(body["contents"][0]["parts"][0]["text"], "U");
        assert_eq!(
            body["generationConfig"]["responseMimeType"],
            "application/json"
        );
        assert_eq!(
            body["generationConfig"]["responseSchema"]["propertyOrdering"],
            json!(["text_corrected", "change_summary"])
        );
        assert_eq!(body["generationConfig"]["responseSchema"]["type"], "OBJECT");
        assert!(
            body["generationConfig"]["responseSchema"]
                .get("additionalProperties")
                .is_none()
        );
        assert_eq!(body["generationConfig"]["maxOutputTokens"], 1024);
        assert_eq!(body["generationConfig"]["temperature"], 0.2);
        assert_eq!(
            body["generationConfig"]["thinkingConfig"]["thinkingBudget"],
            0
        );
        let bare = request_body(&prompt, &Generation::default());
        assert!(bare["generationConfig"].get("temperature").is_none());
        assert!(bare["generationConfig"].get("thinkingConfig").is_none());
    }

    #[test]
    fn parses_answer_skipping_thoughts_and_counts_thinking_tokens() {
        let body = r#"{"candidates":[{"content":{"parts":[
            {"text":"thinking...","thought":true},
            {"text":"{\"text_corrected\":\"Zażółć\",\"change_summary\":\"ok\"}"}]},
            "finishReason":"STOP"}],
            "usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":7}}"#;
        let c = parse_response(body).unwrap();
        assert_eq!(
            c,
            "{\"text_corrected\":\"Zażółć\",\"change_summary\":\"ok\"}"
        );
        let u = usage(body);
        assert_eq!((u.input, u.output, u.thinking, u.cached), (10, 12, 7, 0));
        let cached = r#"{"usageMetadata":{"promptTokenCount":100,"cachedContentTokenCount":60,"candidatesTokenCount":5}}"#;
        assert_eq!(usage(cached).cached, 60);
        assert_eq!(usage("not json"), Usage::default());
    }

    #[test]
    fn thinking_budgets_are_checked_by_model_family() {
        assert!(
            check_thinking_budget("gemini-2.5-pro", 0).is_err(),
            "Pro cannot switch off"
        );
        assert!(check_thinking_budget("gemini-2.5-pro", 128).is_ok());
        assert!(check_thinking_budget("gemini-2.5-pro", -1).is_ok());
        assert!(check_thinking_budget("gemini-2.5-flash", 0).is_ok());
        assert!(check_thinking_budget("gemini-2.5-flash", 30_000).is_err());
        assert!(check_thinking_budget("gemini-2.5-flash-lite", 100).is_err());
        assert!(check_thinking_budget("gemini-2.5-flash-lite", 512).is_ok());
        let err = check_thinking_budget("gemini-2.5-pro", 5).unwrap_err();
        assert!(
            err.contains("128 to 32768") && !err.contains("0 (off)"),
            "{err}"
        );
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
    fn garbage_is_transient_and_a_wrong_answer_is_a_bad_answer() {
        for body in ["<html>502</html>", "{}"] {
            assert!(
                matches!(parse_response(body), Err(AiError::Transient { .. })),
                "{body}"
            );
        }
        let wrong = r#"{"candidates":[{"content":{"parts":[{"text":"no json"}]}}]}"#;
        let text = parse_response(wrong).unwrap();
        let shape = crate::ai::Shape::Correction;
        assert!(matches!(
            crate::ai::parse_answer(&text, &shape),
            Err(AiError::BadAnswer(_))
        ));
    }
}
