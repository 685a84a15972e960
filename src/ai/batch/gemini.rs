//! Gemini's Batch API: `models/{model}:batchGenerateContent` with the requests inline
//! (under the inline size limit) or in a JSONL file sent through the Files API; the job
//! is a long-running operation read with `GET batches/{id}`.

use serde_json::{Value, json};

use super::{
    BatchRequest, Batches, Body, JobState, JobStatus, LineResult, Output, id_field, jsonl,
};
use crate::ai::gemini as content;
use crate::ai::{AiError, Usage};

/// The display name prefix that carries a job's `job_key`.
const NAME_PREFIX: &str = "ai-worker-";
/// Jobs looked through by `find` (newest first).
const FIND_PAGES: usize = 10;

/// Creates the job; returns its name (`batches/...`).
pub fn submit(b: &Batches, job_key: &str, requests: &[BatchRequest]) -> Result<String, AiError> {
    let inline: Vec<Value> = requests
        .iter()
        .map(|r| json!({"request": content::request_body(&r.prompt, &b.generation), "metadata": {"key": r.key}}))
        .collect();
    let size: usize = inline.iter().map(|v| v.to_string().len()).sum();
    let input_config = if (size as u64) <= b.inline_max_bytes {
        json!({"requests": {"requests": inline}})
    } else {
        let mut file = String::with_capacity(size + 16 * inline.len());
        for line in &inline {
            let line = json!({"key": line["metadata"]["key"], "request": line["request"]});
            file.push_str(&line.to_string());
            file.push('\n');
        }
        json!({"fileName": upload(b, job_key, &file)?})
    };
    let url = content::model_method(&b.base_url, &b.model_name, "batchGenerateContent");
    let body = json!({"batch": {"displayName": format!("{NAME_PREFIX}{job_key}"), "inputConfig": input_config}});
    let operation = b.call_json("POST", &url, Some(&body))?;
    id_field(b.label(), &operation, "/name")
}

/// The base address split into its root and version (`http://host/v1beta` →
/// `http://host`, `v1beta`), for the upload and download paths.
fn root_and_version(base_url: &str) -> (&str, &str) {
    base_url.rsplit_once('/').unwrap_or((base_url, "v1beta"))
}

/// A resumable upload in one step: start, then upload and finalize.
fn upload(b: &Batches, job_key: &str, jsonl: &str) -> Result<String, AiError> {
    let (root, version) = root_and_version(&b.base_url);
    let length = jsonl.len().to_string();
    // As google-genai's files.upload sends it: the name, type and size up front.
    let meta = json!({"file": {
        "displayName": format!("{NAME_PREFIX}{job_key}.jsonl"),
        "mimeType": "application/jsonl",
        "sizeBytes": jsonl.len().to_string(),
    }})
    .to_string();
    let start = b.call(
        "POST",
        &format!("{root}/upload/{version}/files"),
        &[
            ("X-Goog-Upload-Protocol", "resumable"),
            ("X-Goog-Upload-Command", "start"),
            ("X-Goog-Upload-Header-Content-Length", &length),
            ("X-Goog-Upload-Header-Content-Type", "application/jsonl"),
        ],
        Some(Body {
            content_type: "application/json",
            bytes: meta.as_bytes(),
        }),
    )?;
    let Some(upload_url) = start.upload_url else {
        return Err(AiError::transient(
            "the Gemini Files API gave no upload address (X-Goog-Upload-URL)",
        ));
    };
    crate::ai::http::check_url(&upload_url).map_err(AiError::transient)?;
    let done = b.call(
        "POST",
        &upload_url,
        &[
            ("X-Goog-Upload-Offset", "0"),
            ("X-Goog-Upload-Command", "upload, finalize"),
        ],
        Some(Body {
            content_type: "application/jsonl",
            bytes: jsonl.as_bytes(),
        }),
    )?;
    // Anything but "final" means the server did not take the whole file.
    if done.upload_status.as_deref().map(str::trim) != Some("final") {
        return Err(AiError::transient(format!(
            "the Gemini Files API did not finish the upload (X-Goog-Upload-Status: {})",
            done.upload_status.as_deref().unwrap_or("missing")
        )));
    }
    let file = super::parse_json(b.label(), &done.body)?;
    id_field(b.label(), &file, "/file/name")
}

