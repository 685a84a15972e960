//! `--estimate`: what the pending items would cost, without calling a model and
//! without writing anything.

use crate::ai::Usage;
use crate::ai::spec::is_local_server;
use crate::config::Config;
use crate::db::task_repository::{PendingWork, Task};
use crate::db::{Db, model_repository, task_repository};
use crate::worker::cost::{Pricing, SUMMARY_TOKENS, estimate_many};
use crate::worker::{DEFAULT_BATCH_PRICE_FACTOR, PACK_ITEM_CHARS, pack_limit};

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

/// The tokens a task's pending items are expected to cost: copies of a text sent
/// once (when the task reuses results; their share of the characters is taken as
/// their share of the items), short texts sharing the fixed prompt of a request
/// (when it packs), an analysis answering briefly, no summary written by the model
/// for `change_summary = 'diff'`.
fn expected_usage(w: &PendingWork, task: &Task, pack: usize) -> Usage {
    let items = w.items.max(1);
    let sent = if task.reuse_results {
        w.distinct_items.clamp(1, items)
    } else {
        items
    };
    let text_chars = w.text_chars * sent / items;
    let short = w.short_items * sent / items;
    let pack = pack as u64;
    let requests = (sent - short) + short.div_ceil(pack);
    // Input: the fixed prompt once per request, every text once; output: every
    // text's own answer.
    let mut usage = estimate_many(sent, w.instruction_chars, text_chars);
    let packs = short.div_ceil(pack) * u64::from(pack > 1 && short > 1);
    usage.input = estimate_many(requests, w.instruction_chars, text_chars).input
        + u64::from(packs > 0) * short * PACKED_TEXT_FRAME_TOKENS
        + packs * PACK_PROMPT_TOKENS;
    if crate::worker::kind_of(task).ok() == Some("analyze") {
        // An analysis answers about a text, not with it: its output does not grow
        // with the text.
        usage.output = sent * ANALYSIS_OUTPUT_TOKENS;
    } else if task.change_summary.as_deref() == Some("diff") {
        usage.output = usage.output.saturating_sub(sent * SUMMARY_TOKENS);
    }
    usage
}

/// The markers around each text of a packed request (`<text id="K">`), in tokens.
const PACKED_TEXT_FRAME_TOKENS: u64 = 6;
/// What a packed request's prompt has beyond a single one's (the rules for several
/// texts, the list in the schema), in tokens.
const PACK_PROMPT_TOKENS: u64 = 120;

/// The pending items of `--task ID`, or of every NEW or IN_PROGRESS task.
pub fn estimate(config: &Config, id_task: Option<u32>) -> Result<Vec<TaskEstimate>, AppError> {
    let mut db = Db::connect(&config.db)?;
    let work = task_repository::pending_work(&mut db, id_task, PACK_ITEM_CHARS)?;
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
        let usage = task
            .as_ref()
            .map(|t| {
                let model_pack = model.as_ref().and_then(|m| m.pack_max_items);
                let pack = pack_limit(t.pack_max_items, model_pack, config.pack_max_items);
                expected_usage(&w, t, pack)
            })
            .unwrap_or_default();
        // Batch prices only where a Batch API is: not the echo model, not a server
        // of one's own.
        let batch = w.batch != 0
            && model.as_ref().is_some_and(|m| {
                !m.provider.eq_ignore_ascii_case("echo")
                    && !is_local_server(m.api_url.as_deref(), m.local_server)
            });
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
