//! Routing one request to its handler; every answer is JSON, every error
//! `{"error": "..."}` with a fitting status.

use std::sync::Arc;

use serde_json::{Value, json};

use super::request::Request;
use super::run_request::parse_run_request;
use super::{MAX_RUNS, Shared, constant_time_eq};
use crate::app::{self, AppError, status};
use crate::config::Config;

/// Dispatches one request to its handler.
pub(super) fn route(shared: &Arc<Shared>, request: &Request) -> (u16, Value) {
    if !authorized(&shared.config, request) {
        return error(401, "missing or wrong bearer token");
    }
    let segments: Vec<&str> = request
        .path
        .trim_end_matches('/')
        .split('/')
        .skip(1)
        .collect();
    let method = request.method.as_str();
    match (method, segments.as_slice()) {
        ("GET", ["health"]) => health(shared),
        ("GET", ["api", "overview"]) => match status::overview(&shared.config) {
            Ok(body) => (200, body),
            Err(e) => app_error(&e),
        },
        ("POST", ["task", "run"]) => task_run(shared, &request.body),
        ("POST", ["task", "rework"]) => task_rework(shared, &request.body),
        ("POST", ["task", "export"]) => task_export(shared, &request.body),
        ("GET", ["task", "run"]) => error(405, "use POST on /task/run"),
        ("GET", ["task", id]) => match id.parse::<u32>() {
            Ok(id) => task_status(&shared.config, id),
            Err(_) => error(
                400,
                format!("task id must be a positive whole number, not '{id}'"),
            ),
        },
        ("GET", ["task", id, "items"]) => task_items(&shared.config, id, &request.query),
        ("GET", ["run", uuid]) => run_status(&shared.config, uuid),
        ("POST", ["task", id, action @ ("pause" | "resume" | "cancel")]) => {
            task_control(&shared.config, id, action)
        }
        (
            _,
            ["health"]
            | ["task", "run" | "rework" | "export"]
            | ["task", _]
            | ["task", _, "items" | "view"]
            | ["run", _]
            | ["task", _, "pause" | "resume" | "cancel"],
        ) => error(
            405,
            format!("method {method} is not allowed on {}", request.path),
        ),
        _ => error(404, format!("no such endpoint: {}", request.path)),
    }
}

/// `POST /task/{id}/pause|resume|cancel`: the panel's hand on a task.
fn task_control(config: &Config, id: &str, action: &str) -> (u16, Value) {
    let Ok(id) = id.parse::<u32>() else {
        return error(
            400,
            format!("task id must be a positive whole number, not '{id}'"),
        );
    };
    let Some(action) = app::control::TaskAction::parse(action) else {
        return error(404, format!("no such action: {action}"));
    };
    match app::control::apply(config, id, action) {
        Ok(applied) => (200, applied.to_json()),
        Err(e) => app_error(&e),
    }
}

/// `GET /task/{id}/items?status=&review=&page=&per_page=`: one page of a task's
/// items with their texts. Without `SERVE_TOKEN` (anyone on the machine may ask)
/// personal data in the texts is masked.
fn task_items(config: &Config, id: &str, query: &str) -> (u16, Value) {
    let Ok(id) = id.parse::<u32>() else {
        return error(
            400,
            format!("task id must be a positive whole number, not '{id}'"),
        );
    };
    let pairs = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")));
    let query = match app::items::ItemsQuery::from_pairs(pairs) {
        Ok(query) => query,
        Err(m) => return error(400, m),
    };
    let mask = config.serve_token.is_none();
    match app::items::task_items(config, id, query, mask) {
        Ok(body) => (200, body),
        Err(e) => app_error(&e),
    }
}

/// The status page, compiled into the binary.
const STATUS_PAGE: &str = include_str!("status.html");
/// The task page (a task's texts before and after), compiled into the binary.
const TASK_PAGE: &str = include_str!("task.html");
/// The script both pages share (the token, reading JSON), put in at their marker.
const SESSION_SCRIPT: &str = include_str!("session.js");

/// A page with the shared script in place: one self-contained file, nothing loaded
/// from elsewhere.
fn with_session_script(page: &str) -> String {
    page.replacen("// @shared-script\n", SESSION_SCRIPT, 1)
}

/// Whether the request asks for something that is not JSON: the status page, a task
/// page or the metrics.
pub(super) fn is_page(request: &Request) -> bool {
    request.method == "GET"
        && (matches!(request.path.as_str(), "/" | "/metrics") || task_page_id(request).is_some())
}

