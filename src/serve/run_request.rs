//! The body of `POST /task/run`: every field optional, meaning what the CLI flag
//! means; an empty body means every default.

use serde_json::{Value, json};

use crate::app::RunOptions;

/// The body of `POST /task/run`: every field optional, meaning what the CLI flag means.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// Run options.
    pub options: RunOptions,
    /// Wait for the run (true, default) or answer 202 at once.
    pub wait: bool,
}

/// Parses and checks a `POST /task/run` body; the error names the bad field.
pub fn parse_run_request(body: &[u8]) -> Result<RunRequest, String> {
    let value: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?
    };
    let Some(object) = value.as_object() else {
        return Err("body must be a JSON object".into());
    };
    let mut request = RunRequest {
        options: RunOptions {
            trigger: "http".into(),
            ..RunOptions::default()
        },
        wait: true,
    };
    for (key, v) in object {
        match key.as_str() {
            "task" => request.options.task = positive(key, v)?,
            "task_item" => request.options.task_item = positive(key, v)?,
            "max_item" => request.options.item_limit = positive(key, v)?,
            "concurrency" => request.options.concurrency = positive(key, v)?,
            "dry_run" => request.options.dry_run = boolean(key, v)?.unwrap_or(false),
            "wait" => request.wait = boolean(key, v)?.unwrap_or(true),
            "retry_failed" => {
                request.options.retry_failed = boolean(key, v)?.unwrap_or(false);
            }
            other => {
                return Err(format!(
                    "unknown field '{other}' (allowed: task, task_item, max_item, dry_run, concurrency, retry_failed, wait)"
                ));
            }
        }
    }
    if request.options.task.is_some() && request.options.task_item.is_some() {
        return Err("task and task_item cannot be used together".into());
    }
    Ok(request)
}

fn positive(key: &str, v: &Value) -> Result<Option<u32>, String> {
    match v {
        Value::Null => Ok(None),
        _ => v
            .as_u64()
            .filter(|&n| n > 0 && n <= u64::from(u32::MAX))
            .map(|n| Some(n as u32))
            .ok_or_else(|| format!("field '{key}' must be a positive whole number or null")),
    }
}

fn boolean(key: &str, v: &Value) -> Result<Option<bool>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(*b)),
        _ => Err(format!("field '{key}' must be true or false")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_request_fields_and_errors() {
        let r = parse_run_request(
            br#"{"task":42,"task_item":null,"max_item":10,"dry_run":false,"wait":true}"#,
        )
        .unwrap();
        assert_eq!(
            (r.options.task, r.options.item_limit, r.wait),
            (Some(42), Some(10), true)
        );
        assert_eq!(r.options.trigger, "http");
        assert!(parse_run_request(b"").unwrap().wait);
        for (body, needle) in [
            (&br#"{"task":"42"}"#[..], "task"),
            (&br#"{"task":-1}"#[..], "task"),
            (&br#"{"max_item":1.5}"#[..], "max_item"),
            (&br#"{"dry_run":"yes"}"#[..], "dry_run"),
            (&br#"{"tsk":1}"#[..], "unknown field 'tsk'"),
            (&br#"[1,2]"#[..], "object"),
            (&b"{not json"[..], "not valid JSON"),
            (&br#"{"task":1,"task_item":2}"#[..], "together"),
        ] {
            let err = parse_run_request(body).unwrap_err();
            assert!(
                err.contains(needle),
                "{}: {err}",
                String::from_utf8_lossy(body)
            );
        }
    }
}
