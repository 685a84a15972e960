//! `ai-worker serve` over real TCP on an ephemeral loopback port.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ai_worker::{Config, StopSignal};
use ai_worker::{MAX_RUNS as MAX_BACKGROUND_RUNS, Server};
use common::TestDb;
use common::fake_llm::{FakeLlm, gemini_ok};
use serde_json::Value;

struct Running {
    addr: SocketAddr,
    stop: Arc<StopSignal>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.stop.raise();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(config: &Config) -> Running {
    let stop = Arc::new(StopSignal::new());
    let server = Server::bind(config, "127.0.0.1:0", Arc::clone(&stop))
        .unwrap()
        .with_request_deadline(Duration::from_secs(2));
    let addr = server.local_addr().unwrap();
    let thread = std::thread::spawn(move || server.run());
    Running {
        addr,
        stop,
        thread: Some(thread),
    }
}

/// Sends raw bytes, returns (status, JSON body).
fn raw(addr: SocketAddr, bytes: &[u8]) -> (u16, Value) {
    send(addr, bytes, false)
}

/// Sends raw bytes, optionally closing our side at once, and reads the answer.
fn send(addr: SocketAddr, bytes: &[u8], close: bool) -> (u16, Value) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let _ = s.write_all(bytes);
    if close {
        let _ = s.shutdown(std::net::Shutdown::Write);
    }
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_response(&out)
}

fn parse_response(out: &[u8]) -> (u16, Value) {
    let (status, body) = common::split_response(out);
    (status, serde_json::from_str(&body).unwrap_or(Value::Null))
}

fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, Value) {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    if let Some(t) = token {
        req.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}",
            b.len()
        ));
    } else {
        req.push_str("\r\n");
    }
    raw(addr, req.as_bytes())
}

#[test]
fn health_reports_the_database() {
    let t = TestDb::new();
    let server = start(&t.config);
    let (status, body) = request(server.addr, "GET", "/health", None, None);
    assert_eq!((status, body["database"].as_str()), (200, Some("ok")));
    let mut down = t.config.clone();
    down.db.port = 9;
    down.db.password = "Sup3rSecretPassw0rd".into();
    let server = start(&down);
    let (status, body) = request(server.addr, "GET", "/health", None, None);
    assert_eq!(status, 503);
    assert!(body["error"].as_str().unwrap().contains("127.0.0.1:9"));
    assert!(!body.to_string().contains("Sup3rSecretPassw0rd"));
}

#[test]
fn run_and_wait_returns_the_summary_and_task_status_reads_it_back() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["a", "b", "c"]);
    let server = start(&t.config);
    let body =
        format!(r#"{{"task":{task},"task_item":null,"max_item":10,"dry_run":false,"wait":true}}"#);
    let (status, summary) = request(server.addr, "POST", "/task/run", None, Some(&body));
    assert_eq!(status, 200, "{summary}");
    assert_eq!(
        (summary["items_ok"].as_u64(), summary["exit_code"].as_i64()),
        (Some(3), Some(0))
    );
    let (status, progress) = request(server.addr, "GET", &format!("/task/{task}"), None, None);
    assert_eq!(status, 200);
    assert_eq!(progress["status"], "COMPLETED");
    assert_eq!(progress["records_processed"], 3);
    assert_eq!(progress["tokens_input"], 300);
    assert!(progress["finished_at"].is_string());
    assert_eq!(
        progress["batches"],
        serde_json::json!([]),
        "a direct task has no jobs"
    );
    let op = summary["operation_uuid"].as_str().unwrap();
    let (status, run) = request(server.addr, "GET", &format!("/run/{op}"), None, None);
    assert_eq!(
        (status, run["trigger"].as_str(), run["items_ok"].as_u64()),
        (200, Some("http"), Some(3))
    );
}

