//! A fake provider speaking the Gemini and OpenAI Batch APIs (and direct calls, as an
//! echo), with the state a real one keeps: files, jobs, and results by key. Tests turn
//! its knobs between runs: finish jobs or keep them running, fail a job as a whole,
//! let it expire half done. Result lines come back in reverse order, with a line of
//! junk and a line with a key the worker never sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

use super::fake_llm::{FakeLlm, Reply, Request, gemini_ok, openai_ok};

/// What the fake does with jobs when they are asked about.
#[derive(Clone, Debug, Default)]
pub struct Knobs {
    /// Jobs finish when asked about (else they stay running).
    pub finish: bool,
    /// Jobs expire with only their first half of lines answered.
    pub expire: bool,
    /// Jobs fail as a whole with this message.
    pub fail_job: Option<String>,
    /// Creating a job is refused with this status.
    pub refuse_create: Option<u16>,
    /// Status answers are this body instead (hostile or broken provider).
    pub garbage_status: Option<String>,
}

#[derive(Clone, Debug)]
struct Job {
    id: String,
    gemini: bool,
    key: String,
    requests: Vec<(String, Value)>,
    state: &'static str,
    output: Option<String>,
    inline: Option<Vec<Value>>,
}

#[derive(Default)]
struct State {
    knobs: Knobs,
    files: HashMap<String, String>,
    jobs: Vec<Job>,
    creates: usize,
    cancels: usize,
}

/// The running fake; its base URLs go in the model rows.
pub struct FakeBatch {
    pub server: FakeLlm,
    state: Arc<Mutex<State>>,
}

impl FakeBatch {
    pub fn start() -> FakeBatch {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let server = FakeLlm::start(move |req, _| handle(&mut shared.lock().unwrap(), req));
        FakeBatch { server, state }
    }

    pub fn set(&self, knobs: Knobs) {
        self.state.lock().unwrap().knobs = knobs;
    }

    /// Jobs created so far.
    pub fn creates(&self) -> usize {
        self.state.lock().unwrap().creates
    }

    pub fn cancels(&self) -> usize {
        self.state.lock().unwrap().cancels
    }

    /// How many times each item text was sent, over every job.
    pub fn texts_sent(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for job in &self.state.lock().unwrap().jobs {
            for (_, body) in &job.requests {
                for text in texts_of(body) {
                    *counts.entry(text).or_insert(0) += 1;
                }
            }
        }
        counts
    }

    /// Every request body of every job, as sent.
    pub fn bodies(&self) -> Vec<String> {
        let state = self.state.lock().unwrap();
        state
            .jobs
            .iter()
            .flat_map(|j| j.requests.iter().map(|(_, b)| b.to_string()))
            .collect()
    }
}

