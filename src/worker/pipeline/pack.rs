//! Several short texts of a task in one request (`task.pack_max_items`): the
//! instruction and the fixed prompt are paid once instead of once per text. Each
//! text is redacted on its own and its answer passes its own guards; the call's
//! tokens are shared among the texts in proportion to their size, so that the items'
//! sums equal what the provider billed.

use std::panic::{AssertUnwindSafe, catch_unwind};

use serde_json::Value;

use super::{Answer, Pipeline, Prepared, Processed};
use crate::ai::prompt_builder::{self, Prompt, Shape};
use crate::ai::{AiError, Completion, Usage, entry_completion};
use crate::db::item::Item;
use crate::worker::kind::Kind;

impl Pipeline<'_> {
    /// The items sent in one request: one outcome per item, in order. An item the
    /// answer leaves out or gets wrong comes back as a bad answer (the executor sends
    /// it again alone); its share of the call's cost is still its own.
    pub fn process_pack(&self, items: &[&Item]) -> Vec<Processed> {
        let prepared = self.prepare_pack(items);
        let prompt = self.pack_prompt_of(&prepared);
        let mut usage = Usage::default();
        let places: Vec<usize> = (1..=items.len()).collect();
        let call = AssertUnwindSafe(|| {
            self.client
                .send(&prompt, self.stop, &mut || true, &mut usage, |completion| {
                    self.read_pack(completion, items, &places, &prepared)
                })
        });
        let answers = catch_unwind(call).unwrap_or_else(|panic| {
            let message = crate::logging::panic_message(panic.as_ref());
            Err(AiError::Item(format!("internal error: {message}")))
        });
        self.shared_out(items, usage, answers)
    }

    /// Batch mode: the prompt of one line that carries several short texts, as a
    /// direct call would send them.
    pub fn pack_prompt(&self, items: &[&Item]) -> Prompt {
        self.pack_prompt_of(&self.prepare_pack(items))
    }

    /// Batch mode: a line that carried several texts. `members` are the items still
    /// waiting for it, each with its place in the line (from 1); each is checked as a
    /// direct pack's texts are, and the line's tokens are shared among them by size.
    /// A line refused as a whole is not held against its texts: each goes alone in
    /// the next job.
    pub fn check_pack_line(
        &self,
        members: &[(usize, &Item)],
        usage: Usage,
        answer: Result<String, AiError>,
    ) -> Vec<Processed> {
        let items: Vec<&Item> = members.iter().map(|(_, item)| *item).collect();
        let places: Vec<usize> = members.iter().map(|(place, _)| *place).collect();
        let prepared = self.prepare_pack(&items);
        let shape = Shape::Pack(Box::new(self.shape.clone()));
        let answers = match answer.and_then(|raw| crate::ai::parse_answer(&raw, &shape)) {
            Ok(completion) => self
                .read_pack(completion, &items, &places, &prepared)
                .map_err(AiError::BadAnswer),
            Err(AiError::Item(why)) => Err(AiError::transient(format!(
                "the line that carried this text with others was refused ({why}); it goes alone in the next job"
            ))),
            Err(e) => Err(e),
        };
        self.shared_out(&items, usage, answers)
    }

    /// Each text redacted on its own, as it would be sent alone.
    fn prepare_pack(&self, items: &[&Item]) -> Vec<Prepared> {
        items
            .iter()
            .map(|item| self.prepare(&item.text_original, None))
            .collect()
    }

    fn pack_prompt_of(&self, prepared: &[Prepared]) -> Prompt {
        // Personal data in the instruction becomes [PII]: no item's placeholders.
        let instruction = self.redactor.redact("").mask_other(self.instruction);
        let texts: Vec<&str> = prepared.iter().map(|p| p.redacted.text()).collect();
        let analysis = self.kind == Kind::Analyze;
        prompt_builder::build_pack(&instruction, &texts, self.shape.clone(), analysis)
    }

    /// One outcome per item, each with its share of the call's tokens.
    fn shared_out(
        &self,
        items: &[&Item],
        usage: Usage,
        answers: Result<Vec<Result<Answer, String>>, AiError>,
    ) -> Vec<Processed> {
        let weights: Vec<u64> = items
            .iter()
            .map(|item| item.text_original.chars().count() as u64 + 1)
            .collect();
        let parts = split_usage(&usage, &weights);
        match answers {
            Ok(answers) => answers
                .into_iter()
                .zip(parts)
                .map(|(answer, part)| self.processed(part, answer.map_err(AiError::BadAnswer)))
                .collect(),
            Err(err) => parts
                .into_iter()
                .map(|part| self.processed(part, Err(err.clone())))
                .collect(),
        }
    }

    /// Each item's answer from a packed answer (the item at `places[k]` in the
    /// request), checked like a single answer. `Err` (the request is sent again) only
    /// when no entry matches any text sent.
    fn read_pack(
        &self,
        completion: Completion,
        items: &[&Item],
        places: &[usize],
        prepared: &[Prepared],
    ) -> Result<Vec<Result<Answer, String>>, String> {
        let entries = completion.result.unwrap_or(Value::Null);
        let entries = entries.as_array().map(Vec::as_slice).unwrap_or_default();
        let by_id = |id: usize| {
            entries.iter().find(|e| match e.get("id") {
                Some(Value::String(s)) => s.trim() == id.to_string(),
                Some(Value::Number(n)) => n.as_u64() == Some(id as u64),
                _ => false,
            })
        };
        let answers: Vec<Result<Answer, String>> = items
            .iter()
            .zip(places)
            .zip(prepared)
            .map(|((item, place), prepared)| {
                let text = &item.text_original;
                let entry = by_id(*place).ok_or("the packed answer had no entry for it")?;
                let completion = entry_completion(entry, &self.shape)
                    .ok_or("its entry in the packed answer lacked the fields asked for")?;
                self.accept(&prepared.redacted, completion, text)
                    .and_then(|answer| self.guard(text, answer))
            })
            .collect();
        if places.iter().any(|place| by_id(*place).is_some()) {
            Ok(answers)
        } else {
            Err(format!(
                "the answer held no entry for any of the ids sent (expected {})",
                Shape::Pack(Box::new(self.shape.clone())).name()
            ))
        }
    }
}

