//! Random numbers for jitter (backoff, deadlock retries), from the standard library's
//! randomly seeded hasher: no extra crate for something this small.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Instant;

/// A random number, different on every call.
pub fn random_u64() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(Instant::now().elapsed().as_nanos() as u64);
    hasher.finish()
}
