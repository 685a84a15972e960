//! What this process did, counted for Prometheus: items, model requests, retries,
//! tokens, cost, item durations, runs. `serve` shows them at `GET /metrics` (with the
//! queue read from the database at each scrape); a cron run can write them to a file
//! for node_exporter's textfile collector (`--metrics-file`).
//!
//! Names follow Prometheus's conventions: the `ai_worker_` prefix, base units
//! (seconds), `_total` for counters, and no per-item labels.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Upper bounds of the item duration histogram, in seconds.
const DURATION_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// A metric's name and its labels.
type Key = (&'static str, Vec<(&'static str, String)>);

#[derive(Default)]
struct Registry {
    /// (name, labels) -> value, for counters and gauges.
    values: BTreeMap<Key, f64>,
    /// Item durations: count per bucket (and +Inf), sum, count.
    buckets: Vec<u64>,
    duration_sum: f64,
    duration_count: u64,
}

static REGISTRY: Mutex<Option<Registry>> = Mutex::new(None);

fn registry() -> MutexGuard<'static, Option<Registry>> {
    REGISTRY.lock().unwrap_or_else(|e| e.into_inner())
}

fn add(name: &'static str, labels: &[(&'static str, &str)], by: f64) {
    let labels: Vec<(&'static str, String)> =
        labels.iter().map(|(k, v)| (*k, v.to_string())).collect();
    let mut guard = registry();
    let reg = guard.get_or_insert_with(Registry::default);
    *reg.values.entry((name, labels)).or_insert(0.0) += by;
}

fn set(name: &'static str, value: f64) {
    let mut guard = registry();
    let reg = guard.get_or_insert_with(Registry::default);
    reg.values.insert((name, Vec::new()), value);
}

/// An item ended with `status` (`processed`, `error`, `released`) on `model`.
pub fn item(status: &str, model: &str, seconds: f64) {
    add(
        "ai_worker_items_total",
        &[("status", status), ("model", model)],
        1.0,
    );
    let mut guard = registry();
    let reg = guard.get_or_insert_with(Registry::default);
    if reg.buckets.is_empty() {
        reg.buckets = vec![0; DURATION_BUCKETS.len() + 1];
    }
    let slot = DURATION_BUCKETS
        .iter()
        .position(|&b| seconds <= b)
        .unwrap_or(DURATION_BUCKETS.len());
    reg.buckets[slot] += 1;
    reg.duration_sum += seconds;
    reg.duration_count += 1;
}

/// A model request ended with an HTTP status (or `error`: no answer at all).
pub fn request(provider: &str, code: &str) {
    add(
        "ai_worker_model_requests_total",
        &[("provider", provider), ("code", code)],
        1.0,
    );
}

/// A request is being retried; `rate_limited` when the server said 429.
pub fn retry(provider: &str, rate_limited: bool) {
    add("ai_worker_retries_total", &[("provider", provider)], 1.0);
    if rate_limited {
        add(
            "ai_worker_rate_limited_total",
            &[("provider", provider)],
            1.0,
        );
    }
}

/// Tokens billed, by kind: `input`, `cached`, `output`, `thinking`.
pub fn tokens(kind: &str, count: u64) {
    if count > 0 {
        add("ai_worker_tokens_total", &[("kind", kind)], count as f64);
    }
}

/// Money spent, in a currency.
pub fn cost(currency: &str, amount: f64) {
    if amount > 0.0 {
        add("ai_worker_cost_total", &[("currency", currency)], amount);
    }
}

/// A task paused: its budget was reached (`budget`) or its model's server could not
/// be reached (`unreachable`).
pub fn task_paused(reason: &str) {
    add("ai_worker_tasks_paused_total", &[("reason", reason)], 1.0);
}

/// A run ended (`trigger` cli, http, demo; `result` ok, failed, interrupted, error).
pub fn run(trigger: &str, result: &str) {
    add(
        "ai_worker_runs_total",
        &[("trigger", trigger), ("result", result)],
        1.0,
    );
    if result == "ok" {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        set("ai_worker_last_success_timestamp_seconds", now.floor());
    }
}

/// 429 answers this process got, by provider (for the status page).
pub fn rate_limited() -> Vec<(String, u64)> {
    let guard = registry();
    let Some(reg) = guard.as_ref() else {
        return Vec::new();
    };
    reg.values
        .iter()
        .filter(|((name, _), _)| *name == "ai_worker_rate_limited_total")
        .map(|((_, labels), value)| {
            let provider = labels.first().map(|(_, v)| v.clone()).unwrap_or_default();
            (provider, *value as u64)
        })
        .collect()
}

/// The queue as the database shows it, for a scrape.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Queue {
    /// Items by status name (`pending`, `processing`, `processed`, `error`).
    pub items: Vec<(&'static str, u64)>,
    /// Age of the oldest PENDING item, in seconds (0 when none).
    pub oldest_pending_seconds: f64,
    /// Items inside batch jobs the provider has not finished.
    pub batch_items_waiting: u64,
    /// Age of the oldest unfinished batch job, in seconds (0 when none).
    pub oldest_batch_job_seconds: f64,
}

const HELP: &[(&str, &str, &str)] = &[
    (
        "ai_worker_items_total",
        "counter",
        "Items this process ended, by status and model.",
    ),
    (
        "ai_worker_model_requests_total",
        "counter",
        "Model requests by provider and HTTP status (error: no answer).",
    ),
    (
        "ai_worker_retries_total",
        "counter",
        "Model requests retried.",
    ),
    (
        "ai_worker_rate_limited_total",
        "counter",
        "Model requests answered with 429.",
    ),
    (
        "ai_worker_tokens_total",
        "counter",
        "Tokens billed, by kind (input, cached, output, thinking).",
    ),
    (
        "ai_worker_cost_total",
        "counter",
        "Money spent on model calls, by currency.",
    ),
    (
        "ai_worker_runs_total",
        "counter",
        "Runs of the engine, by trigger and result.",
    ),
    (
        "ai_worker_last_success_timestamp_seconds",
        "gauge",
        "When the last run that succeeded ended (Unix time).",
    ),
];

/// Every metric in the Prometheus text exposition format (also node_exporter's
/// textfile format), with `queue` when the database was read.
pub fn render(queue: Option<&Queue>) -> String {
    let guard = registry();
    let empty = Registry::default();
    let reg = guard.as_ref().unwrap_or(&empty);
    let mut out = String::new();
    for (name, kind, help) in HELP {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for ((metric, labels), value) in reg.values.iter().filter(|((n, _), _)| n == name) {
            let _ = writeln!(out, "{metric}{} {}", label_text(labels), number(*value));
        }
        if *name == "ai_worker_last_success_timestamp_seconds"
            && !reg.values.keys().any(|(n, _)| n == name)
        {
            let _ = writeln!(out, "{name} 0");
        }
    }
    render_histogram(&mut out, reg);
    if let Some(queue) = queue {
        render_queue(&mut out, queue);
    }
    out
}

fn render_histogram(out: &mut String, reg: &Registry) {
    let name = "ai_worker_item_duration_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Time from claim to saved result, per item.\n# TYPE {name} histogram"
    );
    let mut cumulative = 0;
    for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
        cumulative += reg.buckets.get(i).copied().unwrap_or(0);
        let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
    }
    cumulative += reg
        .buckets
        .get(DURATION_BUCKETS.len())
        .copied()
        .unwrap_or(0);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(out, "{name}_sum {}", number(reg.duration_sum));
    let _ = writeln!(out, "{name}_count {}", reg.duration_count);
}

