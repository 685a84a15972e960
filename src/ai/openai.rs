//! OpenAI Chat Completions, spoken by GPT-5 and by OpenAI-compatible servers
//! (Ollama, vLLM, llama.cpp, LM Studio): request body and response parsing.

use serde_json::{Value, json};

use super::prompt_builder::Prompt;
use super::prompt_builder::Shape;
use super::spec::Generation;
use super::{AiError, Usage, preview};

/// The provider default for `ai_model.api_url`.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// Appended to the instruction when the server cannot enforce a JSON schema.
pub const PLAIN_JSON_HINT: &str =
    "\nReply with the JSON object only: no Markdown, no code fence, no text before or after it.";

/// `{base}/chat/completions`.
pub fn endpoint(base_url: &str) -> String {
    format!("{}/chat/completions", base_url.trim_end_matches('/'))
}

/// Whether the model is one of OpenAI's reasoning models, which take a `developer`
/// message and refuse a non-default temperature.
pub fn is_reasoning_model(model_name: &str) -> bool {
    let m = model_name.trim().to_ascii_lowercase();
    m.starts_with("gpt-5") || m.starts_with("o1") || m.starts_with("o3") || m.starts_with("o4")
}

/// The request body. `structured` asks for a strict JSON schema; without it the
/// instruction asks for plain JSON (for servers that reject `response_format`). The
/// fixed messages come first, and `prompt_cache_key` is the task's, so that OpenAI's
/// prompt cache can serve them.
pub fn request_body(
    model_name: &str,
    prompt: &Prompt,
    settings: &Generation,
    mode: JsonMode,
) -> Value {
    let reasoning = is_reasoning_model(model_name);
    let role = if reasoning { "developer" } else { "system" };
    let system = match mode {
        JsonMode::Schema => prompt.system.clone(),
        JsonMode::Object | JsonMode::Plain => format!("{}{PLAIN_JSON_HINT}", prompt.system),
    };
    let mut body = json!({
        "model": model_name.trim(),
        "messages": [
            {"role": role, "content": system},
            {"role": "user", "content": prompt.user}
        ]
    });
    match mode {
        JsonMode::Schema => body["response_format"] = response_format(&prompt.shape),
        // llama.cpp's and llama-cpp-python's servers constrain the answer to a
        // `schema` given with json_object; OpenAI's type has no such key, so only
        // servers of one's own get it.
        JsonMode::Object if settings.own_server => {
            body["response_format"] =
                json!({"type": "json_object", "schema": prompt.shape.json_schema()})
        }
        JsonMode::Object => body["response_format"] = json!({"type": "json_object"}),
        JsonMode::Plain => {}
    }
    if let Some(t) = settings.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(penalty) = settings.frequency_penalty {
        body["frequency_penalty"] = json!(penalty);
    }
    if let Some(m) = settings.max_output_tokens {
        body["max_completion_tokens"] = json!(m);
        // Servers other than OpenAI's (llama.cpp, vLLM, Ollama, LM Studio) read the
        // older field and ignore the newer one.
        if settings.own_server {
            body["max_tokens"] = json!(m);
        }
    }
    let extras = [
        ("reasoning_effort", &settings.reasoning_effort),
        ("service_tier", &settings.service_tier),
        ("prompt_cache_key", &settings.cache_key),
    ];
    for (field, value) in extras {
        if let Some(value) = value {
            body[field] = json!(value);
        }
    }
    body
}

/// `response_format` for the answer `shape`: strict for the worker's own shapes; a
/// task's output schema need not meet strict mode's rules (every property required,
/// no additional ones), so it goes without, and the worker checks the answer itself.
fn response_format(shape: &Shape) -> Value {
    let strict = !shape.has_object();
    json!({
        "type": "json_schema",
        "json_schema": {"name": shape.name(), "strict": strict, "schema": shape.json_schema()}
    })
}

/// Which output limit a request carried, to say which one cut an answer off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputLimit {
    /// `ai_model.max_output_tokens`.
    Model(u32),
    /// The default cap ai-worker sends to a server of your own when the model has none.
    DefaultCap(u32),
    /// None was sent: the server's own limit applied.
    Server,
}

