//! `requests_per_minute` shared by every worker process on a model: the rate gate
//! takes its request slots from the `ai_model_pace` table through a connection of
//! its own.

use std::sync::Mutex;
use std::time::Duration;

use crate::ai::retry::SharedPace;
use crate::config::DbConfig;
use crate::db::{Db, DbError, pace_repository as pace};

/// A wait longer than this means the slots are wrong, not busy: even 256 threads at
/// one request per minute queue for less.
const MAX_WAIT: Duration = Duration::from_secs(6 * 60 * 60);

/// The database side of a model's rate gate.
pub struct DbPace {
    db: Mutex<Db>,
    id_ai_model: u32,
}

impl DbPace {
    /// Connects and makes sure the model has its row. Fails with a schema error on a
    /// database whose schema predates the table (`ai-worker init-db` adds it).
    pub fn open(cfg: &DbConfig, id_ai_model: u32) -> Result<DbPace, DbError> {
        let mut db = Db::connect(cfg)?;
        pace::ensure_row(&mut db, id_ai_model)?;
        Ok(DbPace {
            db: Mutex::new(db),
            id_ai_model,
        })
    }

    fn with_db<T>(&self, f: impl FnOnce(&mut Db) -> Result<T, DbError>) -> Result<T, String> {
        let mut db = self.db.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut db).map_err(|e| e.to_string())
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