/// The id of `/task/{id}/view`.
fn task_page_id(request: &Request) -> Option<&str> {
    let rest = request.path.strip_prefix("/task/")?;
    let id = rest.strip_suffix("/view")?;
    (!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// `GET /` and `GET /task/{id}/view` (the pages hold no data, so they need no token;
/// they ask for one) and `GET /metrics` (Prometheus text, token required like
/// everything else).
pub(super) fn page(shared: &Arc<Shared>, request: &Request) -> (u16, &'static str, String) {
    if request.path == "/" {
        return (
            200,
            "text/html; charset=utf-8",
            with_session_script(STATUS_PAGE),
        );
    }
    if task_page_id(request).is_some() {
        return (
            200,
            "text/html; charset=utf-8",
            with_session_script(TASK_PAGE),
        );
    }
    if !authorized(&shared.config, request) {
        return (
            401,
            "text/plain; charset=utf-8",
            "missing or wrong bearer token\n".into(),
        );
    }
    match status::metrics(&shared.config) {
        Ok(text) => (200, "text/plain; version=0.0.4; charset=utf-8", text),
        Err(e) => (503, "text/plain; charset=utf-8", format!("{e}\n")),
    }
}

/// Whether the request carries the bearer token (the scheme in any case).
fn authorized(config: &Config, request: &Request) -> bool {
    token_ok(config, request.authorization.as_deref())
}

/// Whether an `Authorization` header carries `SERVE_TOKEN` (always, without one).
pub(super) fn token_ok(config: &Config, authorization: Option<&str>) -> bool {
    let Some(token) = &config.serve_token else {
        return true;
    };
    let given = authorization
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, value)| value)
        .unwrap_or_default();
    constant_time_eq(given.trim().as_bytes(), token.as_bytes())
}

pub(super) fn error(status: u16, message: impl Into<String>) -> (u16, Value) {
    (status, json!({"error": message.into()}))
}

/// The JSON error answer for an application error.
fn app_error(e: &AppError) -> (u16, Value) {
    (
        e.http_status(),
        json!({"error": e.to_string(), "exit_code": e.exit_code()}),
    )
}

fn health(shared: &Shared) -> (u16, Value) {
    match shared.health.check(&shared.config) {
        Ok(()) => (200, json!({"status": "ok", "database": "ok"})),
        Err(e) => (
            503,
            json!({"status": "unavailable", "error": e.to_string()}),
        ),
    }
}

fn task_status(config: &Config, id: u32) -> (u16, Value) {
    let batches = match crate::app::batch::jobs(config, Some(id)) {
        Ok(jobs) => jobs.iter().map(crate::app::batch::job_json).collect(),
        Err(e) => return app_error(&e),
    };
    let kind = match status::task_kind(config, id) {
        Ok(Ok(kind)) => json!(kind),
        Ok(Err(why)) => json!(format!("invalid: {why}")),
        Err(e) => return app_error(&e),
    };
    match status::task(config, id) {
        Ok(p) => (
            200,
            json!({
                "id_task": p.id,
                "name": p.name,
                "status_id": p.status_id,
                "status": status::task_status_name(p.status_id),
                "kind": kind,
                "privacy": crate::privacy::Level::parse(p.privacy_priority.0.as_deref()).name(),
                "priority": p.privacy_priority.1,
                "records_total": p.records_total,
                "records_processed": p.records_processed,
                "records_error": p.records_error,
                "tokens_input": p.tokens_input,
                "tokens_output": p.tokens_output,
                "error_message": p.error_message,
                "operation_uuid": p.operation_uuid,
                "created_at": p.times[0],
                "started_at": p.times[1],
                "finished_at": p.times[2],
                "updated_at": p.times[3],
                "tokens_cached": p.tokens_cached_thinking.0,
                "tokens_thinking": p.tokens_cached_thinking.1,
                "cost": p.cost.0,
                "max_cost": p.cost.1,
                "currency": p.cost.2,
                "batches": Value::Array(batches),
            }),
        ),
        Err(e) => app_error(&e),
    }
}