impl OutputLimit {
    fn explain(self) -> String {
        match self {
            OutputLimit::Model(n) => format!(
                "at ai_model.max_output_tokens ({n}; reasoning counts towards it): raise it"
            ),
            OutputLimit::DefaultCap(n) => format!(
                "at {n} tokens, the cap ai-worker sends when ai_model.max_output_tokens is NULL (twice the text and some room): set max_output_tokens higher"
            ),
            OutputLimit::Server => "at the server's own limit (its context window or default output length; ai_model.max_output_tokens is NULL): set max_output_tokens, or give the server a larger context".into(),
        }
    }
}

/// How a request asks for JSON, from the strictest to the plainest: a server that
/// rejects one is offered the next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonMode {
    /// `response_format: json_schema` (strict).
    Schema,
    /// `response_format: json_object`.
    Object,
    /// No `response_format`: the instruction asks for JSON.
    Plain,
}

impl JsonMode {
    /// The next plainer mode, if any.
    pub fn step_down(self) -> Option<JsonMode> {
        match self {
            JsonMode::Schema => Some(JsonMode::Object),
            JsonMode::Object => Some(JsonMode::Plain),
            JsonMode::Plain => None,
        }
    }
}

/// Whether an error answer (any status) says the server does not support the
/// `response_format` it was sent.
pub fn rejects_response_format(body: &str) -> bool {
    let lower = body.to_ascii_lowercase();
    lower.contains("response_format") || lower.contains("json_schema")
}

/// Reads a 200 response: content, refusal and finish reason. `limit` says which
/// output limit the request carried, for the message when the answer was cut off.
pub fn parse_response(body: &str, limit: &OutputLimit) -> Result<String, AiError> {
    let value: Value = serde_json::from_str(body).map_err(|_| {
        AiError::transient(format!(
            "malformed response body from OpenAI-compatible server (not JSON): {}",
            preview(body.trim())
        ))
    })?;
    let Some(choice) = value.pointer("/choices/0") else {
        return Err(AiError::transient(format!(
            "malformed response body from OpenAI-compatible server (no choices): {}",
            preview(body.trim())
        )));
    };
    if let Some(refusal) = choice
        .pointer("/message/refusal")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        return Err(AiError::Item(format!(
            "the model refused: {}",
            preview(refusal)
        )));
    }
    match choice.get("finish_reason").and_then(Value::as_str) {
        Some("length") => {
            let content = choice.pointer("/message/content").and_then(Value::as_str);
            let looping = super::loop_note(content.unwrap_or_default());
            // A loop needs no larger limit: the advice would mislead.
            let advice = if looping.is_empty() {
                format!(" {}", limit.explain())
            } else {
                String::new()
            };
            let message = format!("the answer was cut off (finish_reason length){looping}{advice}");
            // A loop is a bad draw, asked again (with a repetition penalty where the
            // server is one's own); a text too long for the limit is not.
            return Err(if looping.is_empty() {
                AiError::Item(message)
            } else {
                AiError::BadAnswer(message)
            });
        }
        Some("content_filter") => {
            return Err(AiError::Item(
                "the provider's content filter blocked the answer (finish_reason content_filter)"
                    .into(),
            ));
        }
        _ => {}
    }
    let content = choice
        .pointer("/message/content")
        .and_then(Value::as_str)
        .unwrap_or_default();
    Ok(content.to_string())
}

