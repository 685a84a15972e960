//! Log lines on stderr: time, level, the run's `operation_uuid`, then the message in
//! the SPEC's format (`[Task 42] Started processing (15 records)`).

use std::cell::RefCell;
use std::io::Write;

thread_local! {
    static OPERATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Tags this thread's log lines with a run's `operation_uuid` (`None` clears it).
pub fn set_operation(operation_uuid: Option<&str>) {
    OPERATION.with(|op| *op.borrow_mut() = operation_uuid.map(str::to_string));
}

/// Starts the logger with a filter such as `info` or `ai_worker=debug` (`RUST_LOG`
/// syntax). Calling it twice is harmless.
pub fn init(filter: &str) {
    let _ = env_logger::Builder::new()
        .parse_filters(filter)
        .format(|buf, record| {
            let ts = buf.timestamp_seconds();
            let op = OPERATION.with(|op| op.borrow().clone());
            match op {
                Some(op) => writeln!(buf, "{ts} {:<5} op={op} {}", record.level(), record.args()),
                None => writeln!(buf, "{ts} {:<5} {}", record.level(), record.args()),
            }
        })
        .try_init();
}