fn run_status(config: &Config, uuid: &str) -> (u16, Value) {
    match status::run(config, uuid) {
        Ok(r) => (
            200,
            json!({
                "operation_uuid": r.operation_uuid,
                "started_at": r.started_at,
                "finished_at": r.finished_at,
                "trigger": r.trigger,
                "host": r.host,
                "pid": r.pid,
                "items_ok": r.items_ok,
                "items_error": r.items_error,
                "message": r.message,
                "tokens_input": r.tokens.0,
                "tokens_output": r.tokens.1,
                "cost": r.cost,
                "running": r.running,
                "ended": match (&r.finished_at, r.running) {
                    (Some(_), _) => "finished",
                    (None, true) => "running",
                    (None, false) => "ended (no heartbeat)",
                },
            }),
        ),
        Err(e) => app_error(&e),
    }
}

fn task_run(shared: &Arc<Shared>, body: &[u8]) -> (u16, Value) {
    let mut request = match parse_run_request(body) {
        Ok(r) => r,
        Err(m) => return error(400, m),
    };
    // A request may ask for fewer threads than the configuration allows, never more.
    let config = &shared.config;
    let options = &mut request.options;
    options.concurrency = options.concurrency.map(|c| c.min(config.concurrency));
    if !request.wait {
        options.operation_uuid = Some(uuid::Uuid::new_v4().to_string());
    }
    let plan = match app::plan(config, options) {
        Ok(plan) => plan,
        Err(e) => return app_error(&e),
    };
    let Some(slot) = shared.runs.take() else {
        return error(
            429,
            format!("{MAX_RUNS} runs started through serve are already going; try again later"),
        );
    };
    if request.wait {
        return match app::run(config, &plan, &shared.stop) {
            Ok(summary) => (200, summary.to_json()),
            Err(e) => app_error(&e),
        };
    }
    let operation_uuid = plan.operation_uuid.clone();
    let shared_bg = Arc::clone(shared);
    std::thread::spawn(move || {
        let _slot = slot;
        if let Err(e) = app::run(&shared_bg.config, &plan, &shared_bg.stop) {
            log::error!("[HTTP] background run failed: {e}");
        }
        crate::logging::set_operation(None);
    });
    (
        202,
        json!({"operation_uuid": operation_uuid, "status": "started"}),
    )
}

/// `POST /task/rework` `{"task": 42}` (optional): REJECTED results back to PENDING.
fn task_rework(shared: &Arc<Shared>, body: &[u8]) -> (u16, Value) {
    let fields = match review_fields(body, &["task"]) {
        Ok(fields) => fields,
        Err(m) => return error(400, m),
    };
    match app::review::rework(&shared.config, fields.0) {
        Ok(done) => (200, json!({"items": done.items, "tasks": done.tasks})),
        Err(e) => app_error(&e),
    }
}

/// `POST /task/export` `{"task": 42, "dry_run": false}` (both optional).
fn task_export(shared: &Arc<Shared>, body: &[u8]) -> (u16, Value) {
    let (task, dry_run) = match review_fields(body, &["task", "dry_run", "retry"]) {
        Ok(fields) => fields,
        Err(m) => return error(400, m),
    };
    let retry = match flag(body, "retry") {
        Ok(retry) => retry,
        Err(m) => return error(400, m),
    };
    match app::review::export_with(&shared.config, task, dry_run, retry) {
        Ok(done) => (200, done.to_json()),
        Err(e) => app_error(&e),
    }
}

/// A true/false field of a small JSON body (absent or null: false).
fn flag(body: &[u8], name: &str) -> Result<bool, String> {
    let value: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match value.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(format!("field '{name}' must be true or false")),
    }
}

/// `task` and `dry_run` of a small JSON body (empty = every default); other fields
/// than `allowed` are refused by name.
fn review_fields(body: &[u8], allowed: &[&str]) -> Result<(Option<u32>, bool), String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((None, false));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not valid JSON: {e}"))?;
    let object = value.as_object().ok_or("body must be a JSON object")?;
    if let Some(unknown) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!(
            "unknown field '{unknown}' (allowed: {})",
            allowed.join(", ")
        ));
    }
    let task = match object.get("task") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .filter(|&n| n > 0 && n <= u64::from(u32::MAX))
                .ok_or("field 'task' must be a positive whole number or null")? as u32,
        ),
    };
    let dry_run = match object.get("dry_run") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("field 'dry_run' must be true or false".into()),
    };
    Ok((task, dry_run))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_page_carries_the_shared_script_once() {
        for page in [STATUS_PAGE, TASK_PAGE] {
            let served = with_session_script(page);
            assert!(!served.contains("@shared-script"));
            assert_eq!(served.matches("async function readJson(path)").count(), 1);
        }
    }
}
