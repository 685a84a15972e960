//! Log lines on stderr: time, level, the run's `operation_uuid`, then the message in
//! the SPEC's format (`[Task 42] Started processing (15 records)`). With `--log-file`
//! every line is also appended to a file, so scheduled runs (Task Scheduler, cron)
//! keep their logs without any shell redirection.

use std::cell::RefCell;
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

thread_local! {
    static OPERATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The file opened by [`open_log_file`], shared by every thread.
static LOG_FILE: OnceLock<Mutex<LogFile>> = OnceLock::new();

/// The open log file, and what it takes to move on to the next day's file.
struct LogFile {
    /// The path as given, when it has `{date}` in it.
    pattern: Option<String>,
    /// The date in the name of the open file.
    date: String,
    file: File,
}

impl LogFile {
    /// Opens `path`, `{date}` filled in with the date of `now`.
    fn open(path: &Path, now: SystemTime) -> Result<(LogFile, PathBuf), LogFileError> {
        let pattern = path.to_string_lossy().into_owned();
        let date = utc_timestamp(now)[..10].to_string();
        let path = PathBuf::from(pattern.replace("{date}", &date));
        let fail = |source| LogFileError {
            path: path.clone(),
            source,
        };
        if let Some(folder) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(folder).map_err(fail)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(fail)?;
        let pattern = pattern.contains("{date}").then_some(pattern);
        Ok((
            LogFile {
                pattern,
                date,
                file,
            },
            path,
        ))
    }

    /// Appends `bytes`, first moving on to the new day's file when the date in the
    /// name has changed (a long `serve` or a run past midnight). If the new file cannot
    /// be opened the old one is kept: a log line is never dropped for that.
    fn append(&mut self, now: SystemTime, bytes: &[u8]) {
        if let Some(pattern) = &self.pattern
            && utc_timestamp(now)[..10] != self.date
            && let Ok((next, _)) = LogFile::open(Path::new(pattern), now)
        {
            *self = next;
        }
        let _ = self.file.write_all(bytes);
    }
}

/// Tags this thread's log lines with a run's `operation_uuid` (`None` clears it).
pub fn set_operation(operation_uuid: Option<&str>) {
    OPERATION.with(|op| *op.borrow_mut() = operation_uuid.map(str::to_string));
}

/// Starts the logger with a filter such as `info` or `ai_worker=debug` (`RUST_LOG`
/// syntax). Lines go to stderr and to the log file, if one is open. Calling it twice
/// is harmless. The HTTP library never logs below `info`, whatever the filter says:
/// at `debug` and `trace` it dumps requests, and with them the API key headers.
pub fn init(filter: &str) {
    let _ = env_logger::Builder::new()
        .parse_filters(filter)
        .filter_module("ureq", log::LevelFilter::Info)
        .filter_module("ureq_proto", log::LevelFilter::Info)
        .target(env_logger::Target::Pipe(Box::new(Tee)))
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

/// A panic's message for a log line or an item error: at most 200 characters, and
/// nothing between backquotes, where the standard library quotes the string it was
/// slicing (item text must never reach a log).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    let raw = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    let mut out = String::new();
    for (i, part) in raw.split('`').enumerate() {
        out.push_str(if i % 2 == 0 { part } else { "…" });
    }
    out.chars().take(200).collect()
}

/// Replaces the default panic output (which quotes the panic message as it is) with
/// one log line, on stderr and in the log file, whose message is cut by
/// [`panic_message`].
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let message = panic_message(info.payload());
        log::error!("internal error at {location}: {message}");
    }));
}

/// The log file could not be opened.
#[derive(Debug)]
pub struct LogFileError {
    /// The path, with `{date}` filled in.
    pub path: PathBuf,
    /// Why the system refused.
    pub source: io::Error,
}

impl fmt::Display for LogFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot open the log file {}: {} (check that the folder can be created and written)",
            self.path.display(),
            self.source
        )
    }
}

