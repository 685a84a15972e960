//! One item's way through the model, with no threads and no SQL:
//! redact → prompt → send → restore → guards. A new step is one function here.

mod pack;

use crate::ai::prompt_builder::{self, Prompt};
use crate::ai::{AiError, Client, Completion, Shape, Usage};
use crate::db::item::{Item, ItemResult, Spent};

use super::chunks::{self, Part};
use super::cost::Pricing;
use super::diff_summary;
use super::guards::{self, check_all};
use super::kind::Kind;
use super::output_schema;
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
    /// The model's prices, if it has them.
    pub pricing: Option<&'a Pricing>,
    /// The guards the task switches off.
    pub skip_guards: &'a [String],
    /// What the task does (proofread, translate, analyze).
    pub kind: Kind,
    /// What the model is asked to answer with.
    pub shape: Shape,
    /// Texts longer than this go out in parts (`ai_model.max_chunk_chars`).
    pub max_chunk_chars: usize,
}

/// What the executor sees and does while an item is in the pipeline.
pub struct Hooks<'h> {
    /// Sees the prompt as it is sent (a dry run reports it).
    pub on_prompt: &'h mut dyn FnMut(&Prompt),
    /// Keeps the item's claim alive before every wait and retry; false means another
    /// worker took it over, and no more calls are made.
    pub keep_alive: &'h mut dyn FnMut() -> bool,
}

/// What is sent for one item: the text with personal data replaced, and the prompt.
struct Prepared {
    redacted: Redacted,
    prompt: Prompt,
}

