//! Personal data never reaches the model: e-mail addresses, phone numbers, PESEL, NIP,
//! REGON, IBANs, payment cards, IP and MAC addresses, ID card and passport numbers,
//! dates of birth, street addresses and postal codes, car plates, links to a person
//! and names of people are replaced by numbered placeholders (`[EMAIL_1]`,
//! `[NAME_2]`) before a text is sent, and put back afterwards. An answer that loses,
//! duplicates or invents a placeholder is an error, never a silently changed text.

mod checksums;
mod detect;
mod markup;
mod more_kinds;
mod names;
mod phones;
mod places;

use std::collections::HashMap;
use std::fmt;

use detect::{Hit, find_emails, find_numbers};

/// The kinds of values masked, in placeholder spelling: personal data, then markup.
pub const KINDS: &[&str] = &[
    "EMAIL", "PHONE", "PESEL", "NIP", "REGON", "IBAN", "CARD", "IP", "MAC", "ID", "DOB", "ADDRESS",
    "PLATE", "NAME", "URL", "TAG", "CODE",
];

/// How much personal data a task masks (`task.privacy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Everything this module finds (the default).
    All,
    /// Everything but names of people.
    Identifiers,
    /// Nothing: the texts go out as they are.
    Off,
}

impl Level {
    /// `task.privacy` as stored: NULL, empty or an unknown word mean `all` (the safe
    /// side).
    pub fn parse(value: Option<&str>) -> Level {
        match value.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("off") => Level::Off,
            Some(v) if v.eq_ignore_ascii_case("identifiers") => Level::Identifiers,
            _ => Level::All,
        }
    }

    /// The name as `task.privacy` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Level::All => "all",
            Level::Identifiers => "identifiers",
            Level::Off => "off",
        }
    }
}

/// Replaces personal data when enabled (`PII_REDACTION`), and markup that must come
/// back unchanged (code, tags with attributes, URLs) unless a task switches that off.
#[derive(Clone, Copy, Debug)]
pub struct Redactor {
    enabled: bool,
    names: bool,
    markup: bool,
}

impl Redactor {
    /// A redactor; `enabled = false` sends personal data as it is.
    pub fn new(enabled: bool) -> Redactor {
        Redactor {
            enabled,
            names: true,
            markup: false,
        }
    }

    /// Also masks names of people (`true`, the `all` level), or only identifiers.
    pub fn with_names(self, names: bool) -> Redactor {
        Redactor { names, ..self }
    }

    /// Also masks markup (`true`), or not.
    pub fn with_markup(self, markup: bool) -> Redactor {
        Redactor { markup, ..self }
    }

    /// Replaces every detected value by its placeholder.
    pub fn redact(&self, text: &str) -> Redacted {
        if !self.enabled && !self.markup {
            return Redacted {
                text: text.to_string(),
                enabled: false,
                values: Vec::new(),
            };
        }
        let mut hits = if self.markup {
            markup::find_markup(text)
        } else {
            Vec::new()
        };
        if self.enabled {
            let outside = |h: &Hit| !hits.iter().any(|m| h.start < m.end && m.start < h.end);
            let personal: Vec<Hit> = personal_data(text, self.names)
                .into_iter()
                .filter(outside)
                .collect();
            hits.extend(personal);
        }
        replace(text, hits, self.enabled)
    }
}

/// A text with personal data replaced, and what to put back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redacted {
    text: String,
    /// Redaction was on (`PII_REDACTION`).
    enabled: bool,
    /// (placeholder, original value, occurrences in `text`).
    values: Vec<(String, String, usize)>,
}

/// An answer whose placeholders do not match what was sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlaceholderError(String);

impl fmt::Display for PlaceholderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the model's answer changed the placeholders of personal data or markup ({}); the text was not saved, so nothing was altered",
            self.0
        )
    }
}

impl std::error::Error for PlaceholderError {}

impl Redacted {
    /// The text to send.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// How many distinct values were replaced.
    pub fn replaced(&self) -> usize {
        self.values.len()
    }

    /// Puts the original values back into the model's answer, checking that every
    /// placeholder came back exactly as often as it was sent and none was invented.
    pub fn restore(&self, answer: &str) -> Result<String, PlaceholderError> {
        let mut problems = Vec::new();
        for (placeholder, _, sent) in &self.values {
            let got = answer.matches(placeholder.as_str()).count();
            // Named by placeholder only: this message is also the note a retry sends
            // the model, and a masked link or tag may carry personal data.
            let (shown, lost) = match placeholder.trim_start_matches('[').split('_').next() {
                Some("TAG") => (format!("tag {placeholder}"), "missing"),
                Some("URL") => (format!("link {placeholder}"), "missing"),
                Some("CODE") => (format!("code {placeholder}"), "missing"),
                _ => (placeholder.clone(), "lost"),
            };
            if got < *sent {
                problems.push(format!("{shown} {lost}"));
            } else if got > *sent {
                problems.push(format!("{shown} duplicated"));
            }
        }
        for found in placeholders_in(answer) {
            let ours = self.values.iter().any(|(p, _, _)| *p == found);
            if !ours && !self.text.contains(&found) {
                problems.push(format!("{found} invented"));
            }
        }
        if !problems.is_empty() {
            problems.dedup();
            return Err(PlaceholderError(problems.join(", ")));
        }
        Ok(self.restore_lenient(answer))
    }

