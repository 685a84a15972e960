//! One item's way through the model, with no threads and no SQL:
//! redact → prompt → send → restore → guards. A new step is one function here.

use crate::ai::prompt_builder::{self, Prompt};
use crate::ai::{AiError, Client, Completion};
use crate::db::task_item_repository::ItemResult;
use crate::privacy::{Redacted, Redactor};
use crate::stop::StopSignal;

/// Summary saved for an empty or blank text, which is never sent to the model.
pub const EMPTY_TEXT_SUMMARY: &str = "The text is empty: nothing to correct.";

/// What one task's items go through.
pub struct Pipeline<'a> {
    /// The task's model.
    pub client: &'a Client,
    /// Personal data out before sending, back in after.
    pub redactor: Redactor,
    /// The task's instruction (`task.description`).
    pub instruction: &'a str,
    /// Ctrl+C / SIGTERM: waits end early.
    pub stop: &'a StopSignal,
}

/// What is sent for one item: the text with personal data replaced, and the prompt.
pub struct Prepared {
    redacted: Redacted,
    /// The prompt as it goes to the model.
    pub prompt: Prompt,
}

impl Pipeline<'_> {
    /// Redacts the text and builds its prompt.
    pub fn prepare(&self, text_original: &str) -> Prepared {
        let redacted = self.redactor.redact(text_original);
        let prompt = prompt_builder::build(self.instruction, redacted.text());
        Prepared { redacted, prompt }
    }

    /// The result for one text: prepared, sent and checked.
    pub fn process(&self, text_original: &str) -> Result<ItemResult, AiError> {
        self.execute(text_original, &self.prepare(text_original))
    }

    /// Sends a prepared text and checks the answer; an answer that fails a guard is
    /// retried like any other bad answer. Blank texts are answered without a call.
    pub fn execute(&self, text_original: &str, prepared: &Prepared) -> Result<ItemResult, AiError> {
        if text_original.trim().is_empty() {
            return Ok(ItemResult {
                text_corrected: text_original.to_string(),
                change_summary: EMPTY_TEXT_SUMMARY.to_string(),
                tokens_input: 0,
                tokens_output: 0,
            });
        }
        self.client.send(&prepared.prompt, self.stop, |completion| {
            accept(&prepared.redacted, completion)
        })
    }
}

/// The guards every answer passes before it can be saved, then personal data put back.
fn accept(redacted: &Redacted, completion: Completion) -> Result<ItemResult, String> {
    let text_corrected = redacted
        .restore(&completion.text_corrected)
        .map_err(|e| e.to_string())?;
    Ok(ItemResult {
        text_corrected,
        change_summary: redacted.restore_lenient(&completion.change_summary),
        tokens_input: completion.tokens_input,
        tokens_output: completion.tokens_output,
    })
}