impl Pipeline<'_> {
    /// Redacts the text and builds its prompt (with the rejected version and the
    /// reviewer's reason for an item sent again after review).
    fn prepare(&self, text: &str, rejected: Option<&(String, String)>) -> Prepared {
        let redacted = self.redactor.redact(text);
        // The instruction is the panel's text too: personal data written there
        // (a name, an address to use) is masked like the item's.
        let instruction = redacted.mask_other(self.instruction);
        let prompt = match rejected {
            None => prompt_builder::build(&instruction, redacted.text()),
            Some((rejected, reason)) => prompt_builder::build_rework(
                &instruction,
                redacted.text(),
                &redacted.mask_other(rejected),
                &redacted.mask_other(reason),
            ),
        };
        let prompt = match (self.kind, &self.shape) {
            (Kind::Analyze, shape) => prompt_builder::as_analysis(prompt, shape.clone()),
            (_, Shape::TextOnly) => prompt_builder::as_text_only(prompt),
            _ => prompt,
        };
        Prepared { redacted, prompt }
    }

    /// The result for one item: prepared, sent and checked, with what every call
    /// cost (failed ones too). A text that cannot be read fails without a call; a
    /// panic anywhere below fails this item only, with a message that never quotes
    /// the text.
    pub fn process(&self, item: &Item, hooks: Hooks<'_>) -> Processed {
        self.process_text(item, &item.text_original, hooks)
    }

    /// The parts an item's text goes out in: one, unless it is longer than the
    /// model's chunk limit (an item sent again after review goes out whole).
    pub fn parts(&self, item: &Item) -> Vec<Part> {
        // An analysis is about the whole text: the parts' answers would not add up.
        if item.unreadable.is_some() || item.rejected.is_some() || self.kind == Kind::Analyze {
            return chunks::split(&item.text_original, usize::MAX);
        }
        chunks::split(&item.text_original, self.max_chunk_chars)
    }

    /// [`Pipeline::process`] for one part of an item's text.
    pub fn process_text(&self, item: &Item, text: &str, hooks: Hooks<'_>) -> Processed {
        if let Some(why) = &item.unreadable {
            return self.processed(Usage::default(), Err(AiError::Item(why.clone())));
        }
        let whole = text.len() == item.text_original.len();
        let mut usage = Usage::default();
        let run = std::panic::AssertUnwindSafe(|| {
            failpoint(text);
            let prepared = self.prepare(text, item.rejected.as_ref().filter(|_| whole));
            (hooks.on_prompt)(&prepared.prompt);
            self.execute(text, &prepared, hooks.keep_alive, &mut usage)
        });
        let outcome = std::panic::catch_unwind(run).unwrap_or_else(|panic| {
            let message = crate::logging::panic_message(panic.as_ref());
            Err(AiError::Item(format!(
                "internal error: {message} (the item was not saved; please report this)"
            )))
        });
        self.processed(usage, outcome)
    }

    /// The parts' results as one: texts joined with the original separators, summaries
    /// one per line, costs added; the first part that failed fails the whole.
    pub fn join(&self, parts: &[Part], processed: Vec<Processed>) -> Processed {
        let mut spent = Spent::default();
        let (mut texts, mut summaries) = (Vec::new(), Vec::new());
        let mut failure = None;
        for (i, part) in processed.into_iter().enumerate() {
            add_spent(&mut spent, &part.spent);
            match part.outcome {
                Ok(result) => {
                    texts.push(result.text_corrected);
                    summaries.push(result.change_summary);
                }
                Err(err) if failure.is_none() => failure = Some(of_part(err, i + 1, parts.len())),
                Err(_) => {}
            }
        }
        let outcome = match failure {
            Some(err) => Err(err),
            None => Ok(ItemResult {
                id_ai_model: None,
                reused_from: None,
                result_json: None,
                text_corrected: chunks::join(&texts, parts),
                change_summary: fit_summary(summaries.join("\n")),
                spent,
            }),
        };
        Processed { spent, outcome }
    }

    /// What the calls cost, priced, with the outcome. Token counts past what an
    /// item's columns hold (a server reporting garbage) are held there, and so is the
    /// cost computed from them.
    fn processed(&self, mut usage: Usage, outcome: Result<Answer, AiError>) -> Processed {
        if usage.clamp(MAX_TOKENS_PER_ITEM) {
            log::warn!(
                "the server reported more than {MAX_TOKENS_PER_ITEM} tokens for one item; counted as {MAX_TOKENS_PER_ITEM}"
            );
        }
        let spent = Spent {
            tokens: usage,
            cost: self.pricing.map(|p| p.cost(&usage)),
            reserved: 0.0,
        };
        let outcome = outcome.map(|answer| ItemResult {
            id_ai_model: None,
            reused_from: None,
            result_json: answer.result_json,
            text_corrected: answer.text_corrected,
            change_summary: answer.change_summary,
            spent,
        });
        Processed { spent, outcome }
    }

    /// Sends a prepared text and checks the answer; an answer that fails a guard is
    /// retried like any other bad answer. Blank texts are answered without a call.
    fn execute(
        &self,
        text_original: &str,
        prepared: &Prepared,
        keep_alive: &mut dyn FnMut() -> bool,
        usage: &mut Usage,
    ) -> Result<Answer, AiError> {
        if text_original.trim().is_empty() {
            return Ok(Answer {
                text_corrected: text_original.to_string(),
                change_summary: EMPTY_TEXT_SUMMARY.to_string(),
                result_json: None,
            });
        }
        let prompt = &prepared.prompt;
        self.client
            .send(prompt, self.stop, keep_alive, usage, |completion| {
                self.accept(&prepared.redacted, completion, text_original)
                    .and_then(|answer| self.guard(text_original, answer))
            })
    }
}