    /// Another text shown to the model beside this one (a rejected version, a
    /// reviewer's note): values this text had become the same placeholders, any other
    /// personal data found becomes `[PII]`, which the answer need not keep.
    pub fn mask_other(&self, other: &str) -> String {
        if !self.enabled {
            return other.to_string();
        }
        let mut out = other.to_string();
        let mut values: Vec<&(String, String, usize)> = self.values.iter().collect();
        values.sort_by_key(|(_, v, _)| std::cmp::Reverse(v.len()));
        for (placeholder, value, _) in values {
            out = out.replace(value.as_str(), placeholder);
        }
        let rest = redact(&out);
        let mut masked = rest.text().to_string();
        for (placeholder, _, _) in &rest.values {
            masked = masked.replace(placeholder.as_str(), "[PII]");
        }
        masked
    }

    /// Puts the original values back wherever a placeholder appears, without checks
    /// (for the change summary, which may mention a value or not).
    pub fn restore_lenient(&self, answer: &str) -> String {
        let mut out = answer.to_string();
        // Longest placeholders first so [EMAIL_1] never eats part of [EMAIL_10].
        let mut values: Vec<&(String, String, usize)> = self.values.iter().collect();
        values.sort_by_key(|(p, _, _)| std::cmp::Reverse(p.len()));
        for (placeholder, value, _) in values {
            out = out.replace(placeholder.as_str(), value);
        }
        out
    }
}

/// Every `[KIND_N]` in a text, for the kinds above.
fn placeholders_in(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find('[') {
        rest = &rest[start + 1..];
        let Some(end) = rest.find(']') else { break };
        let inner = &rest[..end];
        if let Some((kind, number)) = inner.rsplit_once('_')
            && KINDS.contains(&kind)
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
        {
            found.push(format!("[{inner}]"));
        }
    }
    found
}

/// Where personal data lies in `text` (byte ranges), each with the three words
/// before it: a long text is never cut inside one of them, so no value goes out in
/// two clear pieces, and none loses the words that mark it ("ul.", "ur.", "Pani")
/// to the part before.
pub fn personal_spans(text: &str) -> Vec<(usize, usize)> {
    personal_data(text, true)
        .into_iter()
        .map(|hit| (context_start(text, hit.start), hit.end))
        .collect()
}

/// The start of the third word before `at`, on the same line.
fn context_start(text: &str, at: usize) -> usize {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let mut start = at;
    for _ in 0..3 {
        let before = text[line_start..start].trim_end();
        let word = before
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace())
            .map_or(0, |(i, c)| i + c.len_utf8());
        if before.is_empty() {
            break;
        }
        start = line_start + word;
    }
    start
}

/// Replaces every detected piece of personal data in `text`.
pub fn redact(text: &str) -> Redacted {
    replace(text, personal_data(text, true), true)
}

/// Every kind of personal data found (names only if `names`); where two overlap,
/// the one found first wins: e-mails, IBANs, links, IPv6 and MAC addresses, dates of
/// birth, documents, plates, postal codes, street addresses, numbers, names.
fn personal_data(text: &str, names: bool) -> Vec<Hit> {
    let mut hits: Vec<Hit> = Vec::new();
    let found = [
        find_emails(text),
        more_kinds::find_ibans(text),
        more_kinds::find_obfuscated_emails(text),
        places::find_personal_urls(text),
        more_kinds::find_ipv6_and_mac(text),
        places::find_birth_dates(text),
        places::find_documents(text),
        places::find_plates(text),
        places::find_postcodes(text),
        places::find_addresses(text),
        find_numbers(text),
        if names {
            names::find_names(text)
        } else {
            Vec::new()
        },
    ];
    for hit in found.into_iter().flatten() {
        if !hits.iter().any(|h| hit.start < h.end && h.start < hit.end) {
            hits.push(hit);
        }
    }
    hits
}

/// Replaces each hit by its placeholder (the same value, the same placeholder).
fn replace(text: &str, mut hits: Vec<Hit>, enabled: bool) -> Redacted {
    hits.sort_by_key(|h| h.start);
    let mut out = String::with_capacity(text.len());
    let mut values: Vec<(String, String, usize)> = Vec::new();
    let mut by_value: HashMap<(&str, &str), usize> = HashMap::new();
    let mut counters: HashMap<&str, usize> = HashMap::new();
    let mut pos = 0;
    for hit in hits {
        if hit.start < pos {
            // Overlaps the previous value (two e-mails sharing characters): skip it.
            continue;
        }
        let value = &text[hit.start..hit.end];
        let index = *by_value.entry((hit.kind, value)).or_insert_with(|| {
            // Skip numbers whose placeholder the original text already contains.
            let n = counters.entry(hit.kind).or_insert(0);
            let placeholder = loop {
                *n += 1;
                let candidate = format!("[{}_{}]", hit.kind, n);
                if !text.contains(&candidate) {
                    break candidate;
                }
            };
            values.push((placeholder, value.to_string(), 0));
            values.len() - 1
        });
        out.push_str(&text[pos..hit.start]);
        out.push_str(&values[index].0);
        values[index].2 += 1;
        pos = hit.end;
    }
    out.push_str(&text[pos..]);
    Redacted {
        text: out,
        enabled,
        values,
    }
}

#[cfg(test)]
mod tests;