fn user_of(body: &Value) -> &str {
    body.pointer("/contents/0/parts/0/text")
        .or_else(|| body.pointer("/messages/1/content"))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn text_of(body: &Value) -> String {
    ai_worker::internals::extract_text(user_of(body))
        .unwrap_or_default()
        .to_string()
}

/// The texts of a line: several for a packed one.
fn texts_of(body: &Value) -> Vec<String> {
    let packed = ai_worker::internals::extract_texts(user_of(body));
    if packed.is_empty() {
        return vec![text_of(body)];
    }
    packed
        .into_iter()
        .map(|(_, text)| text.to_string())
        .collect()
}

fn handle(state: &mut State, req: &Request) -> Reply {
    let path = req.path.split('?').next().unwrap_or_default().to_string();
    let host = req.headers.get("host").cloned().unwrap_or_default();
    match (req.method.as_str(), path.as_str()) {
        ("POST", "/v1/chat/completions") => {
            let text = req.item_text();
            openai_ok(&text, "direct", 100, 20)
        }
        ("POST", p) if p.ends_with(":generateContent") => {
            gemini_ok(&req.item_text(), "direct", 100, 20, 0)
        }
        ("POST", "/v1/files") => {
            let id = format!("file-{}", state.files.len() + 1);
            state.files.insert(id.clone(), multipart_file(req));
            Reply::new(
                200,
                json!({"id": id, "object": "file", "purpose": "batch"}).to_string(),
            )
        }
        ("POST", "/v1/batches") => create(state, req, false),
        ("POST", p) if p.ends_with(":batchGenerateContent") => create(state, req, true),
        ("POST", "/upload/v1beta/files") => {
            // What google-genai sends to start an upload: the file's type and size.
            let meta = req.json();
            let declared = meta
                .pointer("/file/sizeBytes")
                .and_then(Value::as_str)
                .is_some()
                && meta.pointer("/file/mimeType") == Some(&json!("application/jsonl"));
            if !declared {
                return Reply::new(
                    400,
                    "{\"error\":{\"message\":\"file metadata without mimeType/sizeBytes\"}}",
                );
            }
            Reply::new(200, "{}").header(
                "X-Goog-Upload-URL",
                &format!("http://{host}/upload-session/{}", state.files.len() + 1),
            )
        }
        ("POST", p) if p.starts_with("/upload-session/") => {
            let name = format!("files/in-{}", state.files.len() + 1);
            state.files.insert(name.clone(), req.body.clone());
            Reply::new(200, json!({"file": {"name": name}}).to_string())
                .header("X-Goog-Upload-Status", "final")
        }
        ("GET", "/v1/batches") => {
            let data: Vec<Value> = state
                .jobs
                .iter()
                .rev()
                .filter(|j| !j.gemini)
                .map(openai_job)
                .collect();
            Reply::new(
                200,
                json!({"object": "list", "data": data, "has_more": false}).to_string(),
            )
        }
        ("GET", "/v1beta/batches") => {
            let ops: Vec<Value> = state
                .jobs
                .iter()
                .rev()
                .filter(|j| j.gemini)
                .map(gemini_op)
                .collect();
            Reply::new(200, json!({"operations": ops}).to_string())
        }
        ("GET", p) if p.starts_with("/v1/files/") && p.ends_with("/content") => {
            let id = p
                .trim_start_matches("/v1/files/")
                .trim_end_matches("/content");
            match state.files.get(id) {
                Some(content) => Reply::new(200, content.clone()),
                None => Reply::new(404, "{\"error\":{\"message\":\"no such file\"}}"),
            }
        }
        ("GET", p) if p.starts_with("/v1beta/files/") && p.ends_with(":download") => {
            let name = p
                .trim_start_matches("/v1beta/")
                .trim_end_matches(":download");
            Reply::new(200, state.files.get(name).cloned().unwrap_or_default())
        }
        ("POST", p) if p.ends_with("/cancel") || p.ends_with(":cancel") => {
            state.cancels += 1;
            let id = p
                .trim_start_matches("/v1/batches/")
                .trim_start_matches("/v1beta/");
            let id = id
                .trim_end_matches("/cancel")
                .trim_end_matches(":cancel")
                .to_string();
            if let Some(job) = state.jobs.iter_mut().find(|j| j.id == id) {
                job.state = "cancelled";
            }
            Reply::new(200, "{}")
        }
        ("GET", p) => status(state, p),
        _ => Reply::new(404, "{\"error\":{\"message\":\"no such endpoint\"}}"),
    }
}

/// The file part of a multipart body.
fn multipart_file(req: &Request) -> String {
    let body = &req.body;
    let start = body
        .find("filename=")
        .and_then(|i| body[i..].find("\r\n\r\n").map(|j| i + j + 4))
        .unwrap_or(0);
    let end = body.rfind("\r\n--").unwrap_or(body.len());
    body[start..end.max(start)].to_string()
}

fn create(state: &mut State, req: &Request, gemini: bool) -> Reply {
    if let Some(status) = state.knobs.refuse_create {
        return Reply::new(
            status,
            json!({"error": {"message": "quota exceeded for batch jobs", "code": "quota"}})
                .to_string(),
        );
    }
    state.creates += 1;
    let body = req.json();
    let (key, requests) = if gemini {
        let key = body
            .pointer("/batch/displayName")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let config = &body["batch"]["inputConfig"];
        let requests: Vec<(String, Value)> = match config.get("fileName").and_then(Value::as_str) {
            Some(file) => jsonl(
                state
                    .files
                    .get(file)
                    .map(String::as_str)
                    .unwrap_or_default(),
            )
            .into_iter()
            .map(|l| {
                (
                    l["key"].as_str().unwrap_or_default().to_string(),
                    l["request"].clone(),
                )
            })
            .collect(),
            None => config["requests"]["requests"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(|r| {
                    (
                        r["metadata"]["key"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        r["request"].clone(),
                    )
                })
                .collect(),
        };
        (key, requests)
    } else {
        let key = body
            .pointer("/metadata/ai_worker_job")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let file = body["input_file_id"].as_str().unwrap_or_default();
        let lines = jsonl(
            state
                .files
                .get(file)
                .map(String::as_str)
                .unwrap_or_default(),
        );
        (
            key,
            lines
                .into_iter()
                .map(|l| {
                    (
                        l["custom_id"].as_str().unwrap_or_default().to_string(),
                        l["body"].clone(),
                    )
                })
                .collect(),
        )
    };
    let n = state.jobs.len() + 1;
    let id = if gemini {
        format!("batches/job{n}")
    } else {
        format!("batch_{n}")
    };
    let job = Job {
        id,
        gemini,
        key,
        requests,
        state: "running",
        output: None,
        inline: None,
    };
    let reply = if gemini {
        gemini_op(&job)
    } else {
        openai_job(&job)
    };
    state.jobs.push(job);
    Reply::new(200, reply.to_string())
}

fn jsonl(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The answer to a packed line: each text echoed under its id, except a text with
/// "SKIP-IN-PACK", which the answer leaves out.
fn packed_content(packed: &[(String, &str)]) -> String {
    let items: Vec<Value> = packed
        .iter()
        .filter(|(_, text)| !text.contains("SKIP-IN-PACK"))
        .map(|(id, text)| json!({"id": id, "text_corrected": text, "change_summary": "batch"}))
        .collect();
    json!({ "items": items }).to_string()
}

/// One line's answer: the text echoed, "FAIL-LINE" failing, "BAD-REQUEST" refused
/// (in a packed line: any of its texts).
fn answer(gemini: bool, key: &str, body: &Value) -> Value {
    let packed = ai_worker::internals::extract_texts(user_of(body));
    let text = texts_of(body).join("\n");
    // An analysis asks for an `answer` field instead of a correction.
    let asks_answer = body
        .pointer("/generationConfig/responseSchema/properties/answer")
        .is_some()
        || body.pointer("/response_format/json_schema/name") == Some(&json!("answer"));
    let content = if !packed.is_empty() {
        packed_content(&packed)
    } else if asks_answer {
        json!({"answer": format!("Streszczenie: {text}")}).to_string()
    } else {
        json!({"text_corrected": text, "change_summary": "batch"}).to_string()
    };
    if gemini {
        if text.contains("FAIL-LINE") {
            return json!({"key": key, "metadata": {"key": key}, "error": {"code": 503, "message": "overloaded"}});
        }
        if text.contains("BAD-REQUEST") {
            return json!({"key": key, "metadata": {"key": key}, "error": {"code": 400, "message": "invalid argument"}});
        }
        return json!({"key": key, "metadata": {"key": key}, "response": {
            "candidates": [{"content": {"parts": [{"text": content}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 20}}});
    }
    if text.contains("FAIL-LINE") {
        return json!({"id": "r", "custom_id": key, "response": null, "error": {"code": "server_error", "message": "overloaded"}});
    }
    let (status, body) = if text.contains("BAD-REQUEST") {
        (
            400,
            json!({"error": {"message": "invalid request", "type": "invalid_request_error"}}),
        )
    } else {
        (
            200,
            json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 100, "completion_tokens": 20}}),
        )
    };
    json!({"id": "r", "custom_id": key, "response": {"status_code": status, "body": body}, "error": null})
}

/// Finishes a running job as the knobs say: results in reverse order, plus junk.
fn finish(state: &mut State, index: usize) {
    let knobs = state.knobs.clone();
    let job = &mut state.jobs[index];
    if job.state != "running" && job.state != "cancelled" {
        return;
    }
    if let Some(_why) = &knobs.fail_job {
        job.state = "failed";
        return;
    }
    let answered = if knobs.expire || job.state == "cancelled" {
        job.requests.len() / 2
    } else {
        job.requests.len()
    };
    let mut lines: Vec<Value> = job.requests[..answered]
        .iter()
        .map(|(k, b)| answer(job.gemini, k, b))
        .collect();
    lines.reverse();
    lines.push(if job.gemini {
        json!({"key": "999999-1-1", "response": {}})
    } else {
        json!({"custom_id": "999999-1-1", "response": {"status_code": 200, "body": {}}})
    });
    if job.state == "running" {
        job.state = if knobs.expire { "expired" } else { "completed" };
    }
    let mut file: String = lines.iter().map(|l| format!("{l}\n")).collect();
    file.push_str("this line is not JSON\n");
    if job.gemini && job.requests.len().is_multiple_of(2) {
        job.inline = Some(lines);
    } else {
        job.output = Some(file);
    }
}

fn status(state: &mut State, path: &str) -> Reply {
    if let Some(garbage) = &state.knobs.garbage_status {
        return Reply::new(200, garbage.clone());
    }
    let id = path
        .trim_start_matches("/v1/batches/")
        .trim_start_matches("/v1beta/")
        .to_string();
    let Some(index) = state.jobs.iter().position(|j| j.id == id) else {
        return Reply::new(404, "{\"error\":{\"message\":\"no such batch\"}}");
    };
    if state.knobs.finish || state.jobs[index].state == "cancelled" {
        finish(state, index);
    }
    let job = state.jobs[index].clone();
    if let Some(output) = &job.output {
        let name = if job.gemini {
            format!("files/out-{index}")
        } else {
            format!("file-out-{index}")
        };
        state.files.insert(name, output.clone());
    }
    let why = state.knobs.fail_job.clone().unwrap_or_default();
    let mut value = if job.gemini {
        gemini_op(&job)
    } else {
        openai_job(&job)
    };
    if job.state == "failed" {
        if job.gemini {
            value["error"] = json!({"code": 400, "message": why});
        } else {
            value["errors"] =
                json!({"object": "list", "data": [{"code": "invalid", "message": why, "line": 1}]});
        }
    }
    Reply::new(200, value.to_string())
}

fn openai_job(job: &Job) -> Value {
    let n = job.id.trim_start_matches("batch_");
    let done = matches!(job.state, "completed" | "expired" | "cancelled");
    let status = if job.state == "running" {
        "in_progress"
    } else {
        job.state
    };
    json!({"id": job.id, "object": "batch", "status": status, "metadata": {"ai_worker_job": job.key},
           "output_file_id": if done { json!(format!("file-out-{}", n.parse::<usize>().unwrap_or(1) - 1)) } else { Value::Null },
           "request_counts": {"total": job.requests.len(), "completed": 0, "failed": 0}})
}

fn gemini_op(job: &Job) -> Value {
    let state = match job.state {
        "running" => "BATCH_STATE_RUNNING",
        "completed" => "BATCH_STATE_SUCCEEDED",
        "expired" => "BATCH_STATE_EXPIRED",
        "cancelled" => "BATCH_STATE_CANCELLED",
        _ => "BATCH_STATE_FAILED",
    };
    let index = job
        .id
        .trim_start_matches("batches/job")
        .parse::<usize>()
        .unwrap_or(1)
        - 1;
    let mut op = json!({"name": job.id, "metadata": {"@type": "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch",
        "displayName": job.key, "state": state, "batchStats": {"requestCount": job.requests.len().to_string()}}, "done": state != "BATCH_STATE_RUNNING"});
    if let Some(lines) = &job.inline {
        op["response"] = json!({"inlinedResponses": {"inlinedResponses": lines}});
    } else if job.output.is_some() {
        op["response"] = json!({"responsesFile": format!("files/out-{index}")});
    }
    op
}
