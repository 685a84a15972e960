//! SQL for `ai_model_spend`: what each model spent per UTC day and what calls in
//! flight reserved, so that `ai_model.daily_budget` holds across worker processes.

use super::{Db, DbError};

/// Reserves `amount` of the model's budget for today (UTC) if it fits; returns the
/// day it was reserved on (to settle on), or `None` when the budget would be exceeded.
pub fn reserve(db: &mut Db, id_ai_model: u32, amount: f64) -> Result<Option<String>, DbError> {
    let day: Option<String> = db.query_first("SELECT CAST(UTC_DATE() AS CHAR)", ())?;
    let day = day.unwrap_or_default();
    db.execute(
        "INSERT IGNORE INTO ai_model_spend (id_ai_model, day) VALUES (?, ?)",
        (id_ai_model, &day),
    )?;
    let changed = db.execute(
        "UPDATE ai_model_spend s JOIN ai_model m ON m.id_ai_model = s.id_ai_model \
         SET s.reserved = s.reserved + ? \
         WHERE s.id_ai_model = ? AND s.day = ? \
         AND (m.daily_budget IS NULL OR s.spent + s.reserved + ? <= m.daily_budget)",
        (amount, id_ai_model, &day, amount),
    )?;
    Ok((changed > 0).then_some(day))
}

/// Adds what a call really cost to its day, and gives its reservation back.
pub fn settle(
    db: &mut Db,
    id_ai_model: u32,
    day: &str,
    reserved: f64,
    cost: f64,
) -> Result<(), DbError> {
    db.execute(
        "UPDATE ai_model_spend SET spent = spent + ?, reserved = GREATEST(reserved - ?, 0) \
         WHERE id_ai_model = ? AND day = ?",
        (cost, reserved, id_ai_model, day),
    )?;
    Ok(())
}

/// Today's spending of a model and its budget, for the message that pauses a task.
pub fn today(db: &mut Db, id_ai_model: u32) -> Result<(f64, Option<f64>), DbError> {
    let row: Option<(Option<String>, Option<String>)> = db.query_first(
        "SELECT CAST(s.spent AS CHAR), CAST(m.daily_budget AS CHAR) FROM ai_model m \
         LEFT JOIN ai_model_spend s ON s.id_ai_model = m.id_ai_model AND s.day = UTC_DATE() \
         WHERE m.id_ai_model = ?",
        (id_ai_model,),
    )?;
    let (spent, budget) = row.unwrap_or_default();
    let number = |t: Option<String>| t.and_then(|t| t.parse::<f64>().ok());
    Ok((number(spent).unwrap_or(0.0), number(budget)))
}