/// Looks through the newest jobs for the one named after `job_key`.
pub fn find(b: &Batches, job_key: &str) -> Result<Option<String>, AiError> {
    let wanted = format!("{NAME_PREFIX}{job_key}");
    let mut token: Option<String> = None;
    for _ in 0..FIND_PAGES {
        let mut url = format!("{}/batches?pageSize=100", b.base_url);
        if let Some(token) = &token {
            url.push_str(&format!("&pageToken={token}"));
        }
        let page = b.call_json("GET", &url, None)?;
        let jobs = page.get("operations").and_then(Value::as_array);
        for job in jobs.into_iter().flatten() {
            if job.pointer("/metadata/displayName").and_then(Value::as_str) == Some(&wanted) {
                return id_field(b.label(), job, "/name").map(Some);
            }
        }
        token = page
            .get("nextPageToken")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    Ok(None)
}

/// `GET batches/{id}`: the operation, its state, and where the results are.
pub fn status(b: &Batches, job_id: &str) -> Result<JobStatus, AiError> {
    let op = b.call_json("GET", &format!("{}/{job_id}", b.base_url), None)?;
    let provider_state = op
        .pointer("/metadata/state")
        .and_then(Value::as_str)
        .unwrap_or("BATCH_STATE_UNSPECIFIED")
        .to_string();
    let error = op.pointer("/error/message").and_then(Value::as_str);
    let state = match (provider_state.as_str(), error) {
        ("BATCH_STATE_FAILED", _) | (_, Some(_)) => JobState::Failed(crate::ai::preview_of(
            error.unwrap_or("the provider gave no reason"),
            500,
        )),
        ("BATCH_STATE_SUCCEEDED", _) => JobState::Succeeded,
        ("BATCH_STATE_EXPIRED", _) => JobState::Expired,
        ("BATCH_STATE_CANCELLED", _) => JobState::Cancelled,
        _ => JobState::Running,
    };
    let count = |name: &str| {
        let v = op.pointer(&format!("/metadata/batchStats/{name}"))?;
        v.as_u64().or_else(|| v.as_str()?.parse().ok())
    };
    let finished =
        count("successfulRequestCount").map(|ok| ok + count("failedRequestCount").unwrap_or(0));
    Ok(JobStatus {
        state,
        provider_state,
        finished,
        output: output(&op),
    })
}

/// The results of a finished operation: `response` (or `metadata.output`) holds the
/// inline responses or the name of a result file.
fn output(op: &Value) -> Output {
    for root in ["/response", "/metadata/output"] {
        let Some(out) = op.pointer(root) else {
            continue;
        };
        if let Some(lines) = out
            .pointer("/inlinedResponses/inlinedResponses")
            .and_then(Value::as_array)
        {
            return Output::Inline(lines.clone());
        }
        if let Some(file) = out.get("responsesFile").and_then(Value::as_str) {
            return Output::GeminiFile(file.to_string());
        }
    }
    Output::None
}

/// Downloads a result file: one JSON object per line, with `key`.
pub fn file_results(b: &Batches, file: &str) -> Result<Vec<LineResult>, AiError> {
    // The path google-genai's files.download uses: the API version, then the file.
    let url = format!("{}/{file}:download?alt=media", b.base_url);
    let reply = b.call("GET", &url, &[], None)?;
    Ok(jsonl(b.label(), &reply.body).iter().map(line).collect())
}

/// One result: the key (`metadata.key` inline, `key` in a file), then `response` or
/// `error`.
pub fn line(value: &Value) -> LineResult {
    let key = value
        .pointer("/metadata/key")
        .or_else(|| value.get("key"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if let Some(response) = value.get("response") {
        let body = response.to_string();
        return LineResult {
            key,
            usage: content::usage(&body),
            outcome: content::parse_response(&body),
        };
    }
    let message = value
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or("the line has neither a response nor an error");
    let code = value
        .pointer("/error/code")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let message = format!(
        "the batch line failed ({code}): {}",
        crate::ai::preview(message)
    );
    let outcome = if code == 400 {
        AiError::Item(message)
    } else {
        AiError::transient(message)
    };
    LineResult {
        key,
        usage: Usage::default(),
        outcome: Err(outcome),
    }
}

/// `POST batches/{id}:cancel`.
pub fn cancel(b: &Batches, job_id: &str) -> Result<(), AiError> {
    b.call_json("POST", &format!("{}/{job_id}:cancel", b.base_url), None)
        .map(|_| ())
}
