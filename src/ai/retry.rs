//! Retries with exponential backoff and jitter, and the rate gate every thread of a
//! run passes before calling the model. One piece of code for every provider.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::AiError;
use crate::random::random_u64;
use crate::stop::StopSignal;

/// Longest wait the worker accepts from a server's `Retry-After`.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(15 * 60);

/// Longest backoff between two attempts when the server names no wait.
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// How many times a call is retried and how long to wait in between.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// First backoff; doubles on every retry up to `MAX_BACKOFF`.
    pub base: Duration,
    /// Longest single wait between attempts, whatever the server asks for: below the
    /// claim's lease, so that a claim kept alive before every wait never expires.
    pub max_wait: Duration,
}

impl RetryPolicy {
    /// The wait before retry number `retry` (0-based): `base * 2^retry`, capped, with
    /// "equal jitter" (half fixed, half random) so threads do not retry in lockstep.
    pub fn backoff(&self, retry: u32, random: u64) -> Duration {
        let full = self
            .base
            .saturating_mul(1u32 << retry.min(20))
            .min(MAX_BACKOFF);
        let half = full / 2;
        let jitter_ns = if half.is_zero() {
            0
        } else {
            random % (half.as_nanos() as u64 + 1)
        };
        half + Duration::from_nanos(jitter_ns)
    }
}

/// Request slots shared with the other worker processes on the same model, so that
/// `requests_per_minute` holds however many run at once. The worker keeps them in
/// the database; the gate falls back to pacing within this process if they fail.
pub trait SharedPace: Send + Sync {
    /// Reserves the next request slot, `interval` after the last one any process
    /// took; returns how long from now it starts.
    fn reserve(&self, interval: Duration) -> Result<Duration, String>;
    /// Holds every process off for `wait` (a 429 named that wait).
    fn pause(&self, wait: Duration) -> Result<(), String>;
}

#[derive(Debug, Default)]
struct GateState {
    paused_until: Option<Instant>,
    next_slot: Option<Instant>,
}

/// One gate per run and model: a 429 pauses every thread until the time the server
/// names, and `requests_per_minute` spaces requests so the quota is never exceeded,
/// across processes too when the gate has a [`SharedPace`].
pub struct RateGate {
    state: Mutex<GateState>,
    interval: Option<Duration>,
    shared: Option<Box<dyn SharedPace>>,
    /// The shared slots failed once; this process paces on its own from then on.
    shared_failed: AtomicBool,
}

impl std::fmt::Debug for RateGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateGate")
            .field("interval", &self.interval)
            .field("shared", &self.shared.is_some())
            .finish_non_exhaustive()
    }
}

impl RateGate {
    /// A gate; `requests_per_minute` of `None` or 0 means no pacing.
    pub fn new(requests_per_minute: Option<u32>) -> RateGate {
        RateGate {
            state: Mutex::new(GateState::default()),
            interval: requests_per_minute
                .filter(|&rpm| rpm > 0)
                .map(|rpm| Duration::from_secs(60) / rpm),
            shared: None,
            shared_failed: AtomicBool::new(false),
        }
    }

    /// Takes request slots from `shared` (other processes use it too) instead of
    /// from this gate alone. Only a gate that paces (`requests_per_minute`) uses it.
    pub fn share(&mut self, shared: Box<dyn SharedPace>) {
        self.shared = Some(shared);
    }

    /// The shared slots, while they work and the gate paces at all.
    fn shared(&self) -> Option<&dyn SharedPace> {
        self.interval?;
        if self.shared_failed.load(Ordering::Relaxed) {
            return None;
        }
        self.shared.as_deref()
    }

    /// Notes that the shared slots failed; pacing stays within this process.
    fn shared_failure(&self, message: &str) {
        if !self.shared_failed.swap(true, Ordering::Relaxed) {
            log::warn!("requests_per_minute is now paced within this process only: {message}");
        }
    }

    /// Pauses every caller of `wait_turn` until `until` (never shortens a pause), and
    /// the other processes too when the slots are shared.
    pub fn pause_until(&self, until: Instant) {
        {
            let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            if state.paused_until.is_none_or(|p| p < until) {
                state.paused_until = Some(until);
            }
        }
        if let Some(shared) = self.shared()
            && let Err(e) = shared.pause(until.saturating_duration_since(Instant::now()))
        {
            self.shared_failure(&e);
        }
    }

