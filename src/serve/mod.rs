//! `ai-worker serve`: a tiny HTTP trigger for the web panel over `std::net`.
//!
//! `POST /task/run` runs the engine (waiting for it, or in the background),
//! `GET /task/{id}` and `GET /run/{operation_uuid}` read progress, `GET /health` checks
//! the database. One thread per connection, one request per connection, hard limits
//! on sizes and time, JSON errors everywhere.

pub mod request;

use std::fmt;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::app::{self, AppError, status};
use crate::config::Config;
use crate::stop::StopSignal;
use crate::worker::RunOptions;
use request::{Request, read_request};

/// Time a client has to send its whole request.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Time allowed to write a response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; more get 503 at once.
const MAX_CONNECTIONS: usize = 64;
/// Background runs (`"wait": false`) at once; more get 429.
pub const MAX_BACKGROUND_RUNS: usize = 3;

/// Why the server could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServeError {
    /// A non-loopback address without `SERVE_TOKEN`.
    Insecure(String),
    /// The address is invalid or taken.
    Bind(String),
}

impl fmt::Display for ServeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServeError::Insecure(addr) => write!(
                f,
                "refusing to listen on {addr} without SERVE_TOKEN: anyone on the network could start paid runs (set SERVE_TOKEN in .env, or bind 127.0.0.1)"
            ),
            ServeError::Bind(m) => write!(f, "cannot listen: {m}"),
        }
    }
}

impl std::error::Error for ServeError {}

/// A bound server, ready to run.
pub struct Server {
    listener: TcpListener,
    shared: Arc<Shared>,
    request_deadline: Duration,
}

struct Shared {
    config: Config,
    stop: Arc<StopSignal>,
    connections: AtomicUsize,
    background: AtomicUsize,
}

impl Server {
    /// Binds `addr` (refusing a non-loopback address without a token).
    pub fn bind(config: &Config, addr: &str, stop: Arc<StopSignal>) -> Result<Server, ServeError> {
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(|e| ServeError::Bind(format!("{addr}: {e}")))?
            .collect();
        if config.serve_token.is_none() && addrs.iter().any(|a| !a.ip().is_loopback()) {
            return Err(ServeError::Insecure(addr.to_string()));
        }
        let listener =
            TcpListener::bind(&addrs[..]).map_err(|e| ServeError::Bind(format!("{addr}: {e}")))?;
        Ok(Server {
            listener,
            shared: Arc::new(Shared {
                config: config.clone(),
                stop,
                connections: AtomicUsize::new(0),
                background: AtomicUsize::new(0),
            }),
            request_deadline: REQUEST_DEADLINE,
        })
    }

    /// Changes how long a client has to send its request (10 s by default).
    pub fn with_request_deadline(mut self, deadline: Duration) -> Server {
        self.request_deadline = deadline;
        self
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until the stop signal is raised, then waits for background runs.
    pub fn run(self) {
        let addr = self.local_addr();
        log::info!(
            "[HTTP] Listening on {} ({})",
            addr.map_or_else(|| "?".into(), |a| a.to_string()),
            if self.shared.config.serve_token.is_some() {
                "token required"
            } else {
                "no token: loopback only"
            }
        );
        // Wakes the blocking accept() when the stop signal is raised.
        if let Some(addr) = addr {
            let stop = Arc::clone(&self.shared.stop);
            std::thread::spawn(move || {
                while !stop.sleep(Duration::from_secs(3600)) {}
                let _ = TcpStream::connect(addr);
            });
        }
        for stream in self.listener.incoming() {
            if self.shared.stop.is_raised() {
                break;
            }
            let Ok(stream) = stream else { continue };
            let shared = Arc::clone(&self.shared);
            let deadline = self.request_deadline;
            if shared.connections.fetch_add(1, Ordering::SeqCst) >= MAX_CONNECTIONS {
                shared.connections.fetch_sub(1, Ordering::SeqCst);
                let mut stream = stream;
                let _ = respond(
                    &mut stream,
                    503,
                    &json!({"error": "too many connections, try again"}),
                );
                continue;
            }
            std::thread::spawn(move || {
                handle_connection(&shared, stream, deadline);
                shared.connections.fetch_sub(1, Ordering::SeqCst);
            });
        }
        while self.shared.background.load(Ordering::SeqCst) > 0 {
            log::info!("[HTTP] Waiting for background runs to stop");
            self.shared.stop.sleep(Duration::from_millis(200));
        }
        log::info!("[HTTP] Stopped");
    }
}

fn handle_connection(shared: &Arc<Shared>, mut stream: TcpStream, request_deadline: Duration) {
    let started = Instant::now();
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let deadline = started + request_deadline;
    let reader = stream.try_clone();
    let (status, body, label) = match reader {
        Err(e) => (
            500,
            json!({"error": format!("socket error: {e}")}),
            "? ?".to_string(),
        ),
        Ok(mut reader) => {
            let timeout_handle = reader.try_clone();
            let mut set_timeout = |d: Duration| {
                if let Ok(s) = &timeout_handle {
                    let _ = s.set_read_timeout(Some(d.max(Duration::from_millis(1))));
                }
            };
            match read_request(&mut reader, deadline, &mut set_timeout) {
                Ok(request) => {
                    let label = format!("{} {}", request.method, request.path);
                    let (status, body) = route(shared, &request);
                    (status, body, label)
                }
                Err(request::RequestError::Closed) => return,
                Err(e) => (e.status(), json!({"error": e.message()}), "- -".to_string()),
            }
        }
    };
    let _ = respond(&mut stream, status, &body);
    log::info!(
        "[HTTP] {label} {status} {}ms",
        started.elapsed().as_millis()
    );
}

/// Writes a JSON response and closes the connection.
fn respond(stream: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    let text = body.to_string();
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(status),
        text.len()
    );
    if status == 405 {
        head.push_str("Allow: GET, POST\r\n");
    }
    if status == 401 {
        head.push_str("WWW-Authenticate: Bearer\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(text.as_bytes())?;
    stream.flush()?;
    let _ = stream.shutdown(std::net::Shutdown::Write);
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Payload Too Large",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Internal Server Error",
    }
}

/// Compares two byte strings in time that depends only on their lengths.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn authorized(config: &Config, request: &Request) -> bool {
    let Some(token) = &config.serve_token else {
        return true;
    };
    let given = request
        .authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or_default();
    constant_time_eq(given.trim().as_bytes(), token.as_bytes())
}

