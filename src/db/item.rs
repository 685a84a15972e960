//! An item as the engine sees it, what the model made of it, and what its calls cost:
//! the values that move between the repositories and the engine.

use crate::ai::Usage;

/// An item claimed (or, in a dry run, read) for processing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// `id_task_item`.
    pub id: u32,
    /// `id_task`.
    pub id_task: u32,
    /// `text_original`: the text to correct, never modified.
    pub text_original: String,
    /// Why `text_original` cannot be sent as it is stored (bytes that are not UTF-8);
    /// such an item fails without a model call.
    pub unreadable: Option<String>,
    /// For an item sent again after a reviewer rejected it: the rejected version and
    /// the reviewer's reason (`text_corrected`, `review_comment`).
    pub rejected: Option<(String, String)>,
    /// Claims so far, this one included.
    pub attempts: u32,
    /// SHA-256 (hex) of `text_original` as read: a result is saved only while the
    /// stored text still has it (the panel may edit a text after the claim).
    pub text_sha: Option<String>,
}

/// What the model produced for one item, ready to be saved.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemResult {
    /// The model that made the result (`task_item.id_ai_model`): the task's, or a
    /// fallback of it.
    pub id_ai_model: Option<u32>,
    /// An analysis task's object (`task.output_schema`), compact JSON; then
    /// `text_corrected` is not saved.
    pub result_json: Option<String>,
    /// The corrected text.
    pub text_corrected: String,
    /// What was changed, in the model's words (or the worker's, from a word diff).
    pub change_summary: String,
    /// The item whose result this is, when the same text was done before
    /// (`task_item.reused_from`); no call was made.
    pub reused_from: Option<u32>,
    /// What every call for the item cost, failed attempts included.
    pub spent: Spent,
}

/// What the calls for one item cost, and what was reserved of the task's budget
/// before them: added to the item and the task whenever the claim ends.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Spent {
    /// Tokens billed (the one token type: input with cached, output with thinking).
    pub tokens: Usage,
    /// The cost in the model's currency; `None` when the model has no prices.
    pub cost: Option<f64>,
    /// What the call reserved of `task.max_cost`, given back now.
    pub reserved: f64,
}

impl Spent {
    /// Adds what another call cost (reservations are not added: each claim has one).
    pub fn add(&mut self, other: &Spent) {
        self.tokens.add(other.tokens);
        if let Some(cost) = other.cost {
            *self.cost.get_or_insert(0.0) += cost;
        }
    }
}