    /// How long the caller must wait at `now`; reserves a request slot when the wait
    /// is only for pacing (`have_slot` tells it one is already reserved).
    fn plan(&self, now: Instant, have_slot: &mut bool) -> Option<Duration> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(paused) = state.paused_until.filter(|&p| p > now) {
            return Some(paused - now);
        }
        let interval = match self.interval {
            Some(interval) if !*have_slot => interval,
            _ => return None,
        };
        if let Some(shared) = self.shared() {
            drop(state);
            match shared.reserve(interval) {
                Ok(wait) => {
                    *have_slot = true;
                    return (!wait.is_zero()).then_some(wait);
                }
                Err(e) => {
                    self.shared_failure(&e);
                    state = self.state.lock().unwrap_or_else(|e| e.into_inner());
                }
            }
        }
        let slot = state.next_slot.map_or(now, |next| next.max(now));
        state.next_slot = Some(slot + interval);
        *have_slot = true;
        (slot > now).then(|| slot - now)
    }

    /// Blocks until this thread may send a request. Returns false if the run is
    /// stopping.
    pub fn wait_turn(&self, stop: &StopSignal) -> bool {
        let mut have_slot = false;
        while let Some(wait) = self.plan(Instant::now(), &mut have_slot) {
            if stop.sleep(wait) {
                return false;
            }
        }
        !stop.is_raised()
    }
}

/// Consecutive failures to reach the model's server (across every thread of a run)
/// after which no more calls are made: the server is down, not the items.
pub const BREAKER_THRESHOLD: u32 = 3;

/// The run's circuit breaker: counts consecutive connection failures (refused,
/// timed out) across threads, and opens after [`BREAKER_THRESHOLD`] of them.
#[derive(Debug, Default)]
pub struct Breaker {
    consecutive: AtomicU32,
    last: Mutex<String>,
}

impl Breaker {
    /// Whether calls have stopped.
    pub fn is_open(&self) -> bool {
        self.consecutive.load(Ordering::Relaxed) >= BREAKER_THRESHOLD
    }

    fn failed(&self, message: &str) {
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = message.to_string();
        self.consecutive.fetch_add(1, Ordering::Relaxed);
    }

    /// The last failure seen, for the message of the calls not made.
    fn last(&self) -> String {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn succeeded(&self) {
        self.consecutive.store(0, Ordering::Relaxed);
    }
}

/// What one call of a run needs besides the call itself.
pub struct Attempts<'a> {
    /// Retries and waits.
    pub policy: &'a RetryPolicy,
    /// The run's rate gate.
    pub gate: &'a RateGate,
    /// The run's circuit breaker.
    pub breaker: &'a Breaker,
    /// Ctrl+C / SIGTERM.
    pub stop: &'a StopSignal,
    /// The provider's name for log lines.
    pub label: &'a str,
}

impl Attempts<'_> {
    /// Runs `call` until it succeeds, fails for good, or retries run out; a transient
    /// failure left at the end becomes an item error naming the number of attempts,
    /// a server that cannot be reached becomes [`AiError::Unreachable`].
    /// `keep_alive` runs before every wait and every retry; when it says the work was
    /// taken over (false), no further call is made.
    pub fn run<T>(
        &self,
        keep_alive: &mut dyn FnMut() -> bool,
        mut call: impl FnMut() -> Result<T, AiError>,
    ) -> Result<T, AiError> {
        let mut retry = 0;
        loop {
            if !self.gate.wait_turn(self.stop) {
                return Err(AiError::Stopped);
            }
            if retry > 0 && !keep_alive() {
                return Err(AiError::ClaimLost);
            }
            if self.breaker.is_open() {
                return Err(AiError::Unreachable(format!(
                    "{} (the server could not be reached {BREAKER_THRESHOLD} times in a row; calls stopped)",
                    self.breaker.last()
                )));
            }
            let failure = match call() {
                Ok(value) => {
                    self.breaker.succeeded();
                    return Ok(value);
                }
                Err(err) => Failure::of(err)?,
            };
            if failure.offline {
                self.breaker.failed(&failure.message);
            }
            let limit = if failure.bad_answer {
                self.policy.max_retries.min(MAX_BAD_ANSWER_RETRIES)
            } else {
                self.policy.max_retries
            };
            if retry >= limit || self.breaker.is_open() {
                return Err(failure.give_up(retry + 1));
            }
            let delay = failure
                .retry_after
                .map(|d| d.min(MAX_SERVER_WAIT))
                .unwrap_or_else(|| self.policy.backoff(retry, random_u64()))
                .min(self.policy.max_wait);
            retry += 1;
            if !keep_alive() {
                return Err(AiError::ClaimLost);
            }
            self.wait(&failure, delay, retry)?;
        }
    }

    /// Waits before retry number `retry`: every thread when rate limited, else this one.
    fn wait(&self, failure: &Failure, delay: Duration, retry: u32) -> Result<(), AiError> {
        crate::metrics::retry(self.label, failure.rate_limited);
        log::warn!(
            "[{}] {}; retry {retry}/{} in {:.1}s{}",
            self.label,
            failure.message,
            self.policy.max_retries,
            delay.as_secs_f64(),
            if failure.rate_limited {
                " (all threads paused)"
            } else {
                ""
            }
        );
        if failure.rate_limited {
            self.gate.pause_until(Instant::now() + delay);
        } else if self.stop.sleep(delay) {
            return Err(AiError::Stopped);
        }
        Ok(())
    }
}