fn error(status: u16, message: impl Into<String>) -> (u16, Value) {
    (status, json!({"error": message.into()}))
}

/// Dispatches one request to its handler.
fn route(shared: &Arc<Shared>, request: &Request) -> (u16, Value) {
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
        ("GET", ["health"]) => health(&shared.config),
        ("POST", ["task", "run"]) => task_run(shared, &request.body),
        ("GET", ["task", "run"]) => error(405, "use POST on /task/run"),
        ("GET", ["task", id]) => match id.parse::<u32>() {
            Ok(id) => task_status(&shared.config, id),
            Err(_) => error(
                400,
                format!("task id must be a positive whole number, not '{id}'"),
            ),
        },
        ("GET", ["run", uuid]) => run_status(&shared.config, uuid),
        (_, ["health"]) | (_, ["task", "run"]) | (_, ["task", _]) | (_, ["run", _]) => error(
            405,
            format!("method {method} is not allowed on {}", request.path),
        ),
        _ => error(404, format!("no such endpoint: {}", request.path)),
    }
}

/// The JSON error answer for an application error.
fn app_error(e: &AppError) -> (u16, Value) {
    (
        e.http_status(),
        json!({"error": e.to_string(), "exit_code": e.exit_code()}),
    )
}

fn health(config: &Config) -> (u16, Value) {
    match status::health(config) {
        Ok(()) => (200, json!({"status": "ok", "database": "ok"})),
        Err(e) => (
            503,
            json!({"status": "unavailable", "error": e.to_string()}),
        ),
    }
}

fn task_status(config: &Config, id: u32) -> (u16, Value) {
    match status::task(config, id) {
        Ok(p) => (
            200,
            json!({
                "id_task": p.id,
                "name": p.name,
                "status_id": p.status_id,
                "status": status::task_status_name(p.status_id),
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
                "running": r.finished_at.is_none(),
            }),
        ),
        Err(e) => app_error(&e),
    }
}

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
            "max_item" => request.options.max_items = positive(key, v)?,
            "concurrency" => request.options.concurrency = positive(key, v)?,
            "dry_run" => request.options.dry_run = boolean(key, v)?.unwrap_or(false),
            "wait" => request.wait = boolean(key, v)?.unwrap_or(true),
            other => {
                return Err(format!(
                    "unknown field '{other}' (allowed: task, task_item, max_item, dry_run, wait, concurrency)"
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
    if request.wait {
        return match app::run(config, &plan, &shared.stop) {
            Ok(summary) => (200, summary.to_json()),
            Err(e) => app_error(&e),
        };
    }
    if shared.background.fetch_add(1, Ordering::SeqCst) >= MAX_BACKGROUND_RUNS {
        shared.background.fetch_sub(1, Ordering::SeqCst);
        return error(
            429,
            format!("{MAX_BACKGROUND_RUNS} background runs are already going; try again later"),
        );
    }
    let operation_uuid = plan.operation_uuid.clone();
    let shared_bg = Arc::clone(shared);
    std::thread::spawn(move || {
        if let Err(e) = app::run(&shared_bg.config, &plan, &shared_bg.stop) {
            log::error!("[HTTP] background run failed: {e}");
        }
        crate::logging::set_operation(None);
        shared_bg.background.fetch_sub(1, Ordering::SeqCst);
    });
    (
        202,
        json!({"operation_uuid": operation_uuid, "status": "started"}),
    )
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
            (r.options.task, r.options.max_items, r.wait),
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

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
    }

    #[test]
    fn refuses_public_bind_without_token() {
        let config = Config::defaults();
        let err = Server::bind(&config, "0.0.0.0:0", Arc::new(StopSignal::new()))
            .err()
            .unwrap();
        assert!(matches!(err, ServeError::Insecure(_)));
        let mut with_token = Config::defaults();
        with_token.serve_token = Some("t".into());
        assert!(Server::bind(&with_token, "127.0.0.1:0", Arc::new(StopSignal::new())).is_ok());
    }
}