/// Batch mode: the same steps, split where the job lies between them.
impl Pipeline<'_> {
    /// The prompt for one part of an item's text, as a direct call would send it;
    /// `None` for a blank part, which needs no call.
    pub fn prompt_for(&self, item: &Item, text: &str) -> Option<Prompt> {
        if text.trim().is_empty() {
            return None;
        }
        let whole = text.len() == item.text_original.len();
        Some(
            self.prepare(text, item.rejected.as_ref().filter(|_| whole))
                .prompt,
        )
    }

    /// A batch line's answer for one part, checked like a direct call's: personal
    /// data restored (the text is redacted again, which gives the same placeholders),
    /// then the guards; its tokens priced.
    pub fn check_line(
        &self,
        item: &Item,
        text: &str,
        usage: Usage,
        answer: Result<String, AiError>,
    ) -> Processed {
        if text.trim().is_empty() {
            return self.process_text(
                item,
                text,
                Hooks {
                    on_prompt: &mut |_| {},
                    keep_alive: &mut || true,
                },
            );
        }
        let whole = text.len() == item.text_original.len();
        let prepared = self.prepare(text, item.rejected.as_ref().filter(|_| whole));
        let outcome = answer
            .and_then(|raw| crate::ai::parse_answer(&raw, &self.shape))
            .and_then(|completion| {
                self.accept(&prepared.redacted, completion, text)
                    .and_then(|answer| self.guard(text, answer))
                    .map_err(AiError::BadAnswer)
            });
        self.processed(usage, outcome)
    }
}

impl Pipeline<'_> {
    /// The guards the task has not switched off, on the text as it will be saved. An
    /// analysis is no version of its text: the guards comparing the two do not apply.
    fn guard(&self, sent: &str, answer: Answer) -> Result<Answer, String> {
        if self.kind != Kind::Analyze {
            check_all(
                self.skip_guards,
                &self.kind.bounds(),
                sent,
                &answer.text_corrected,
            )?;
        }
        Ok(answer)
    }

    /// The answer, read by the task's kind, personal data put back.
    fn accept(
        &self,
        redacted: &Redacted,
        completion: Completion,
        text_original: &str,
    ) -> Result<Answer, String> {
        match (self.kind, &self.shape) {
            (Kind::Analyze, Shape::Object(schema)) => accept_object(redacted, completion, schema),
            (Kind::Analyze, _) => accept_analysis(redacted, completion),
            _ => {
                // Compared as sent (masked): the answer still has the placeholders, and
                // the sentence quoted back to the model must carry no personal data.
                let instruction = redacted.mask_other(self.instruction);
                let proofreading = self.kind == Kind::Proofread;
                if let Some(sentence) = echoed_instruction(
                    &instruction,
                    redacted.text(),
                    &completion.text_corrected,
                    proofreading,
                ) {
                    return Err(format!(
                        "the answer contains the task's instruction (\"{}\"), which is not part of the text",
                        crate::ai::preview_of(sentence, 60)
                    ));
                }
                let mut answer = accept(redacted, completion, text_original)?;
                if self.shape == Shape::TextOnly {
                    answer.change_summary = diff_summary::summarize(
                        text_original,
                        &answer.text_corrected,
                        self.instruction,
                    );
                }
                Ok(answer)
            }
        }
    }
}

/// A part's error, saying which part it was; an error that stops the task or the run
/// keeps its kind.
fn of_part(err: AiError, part: usize, of: usize) -> AiError {
    match err {
        AiError::Item(m) => AiError::Item(format!("part {part} of {of}: {m}")),
        other => other,
    }
}

fn add_spent(total: &mut Spent, part: &Spent) {
    total.add(part);
}

/// One item through the pipeline: the outcome, and what its calls cost either way.
pub struct Processed {
    /// Tokens and cost of every call made for the item.
    pub spent: Spent,
    /// The result to save, or why there is none.
    pub outcome: Result<ItemResult, AiError>,
}

/// An answer that passed every guard, personal data restored.
#[derive(Debug)]
struct Answer {
    text_corrected: String,
    change_summary: String,
    result_json: Option<String>,
}

/// Test builds only: a text containing the value of `AI_WORKER_FAILPOINT_PANIC`
/// panics here, so the tests can prove that a panic fails one item and nothing else.
fn failpoint(text: &str) {
    if cfg!(debug_assertions)
        && let Ok(marker) = std::env::var("AI_WORKER_FAILPOINT_PANIC")
        && !marker.is_empty()
        && text.contains(&marker)
    {
        panic!("failpoint hit in `{text}`");
    }
}

