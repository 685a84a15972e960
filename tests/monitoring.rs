//! Watching it work: `/metrics` parsed by Prometheus's own Python parser, a metrics
//! file a cron run leaves behind, and the status page rendered by headless Chromium.

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use ai_worker::{Server, StopSignal};
use common::browser::{available, chromium, rendered, screenshot};
use common::fake_llm::{FakeLlm, gemini_error, gemini_ok};
use common::{TestDb, http, output_text};

fn prometheus_parser() -> bool {
    available(
        "Python prometheus_client",
        Command::new("python3").args(["-c", "import prometheus_client"]),
    )
}

/// Parses metrics with prometheus_client; returns the metric family names.
fn parse_metrics(text: &str) -> Vec<String> {
    let script = "import sys\nfrom prometheus_client.parser import text_string_to_metric_families\n\
                  for f in text_string_to_metric_families(sys.stdin.read()):\n    print(f.name, f.type, len(f.samples))";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused the metrics: {}\n{text}",
        output_text(&out)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A fake Gemini that answers the items starting with "zły" with the given error and
/// echoes the rest (10 input, 5 output and `thinking` thinking tokens each).
fn failing_bad_items(
    status: u16,
    code: &'static str,
    message: &'static str,
    thinking: u64,
) -> FakeLlm {
    FakeLlm::start(move |req, _| {
        if req.item_text().starts_with("zły") {
            gemini_error(status, code, message)
        } else {
            gemini_ok(&req.item_text(), "ok", 10, 5, thinking)
        }
    })
}

fn start(config: &ai_worker::Config) -> (SocketAddr, Arc<StopSignal>) {
    let stop = Arc::new(StopSignal::new());
    let server = Server::bind(config, "127.0.0.1:0", Arc::clone(&stop)).unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || server.run());
    (addr, stop)
}