#[test]
fn run_in_background_answers_202_and_progress_can_be_read() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["a", "b"]);
    let server = start(&t.config);
    let (status, body) = request(
        server.addr,
        "POST",
        "/task/run",
        None,
        Some(&format!(r#"{{"task":{task},"wait":false}}"#)),
    );
    assert_eq!(status, 202);
    let op = body["operation_uuid"].as_str().unwrap().to_string();
    // Wait for the condition "the run has finished", reading it through the API.
    let mut finished = false;
    for _ in 0..1500 {
        let (status, run) = request(server.addr, "GET", &format!("/run/{op}"), None, None);
        if status == 200 && run["running"] == false {
            finished = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(finished, "background run {op} finished");
    let (_, progress) = request(server.addr, "GET", &format!("/task/{task}"), None, None);
    assert_eq!(
        (
            progress["status"].as_str(),
            progress["records_processed"].as_u64()
        ),
        (Some("COMPLETED"), Some(2))
    );
    assert_eq!(progress["operation_uuid"].as_str(), Some(op.as_str()));
}

#[test]
fn too_many_background_runs_get_429() {
    let mut t = TestDb::new();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (arrived_tx, arrived_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let arrived_tx = Mutex::new(arrived_tx);
    let llm = FakeLlm::start(move |req, _| {
        let _ = arrived_tx.lock().unwrap().send(());
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30));
        gemini_ok(&req.item_text(), "ok", 1, 1, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let mut tasks = Vec::new();
    for _ in 0..MAX_BACKGROUND_RUNS {
        tasks.push(t.task(model, &["x"]).0);
    }
    let server = start(&t.config);
    for task in &tasks {
        let (status, _) = request(
            server.addr,
            "POST",
            "/task/run",
            None,
            Some(&format!(r#"{{"task":{task},"wait":false}}"#)),
        );
        assert_eq!(status, 202);
    }
    // One model call arrived per background run: all of them are busy.
    for _ in 0..MAX_BACKGROUND_RUNS {
        arrived_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    }
    let (status, body) = request(
        server.addr,
        "POST",
        "/task/run",
        None,
        Some(r#"{"wait":false}"#),
    );
    assert_eq!(status, 429, "{body}");
    assert!(body["error"].is_string());
    for _ in 0..MAX_BACKGROUND_RUNS {
        release_tx.send(()).unwrap();
    }
}

#[test]
fn every_error_status_is_json() {
    let t = TestDb::new();
    let server = start(&t.config);
    let a = server.addr;
    let cases: Vec<(u16, (u16, Value))> = vec![
        (404, request(a, "GET", "/nope", None, None)),
        (404, request(a, "GET", "/task/999999", None, None)),
        (400, request(a, "GET", "/task/abc", None, None)),
        (400, request(a, "GET", "/run/not-a-uuid", None, None)),
        (
            404,
            request(
                a,
                "GET",
                "/run/00000000-0000-0000-0000-000000000000",
                None,
                None,
            ),
        ),
        (405, request(a, "DELETE", "/task/run", None, None)),
        (405, request(a, "GET", "/task/run", None, None)),
        (
            411,
            raw(
                a,
                b"POST /task/run HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            ),
        ),
        (
            413,
            raw(
                a,
                format!(
                    "POST /task/run HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
                    70_000
                )
                .as_bytes(),
            ),
        ),
        (
            400,
            request(a, "POST", "/task/run", None, Some("{not json")),
        ),
        (
            400,
            request(a, "POST", "/task/run", None, Some(r#"{"task":"42"}"#)),
        ),
        (
            400,
            request(
                a,
                "POST",
                "/task/run",
                None,
                Some(r#"{"task":1,"task_item":2}"#),
            ),
        ),
        (
            404,
            request(a, "POST", "/task/run", None, Some(r#"{"task":777777}"#)),
        ),
        (
            431,
            raw(
                a,
                format!(
                    "GET /health HTTP/1.1\r\nX-Big: {}\r\n\r\n",
                    "a".repeat(9000)
                )
                .as_bytes(),
            ),
        ),
    ];
    for (want, (got, body)) in cases {
        assert_eq!(got, want, "{body}");
        assert!(body["error"].is_string(), "{want}: {body}");
    }
}

#[test]
fn token_is_required_when_set() {
    let t = TestDb::new();
    let mut config = t.config.clone();
    config.serve_token = Some("s3cr3t-token".into());
    let server = start(&config);
    assert_eq!(request(server.addr, "GET", "/health", None, None).0, 401);
    assert_eq!(
        request(server.addr, "GET", "/health", Some("wrong"), None).0,
        401
    );
    let (status, body) = request(server.addr, "GET", "/health", Some("s3cr3t-token"), None);
    assert_eq!(status, 200);
    assert!(!body.to_string().contains("s3cr3t-token"));
}

#[test]
fn hostile_clients_do_not_stop_or_block_the_server() {
    let t = TestDb::new();
    let server = start(&t.config);
    let a = server.addr;
    // A slow client sending one byte at a time holds only its own connection.
    let mut slow = TcpStream::connect(a).unwrap();
    slow.write_all(b"G").unwrap();
    assert_eq!(
        request(a, "GET", "/health", None, None).0,
        200,
        "another client is served meanwhile"
    );
    slow.write_all(b"E").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut out = Vec::new();
    let _ = slow.read_to_end(&mut out);
    assert_eq!(parse_response(&out).0, 408, "the slow client times out");
    // 1 MB of random bytes.
    let mut state: u64 = 42;
    let junk: Vec<u8> = (0..1_000_000)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as u8
        })
        .collect();
    let (status, _) = raw(a, &junk);
    assert!(status == 400 || status == 431 || status == 0, "{status}");
    // A truncated request, then the connection closes.
    let (status, _) = send(
        a,
        b"POST /task/run HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"ta",
        true,
    );
    assert_eq!(
        status, 0,
        "nothing to answer to a request that never completed"
    );
    // Pipelined garbage after a valid request: the first is answered, the rest dropped.
    let (status, _) = raw(
        a,
        b"GET /health HTTP/1.1\r\n\r\n\x00\x01\x02GARBAGE\r\n\r\nGET /x HTTP/9\r\n",
    );
    assert_eq!(status, 200);
    assert_eq!(
        request(a, "GET", "/health", None, None).0,
        200,
        "still serving"
    );
}

#[test]
fn the_panel_pauses_resumes_and_cancels_a_task_through_serve() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &["a", "b"]);
    let server = start(&t.config);
    let path = |action: &str| format!("/task/{task}/{action}");
    let (status, body) = request(server.addr, "POST", &path("pause"), None, None);
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["status_before"].as_str(), body["status"].as_str()),
        (Some("NEW"), Some("PAUSED"))
    );
    assert_eq!(t.task_row(task).0, 4);
    let (status, body) = request(server.addr, "POST", &path("cancel"), None, None);
    assert_eq!((status, body["status"].as_str()), (200, Some("CANCELLED")));
    let (status, body) = request(server.addr, "POST", &path("resume"), None, None);
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("NEW")),
        "{body}"
    );
    let (status, body) = request(server.addr, "POST", &path("resume"), None, None);
    assert_eq!(
        (status, body["changed"].as_bool()),
        (200, Some(false)),
        "{body}"
    );
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("nothing to resume")
    );
    let (status, body) = request(server.addr, "POST", "/task/9999/pause", None, None);
    assert_eq!(status, 404, "{body}");
    let (status, _) = request(server.addr, "POST", "/task/abc/pause", None, None);
    assert_eq!(status, 400);
    let (status, _) = request(server.addr, "GET", &path("pause"), None, None);
    assert_eq!(status, 405);
    let (status, _) = request(server.addr, "POST", &path("explode"), None, None);
    assert_eq!(status, 404);
    let (status, body) = request(server.addr, "GET", &format!("/task/{task}"), None, None);
    assert_eq!(status, 200);
    assert_eq!(
        (
            body["kind"].as_str(),
            body["privacy"].as_str(),
            body["priority"].as_i64()
        ),
        (Some("proofread"), Some("all"), Some(0)),
        "{body}"
    );
}