/// Answers that cannot be saved tried again at most this often (a model that gave a
/// wrong answer at temperature 0 tends to give it again): fewer than transport retries.
pub const MAX_BAD_ANSWER_RETRIES: u32 = 2;

/// A failed attempt worth retrying.
struct Failure {
    message: String,
    retry_after: Option<Duration>,
    rate_limited: bool,
    /// The server could not be reached (counts towards the breaker).
    offline: bool,
    /// The model answered, wrongly: retried at once, with a note, a few times only.
    bad_answer: bool,
}

impl Failure {
    /// The retryable failure in `err`, or `err` itself when it is final.
    fn of(err: AiError) -> Result<Failure, AiError> {
        match err {
            AiError::Transient {
                message,
                retry_after,
                rate_limited,
            } => Ok(Failure {
                message,
                retry_after,
                rate_limited,
                offline: false,
                bad_answer: false,
            }),
            AiError::Offline(message) => Ok(Failure {
                message,
                retry_after: None,
                rate_limited: false,
                offline: true,
                bad_answer: false,
            }),
            AiError::BadAnswer(message) => Ok(Failure {
                message,
                retry_after: Some(Duration::ZERO),
                rate_limited: false,
                offline: false,
                bad_answer: true,
            }),
            other => Err(other),
        }
    }

    /// The final error once retries ran out after `attempts` attempts.
    fn give_up(self, attempts: u32) -> AiError {
        let message = format!(
            "{} (gave up after {attempts} attempt{})",
            self.message,
            if attempts == 1 { "" } else { "s" }
        );
        // Still rate limited after every wait: not the item's fault either (the
        // task waits, or goes to its fallback model).
        if self.offline || self.rate_limited {
            AiError::Unreachable(message)
        } else {
            AiError::Item(message)
        }
    }
}

/// Runs `call` with retries: [`Attempts::run`] with a breaker of its own (the tests
/// drive the retry rules through it).
#[cfg(test)]
pub fn with_retries<T>(
    policy: &RetryPolicy,
    gate: &RateGate,
    stop: &StopSignal,
    label: &str,
    keep_alive: &mut dyn FnMut() -> bool,
    call: impl FnMut() -> Result<T, AiError>,
) -> Result<T, AiError> {
    let breaker = Breaker::default();
    let attempts = Attempts {
        policy,
        gate,
        breaker: &breaker,
        stop,
        label,
    };
    attempts.run(keep_alive, call)
}

/// Reads a wait from a `Retry-After` header (seconds, possibly fractional).
pub fn parse_retry_after_secs(value: &str) -> Option<Duration> {
    let secs: f64 = value.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(1e6)))
}

/// Reads `Retry-After` as seconds or as an HTTP date (`Wed, 21 Oct 2026 07:28:00
/// GMT`), the wait then being from `now` (seconds since 1970) until that date.
pub fn parse_retry_after(value: &str, now: u64) -> Option<Duration> {
    parse_retry_after_secs(value).or_else(|| {
        let at = parse_http_date(value)?;
        Some(Duration::from_secs(at.saturating_sub(now).min(1_000_000)))
    })
}

