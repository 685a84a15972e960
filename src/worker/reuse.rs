//! Identical texts are sent once. Before an item is sent, a result already made for
//! the same text in the same scope (model, instruction, kind, schema, summary mode)
//! is looked up; if a copy of the text is in flight in this run, the item waits for
//! it instead of being sent. A copy gets the result with 0 tokens, 0 cost and
//! `reused_from`. Items sent again after review never reuse.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::db::DbError;
use crate::db::item::{Item, ItemResult, Spent};
use crate::db::pool::Pool;
use crate::db::reuse_repository::{self as reuse, Reusable, ReuseScope};
use crate::stop::StopSignal;

/// A text's scope and SHA-256.
type Key = (ReuseScope, String);

/// Results kept for copies after their leader finished, until saved results are
/// surely found in the database (a copy may come before the completer saved the
/// original): bounded, cleared when full.
const RECENT_MAX_BYTES: usize = 32 << 20;

/// The texts in flight in this run, by scope and SHA-256, and the results of those
/// that finished.
#[derive(Default)]
pub struct InFlight {
    leaders: Mutex<HashMap<Key, Arc<Slot>>>,
    recent: Mutex<(HashMap<Key, Reusable>, usize)>,
}

/// Where the result of a text in flight is published.
#[derive(Default)]
struct Slot {
    /// `None` while in flight; then the result (`Some(None)`: there was none).
    done: Mutex<Option<Option<Reusable>>>,
    ready: Condvar,
}

/// What to do with an item before sending it.
pub enum Turn<'a> {
    /// Its text was done before: this result, no call.
    Reused(ItemResult),
    /// Send it; copies that come meanwhile wait for this item's result.
    Lead(Lead<'a>),
    /// Send it (no reuse for it, or the copy it waited for got no result).
    Send,
    /// A copy of its text is in flight and the caller may not wait now.
    Busy,
}

impl InFlight {
    /// The turn of `item` in `scope` (`None`: the task does not reuse). With `wait`
    /// false, a copy in flight gives [`Turn::Busy`] instead of a wait: a caller that
    /// leads other texts must not wait while it leads (two such callers would wait
    /// on each other).
    pub fn turn(
        &self,
        pool: &Pool,
        scope: Option<ReuseScope>,
        item: &Item,
        stop: &StopSignal,
        wait: bool,
    ) -> Result<Turn<'_>, DbError> {
        let (Some(scope), Some(sha)) = (scope, &item.text_sha) else {
            return Ok(Turn::Send);
        };
        if item.rejected.is_some() || item.unreadable.is_some() {
            return Ok(Turn::Send);
        }
        let key = (scope, sha.clone());
        // Both looked at under the leaders' lock, which a leader also holds while it
        // moves its result to `recent`: a copy sees it in one place or the other.
        let waiting = {
            let mut leaders = self.leaders.lock().unwrap_or_else(PoisonError::into_inner);
            let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(found) = recent.0.get(&key) {
                return Ok(Turn::Reused(reused(found.clone())));
            }
            drop(recent);
            match leaders.get(&key) {
                Some(_) if !wait => return Ok(Turn::Busy),
                Some(slot) => Some(Arc::clone(slot)),
                None => {
                    leaders.insert(key.clone(), Arc::default());
                    None
                }
            }
        };
        if let Some(slot) = waiting {
            return Ok(match slot.wait(stop) {
                Some(found) => Turn::Reused(reused(found)),
                None => Turn::Send,
            });
        }
        let found = pool
            .get()
            .and_then(|mut db| reuse::find(&mut db, &key.1, &key.0));
        // Dropped on an error: the copies waiting meanwhile are sent.
        let lead = Lead {
            in_flight: self,
            key: Some(key),
        };
        Ok(match found? {
            Some(found) => {
                lead.publish(Some(found.clone()));
                Turn::Reused(reused(found))
            }
            None => Turn::Lead(lead),
        })
    }
}

impl Slot {
    /// The leader's result, once published (`None` if a stop came first).
    fn wait(&self, stop: &StopSignal) -> Option<Reusable> {
        let mut done = self.done.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(result) = done.as_ref() {
                return result.clone();
            }
            if stop.is_raised() {
                return None;
            }
            done = self
                .ready
                .wait_timeout(done, Duration::from_millis(500))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

/// The item whose text is in flight: its result goes to the copies that wait.
pub struct Lead<'a> {
    in_flight: &'a InFlight,
    key: Option<(ReuseScope, String)>,
}

impl Lead<'_> {
    /// Gives `result` (the leader's, or `None`) to every copy waiting, and lets the
    /// next copy lead.
    pub fn publish(mut self, result: Option<Reusable>) {
        self.finish(result);
    }

    fn finish(&mut self, result: Option<Reusable>) {
        let Some(key) = self.key.take() else { return };
        let mut leaders = self
            .in_flight
            .leaders
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = &result {
            let mut recent = self
                .in_flight
                .recent
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let size = found.text_corrected.as_ref().map_or(0, String::len)
                + found.change_summary.len()
                + found.result_json.as_ref().map_or(0, String::len);
            if recent.1 + size > RECENT_MAX_BYTES {
                *recent = Default::default();
            }
            recent.1 += size;
            recent.0.insert(key.clone(), found.clone());
        }
        let slot = leaders.remove(&key);
        drop(leaders);
        if let Some(slot) = slot {
            *slot.done.lock().unwrap_or_else(PoisonError::into_inner) = Some(result);
            slot.ready.notify_all();
        }
    }
}

impl Drop for Lead<'_> {
    /// A leader that ended without a result (a panic, a stop) frees its copies.
    fn drop(&mut self) {
        self.finish(None);
    }
}

/// What a saved result of item `id` gives the copies of its text.
pub fn reusable(id: u32, result: &ItemResult) -> Reusable {
    Reusable {
        id,
        text_corrected: result
            .result_json
            .is_none()
            .then(|| result.text_corrected.clone()),
        change_summary: result.change_summary.clone(),
        result_json: result.result_json.clone(),
    }
}

/// The result a copy gets: the same texts, no call, nothing spent.
fn reused(found: Reusable) -> ItemResult {
    ItemResult {
        id_ai_model: None,
        result_json: found.result_json,
        text_corrected: found.text_corrected.unwrap_or_default(),
        change_summary: found.change_summary,
        reused_from: Some(found.id),
        spent: Spent::default(),
    }
}
