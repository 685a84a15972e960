//! Budgets that hold across processes: before each call an estimate of its cost is
//! reserved of the task's `max_cost` and of the model's `daily_budget`, in the
//! database; after it, the real cost is settled. Workers running at once overshoot
//! by at most the difference between estimate and cost of the calls in flight.

use crate::db::spend_repository as spend;
use crate::db::task_repository as tasks;
use crate::db::{Db, DbError};

use super::claim::Claim;
use super::cost::{Pricing, estimate};

/// What one task's calls are held to.
pub struct Budget<'a> {
    /// The model's prices (no prices, no budget: nothing can be counted).
    pub pricing: &'a Pricing,
    /// Characters of the task's instruction, for the estimate.
    pub instruction_chars: u64,
    /// The task has a `max_cost`.
    pub task_limited: bool,
    /// The model has a `daily_budget`: its id and name.
    pub daily: Option<(u32, &'a str)>,
}

/// What was reserved before a call.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Reservation {
    /// Of the task's budget.
    pub task: f64,
    /// Of the model's budget, and the UTC day it was reserved on.
    pub daily: Option<(f64, String)>,
}

impl Budget<'_> {
    /// Reserves the estimated cost of the claim's call; `Err` says which budget is
    /// reached (the task then waits, its items PENDING).
    pub fn reserve(
        &self,
        db: &mut Db,
        claim: &Claim,
    ) -> Result<Result<Reservation, String>, DbError> {
        let item = claim.item();
        let usage = estimate(
            self.instruction_chars,
            item.text_original.chars().count() as u64,
        );
        let amount = self.pricing.cost(&usage);
        let mut reservation = Reservation::default();
        if self.task_limited {
            if !claim.reserve(db, amount)? {
                return Ok(Err(self.task_reached(db, item.id_task)?));
            }
            reservation.task = amount;
        }
        if let Some((id_model, name)) = self.daily {
            match spend::reserve(db, id_model, amount)? {
                Some(day) => reservation.daily = Some((amount, day)),
                None => return Ok(Err(self.daily_reached(db, id_model, name)?)),
            }
        }
        Ok(Ok(reservation))
    }

    /// Settles the model's day with the call's real cost (the task's reservation is
    /// settled in the statement that ends the claim).
    pub fn settle(&self, db: &mut Db, reservation: &Reservation, cost: f64) -> Result<(), DbError> {
        match (&reservation.daily, self.daily) {
            (Some((amount, day)), Some((id_model, _))) => {
                spend::settle(db, id_model, day, *amount, cost)
            }
            _ => Ok(()),
        }
    }

    fn task_reached(&self, db: &mut Db, id_task: u32) -> Result<String, DbError> {
        let (spent, reserved, max) = tasks::budget(db, id_task)?;
        let currency = &self.pricing.currency;
        Ok(format!(
            "budget of task {id_task} reached: {spent:.4} {currency} spent and {reserved:.4} reserved by calls in flight, of max_cost {:.4}; raise task.max_cost to go on",
            max.unwrap_or(0.0)
        ))
    }

    fn daily_reached(&self, db: &mut Db, id_model: u32, name: &str) -> Result<String, DbError> {
        let (spent, budget) = spend::today(db, id_model)?;
        let currency = &self.pricing.currency;
        Ok(format!(
            "daily budget of model '{name}' reached: {spent:.4} {currency} spent today (UTC) of {:.4}; it goes on tomorrow, or raise it with `ai-worker model update {name} --daily-budget N`",
            budget.unwrap_or(0.0)
        ))
    }
}
