//! Permits for model calls: a run has as many as its concurrency, a model with
//! `ai_model.max_concurrency` as many as that; every call holds one of each that
//! applies, so parts of long texts never push a run or a model past its limit.

use std::sync::{Condvar, Mutex, PoisonError};

/// A counting semaphore.
pub struct Permits {
    free: Mutex<usize>,
    returned: Condvar,
}

/// One call's permit, given back when dropped.
pub struct Permit<'a>(&'a Permits);

impl Permits {
    /// `n` permits (at least one).
    pub fn new(n: usize) -> Permits {
        Permits {
            free: Mutex::new(n.max(1)),
            returned: Condvar::new(),
        }
    }

    /// Waits for a free permit.
    pub fn acquire(&self) -> Permit<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .returned
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Permit(self)
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.returned.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permit_comes_back_when_dropped() {
        let permits = Permits::new(1);
        let first = permits.acquire();
        assert_eq!(*permits.free.lock().unwrap(), 0);
        drop(first);
        let _again = permits.acquire();
        assert_eq!(*permits.free.lock().unwrap(), 0);
    }
}
