//! SQL for `ai_model_pace`: the request slots of a model, shared by every worker
//! process, so that `requests_per_minute` holds however many workers run at once.
//! Times are microseconds by the database server's clock, the one clock all workers
//! share.

use super::{Db, DbError};

/// Creates the model's row if it has none yet.
pub fn ensure_row(db: &mut Db, id_ai_model: u32) -> Result<(), DbError> {
    db.execute(
        "INSERT IGNORE INTO ai_model_pace (id_ai_model) VALUES (?)",
        (id_ai_model,),
    )?;
    Ok(())
}

/// Reserves the model's next request slot: `interval_us` after the slot before it,
/// not before a pause ends, not in the past. Returns how many microseconds from now
/// the slot starts. One atomic `UPDATE` (the row lock orders concurrent workers);
/// `LAST_INSERT_ID(expr)` hands the reserved slot back to this connection alone.
pub fn reserve(db: &mut Db, id_ai_model: u32, interval_us: u64) -> Result<u64, DbError> {
    let take_slot = |db: &mut Db| {
        db.execute(
            "UPDATE ai_model_pace SET next_slot_us = LAST_INSERT_ID(GREATEST(next_slot_us, \
             paused_until_us, CAST(ROUND(UNIX_TIMESTAMP(NOW(6)) * 1000000) AS UNSIGNED))) + ? \
             WHERE id_ai_model = ?",
            (interval_us, id_ai_model),
        )
    };
    if take_slot(db)? == 0 {
        // The row is gone (deleted by hand, or its model was): make it again, once.
        ensure_row(db, id_ai_model)?;
        if take_slot(db)? == 0 {
            return Ok(0);
        }
    }
    let row: Option<(u64, u64)> = db.query_first(
        "SELECT LAST_INSERT_ID(), CAST(ROUND(UNIX_TIMESTAMP(NOW(6)) * 1000000) AS UNSIGNED)",
        (),
    )?;
    let (slot, now) = row.unwrap_or_default();
    Ok(slot.saturating_sub(now))
}

/// Holds every worker off the model for `wait_us` from now (after a 429); never
/// shortens a pause already set.
pub fn pause(db: &mut Db, id_ai_model: u32, wait_us: u64) -> Result<(), DbError> {
    db.execute(
        "UPDATE ai_model_pace SET paused_until_us = GREATEST(paused_until_us, \
         CAST(ROUND(UNIX_TIMESTAMP(NOW(6)) * 1000000) AS UNSIGNED) + ?) WHERE id_ai_model = ?",
        (wait_us, id_ai_model),
    )?;
    Ok(())
}

/// Forgets the model's slots and pause (after the server clock went back, or a hand
/// edit left them far in the future).
pub fn reset(db: &mut Db, id_ai_model: u32) -> Result<(), DbError> {
    db.execute(
        "UPDATE ai_model_pace SET next_slot_us = 0, paused_until_us = 0 WHERE id_ai_model = ?",
        (id_ai_model,),
    )?;
    Ok(())
}