/// Seconds since 1970 of an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
fn parse_http_date(value: &str) -> Option<u64> {
    let parts: Vec<&str> = value.split_whitespace().collect();
    let [_, day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    // Days from 1970-01-01 to the date (Howard Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + m * 60 + s).ok()
}

/// Reads a wait from OpenAI's `retry-after-ms` header.
pub fn parse_retry_after_ms(value: &str) -> Option<Duration> {
    parse_retry_after_secs(value).map(|d| d / 1000)
}

/// Reads a protobuf duration such as Gemini's `"retryDelay": "34s"` or `"57.2s"`.
pub fn parse_proto_duration(value: &str) -> Option<Duration> {
    parse_retry_after_secs(value.trim().strip_suffix('s')?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_read_as_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("7", 0), Some(Duration::from_secs(7)));
        // 2026-12-03 09:00:00 UTC is 1796288400.
        let now = 1_796_288_400;
        let date = "Thu, 03 Dec 2026 09:00:30 GMT";
        assert_eq!(parse_retry_after(date, now), Some(Duration::from_secs(30)));
        assert_eq!(parse_retry_after(date, now + 60), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Thu, 03 Dec 2026 09:00:30 CET", now),
            None
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn backoff_grows_is_capped_and_jittered() {
        let p = RetryPolicy {
            max_retries: 5,
            base: Duration::from_secs(1),
            max_wait: Duration::from_secs(3600),
        };
        assert_eq!(p.backoff(0, 0), Duration::from_millis(500));
        assert_eq!(p.backoff(3, 0), Duration::from_secs(4));
        assert!(p.backoff(3, u64::MAX) <= Duration::from_secs(8));
        assert_eq!(p.backoff(30, 0), MAX_BACKOFF / 2);
        let zero = RetryPolicy {
            max_retries: 1,
            base: Duration::ZERO,
            max_wait: Duration::from_secs(3600),
        };
        assert_eq!(zero.backoff(4, 12345), Duration::ZERO);
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after_secs("2"), Some(Duration::from_secs(2)));
        assert_eq!(
            parse_retry_after_secs("0.5"),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_retry_after_secs("soon"), None);
        assert_eq!(parse_retry_after_secs("-1"), None);
        assert_eq!(
            parse_retry_after_ms("1500"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_proto_duration("34s"), Some(Duration::from_secs(34)));
        assert_eq!(
            parse_proto_duration("57.25s"),
            Some(Duration::from_millis(57_250))
        );
        assert_eq!(parse_proto_duration("34"), None);
    }

    #[test]
    fn pacing_spaces_requests_by_the_quota() {
        let gate = RateGate::new(Some(60));
        let now = Instant::now();
        let waits: Vec<Option<Duration>> = (0..3).map(|_| gate.plan(now, &mut false)).collect();
        assert_eq!(
            waits,
            vec![
                None,
                Some(Duration::from_secs(1)),
                Some(Duration::from_secs(2))
            ]
        );
    }

    /// Shared slots as a test double: hands out the waits it is given, or fails.
    struct FakePace {
        waits: Mutex<Vec<Duration>>,
        pauses: std::sync::Arc<Mutex<Vec<Duration>>>,
        fail: bool,
    }

    impl SharedPace for FakePace {
        fn reserve(&self, _interval: Duration) -> Result<Duration, String> {
            if self.fail {
                return Err("table missing".into());
            }
            Ok(self.waits.lock().unwrap().remove(0))
        }

        fn pause(&self, wait: Duration) -> Result<(), String> {
            self.pauses.lock().unwrap().push(wait);
            Ok(())
        }
    }

    #[test]
    fn shared_slots_decide_the_wait_and_pauses_reach_them() {
        let pauses = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut gate = RateGate::new(Some(60));
        gate.share(Box::new(FakePace {
            waits: Mutex::new(vec![Duration::ZERO, Duration::from_millis(2500)]),
            pauses: std::sync::Arc::clone(&pauses),
            fail: false,
        }));
        let now = Instant::now();
        assert_eq!(gate.plan(now, &mut false), None);
        let mut have_slot = false;
        assert_eq!(
            gate.plan(now, &mut have_slot),
            Some(Duration::from_millis(2500)),
            "another process took the slots before this one"
        );
        assert!(have_slot);
        assert_eq!(gate.plan(now, &mut have_slot), None, "one slot per request");
        gate.pause_until(Instant::now() + Duration::from_secs(30));
        let told = pauses.lock().unwrap().clone();
        assert_eq!(told.len(), 1);
        assert!(told[0] > Duration::from_secs(29) && told[0] <= Duration::from_secs(30));
    }

    #[test]
    fn failing_shared_slots_fall_back_to_pacing_in_process() {
        let mut gate = RateGate::new(Some(60));
        gate.share(Box::new(FakePace {
            waits: Mutex::new(Vec::new()),
            pauses: Default::default(),
            fail: true,
        }));
        let now = Instant::now();
        let waits: Vec<Option<Duration>> = (0..2).map(|_| gate.plan(now, &mut false)).collect();
        assert_eq!(waits, vec![None, Some(Duration::from_secs(1))]);
    }

    #[test]
    fn a_gate_without_a_quota_never_asks_the_shared_slots() {
        let mut gate = RateGate::new(None);
        gate.share(Box::new(FakePace {
            waits: Mutex::new(Vec::new()),
            pauses: Default::default(),
            fail: false,
        }));
        // An empty FakePace would panic if asked for a slot.
        assert_eq!(gate.plan(Instant::now(), &mut false), None);
    }

    #[test]
    fn a_pause_holds_every_caller_and_is_never_shortened() {
        let gate = RateGate::new(None);
        let now = Instant::now();
        assert_eq!(gate.plan(now, &mut false), None);
        gate.pause_until(now + Duration::from_secs(30));
        gate.pause_until(now + Duration::from_secs(5));
        assert_eq!(gate.plan(now, &mut false), Some(Duration::from_secs(30)));
        assert_eq!(gate.plan(now + Duration::from_secs(31), &mut false), None);
    }

    #[test]
    fn retries_until_success_or_exhaustion() {
        let policy = RetryPolicy {
            max_retries: 2,
            base: Duration::ZERO,
            max_wait: Duration::from_secs(3600),
        };
        let gate = RateGate::new(None);
        let stop = StopSignal::new();
        let mut calls = 0;
        let ok = with_retries(&policy, &gate, &stop, "t", &mut || true, || {
            calls += 1;
            if calls < 3 {
                Err(AiError::Transient {
                    message: "429".into(),
                    retry_after: Some(Duration::ZERO),
                    rate_limited: true,
                })
            } else {
                Ok(calls)
            }
        });
        assert_eq!(ok, Ok(3));
        let mut calls = 0;
        let err = with_retries::<()>(&policy, &gate, &stop, "t", &mut || true, || {
            calls += 1;
            Err(AiError::transient("HTTP 500"))
        })
        .unwrap_err();
        assert_eq!(calls, 3);
        assert_eq!(
            err,
            AiError::Item("HTTP 500 (gave up after 3 attempts)".into())
        );
        let mut calls = 0;
        let err = with_retries::<()>(&policy, &gate, &stop, "t", &mut || true, || {
            calls += 1;
            Err(AiError::Task("401".into()))
        })
        .unwrap_err();
        assert_eq!((calls, err), (1, AiError::Task("401".into())));
    }

    #[test]
    fn waits_are_capped_and_a_lost_claim_stops_the_calls() {
        let policy = RetryPolicy {
            max_retries: 5,
            base: Duration::ZERO,
            max_wait: Duration::from_millis(1),
        };
        let gate = RateGate::new(None);
        let stop = StopSignal::new();
        let (mut calls, mut alive) = (0, 0);
        let err = with_retries::<()>(
            &policy,
            &gate,
            &stop,
            "t",
            &mut || {
                alive += 1;
                alive < 3
            },
            || {
                calls += 1;
                // A server asking for an hour: the wait is cut to max_wait.
                Err(AiError::Transient {
                    message: "503".into(),
                    retry_after: Some(Duration::from_secs(3600)),
                    rate_limited: false,
                })
            },
        )
        .unwrap_err();
        assert_eq!(err, AiError::ClaimLost);
        assert_eq!(calls, 2, "no call after the claim was lost");
    }

    #[test]
    fn a_raised_stop_ends_waiting() {
        let gate = RateGate::new(None);
        gate.pause_until(Instant::now() + Duration::from_secs(3600));
        let stop = StopSignal::new();
        stop.raise();
        assert!(!gate.wait_turn(&stop));
    }
}