/// The tokens a 200 response says were billed (`usage`): `completion_tokens` include
/// the reasoning tokens, `prompt_tokens` the cached ones.
pub fn usage(body: &str) -> Usage {
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Usage::default();
    };
    let count = |pointer: &str| value.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
    Usage {
        input: count("/usage/prompt_tokens"),
        output: count("/usage/completion_tokens"),
        cached: count("/usage/prompt_tokens_details/cached_tokens"),
        thinking: count("/usage/completion_tokens_details/reasoning_tokens"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prompt() -> Prompt {
        Prompt {
            shape: Shape::Correction,
            system: "S".into(),
            user: "U".into(),
        }
    }

    #[test]
    fn gpt5_gets_developer_role_and_completion_tokens() {
        let settings = Generation {
            max_output_tokens: Some(500),
            reasoning_effort: Some("low".into()),
            service_tier: Some("flex".into()),
            cache_key: Some("ai-worker-task-7".into()),
            ..Generation::default()
        };
        let body = request_body("gpt-5", &prompt(), &settings, JsonMode::Schema);
        assert_eq!(body["messages"][0]["role"], "developer");
        assert_eq!(body["max_completion_tokens"], 500);
        assert!(body.get("max_tokens").is_none());
        assert!(body.get("temperature").is_none());
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        assert_eq!(
            (
                &body["reasoning_effort"],
                &body["service_tier"],
                &body["prompt_cache_key"]
            ),
            (&json!("low"), &json!("flex"), &json!("ai-worker-task-7"))
        );
    }

    #[test]
    fn local_models_get_system_role_and_plain_fallback() {
        let settings = Generation {
            temperature: Some(0.1),
            ..Generation::default()
        };
        let body = request_body("llama3.1", &prompt(), &settings, JsonMode::Plain);
        assert!(body.get("service_tier").is_none() && body.get("prompt_cache_key").is_none());
        let own = Generation {
            own_server: true,
            ..settings.clone()
        };
        let object = request_body("llama3.1", &prompt(), &own, JsonMode::Object);
        assert_eq!(object["response_format"]["type"], "json_object");
        assert_eq!(
            object["response_format"]["schema"]["required"],
            json!(["text_corrected", "change_summary"])
        );
        // OpenAI's json_object has no schema: a gateway or api.openai.com gets none.
        let official = request_body("gpt-4.1", &prompt(), &settings, JsonMode::Object);
        assert_eq!(official["response_format"], json!({"type": "json_object"}));
        let capped = Generation {
            max_output_tokens: Some(300),
            own_server: true,
            ..Generation::default()
        };
        let limited = request_body("local", &prompt(), &capped, JsonMode::Plain);
        assert_eq!(
            (&limited["max_tokens"], &limited["max_completion_tokens"]),
            (&json!(300), &json!(300))
        );
        assert_eq!(body["messages"][0]["role"], "system");
        assert!(body.get("response_format").is_none());
        assert!(
            body["messages"][0]["content"]
                .as_str()
                .unwrap()
                .ends_with(PLAIN_JSON_HINT)
        );
        assert_eq!(body["temperature"], 0.1);
    }

    #[test]
    fn parses_content_and_usage() {
        let body = r#"{"choices":[{"message":{"content":"{\"text_corrected\":\"A\",\"change_summary\":\"B\"}"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":12,"completion_tokens":30,"completion_tokens_details":{"reasoning_tokens":20}}}"#;
        let c = parse_response(body, &OutputLimit::Server).unwrap();
        let c = crate::ai::parse_answer(&c, &Shape::Correction).unwrap();
        let u = usage(body);
        assert_eq!(
            (c.text_corrected.as_str(), u.input, u.output, u.thinking),
            ("A", 12, 30, 20)
        );
    }

    #[test]
    fn refusal_length_and_filter_are_item_errors() {
        let refusal = r#"{"choices":[{"message":{"content":null,"refusal":"I can't help"},"finish_reason":"stop"}]}"#;
        assert!(
            matches!(parse_response(refusal, &OutputLimit::Server), Err(AiError::Item(m)) if m.contains("refused"))
        );
        let length = r#"{"choices":[{"message":{"content":"{\"text_"},"finish_reason":"length"}]}"#;
        assert!(
            matches!(parse_response(length, &OutputLimit::Server), Err(AiError::Item(m)) if m.contains("length") && m.contains("context window"))
        );
        assert!(
            matches!(parse_response(length, &OutputLimit::Model(50)), Err(AiError::Item(m)) if m.contains("max_output_tokens (50"))
        );
        let filter = r#"{"choices":[{"message":{"content":""},"finish_reason":"content_filter"}]}"#;
        assert!(
            matches!(parse_response(filter, &OutputLimit::Server), Err(AiError::Item(m)) if m.contains("content_filter"))
        );
        assert!(matches!(
            parse_response("nope", &OutputLimit::Server),
            Err(AiError::Transient { .. })
        ));
    }

    #[test]
    fn detects_response_format_rejections() {
        assert!(rejects_response_format(
            r#"{"error":{"message":"response_format json_schema is not supported"}}"#
        ));
        assert!(!rejects_response_format(
            r#"{"error":{"message":"context too long"}}"#
        ));
    }
}