/// `usage` shared in proportion to `weights`: each count split so that the parts add
/// up to it exactly (the largest remainders get the leftover tokens).
pub fn split_usage(usage: &Usage, weights: &[u64]) -> Vec<Usage> {
    let input = split(usage.input, weights);
    let output = split(usage.output, weights);
    let cached = split(usage.cached, weights);
    let thinking = split(usage.thinking, weights);
    (0..weights.len())
        .map(|i| Usage {
            input: input[i],
            output: output[i],
            cached: cached[i].min(input[i]),
            thinking: thinking[i].min(output[i]),
        })
        .collect()
}

fn split(total: u64, weights: &[u64]) -> Vec<u64> {
    let sum: u128 = weights.iter().map(|&w| u128::from(w)).sum::<u128>().max(1);
    let exact: Vec<(u64, u128)> = weights
        .iter()
        .map(|&w| {
            let product = u128::from(total) * u128::from(w);
            ((product / sum) as u64, product % sum)
        })
        .collect();
    let mut parts: Vec<u64> = exact.iter().map(|(q, _)| *q).collect();
    let mut left = total - parts.iter().sum::<u64>();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|&a, &b| exact[b].1.cmp(&exact[a].1).then(a.cmp(&b)));
    for i in order {
        if left == 0 {
            break;
        }
        parts[i] += 1;
        left -= 1;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_exactly_and_follow_the_sizes() {
        assert_eq!(split(10, &[1, 1, 1]), vec![4, 3, 3]);
        assert_eq!(split(100, &[30, 10]), vec![75, 25]);
        assert_eq!(split(0, &[5, 5]), vec![0, 0]);
        for total in [1, 7, 999, 123_457] {
            let weights = [3, 17, 1, 40, 9];
            assert_eq!(split(total, &weights).iter().sum::<u64>(), total);
        }
        let usage = Usage {
            input: 101,
            output: 33,
            cached: 50,
            thinking: 7,
        };
        let parts = split_usage(&usage, &[2, 1]);
        assert_eq!(parts.iter().map(|u| u.input).sum::<u64>(), 101);
        assert_eq!(parts.iter().map(|u| u.thinking).sum::<u64>(), 7);
    }
}