/// Tokens of one kind an item's row holds (INT UNSIGNED); a server's count above it
/// is garbage, held to it.
const MAX_TOKENS_PER_ITEM: u64 = u32::MAX as u64;
/// An answer longer than this many times the text (plus a margin for short texts) is
/// no correction or translation of it.
const MAX_GROWTH: usize = 10;
const GROWTH_MARGIN_CHARS: usize = 2000;
/// Largest `text_corrected` the column holds (MEDIUMTEXT).
const MAX_TEXT_BYTES: usize = 16_777_215;
/// Largest `change_summary` the column holds (TEXT); a longer one is cut.
const MAX_SUMMARY_BYTES: usize = 65_535;
/// Ends a summary that was cut to fit its column.
const CUT_MARKER: &str = " [summary cut]";
/// The guards every answer passes before it can be saved, then personal data put
/// back. An answer that fails one is retried like any other bad answer.
fn accept(
    redacted: &Redacted,
    completion: Completion,
    text_original: &str,
) -> Result<Answer, String> {
    if completion.text_corrected.trim().is_empty() && !text_original.trim().is_empty() {
        return Err(
            "the model returned an empty text_corrected for a text that is not empty".into(),
        );
    }
    let (sent, got) = (
        text_original.chars().count(),
        completion.text_corrected.chars().count(),
    );
    if got > sent * MAX_GROWTH + GROWTH_MARGIN_CHARS {
        return Err(format!(
            "the answer is {got} characters for a text of {sent}: far longer than any correction or translation of it"
        ));
    }
    let text_corrected = redacted
        .restore(&completion.text_corrected)
        .map_err(|e| e.to_string())?;
    if text_corrected.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "the model's text_corrected is {} bytes, more than the column holds ({MAX_TEXT_BYTES})",
            text_corrected.len()
        ));
    }
    let change_summary = fit_summary(redacted.restore_lenient(&completion.change_summary));
    Ok(Answer {
        text_corrected,
        change_summary,
        result_json: None,
    })
}

/// A sentence of the instruction (15 characters or more) that the answer has and the
/// text has not: a model that appended "Zachowaj język tekstu." to its correction.
/// For `proofreading` (the answer in the text's language), also a word of the
/// instruction (6 letters or more) the answer has and the text has nothing near:
/// "... chyba że będzie padać. Nie znaczenia."
fn echoed_instruction<'i>(
    instruction: &'i str,
    text: &str,
    answer: &str,
    proofreading: bool,
) -> Option<&'i str> {
    let sentence = instruction
        .split(['.', '!', '?', '\n'])
        .map(str::trim)
        .filter(|sentence| sentence.chars().count() >= 15)
        .find(|sentence| answer.contains(sentence) && !text.contains(sentence));
    if sentence.is_some() || !proofreading {
        return sentence;
    }
    let text_words = guards::content_words(text);
    let answer_words = guards::content_words(answer);
    instruction
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| word.chars().count() >= 6)
        .find(|word| {
            let word = word.to_lowercase();
            answer_words.contains(&word) && !text_words.iter().any(|t| guards::close_to(&word, t))
        })
}

/// An analysis answer: not empty, placeholders it uses put back (none is required).
fn accept_analysis(redacted: &Redacted, completion: Completion) -> Result<Answer, String> {
    if completion.text_corrected.trim().is_empty() {
        return Err("the model's answer is empty".into());
    }
    let answer = redacted.restore_lenient(&completion.text_corrected);
    if answer.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "the model's answer is {} bytes, more than the column holds ({MAX_TEXT_BYTES})",
            answer.len()
        ));
    }
    Ok(Answer {
        text_corrected: answer,
        change_summary: String::new(),
        result_json: None,
    })
}

