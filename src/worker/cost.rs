//! What a call costs: the model's prices applied to the tokens billed, and the
//! estimate a budget reserves before a call (and `--estimate` prints).

use crate::ai::Usage;
use crate::ai::prompt_builder::SYSTEM_INSTRUCTION;

/// A model's prices per 1 million tokens, in its currency.
#[derive(Clone, Debug, PartialEq)]
pub struct Pricing {
    /// Input tokens.
    pub input: f64,
    /// Input tokens served from the provider's cache (`price_cached_input`, else
    /// `price_input`).
    pub cached_input: f64,
    /// Output tokens, thinking included.
    pub output: f64,
    /// `ai_model.currency`.
    pub currency: String,
}

impl Pricing {
    /// The prices of a model row: `None` unless both input and output prices are set.
    pub fn from_columns(prices: [Option<f64>; 3], currency: &str) -> Option<Pricing> {
        let [input, cached, output] = prices;
        Some(Pricing {
            input: input?,
            cached_input: cached.or(input)?,
            output: output?,
            currency: currency.trim().to_string(),
        })
    }

    /// The same prices times `factor` (a batch job's share of them).
    pub fn scaled(&self, factor: f64) -> Pricing {
        Pricing {
            input: self.input * factor,
            cached_input: self.cached_input * factor,
            output: self.output * factor,
            currency: self.currency.clone(),
        }
    }

    /// The cost of `usage`: uncached input, cached input and output at their prices.
    pub fn cost(&self, usage: &Usage) -> f64 {
        let cached = usage.cached.min(usage.input);
        let uncached = usage.input - cached;
        (uncached as f64 * self.input
            + cached as f64 * self.cached_input
            + usage.output as f64 * self.output)
            / 1_000_000.0
    }
}

/// Characters per token assumed for an estimate (Latin script, Polish and English:
/// real tokenizers give 3 to 4.5).
const CHARS_PER_TOKEN: f64 = 3.5;
/// Characters around the text in every prompt besides the instructions (markers,
/// labels) and the JSON and summary around every answer.
const PROMPT_FRAME_CHARS: u64 = 60;
const ANSWER_FRAME_TOKENS: u64 = 20;
/// Of the answer's frame, the change summary: not asked for when the worker writes
/// it (`task.change_summary = 'diff'`).
pub const SUMMARY_TOKENS: u64 = 15;

/// The tokens one item is expected to cost: the fixed prompt (system instruction and
/// the task's instruction) plus the text in, the text again plus a summary out.
pub fn estimate(instruction_chars: u64, text_chars: u64) -> Usage {
    let fixed = SYSTEM_INSTRUCTION.chars().count() as u64 + instruction_chars + PROMPT_FRAME_CHARS;
    let tokens = |chars: u64| (chars as f64 / CHARS_PER_TOKEN).ceil() as u64;
    Usage {
        input: tokens(fixed + text_chars),
        output: tokens(text_chars) + ANSWER_FRAME_TOKENS,
        cached: 0,
        thinking: 0,
    }
}

/// [`estimate`] for `items` items whose texts have `text_chars` characters together.
pub fn estimate_many(items: u64, instruction_chars: u64, text_chars: u64) -> Usage {
    let one = estimate(instruction_chars, 0);
    let text = estimate(0, text_chars);
    let empty = estimate(0, 0);
    Usage {
        input: items * one.input + text.input - empty.input,
        output: items * one.output + text.output - empty.output,
        cached: 0,
        thinking: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_follows_the_spec_formula() {
        let pricing = Pricing::from_columns([Some(1.25), Some(0.125), Some(10.0)], "USD").unwrap();
        let usage = Usage {
            input: 1_000_000,
            output: 100_000,
            cached: 400_000,
            thinking: 50_000,
        };
        // 600k uncached at 1.25, 400k cached at 0.125, 100k out at 10 (per million).
        let want = 0.6 * 1.25 + 0.4 * 0.125 + 0.1 * 10.0;
        assert!((pricing.cost(&usage) - want).abs() < 1e-12);
        let no_cache_price = Pricing::from_columns([Some(2.0), None, Some(4.0)], "EUR").unwrap();
        assert_eq!(
            no_cache_price.cached_input, 2.0,
            "cached NULL = price_input"
        );
        assert!(Pricing::from_columns([None, None, Some(1.0)], "USD").is_none());
        assert!(Pricing::from_columns([Some(1.0), None, None], "USD").is_none());
    }

    #[test]
    fn an_estimate_grows_with_the_text_and_counts_the_fixed_prompt() {
        let small = estimate(80, 100);
        let big = estimate(80, 10_000);
        assert!(big.input > small.input && big.output > small.output);
        assert!(
            small.input > 100,
            "the system instruction is counted: {small:?}"
        );
        assert_eq!(
            big.output - small.output,
            ((10_000f64 / 3.5).ceil() - (100f64 / 3.5).ceil()) as u64
        );
    }
}
