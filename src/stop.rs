//! A stop signal shared by every thread of a run: Ctrl+C, SIGTERM, or a task that must
//! stop. Waits (backoff, rate limits) end early when it is raised.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A flag threads can wait on; raising it wakes every waiter.
#[derive(Debug, Default)]
pub struct StopSignal {
    raised: Mutex<bool>,
    changed: Condvar,
}

impl StopSignal {
    /// A signal that is not raised.
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        // A poisoned lock only means another thread panicked while holding a bool.
        self.raised.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Raises the signal and wakes every waiting thread.
    pub fn raise(&self) {
        *self.lock() = true;
        self.changed.notify_all();
    }

    /// Whether the signal has been raised.
    pub fn is_raised(&self) -> bool {
        *self.lock()
    }

    /// Sleeps for `duration` or until the signal is raised; returns true if raised.
    pub fn sleep(&self, duration: Duration) -> bool {
        let deadline = Instant::now() + duration;
        let mut raised = self.lock();
        while !*raised {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            raised = match self.changed.wait_timeout(raised, deadline - now) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            };
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raise_wakes_a_sleeper() {
        let stop = StopSignal::new();
        std::thread::scope(|s| {
            let sleeper = s.spawn(|| stop.sleep(Duration::from_secs(3600)));
            stop.raise();
            assert!(sleeper.join().unwrap());
        });
        assert!(stop.is_raised());
    }

    #[test]
    fn sleep_without_raise_returns_false() {
        assert!(!StopSignal::new().sleep(Duration::from_millis(1)));
    }
}
