//! A run's database connections: at most `DB_POOL_SIZE`, opened as they are first
//! needed and lent for one step at a time (a batch of saves, a budget reservation, a
//! request slot), so that thousands of calls in flight share a few connections.

use std::sync::{Condvar, Mutex, PoisonError};

use super::{Db, DbError};
use crate::config::DbConfig;

/// Connections shared by the threads of one run.
pub struct Pool {
    cfg: DbConfig,
    state: Mutex<State>,
    returned: Condvar,
}

struct State {
    idle: Vec<Db>,
    /// Connections open (idle or lent).
    open: usize,
    /// The most this pool opens: `DB_POOL_SIZE`, or fewer once the server said it has
    /// no more to give.
    limit: usize,
    /// The most that were open at once.
    peak: usize,
}

/// A connection lent by the pool; it goes back when dropped (or is closed, if a
/// statement left it unusable).
pub struct Pooled<'a> {
    pool: &'a Pool,
    db: Option<Db>,
}

impl Pool {
    /// A pool of at most `size` connections to `cfg` (none opened yet).
    pub fn new(cfg: &DbConfig, size: usize) -> Pool {
        Pool {
            cfg: cfg.clone(),
            state: Mutex::new(State {
                idle: Vec::new(),
                open: 0,
                limit: size.max(1),
                peak: 0,
            }),
            returned: Condvar::new(),
        }
    }

    /// Lends a connection, opening one if none is idle and the pool may grow, else
    /// waiting for one to come back. When the server refuses a new connection
    /// because it has none left, the pool goes on with the ones it has.
    pub fn get(&self) -> Result<Pooled<'_>, DbError> {
        let mut state = self.lock();
        loop {
            if let Some(db) = state.idle.pop() {
                return Ok(self.lend(db));
            }
            if state.open < state.limit {
                state.open += 1;
                state.peak = state.peak.max(state.open);
                drop(state);
                let opened = Db::connect(&self.cfg);
                state = self.lock();
                match opened {
                    Ok(db) => return Ok(self.lend(db)),
                    Err(err) => {
                        state.open -= 1;
                        if !matches!(err, DbError::TooManyConnections { .. }) || state.open == 0 {
                            return Err(err);
                        }
                        log::warn!(
                            "the database gave this run {} connections of DB_POOL_SIZE {}: {err}",
                            state.open,
                            state.limit
                        );
                        state.limit = state.open;
                    }
                }
                continue;
            }
            state = self
                .returned
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The most connections that were open at once.
    pub fn peak(&self) -> usize {
        self.lock().peak
    }

    fn lend(&self, db: Db) -> Pooled<'_> {
        Pooled {
            pool: self,
            db: Some(db),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Db;
    fn deref(&self) -> &Db {
        // Present from lending until drop.
        self.db
            .as_ref()
            .expect("a lent connection is present until dropped")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Db {
        self.db
            .as_mut()
            .expect("a lent connection is present until dropped")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        let Some(db) = self.db.take() else { return };
        let mut state = self.pool.lock();
        if db.is_broken() {
            state.open -= 1;
            drop(state);
            db.close();
        } else {
            state.idle.push(db);
            drop(state);
        }
        self.pool.returned.notify_one();
    }
}