fn render_queue(out: &mut String, queue: &Queue) {
    let name = "ai_worker_queue_items";
    let _ = writeln!(
        out,
        "# HELP {name} Items in the database, by status.\n# TYPE {name} gauge"
    );
    for (status, count) in &queue.items {
        let _ = writeln!(out, "{name}{{status=\"{status}\"}} {count}");
    }
    let name = "ai_worker_oldest_pending_item_age_seconds";
    let _ = writeln!(
        out,
        "# HELP {name} Age of the oldest pending item.\n# TYPE {name} gauge"
    );
    let _ = writeln!(out, "{name} {}", number(queue.oldest_pending_seconds));
    let gauges = [
        (
            "ai_worker_batch_items_waiting",
            "Items inside batch jobs the provider has not finished.",
            queue.batch_items_waiting as f64,
        ),
        (
            "ai_worker_oldest_batch_job_age_seconds",
            "Age of the oldest unfinished batch job (alert above BATCH_MAX_WAIT_H).",
            queue.oldest_batch_job_seconds,
        ),
    ];
    for (name, help, value) in gauges {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        let _ = writeln!(out, "{name} {}", number(value));
    }
}

fn label_text(labels: &[(&'static str, String)]) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let escaped = v
                .replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n");
            format!("{k}=\"{escaped}\"")
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// A value as Prometheus reads it: whole numbers without a fraction, others to ten
/// decimals without trailing zeros (sums of prices carry float noise such as
/// 0.005081499999999999, which is 0.0050815).
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{}", value as i64);
    }
    if value.is_nan() {
        return "NaN".into();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    if value.abs() >= 1e15 {
        return format!("{value}");
    }
    let fixed = format!("{value:.10}");
    let trimmed = fixed.trim_end_matches('0').trim_end_matches('.');
    match trimmed {
        "" | "-" | "-0" => "0".into(),
        t => t.into(),
    }
}

/// Writes the metrics to `path` atomically (a temporary file beside it, then a
/// rename), as node_exporter's textfile collector wants.
pub fn write_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut text = render(None);
    // A run that did not succeed keeps the last success the file already had, so an
    // alert on "no success for 24 h" sees the real last success.
    let name = "ai_worker_last_success_timestamp_seconds";
    let zero = format!("\n{name} 0\n");
    if text.contains(&zero)
        && let Ok(old) = std::fs::read_to_string(path)
        && let Some(line) = old.lines().find(|l| l.starts_with(name))
    {
        text = text.replace(&zero, &format!("\n{line}\n"));
    }
    let tmp = path.with_extension("prom.tmp");
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_carry_no_float_noise() {
        assert_eq!(number(0.005081499999999999), "0.0050815");
        assert_eq!(number(12.0), "12");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(1e-12), "0");
        assert_eq!(number(f64::INFINITY), "+Inf");
    }

    #[test]
    fn renders_counters_histogram_and_queue_in_the_text_format() {
        item("processed", "gemini \"pro\"", 0.7);
        request("Gemini", "200");
        tokens("input", 120);
        run("cli", "ok");
        let queue = Queue {
            items: vec![("pending", 3), ("processed", 5)],
            oldest_pending_seconds: 12.5,
            batch_items_waiting: 40,
            oldest_batch_job_seconds: 3600.0,
        };
        let text = render(Some(&queue));
        assert!(
            text.contains("ai_worker_batch_items_waiting 40\n"),
            "{text}"
        );
        assert!(
            text.contains("ai_worker_oldest_batch_job_age_seconds 3600\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE ai_worker_items_total counter"));
        assert!(
            text.contains(r#"ai_worker_items_total{status="processed",model="gemini \"pro\""}"#),
            "{text}"
        );
        assert!(text.contains("ai_worker_item_duration_seconds_bucket{le=\"1\"}"));
        assert!(text.contains("ai_worker_queue_items{status=\"pending\"} 3"));
        assert!(text.contains("ai_worker_oldest_pending_item_age_seconds 12.5"));
        assert!(!text.contains("ai_worker_last_success_timestamp_seconds 0\n"));
    }
}