#[test]
fn metrics_parse_with_a_real_prometheus_parser_and_need_the_token() {
    let mut t = TestDb::new();
    let llm = failing_bad_items(429, "RESOURCE_EXHAUSTED", "slow down", 2);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = t.task(model, &["dobry", "zły", "też dobry"]);
    let mut config = t.config.clone();
    config.serve_token = Some("tok".into());
    let (addr, stop) = start(&config);
    let (status, _) = http(
        addr,
        "POST",
        "/task/run",
        Some("tok"),
        &format!(r#"{{"task":{task}}}"#),
    );
    assert_eq!(status, 200);
    assert_eq!(http(addr, "GET", "/metrics", None, "").0, 401);
    let (status, text) = http(addr, "GET", "/metrics", Some("tok"), "");
    assert_eq!(status, 200, "{text}");
    for needle in [
        "ai_worker_items_total{status=\"processed\"",
        "ai_worker_model_requests_total{provider=\"Gemini\",code=\"429\"}",
        "ai_worker_rate_limited_total{provider=\"Gemini\"}",
        "ai_worker_tokens_total{kind=\"thinking\"}",
        // Still rate limited after every retry: the item waits (pending), not its fault.
        "ai_worker_queue_items{status=\"pending\"} 1",
        "ai_worker_item_duration_seconds_count",
        "ai_worker_runs_total{trigger=\"http\",result=\"failed\"} 1",
    ] {
        assert!(text.contains(needle), "{needle} not in:\n{text}");
    }
    if prometheus_parser() {
        let families = parse_metrics(&text);
        for name in [
            "ai_worker_items counter",
            "ai_worker_item_duration_seconds histogram",
            "ai_worker_queue_items gauge",
        ] {
            assert!(
                families.iter().any(|f| f.starts_with(name)),
                "{name}: {families:?}"
            );
        }
    }
    stop.raise();
}

#[test]
fn a_cron_run_leaves_a_metrics_file_that_keeps_the_last_success() {
    let mut t = TestDb::new();
    let llm = failing_bad_items(400, "INVALID_ARGUMENT", "bad", 0);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (good, _) = t.task(model, &["dobry"]);
    let dir = std::env::temp_dir().join(format!("aiw-metrics-{}", t.config.db.name));
    let file = dir.join("textfile").join("ai_worker.prom");
    let out = t.run_bin(&[
        "--task",
        &good.to_string(),
        "--metrics-file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    let text = std::fs::read_to_string(&file).unwrap();
    let success = |text: &str| -> f64 {
        let line = text
            .lines()
            .find(|l| l.starts_with("ai_worker_last_success_timestamp_seconds "))
            .unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    let first = success(&text);
    assert!(first > 1.7e9, "{text}");
    assert!(
        !dir.join("textfile").join("ai_worker.prom.tmp").exists(),
        "written atomically"
    );
    if prometheus_parser() {
        parse_metrics(&text);
    }
    // A failed run rewrites the file and keeps the last success it had.
    let (bad, _) = t.task(model, &["zły"]);
    let out = t
        .bin_command(&["--task", &bad.to_string()])
        .env("METRICS_FILE", file.to_str().unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("ai_worker_runs_total{trigger=\"cli\",result=\"failed\"} 1"),
        "{text}"
    );
    assert_eq!(success(&text), first);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn the_status_page_shows_the_tasks_in_a_real_browser() {
    if !chromium() {
        return;
    }
    let mut t = TestDb::new();
    let llm = failing_bad_items(400, "INVALID_ARGUMENT", "nie da się", 0);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (done, _) = t.task(model, &["a", "b", "zły 1"]);
    let (waiting, _) = t.task(model, &["c", "d", "e", "f"]);
    t.conn_exec(&format!(
        "UPDATE task SET name = 'Opisy produktów' WHERE id_task = {done}"
    ));
    t.conn_exec(&format!(
        "UPDATE task SET name = 'Artykuły bloga' WHERE id_task = {waiting}"
    ));
    let mut config = t.config.clone();
    config.serve_token = Some("sekret".into());
    let (addr, stop) = start(&config);
    assert_eq!(
        http(
            addr,
            "POST",
            "/task/run",
            Some("sekret"),
            &format!(r#"{{"task":{done}}}"#)
        )
        .0,
        200
    );

    let page = rendered(&format!("http://{addr}/"));
    assert!(
        page.contains("401") && page.contains("needs its token"),
        "asks for the token:\n{page}"
    );
    assert!(
        !page.contains("Opisy produktów"),
        "no data without the token"
    );

    let url = format!("http://{addr}/#token=sekret");
    let page = rendered(&url);
    assert!(
        page.contains("Opisy produktów") && page.contains("Artykuły bloga"),
        "{page}"
    );
    assert!(
        page.contains("2 processed, 1 failed, 0 pending of 3"),
        "{page}"
    );
    assert!(
        page.contains("0 processed, 0 failed, 4 pending of 4"),
        "{page}"
    );
    assert!(
        page.contains("INVALID_ARGUMENT: nie da się"),
        "the model's last error: {page}"
    );
    assert!(
        page.contains(&format!("href=\"task/{done}/view\"")),
        "each task links to its page of texts: {page}"
    );

    // A run finishes; the page shows it on its next refresh.
    assert_eq!(
        http(
            addr,
            "POST",
            "/task/run",
            Some("sekret"),
            &format!(r#"{{"task":{waiting}}}"#)
        )
        .0,
        200
    );
    let page = rendered(&url);
    assert!(
        page.contains("4 processed, 0 failed, 0 pending of 4"),
        "{page}"
    );
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("status-page.png");
    screenshot(&url, &shot, (900, 1100));
    stop.raise();
}

#[test]
fn the_status_page_shows_no_life_where_there_is_none_and_names_fallback_results() {
    let mut t = TestDb::new();
    let own = t.model("echo", "echo", None, None);
    let other = t.model("echo", "echo", None, None);
    let (stuck, ids) = t.task(own, &["a", "b", "c", "d"]);
    // A run that died without a summary, its task IN_PROGRESS with a result made by
    // the fallback and items stuck PROCESSING.
    t.conn_exec(&format!(
        "UPDATE task SET status_id = 1, records_total = 4, records_processed = 2, \
         started_at = NOW() - INTERVAL 20 MINUTE WHERE id_task = {stuck}"
    ));
    t.conn_exec(&format!(
        "UPDATE task_item SET status_id = 1, id_ai_model = {own} WHERE id_task_item = {}",
        ids[0]
    ));
    t.conn_exec(&format!(
        "UPDATE task_item SET status_id = 1, id_ai_model = {other} WHERE id_task_item = {}",
        ids[1]
    ));
    t.conn_exec(
        "INSERT INTO task_run (operation_uuid, `trigger`, started_at, heartbeat_at) \
         VALUES ('00000000-0000-4000-8000-000000000001', 'cli', NOW() - INTERVAL 20 MINUTE, NOW() - INTERVAL 10 MINUTE)",
    );
    // A task stopped before its first item: its counters never filled in.
    let (unstarted, _) = t.task(own, &["x", "y"]);
    t.conn_exec(&format!(
        "UPDATE task SET status_id = 3, records_total = 0 WHERE id_task = {unstarted}"
    ));
    let doc = ai_worker::app::status::overview(&t.config).unwrap();
    let run = &doc["runs"][0];
    assert_eq!(run["running"], false, "{run}");
    assert!(
        run["message"]
            .as_str()
            .unwrap_or_default()
            .contains("no heartbeat"),
        "{run}"
    );
    let task = |id: u32| {
        doc["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id_task"] == id)
            .cloned()
            .unwrap()
    };
    let line = task(stuck);
    assert!(
        line["eta_seconds"].is_null() && line["items_per_minute"].is_null(),
        "{line}"
    );
    assert_eq!(line["items_by_fallback"], 1, "{line}");
    let other_name: String = t.value(&format!(
        "SELECT name FROM ai_model WHERE id_ai_model = {other}"
    ));
    assert_eq!(line["fallback_models"], other_name.as_str(), "{line}");
    assert_eq!(task(unstarted)["records_pending"], 2);
}