/// An analysis task's object: it must match the task's schema (the error names the
/// field); placeholders in its strings are put back; saved compact.
fn accept_object(
    redacted: &Redacted,
    completion: Completion,
    schema: &serde_json::Value,
) -> Result<Answer, String> {
    let mut result = completion
        .result
        .ok_or("the model's answer has no JSON object")?;
    output_schema::validate(&result, schema)
        .map_err(|why| format!("the answer does not match task.output_schema: {why}"))?;
    restore_strings(redacted, &mut result);
    let compact = result.to_string();
    if compact.len() > MAX_TEXT_BYTES {
        return Err(format!(
            "the model's object is {} bytes, more than result_json holds ({MAX_TEXT_BYTES})",
            compact.len()
        ));
    }
    Ok(Answer {
        text_corrected: String::new(),
        change_summary: String::new(),
        result_json: Some(compact),
    })
}

/// Puts personal data back into every string of an answer object.
fn restore_strings(redacted: &Redacted, value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => *s = redacted.restore_lenient(s),
        serde_json::Value::Array(items) => {
            for item in items {
                restore_strings(redacted, item);
            }
        }
        serde_json::Value::Object(fields) => {
            for field in fields.values_mut() {
                restore_strings(redacted, field);
            }
        }
        _ => {}
    }
}

/// A summary that fits its column: cut at a character boundary, with a marker.
fn fit_summary(summary: String) -> String {
    if summary.len() <= MAX_SUMMARY_BYTES {
        return summary;
    }
    let mut end = MAX_SUMMARY_BYTES - CUT_MARKER.len();
    while !summary.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{CUT_MARKER}", &summary[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::Redactor;

    fn completion(text: &str, summary: &str, _tokens: u64) -> Completion {
        Completion {
            text_corrected: text.into(),
            change_summary: summary.into(),
            result: None,
        }
    }

    #[test]
    fn words_of_the_instruction_tacked_onto_a_correction_are_caught() {
        let instruction =
            "Popraw błędy ortograficzne i stylistyczne w poniższym tekście bez zmiany znaczenia.";
        let text = "Napewno przyjdziemy na spotkanie, chyba że bedzie padać.";
        let fixed = "Na pewno przyjdziemy na spotkanie, chyba że będzie padać.";
        let tacked = format!("{fixed} Nie znaczenia.");
        assert_eq!(
            echoed_instruction(instruction, text, &tacked, true),
            Some("znaczenia")
        );
        assert_eq!(echoed_instruction(instruction, text, fixed, true), None);
        assert_eq!(
            echoed_instruction(instruction, text, &tacked, false),
            None,
            "a translation may"
        );
        // A word the text has, or nearly has, is the text's own.
        let own = "To nie ma znaczenie dla błędów ortograficzne.";
        let own_fixed = "To nie ma znaczenia dla błędów ortograficznych.";
        assert_eq!(echoed_instruction(instruction, own, own_fixed, true), None);
    }

    #[test]
    fn an_empty_answer_for_a_text_is_never_a_result() {
        let redacted = Redactor::new(true).redact("Ala ma kota.");
        let err = accept(&redacted, completion("  \n", "nic", 1), "Ala ma kota.").unwrap_err();
        assert!(err.contains("empty text_corrected"), "{err}");
        let blank = Redactor::new(true).redact(" ");
        assert!(accept(&blank, completion("", "", 0), " ").is_ok());
    }

    #[test]
    fn values_are_made_to_fit_their_columns() {
        let redacted = Redactor::new(true).redact("a");
        let long = "ż".repeat(40_000);
        let result = accept(&redacted, completion("b", &long, u64::MAX), "a").unwrap();
        assert!(result.change_summary.len() <= MAX_SUMMARY_BYTES);
        assert!(result.change_summary.ends_with(CUT_MARKER));
        assert!(result.change_summary.starts_with("żż"));
        let huge = "x".repeat(MAX_TEXT_BYTES + 1);
        let err = accept(&redacted, completion(&huge, "", 1), "a").unwrap_err();
        assert!(err.contains("far longer than any correction"), "{err}");
        let long = "y".repeat(MAX_TEXT_BYTES / 8);
        let redacted = Redactor::new(true).redact(&long);
        let err = accept(&redacted, completion(&huge, "", 1), &long).unwrap_err();
        assert!(err.contains("more than the column holds"), "{err}");
    }
}