impl std::error::Error for LogFileError {}

/// Opens the file that log lines are appended to from now on, besides stderr, creating
/// it and its folder when missing. `{date}` in the path becomes today's date (UTC, as
/// in the log lines), so `logs/ai-worker-{date}.log` gives one file per day; a process
/// still running at midnight moves on to the next day's file. Several processes may
/// append to the same file at once: each line is one append. Returns the path opened.
pub fn open_log_file(path: &Path) -> Result<PathBuf, LogFileError> {
    let (file, path) = LogFile::open(path, SystemTime::now())?;
    // A second call keeps the first file; main opens one per process.
    let _ = LOG_FILE.set(Mutex::new(file));
    Ok(path)
}

/// Whether log lines also go to a file.
pub fn has_file() -> bool {
    LOG_FILE.get().is_some()
}

/// Appends one line to the log file only (not stderr), in the logger's format, for
/// what happens before the logger starts or besides it (usage errors, exit codes).
pub fn file_line(level: &str, message: &str) {
    let line = format!(
        "{} {level:<5} {message}\n",
        utc_timestamp(SystemTime::now())
    );
    append_to_file(line.as_bytes());
}

fn append_to_file(bytes: &[u8]) {
    if let Some(file) = LOG_FILE.get() {
        // A poisoned lock only means another thread panicked mid-line; keep logging.
        let mut file = file.lock().unwrap_or_else(|e| e.into_inner());
        file.append(SystemTime::now(), bytes);
    }
}

/// The logger's output: stderr, and the log file when one is open.
struct Tee;

impl Write for Tee {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let _ = io::stderr().write_all(buf);
        append_to_file(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

/// `time` as `YYYY-MM-DDTHH:MM:SSZ` (UTC), the format of the log lines.
pub fn utc_timestamp(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// The proleptic Gregorian date of a day counted from 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_are_utc_calendar_dates() {
        let at = |secs: u64| utc_timestamp(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(at(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(at(1_767_225_599), "2025-12-31T23:59:59Z");
        assert_eq!(at(1_795_579_200), "2026-11-25T04:00:00Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00Z");
    }

    #[test]
    fn a_dated_log_moves_on_to_the_next_day_and_plain_names_stay() {
        let dir = std::env::temp_dir().join(format!("aiw-logfile-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let day = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        let evening = day(1_795_651_199); // 2026-11-25T23:59:59Z
        let pattern = dir.join("logs").join("w-{date}.log");
        let (mut log, path) = LogFile::open(&pattern, evening).unwrap();
        assert_eq!(path, dir.join("logs").join("w-2026-11-25.log"));
        log.append(evening, b"late\n");
        log.append(day(1_795_651_200), b"after midnight\n");
        let read = |name: &str| std::fs::read_to_string(dir.join("logs").join(name)).unwrap();
        assert_eq!(read("w-2026-11-25.log"), "late\n");
        assert_eq!(read("w-2026-11-26.log"), "after midnight\n");

        let (mut plain, _) = LogFile::open(&dir.join("plain.log"), evening).unwrap();
        plain.append(evening, b"one\n");
        plain.append(day(1_795_651_200), b"two\n");
        assert_eq!(
            std::fs::read_to_string(dir.join("plain.log")).unwrap(),
            "one\ntwo\n"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn every_day_follows_the_one_before() {
        let mut previous = civil_from_days(-1);
        assert_eq!(previous, (1969, 12, 31));
        for days in 0..200_000 {
            let (y, m, d) = civil_from_days(days);
            let (py, pm, pd) = previous;
            let next_day = (y, m, d) == (py, pm, pd + 1);
            let next_month = (y, m, d) == (py, pm + 1, 1) && pd >= 28;
            let next_year = (y, m, d) == (py + 1, 1, 1) && (pm, pd) == (12, 31);
            assert!(
                next_day || next_month || next_year,
                "{previous:?} -> {y}-{m}-{d}"
            );
            previous = (y, m, d);
        }
    }
}
