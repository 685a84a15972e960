//! `--estimate`: what the pending items would cost, without calling a model and
//! without writing anything.

use crate::config::Config;
use crate::db::{Db, model_repository, task_repository};
use crate::worker::DEFAULT_BATCH_PRICE_FACTOR;
use crate::worker::cost::{Pricing, SUMMARY_TOKENS, estimate_many};

use super::AppError;

/// One task's estimate.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskEstimate {
    /// `id_task`.
    pub id_task: u32,
    /// `task.name`.
    pub name: String,
    /// The model's name.
    pub model: String,
    /// Pending items.
    pub items: u64,
    /// Estimated input tokens.
    pub tokens_input: u64,
    /// Estimated output tokens.
    pub tokens_output: u64,
    /// Estimated cost, if the model has prices.
    pub cost: Option<f64>,
    /// The model's currency.
    pub currency: String,
    /// Priced at the batch price (`task.batch` on a model with a Batch API).
    pub batch: bool,
}

/// Output tokens an analysis answer is estimated at (a sentence, a label, a small
/// object, with the JSON around it).
const ANALYSIS_OUTPUT_TOKENS: u64 = 100;

/// The pending items of `--task ID`, or of every NEW or IN_PROGRESS task.
pub fn estimate(config: &Config, id_task: Option<u32>) -> Result<Vec<TaskEstimate>, AppError> {
    let mut db = Db::connect(&config.db)?;
    let work = task_repository::pending_work(&mut db, id_task)?;
    if let Some(id) = id_task
        && work.is_empty()
        && task_repository::get(&mut db, id)?.is_none()
    {
        return Err(AppError::NotFound(format!("task {id} does not exist")));
    }
    let mut out = Vec::new();
    for w in work {
        let model = model_repository::get(&mut db, w.id_ai_model, &config.ai_key_secret)?;
        let task = task_repository::get(&mut db, w.id_task)?;
        // Copies of a text are sent once (the share of characters they hold is
        // taken as their share of items).
        let reuse = task.as_ref().is_some_and(|t| t.reuse_results);
        let sent = if reuse {
            w.distinct_items.max(1).min(w.items)
        } else {
            w.items
        };
        let text_chars = w.text_chars * sent / w.items.max(1);
        let mut usage = estimate_many(sent, w.instruction_chars, text_chars);
        // An analysis answers about a text, not with it: its output does not grow
        // with the text.
        if task.as_ref().and_then(|t| crate::worker::kind_of(t).ok()) == Some("analyze") {
            usage.output = sent * ANALYSIS_OUTPUT_TOKENS;
        } else if task.as_ref().and_then(|t| t.change_summary.as_deref()) == Some("diff") {
            usage.output = usage.output.saturating_sub(sent * SUMMARY_TOKENS);
        }
        let batch = w.batch != 0
            && model
                .as_ref()
                .is_some_and(|m| !m.provider.eq_ignore_ascii_case("echo"));
        let pricing = model.as_ref().and_then(|m| {
            let prices = Pricing::from_columns(m.prices, &m.currency)?;
            let factor = m.batch_price_factor.unwrap_or(DEFAULT_BATCH_PRICE_FACTOR);
            Some(if batch { prices.scaled(factor) } else { prices })
        });
        out.push(TaskEstimate {
            id_task: w.id_task,
            name: w.name,
            model: model
                .as_ref()
                .map_or_else(|| "(missing)".into(), |m| m.name.clone()),
            items: w.items,
            tokens_input: usage.input,
            tokens_output: usage.output,
            cost: pricing.as_ref().map(|p| p.cost(&usage)),
            currency: model.map(|m| m.currency).unwrap_or_default(),
            batch,
        });
    }
    db.close();
    Ok(out)
}
