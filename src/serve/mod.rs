//! `ai-worker serve`: a tiny HTTP trigger for the web panel over `std::net`.
//!
//! `POST /task/run` runs the engine (waiting for it, or in the background),
//! `GET /task/{id}` and `GET /run/{operation_uuid}` read progress, `GET /health` checks
//! the database. One thread per connection, one request per connection, hard limits
//! on sizes and time, JSON errors everywhere. Every slot (a connection, a run) is a
//! guard released on every path, a panic included.

mod request;
mod routes;
mod run_request;

use std::fmt;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::app::status::HealthCheck;
use crate::config::Config;
use crate::stop::StopSignal;
use request::read_request;

/// Time a client has to send its whole request.
const REQUEST_DEADLINE: Duration = Duration::from_secs(10);
/// Time a client has to send the request head: a slow client holds a slot no longer.
const HEAD_DEADLINE: Duration = Duration::from_secs(5);
/// Time allowed to write a response.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections served at once; when all are taken, the oldest one still sending its
/// head is dropped for the newcomer, and only when none is, the newcomer gets 503.
const MAX_CONNECTIONS: usize = 64;
/// How long a new connection may wait for a slot when every one is busy.
const SLOT_WAIT: Duration = Duration::from_millis(500);
/// Runs started through serve at once (`"wait": true` or not); more get 429.
pub const MAX_RUNS: usize = 3;
/// The same limit under its older name.
pub const MAX_BACKGROUND_RUNS: usize = MAX_RUNS;

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

/// What every connection thread shares.
struct Shared {
    config: Config,
    stop: Arc<StopSignal>,
    connections: AtomicUsize,
    /// Connections still sending their head, oldest first.
    reading: Mutex<Vec<Reading>>,
    next_connection: AtomicU64,
    runs: Arc<RunSlots>,
    health: HealthCheck,
}

/// A connection that has not sent its whole head yet.
struct Reading {
    id: u64,
    stream: TcpStream,
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
                reading: Mutex::new(Vec::new()),
                next_connection: AtomicU64::new(0),
                runs: Arc::new(RunSlots::default()),
                health: HealthCheck::default(),
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

    /// Serves until the stop signal is raised, then waits for the runs it started.
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
            if let Ok(stream) = stream {
                self.accept(stream);
            }
        }
        // Calls in flight finish within their timeout; then the items are saved.
        let bound = self.shared.config.ai_timeout + Duration::from_secs(30);
        self.shared.runs.wait_idle(bound);
        log::info!("[HTTP] Stopped");
    }

    /// Hands a new connection to a thread of its own, if a slot is free or can be
    /// freed from a client that is too slow to send its head.
    fn accept(&self, mut stream: TcpStream) {
        let shared = Arc::clone(&self.shared);
        if shared.connections.load(Ordering::SeqCst) >= MAX_CONNECTIONS
            && !shared.evict_slowest_reader()
            && !shared.slot_frees_soon()
        {
            let body = json!({"error": "too many connections, try again"});
            let _ = respond(&mut stream, 503, &body);
            return;
        }
        shared.connections.fetch_add(1, Ordering::SeqCst);
        let deadline = self.request_deadline;
        std::thread::spawn(move || {
            let _slot = ConnectionSlot(&shared.connections);
            handle_connection(&shared, stream, deadline);
        });
    }
}

/// Gives a connection slot back when the connection ends, however it ends.
struct ConnectionSlot<'a>(&'a AtomicUsize);

