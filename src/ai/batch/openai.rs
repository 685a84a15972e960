//! OpenAI's Batch API: a JSONL file of `/v1/chat/completions` requests uploaded with
//! purpose `batch`, a job made of it, results in an output and an error file.

use serde_json::{Value, json};

use super::{
    BatchRequest, Batches, Body, JobState, JobStatus, LineResult, Output, id_field, jsonl,
    text_field,
};
use crate::ai::http::{Reply, classify_status};
use crate::ai::openai::{self as chat, OutputLimit};
use crate::ai::{AiError, Usage};

/// The metadata key a job carries its `job_key` under.
const JOB_KEY: &str = "ai_worker_job";
/// Jobs looked through by `find` (newest first).
const FIND_PAGES: usize = 10;

/// Uploads the requests as a file, then creates the job.
pub fn submit(b: &Batches, job_key: &str, requests: &[BatchRequest]) -> Result<String, AiError> {
    let mut file = String::new();
    for r in requests {
        let body = chat::request_body(&b.model_name, &r.prompt, &b.generation, b.json_mode);
        let line = json!({"custom_id": r.key, "method": "POST", "url": "/v1/chat/completions", "body": body});
        file.push_str(&line.to_string());
        file.push('\n');
    }
    let file_id = upload(b, job_key, &file)?;
    let job = b.call_json(
        "POST",
        &format!("{}/batches", b.base_url),
        Some(&json!({
            "input_file_id": file_id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "metadata": {JOB_KEY: job_key}
        })),
    )?;
    id_field(b.label(), &job, "/id")
}

/// `POST /files` as multipart/form-data: purpose `batch` and the JSONL file.
fn upload(b: &Batches, job_key: &str, jsonl: &str) -> Result<String, AiError> {
    let boundary = format!("ai-worker-{}", uuid::Uuid::new_v4().simple());
    let mut body = String::with_capacity(jsonl.len() + 400);
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n"
    ));
    body.push_str(&format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"ai-worker-{job_key}.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n"
    ));
    body.push_str(jsonl);
    body.push_str(&format!("\r\n--{boundary}--\r\n"));
    let content_type = format!("multipart/form-data; boundary={boundary}");
    let reply = b.call(
        "POST",
        &format!("{}/files", b.base_url),
        &[],
        Some(Body {
            content_type: &content_type,
            bytes: body.as_bytes(),
        }),
    )?;
    let file = super::parse_json(b.label(), &reply.body)?;
    id_field(b.label(), &file, "/id")
}

/// Looks through the newest jobs for one carrying `job_key` in its metadata.
pub fn find(b: &Batches, job_key: &str) -> Result<Option<String>, AiError> {
    let mut after: Option<String> = None;
    for _ in 0..FIND_PAGES {
        let mut url = format!("{}/batches?limit=100", b.base_url);
        if let Some(after) = &after {
            url.push_str(&format!("&after={after}"));
        }
        let page = b.call_json("GET", &url, None)?;
        let jobs = page.get("data").and_then(Value::as_array);
        for job in jobs.into_iter().flatten() {
            let key = job.pointer(&format!("/metadata/{JOB_KEY}"));
            if key.and_then(Value::as_str) == Some(job_key) {
                return id_field(b.label(), job, "/id").map(Some);
            }
        }
        let more = page.get("has_more").and_then(Value::as_bool) == Some(true);
        after = page
            .get("last_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        if !more || after.is_none() {
            break;
        }
    }
    Ok(None)
}

/// `GET /batches/{id}`.
pub fn status(b: &Batches, job_id: &str) -> Result<JobStatus, AiError> {
    let job = b.call_json("GET", &format!("{}/batches/{job_id}", b.base_url), None)?;
    let provider_state = text_field(b.label(), &job, "/status")?;
    let state = match provider_state.as_str() {
        "validating" | "in_progress" | "finalizing" => JobState::Running,
        "cancelling" => JobState::Cancelling,
        "completed" => JobState::Succeeded,
        "expired" => JobState::Expired,
        "cancelled" => JobState::Cancelled,
        "failed" => JobState::Failed(job_errors(&job)),
        other => {
            return Err(AiError::transient(format!(
                "the OpenAI Batch API reported an unknown job status '{other}'"
            )));
        }
    };
    let file = |name: &str| job.get(name).and_then(Value::as_str).map(str::to_string);
    let count = |name: &str| {
        job.pointer(&format!("/request_counts/{name}"))
            .and_then(Value::as_u64)
    };
    let finished = count("completed").map(|done| done + count("failed").unwrap_or(0));
    Ok(JobStatus {
        state,
        provider_state,
        finished,
        output: Output::OpenAiFiles {
            output: file("output_file_id"),
            error: file("error_file_id"),
        },
    })
}

/// Why a job failed as a whole: its `errors.data` messages.
fn job_errors(job: &Value) -> String {
    let messages: Vec<String> = job
        .pointer("/errors/data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let message = e.get("message").and_then(Value::as_str)?;
            let line = e.get("line").and_then(Value::as_u64);
            Some(match line {
                Some(n) => format!("{message} (line {n})"),
                None => message.to_string(),
            })
        })
        .take(3)
        .collect();
    if messages.is_empty() {
        "the provider gave no reason".into()
    } else {
        crate::ai::preview_of(&messages.join("; "), 500)
    }
}

/// The lines of the output and the error file.
pub fn file_results(
    b: &Batches,
    output: Option<&str>,
    error: Option<&str>,
) -> Result<Vec<LineResult>, AiError> {
    let mut lines = Vec::new();
    for file in [output, error].into_iter().flatten() {
        let url = format!("{}/files/{file}/content", b.base_url);
        let reply = b.call("GET", &url, &[], None)?;
        let limit = match b.generation.max_output_tokens {
            Some(n) => OutputLimit::Model(n),
            None => OutputLimit::Server,
        };
        for value in jsonl(b.label(), &reply.body) {
            if let Some(line) = line(&value, &limit) {
                lines.push(line);
            }
        }
    }
    Ok(lines)
}

/// One result line: `custom_id`, then `error` or `response.status_code` and `body`.
fn line(value: &Value, limit: &OutputLimit) -> Option<LineResult> {
    let key = value.get("custom_id")?.as_str()?.to_string();
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("no message");
        return Some(LineResult {
            key,
            usage: Usage::default(),
            outcome: Err(AiError::transient(format!(
                "the batch line failed: {}",
                crate::ai::preview(message)
            ))),
        });
    }
    let status = value
        .pointer("/response/status_code")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let body = value
        .pointer("/response/body")
        .map(Value::to_string)
        .unwrap_or_default();
    if status != 200 {
        let reply = Reply {
            should_retry: None,
            status: status as u16,
            retry_after: None,
            body,
            location: None,
            upload_url: None,
            upload_status: None,
        };
        return Some(LineResult {
            key,
            usage: Usage::default(),
            outcome: Err(classify_status("OpenAI", &reply, None)),
        });
    }
    Some(LineResult {
        key,
        usage: chat::usage(&body),
        outcome: chat::parse_response(&body, limit),
    })
}

/// `POST /batches/{id}/cancel`.
pub fn cancel(b: &Batches, job_id: &str) -> Result<(), AiError> {
    let url = format!("{}/batches/{job_id}/cancel", b.base_url);
    b.call_json("POST", &url, None).map(|_| ())
}
