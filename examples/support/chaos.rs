//! What both chaos runs share: settings from the environment, a random number, the
//! items left, and the final check of a task's rows against its counters.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

use mysql::prelude::Queryable;

/// A whole number from the environment, or `default`.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A number below `below`, different each call.
pub fn random(below: u64) -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() % below.max(1)
}

/// Items of a task still to do (pending or processing).
pub fn left(conn: &mut mysql::Conn, task: u32) -> u64 {
    conn.exec_first(
        "SELECT COUNT(*) FROM task_item WHERE id_task = ? AND status_id IN (0, 2)",
        (task,),
    )
    .unwrap()
    .unwrap_or(0)
}

/// A task's items at the end: processed, failed, left (pending or processing), and
/// whether the task's counters equal those rows.
pub struct Outcome {
    pub processed: u64,
    pub error: u64,
    pub left: u64,
    pub counters_exact: bool,
}

/// Reads a task's [`Outcome`].
pub fn outcome(conn: &mut mysql::Conn, task: u32) -> Outcome {
    let (processed, error, left): (u64, u64, u64) = conn
        .exec_first(
            "SELECT CAST(SUM(status_id = 1) AS UNSIGNED), CAST(SUM(status_id = 3) AS UNSIGNED), \
             CAST(SUM(status_id IN (0, 2)) AS UNSIGNED) FROM task_item WHERE id_task = ?",
            (task,),
        )
        .unwrap()
        .unwrap();
    let counters: (u64, u64) = conn
        .exec_first(
            "SELECT records_processed, records_error FROM task WHERE id_task = ?",
            (task,),
        )
        .unwrap()
        .unwrap();
    Outcome {
        processed,
        error,
        left,
        counters_exact: counters == (processed, error),
    }
}