impl Drop for ConnectionSlot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Shared {
    fn reading(&self) -> MutexGuard<'_, Vec<Reading>> {
        self.reading.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits a moment for a connection to end (a burst of refused clients being
    /// answered); true if one did.
    fn slot_frees_soon(&self) -> bool {
        let until = Instant::now() + SLOT_WAIT;
        while Instant::now() < until {
            if self.connections.load(Ordering::SeqCst) < MAX_CONNECTIONS {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    /// Closes the connection that has been sending its head the longest; false when
    /// every connection is past its head (busy with a real request).
    fn evict_slowest_reader(&self) -> bool {
        let mut reading = self.reading();
        if reading.is_empty() {
            return false;
        }
        let oldest = reading.remove(0);
        let _ = oldest.stream.shutdown(std::net::Shutdown::Both);
        true
    }
}

/// The runs started through serve: at most [`MAX_RUNS`], and a way to wait for them.
#[derive(Default)]
struct RunSlots {
    running: Mutex<usize>,
    ended: Condvar,
}

/// One run's slot, given back when the run ends (or panics).
struct RunSlot(Arc<RunSlots>);

impl RunSlots {
    fn lock(&self) -> MutexGuard<'_, usize> {
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A slot for a run, if fewer than [`MAX_RUNS`] are going.
    fn take(self: &Arc<Self>) -> Option<RunSlot> {
        let mut running = self.lock();
        if *running >= MAX_RUNS {
            return None;
        }
        *running += 1;
        Some(RunSlot(Arc::clone(self)))
    }

    /// Waits until no run is going, at most `bound`; says so once.
    fn wait_idle(&self, bound: Duration) {
        let deadline = Instant::now() + bound;
        let mut running = self.lock();
        if *running > 0 {
            let runs = if *running == 1 { "run" } else { "runs" };
            log::info!("[HTTP] Waiting for {} {runs} to stop", *running);
        }
        while *running > 0 {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                let runs = if *running == 1 { "run" } else { "runs" };
                log::warn!(
                    "[HTTP] {} {runs} did not stop in time; their items return to pending after WORKER_LEASE_S",
                    *running
                );
                return;
            }
            running = match self.ended.wait_timeout(running, left) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
    }
}

impl Drop for RunSlot {
    fn drop(&mut self) {
        *self.0.lock() -= 1;
        self.0.ended.notify_all();
    }
}

/// Reads one request, answers it, and logs one access line. A panic while handling it
/// becomes a 500 answer; the slots are guards, so nothing leaks.
fn handle_connection(shared: &Arc<Shared>, mut stream: TcpStream, request_deadline: Duration) {
    let started = Instant::now();
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let (status, body, label) = match read_one(shared, &stream, started, request_deadline) {
        Ok(request) if routes::is_page(&request) => {
            let (status, content_type, text) = routes::page(shared, &request);
            let _ = respond_raw(&mut stream, status, content_type, &text);
            let label = format!("{} {}", request.method, request.path);
            log::info!(
                "[HTTP] {label} {status} {}ms",
                started.elapsed().as_millis()
            );
            return;
        }
        Ok(request) => {
            let label = format!("{} {}", request.method, request.path);
            let handled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                routes::route(shared, &request)
            }));
            let (status, body) = handled.unwrap_or_else(|_| {
                routes::error(
                    500,
                    "internal error while handling the request (see the log)",
                )
            });
            (status, body, label)
        }
        Err(request::RequestError::Closed) => return,
        Err(e) => (e.status(), json!({"error": e.message()}), "- -".to_string()),
    };
    let _ = respond(&mut stream, status, &body);
    log::info!(
        "[HTTP] {label} {status} {}ms",
        started.elapsed().as_millis()
    );
}

/// Reads the request, registered as "still sending its head" until the head is in.
fn read_one(
    shared: &Shared,
    stream: &TcpStream,
    started: Instant,
    request_deadline: Duration,
) -> Result<request::Request, request::RequestError> {
    let closed = |_| request::RequestError::Closed;
    let mut reader = stream.try_clone().map_err(closed)?;
    let timeouts = stream.try_clone().map_err(closed)?;
    let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
    if let Ok(handle) = stream.try_clone() {
        shared.reading().push(Reading { id, stream: handle });
    }
    let mut set_timeout = |d: Duration| {
        let _ = timeouts.set_read_timeout(Some(d.max(Duration::from_millis(1))));
    };
    let head_deadline = started + HEAD_DEADLINE.min(request_deadline);
    let deadline = started + request_deadline;
    let done_reading = || shared.reading().retain(|r| r.id != id);
    let mut head_done = |authorization: Option<&str>| {
        done_reading();
        routes::token_ok(&shared.config, authorization)
    };
    let result = read_request(
        &mut reader,
        head_deadline,
        deadline,
        &mut set_timeout,
        &mut head_done,
    );
    done_reading();
    result
}

/// Writes a JSON response and closes the connection.
fn respond(stream: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<()> {
    respond_raw(stream, status, "application/json", &body.to_string())
}

/// Writes a response of any content type and closes the connection.
fn respond_raw(
    stream: &mut TcpStream,
    status: u16,
    content_type: &str,
    text: &str,
) -> std::io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n",
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

#[cfg(test)]
mod tests {
    use super::*;

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
