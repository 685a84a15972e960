//! `requests_per_minute` shared by every worker process on a model: the rate gate
//! takes its request slots from the `ai_model_pace` table, through the run's pool or
//! a connection of its own.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::ai::retry::SharedPace;
use crate::config::DbConfig;
use crate::db::pool::Pool;
use crate::db::{Db, DbError, pace_repository as pace};

/// A wait longer than this means the slots are wrong, not busy: even 256 threads at
/// one request per minute queue for less.
const MAX_WAIT: Duration = Duration::from_secs(6 * 60 * 60);

/// The database side of a model's rate gate.
pub struct DbPace {
    conn: Conn,
    id_ai_model: u32,
}

/// Where the slots are read through.
enum Conn {
    Own(Mutex<Db>),
    Pool(Arc<Pool>),
}

impl DbPace {
    /// Connects and makes sure the model has its row. Fails with a schema error on a
    /// database whose schema predates the table (`ai-worker init-db` adds it).
    pub fn open(cfg: &DbConfig, id_ai_model: u32) -> Result<DbPace, DbError> {
        let mut db = Db::connect(cfg)?;
        pace::ensure_row(&mut db, id_ai_model)?;
        Ok(DbPace {
            conn: Conn::Own(Mutex::new(db)),
            id_ai_model,
        })
    }

    /// The same, on a run's pool: a run paces every model on the connections it has.
    pub fn on_pool(pool: Arc<Pool>, id_ai_model: u32) -> Result<DbPace, DbError> {
        pace::ensure_row(&mut *pool.get()?, id_ai_model)?;
        Ok(DbPace {
            conn: Conn::Pool(pool),
            id_ai_model,
        })
    }

    fn with_db<T>(&self, f: impl FnOnce(&mut Db) -> Result<T, DbError>) -> Result<T, String> {
        let result = match &self.conn {
            Conn::Own(db) => f(&mut db.lock().unwrap_or_else(|e| e.into_inner())),
            Conn::Pool(pool) => pool.get().and_then(|mut db| f(&mut db)),
        };
        result.map_err(|e| e.to_string())
    }
}

impl SharedPace for DbPace {
    fn reserve(&self, interval: Duration) -> Result<Duration, String> {
        let interval_us = (interval.as_micros().max(1)).min(u128::from(u64::MAX)) as u64;
        self.with_db(|db| {
            let wait_us = pace::reserve(db, self.id_ai_model, interval_us)?;
            if wait_us <= MAX_WAIT.as_micros() as u64 {
                return Ok(wait_us);
            }
            log::warn!(
                "the shared request slots of model id {} were {} minutes ahead (server clock set back?); starting them again from now",
                self.id_ai_model,
                wait_us / 60_000_000
            );
            pace::reset(db, self.id_ai_model)?;
            pace::reserve(db, self.id_ai_model, interval_us)
        })
        .map(Duration::from_micros)
    }

    fn pause(&self, wait: Duration) -> Result<(), String> {
        let wait_us = wait.as_micros().min(u128::from(u64::MAX)) as u64;
        self.with_db(|db| pace::pause(db, self.id_ai_model, wait_us))
    }
}
