//! Personal data never reaches the model: e-mail addresses, phone numbers, PESEL, NIP,
//! REGON, Polish IBAN / account numbers, payment card numbers and IPv4 addresses are
//! replaced by numbered placeholders (`[EMAIL_1]`) before a text is sent, and put back
//! afterwards. An answer that loses, duplicates or invents a placeholder is an error,
//! never a silently changed text.

use std::collections::HashMap;
use std::fmt;

/// The kinds of personal data detected, in placeholder spelling.
pub const KINDS: &[&str] = &[
    "EMAIL", "PHONE", "PESEL", "NIP", "REGON", "IBAN", "CARD", "IP",
];

/// Replaces personal data when enabled (`PII_REDACTION`), passes text through when not.
#[derive(Clone, Copy, Debug)]
pub struct Redactor {
    enabled: bool,
}

impl Redactor {
    /// A redactor; `enabled = false` sends texts as they are.
    pub fn new(enabled: bool) -> Redactor {
        Redactor { enabled }
    }

    /// Replaces every detected value by its placeholder.
    pub fn redact(&self, text: &str) -> Redacted {
        if !self.enabled {
            return Redacted {
                text: text.to_string(),
                values: Vec::new(),
            };
        }
        redact(text)
    }
}

/// A text with personal data replaced, and what to put back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redacted {
    text: String,
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
            "the model's answer changed the personal-data placeholders ({}); the text was not saved to avoid altering personal data",
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
            if got < *sent {
                problems.push(format!("{placeholder} lost"));
            } else if got > *sent {
                problems.push(format!("{placeholder} duplicated"));
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

/// A detected value: byte range and kind.
struct Hit {
    start: usize,
    end: usize,
    kind: &'static str,
}

/// Replaces every detected value in `text`.
pub fn redact(text: &str) -> Redacted {
    let emails = find_emails(text);
    let numbers: Vec<Hit> = find_numbers(text)
        .into_iter()
        .filter(|n| !emails.iter().any(|h| n.start < h.end && h.start < n.end))
        .collect();
    let mut hits = emails;
    hits.extend(numbers);
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
    Redacted { text: out, values }
}

fn is_email_local(c: char) -> bool {
    c.is_ascii_alphanumeric() || "._%+-".contains(c)
}

fn is_email_domain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-'
}

fn find_emails(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    for (at, _) in text.match_indices('@') {
        let local_start = text[..at]
            .char_indices()
            .rev()
            .take_while(|&(_, c)| is_email_local(c))
            .last()
            .map(|(i, _)| i);
        let Some(start) = local_start else { continue };
        let start = start + text[start..at].len() - text[start..at].trim_start_matches('.').len();
        let domain_len: usize = text[at + 1..]
            .chars()
            .take_while(|&c| is_email_domain(c))
            .map(char::len_utf8)
            .sum();
        let domain = text[at + 1..at + 1 + domain_len].trim_end_matches(['.', '-']);
        let Some((_, tld)) = domain.rsplit_once('.') else {
            continue;
        };
        if start >= at
            || tld.len() < 2
            || !tld.chars().all(|c| c.is_ascii_alphabetic())
            || domain.starts_with('.')
        {
            continue;
        }
        hits.push(Hit {
            start,
            end: at + 1 + domain.len(),
            kind: "EMAIL",
        });
    }
    hits
}

/// A run of digits with separators, as written in the text.
struct NumberRun<'a> {
    start: usize,
    end: usize,
    raw: &'a str,
    digits: String,
}

const SEPARATORS: &[char] = &[' ', '-', '.', ')', '/'];

fn find_numbers(text: &str) -> Vec<Hit> {
    let bytes = text.as_bytes();
    let mut hits = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let prev_alnum = i > 0
            && (bytes[i - 1].is_ascii_alphanumeric()
                || bytes[i - 1] == b'_'
                || bytes[i - 1] >= 0x80);
        let starts_iban =
            bytes[i..].starts_with(b"PL") && bytes.get(i + 2).is_some_and(u8::is_ascii_digit);
        let starts = bytes[i].is_ascii_digit()
            || ((bytes[i] == b'+' || bytes[i] == b'(')
                && bytes.get(i + 1).is_some_and(u8::is_ascii_digit))
            || starts_iban;
        if !starts || prev_alnum {
            i += 1;
            continue;
        }
        let mut run = scan_run(text, i, starts_iban);
        if run.raw.starts_with('(') && !run.raw.contains(')') {
            // "(44051401359)": the parenthesis only wraps the number.
            run.start += 1;
            run.raw = &run.raw[1..];
        }
        let next_alnum = bytes
            .get(run.end)
            .is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b >= 0x80);
        match classify(&run).filter(|_| !next_alnum) {
            Some(kind) => hits.push(Hit {
                start: run.start,
                end: run.end,
                kind,
            }),
            None => hits.extend(classify_windows(text, &run, next_alnum)),
        }
        i = run.end.max(i + 1);
    }
    hits
}

/// Most groups of digits one identifier spans (an IBAN written in groups of four).
const MAX_GROUPS: usize = 7;

/// Identifiers inside a run that is not one as a whole: a phone number run into a
/// price ("600 100 200 200 zł") or after another number ("nr 12 600 100 200"). Each
/// window of whole digit groups is tried, earliest and longest first. Redacting a
/// number that was not personal costs little (it comes back unchanged); missing one
/// sends it to the model. A window ending where the run ends still needs a word
/// boundary there (`trailing_alnum` false).
fn classify_windows(text: &str, run: &NumberRun<'_>, trailing_alnum: bool) -> Vec<Hit> {
    // Byte ranges of the digit groups, within `text`.
    let bytes = run.raw.as_bytes();
    let mut groups = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let group_start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i > group_start {
            groups.push((run.start + group_start, run.start + i));
        } else {
            i += 1;
        }
    }
    let mut hits = Vec::new();
    let mut first = 0;
    while first < groups.len() {
        let widest = groups.len().min(first + MAX_GROUPS);
        let found = (first + 1..=widest).rev().find_map(|last| {
            let whole = first == 0 && last == groups.len();
            if whole || (last == groups.len() && trailing_alnum) {
                return None;
            }
            let start = if first == 0 {
                run.start
            } else {
                groups[first].0
            };
            let end = groups[last - 1].1;
            let window = NumberRun {
                start,
                end,
                raw: &text[start..end],
                digits: text[start..end]
                    .chars()
                    .filter(char::is_ascii_digit)
                    .collect(),
            };
            classify(&window).map(|kind| (last, Hit { start, end, kind }))
        });
        match found {
            Some((last, hit)) => {
                hits.push(hit);
                first = last;
            }
            None => first += 1,
        }
    }
    hits
}

fn scan_run(text: &str, start: usize, iban: bool) -> NumberRun<'_> {
    let bytes = text.as_bytes();
    let mut end = start;
    let mut digits = String::new();
    if iban {
        end += 2;
    } else if bytes[end] == b'+' || bytes[end] == b'(' {
        end += 1;
    }
    loop {
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            digits.push(bytes[end] as char);
            end += 1;
        }
        // Up to two separator characters, then a digit, continue the run.
        let mut k = end;
        while k < bytes.len() && k - end < 2 && SEPARATORS.contains(&(bytes[k] as char)) {
            k += 1;
        }
        if k > end && k < bytes.len() && bytes[k].is_ascii_digit() {
            end = k;
        } else {
            break;
        }
    }
    // A closing parenthesis belongs to the run only if it opened with one.
    NumberRun {
        start,
        end,
        raw: &text[start..end],
        digits,
    }
}

fn separators_of(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_ascii_alphanumeric() && *c != '+')
        .collect()
}

fn group_lengths(raw: &str) -> Vec<usize> {
    raw.split(|c: char| !c.is_ascii_digit())
        .filter(|g| !g.is_empty())
        .map(str::len)
        .collect()
}

fn classify(run: &NumberRun<'_>) -> Option<&'static str> {
    let d = run.digits.as_str();
    let seps = separators_of(run.raw);
    let groups = group_lengths(run.raw);
    if run.raw.starts_with("PL") {
        return (d.len() == 26 && iban_ok(&format!("PL{d}"))).then_some("IBAN");
    }
    if !seps.is_empty() && seps.chars().all(|c| c == '.') && groups.len() == 4 {
        let ok = run
            .raw
            .split('.')
            .all(|g| g.len() <= 3 && g.parse::<u16>().is_ok_and(|n| n <= 255));
        return ok.then_some("IP");
    }
    if seps.contains('.') || seps.contains('/') {
        return None;
    }
    if run.raw.starts_with('+') {
        return (8..=15).contains(&d.len()).then_some("PHONE");
    }
    if d.len() == 26 && iban_ok(&format!("PL{d}")) {
        return Some("IBAN");
    }
    if (13..=19).contains(&d.len())
        && luhn_ok(d)
        && matches!(d.as_bytes()[0], b'2'..=b'6')
        && (seps.is_empty() || groups.iter().take(groups.len() - 1).all(|&g| g == 4))
    {
        return Some("CARD");
    }
    if d.len() == 11 && seps.is_empty() && pesel_ok(d) {
        return Some("PESEL");
    }
    if d.len() == 10
        && nip_ok(d)
        && (seps.is_empty() || groups == [3, 3, 2, 2] || groups == [3, 2, 2, 3])
    {
        return Some("NIP");
    }
    if (d.len() == 9 || d.len() == 14) && seps.is_empty() && regon_ok(d) {
        return Some("REGON");
    }
    if phone_ok(run.raw, d, &groups) {
        return Some("PHONE");
    }
    None
}

fn phone_ok(raw: &str, d: &str, groups: &[usize]) -> bool {
    let national = if let Some(inner) = raw.strip_prefix('(') {
        // (22) 123 45 67
        return d.len() == 9
            && groups.first() == Some(&2)
            && inner.starts_with(|c: char| c.is_ascii_digit())
            && raw.contains(')');
    } else if let Some(rest) = d.strip_prefix("0048").filter(|r| r.len() == 9) {
        rest
    } else {
        d
    };
    if raw.contains(')') || national.len() != 9 || national.starts_with('0') {
        return false;
    }
    let tail: Vec<usize> = if d.len() == 13 {
        groups[1..].to_vec()
    } else {
        groups.to_vec()
    };
    matches!(
        tail.as_slice(),
        [9] | [3, 3, 3] | [2, 3, 2, 2] | [2, 7] | [3, 2, 2, 2]
    )
}

/// PESEL: weights 1-3-7-9, check digit, and a real birth date.
pub fn pesel_ok(d: &str) -> bool {
    let n: Vec<u32> = d.chars().filter_map(|c| c.to_digit(10)).collect();
    if n.len() != 11 {
        return false;
    }
    let w = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = w.iter().zip(&n).map(|(a, b)| a * b).sum();
    if (10 - sum % 10) % 10 != n[10] {
        return false;
    }
    let month = n[2] * 10 + n[3];
    let day = n[4] * 10 + n[5];
    (1..=92).contains(&month) && month % 20 >= 1 && month % 20 <= 12 && (1..=31).contains(&day)
}

/// NIP: weights 6-5-7-2-3-4-5-6-7, mod 11.
pub fn nip_ok(d: &str) -> bool {
    let n: Vec<u32> = d.chars().filter_map(|c| c.to_digit(10)).collect();
    if n.len() != 10 || n.iter().all(|&x| x == 0) {
        return false;
    }
    let w = [6, 5, 7, 2, 3, 4, 5, 6, 7];
    let sum: u32 = w.iter().zip(&n).map(|(a, b)| a * b).sum();
    sum % 11 != 10 && sum % 11 == n[9]
}

/// REGON (9 or 14 digits): weighted sum mod 11 (10 counts as 0).
pub fn regon_ok(d: &str) -> bool {
    let n: Vec<u32> = d.chars().filter_map(|c| c.to_digit(10)).collect();
    let w: &[u32] = match n.len() {
        9 => &[8, 9, 2, 3, 4, 5, 6, 7],
        14 => &[2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8],
        _ => return false,
    };
    if n.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: u32 = w.iter().zip(&n).map(|(a, b)| a * b).sum();
    sum % 11 % 10 == n[n.len() - 1]
}

/// IBAN mod-97 check (letters count as 10..35).
pub fn iban_ok(iban: &str) -> bool {
    let iban: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    if iban.len() < 15 || !iban.is_ascii() {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Luhn check for payment card numbers.
pub fn luhn_ok(d: &str) -> bool {
    let mut sum = 0;
    for (i, c) in d.chars().rev().enumerate() {
        let Some(mut v) = c.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<String> {
        let r = redact(text);
        placeholders_in(r.text()).into_iter().collect()
    }

    #[test]
    fn replaces_and_restores_the_same_value_with_the_same_placeholder() {
        let text =
            "Pisz na jan.kowalski@example.pl lub jan.kowalski@example.pl, tel. +48 600 100 200.";
        let r = redact(text);
        assert_eq!(r.text(), "Pisz na [EMAIL_1] lub [EMAIL_1], tel. [PHONE_1].");
        assert_eq!(r.replaced(), 2);
        let answer = "Pisz na [EMAIL_1] lub [EMAIL_1], tel.: [PHONE_1].";
        assert_eq!(
            r.restore(answer).unwrap(),
            "Pisz na jan.kowalski@example.pl lub jan.kowalski@example.pl, tel.: +48 600 100 200."
        );
    }

    #[test]
    fn lost_duplicated_or_invented_placeholders_are_errors() {
        let r = redact("Mail: a@b.pl, drugi c@d.pl");
        assert!(
            r.restore("Mail: [EMAIL_1]")
                .unwrap_err()
                .to_string()
                .contains("[EMAIL_2] lost")
        );
        assert!(
            r.restore("Mail: [EMAIL_1] [EMAIL_1], drugi [EMAIL_2]")
                .unwrap_err()
                .to_string()
                .contains("duplicated")
        );
        assert!(
            r.restore("Mail: [EMAIL_1], drugi [EMAIL_2] [PHONE_7]")
                .unwrap_err()
                .to_string()
                .contains("[PHONE_7] invented")
        );
    }

    #[test]
    fn placeholders_already_in_the_text_are_not_confused_with_ours() {
        let text = "Szablon [EMAIL_1] zostaje, a adres x@y.com znika.";
        let r = redact(text);
        assert_eq!(
            r.text(),
            "Szablon [EMAIL_1] zostaje, a adres [EMAIL_2] znika."
        );
        assert_eq!(r.restore(r.text()).unwrap(), text);
    }

    #[test]
    fn detects_each_kind() {
        let cases = [
            ("PESEL 44051401359.", "PESEL"),
            ("NIP 526-000-12-46", "NIP"),
            ("NIP: 5260001246", "NIP"),
            ("REGON 123456785", "REGON"),
            ("konto PL61 1090 1014 0000 0712 1981 2874", "IBAN"),
            ("konto 61 1090 1014 0000 0712 1981 2874", "IBAN"),
            ("karta 4111 1111 1111 1111", "CARD"),
            ("karta 5500-0000-0000-0004", "CARD"),
            ("IP 192.168.1.10", "IP"),
            ("tel. 600-100-200", "PHONE"),
            ("tel. (22) 123 45 67", "PHONE"),
            ("tel. +44 20 7946 0958", "PHONE"),
            ("a.b-c+tag@sub.example.co.uk", "EMAIL"),
        ];
        for (text, kind) in cases {
            let found = kinds(text);
            assert_eq!(
                found.len(),
                1,
                "{text}: {found:?} in {}",
                redact(text).text()
            );
            assert!(
                found[0].starts_with(&format!("[{kind}_")),
                "{text}: {found:?}"
            );
        }
    }

    #[test]
    fn ordinary_numbers_are_left_alone() {
        for text in [
            "Cena: 1 299,99 zł",
            "Data 2024-01-15, godz. 12:30",
            "Kod pocztowy 00-950 Warszawa",
            "ISBN 978-83-01-00000-1",
            "Zamówienie nr 12345678901 (niepoprawny PESEL)",
            "ABC600100200 w słowie",
            "wersja 1.2.300.4",
            "małpa @ bez adresu",
        ] {
            assert!(kinds(text).is_empty(), "{text} -> {}", redact(text).text());
        }
    }

    #[test]
    fn disabled_redactor_passes_text_through() {
        let r = Redactor::new(false).redact("a@b.pl");
        assert_eq!(r.text(), "a@b.pl");
        assert_eq!(r.restore("x").unwrap(), "x");
    }

    /// The detector table: (text, kinds expected in order of appearance).
    const TABLE: &[(&str, &[&str])] = &[
        // E-mail addresses.
        ("jan@example.com", &["EMAIL"]),
        ("Pisz: Jan.Kowalski@firma.com.pl!", &["EMAIL"]),
        ("a_b-c@sub-domain.example.org", &["EMAIL"]),
        ("x+tag@example.io.", &["EMAIL"]),
        ("<ola@example.eu>", &["EMAIL"]),
        ("dwa: a@b.pl i c@d.de", &["EMAIL", "EMAIL"]),
        ("kontakt@żółw.pl", &[]),
        ("user@localhost", &[]),
        ("@handle on Twitter", &[]),
        ("a@b", &[]),
        ("email@123", &[]),
        ("cena 5 @ 10 zł", &[]),
        // Phone numbers.
        ("tel. 600 100 200", &["PHONE"]),
        ("tel. 600-100-200", &["PHONE"]),
        ("tel. 600100200", &["PHONE"]),
        ("tel. +48 600 100 200", &["PHONE"]),
        ("tel. +48600100200", &["PHONE"]),
        ("tel. 0048 600 100 200", &["PHONE"]),
        ("tel. (22) 123 45 67", &["PHONE"]),
        ("tel. 22 123 45 67", &["PHONE"]),
        ("tel. +44 20 7946 0958", &["PHONE"]),
        ("tel. +1 202 555 0143", &["PHONE"]),
        ("tel. +49 30 901820", &["PHONE"]),
        ("zadzwoń: 512 345 678.", &["PHONE"]),
        ("numery 600 100 200 oraz 700-800-900", &["PHONE", "PHONE"]),
        // Run into neighbouring numbers.
        ("tel. 600 100 200 200 zł", &["PHONE"]),
        ("poz. 12 600 100 200", &["PHONE"]),
        ("nr 7 +48 600 100 200", &["PHONE"]),
        ("600 100 200 700 800 900", &["PHONE", "PHONE"]),
        ("tel. 600 100 200 200zł", &["PHONE"]),
        ("1 2 3 4 5 6 7 8 9", &[]),
        ("+12 345", &[]),
        ("012 345 678", &[]),
        ("12 34", &[]),
        ("rok 2024, strona 123", &[]),
        // PESEL.
        ("PESEL 44051401359", &["PESEL"]),
        ("PESEL: 85031253056.", &["PESEL"]),
        ("pesel 01313024714", &["PESEL"]),
        ("(99120164688)", &["PESEL"]),
        ("10213107915", &["PESEL"]),
        ("44051401358", &[]),
        ("12345678901", &[]),
        ("00000000000", &[]),
        ("4405140135", &[]),
        ("440514013590", &[]),
        // NIP.
        ("NIP 5260001246", &["NIP"]),
        ("NIP 526-000-12-46", &["NIP"]),
        ("NIP 526-00-01-246", &["NIP"]),
        ("NIP: 1748611686", &["NIP"]),
        ("nip 6480987020", &["NIP"]),
        ("4746110970", &["NIP"]),
        ("1599538931", &["NIP"]),
        ("5260001245", &[]),
        ("0000000000", &[]),
        // A valid NIP with a digit after it: redacted (a number kept from the model
        // costs nothing, it comes back unchanged).
        ("526 000 12 46 5", &["NIP"]),
        // REGON.
        ("REGON 123456785", &["REGON"]),
        ("REGON 781068711", &["REGON"]),
        ("regon: 388163023", &["REGON"]),
        ("150325823", &["REGON"]),
        ("REGON 12345678512347", &["REGON"]),
        ("000000000", &[]),
        // IBAN and account numbers.
        ("PL61109010140000071219812874", &["IBAN"]),
        ("PL61 1090 1014 0000 0712 1981 2874", &["IBAN"]),
        ("konto 61 1090 1014 0000 0712 1981 2874", &["IBAN"]),
        ("konto 61109010140000071219812874", &["IBAN"]),
        ("52543231948757491186252760", &["IBAN"]),
        ("42 1895 5597 9711 4710 4974 6507", &["IBAN"]),
        ("35529170342366712768426846", &["IBAN"]),
        ("PL62 1090 1014 0000 0712 1981 2874", &[]),
        ("62109010140000071219812874", &[]),
        ("PLN 100", &[]),
        // Payment cards.
        ("karta 4111 1111 1111 1111", &["CARD"]),
        ("karta 4111-1111-1111-1111", &["CARD"]),
        ("karta 4111111111111111", &["CARD"]),
        ("4166131860913909", &["CARD"]),
        ("5199603082462814", &["CARD"]),
        ("379482199351811", &["CARD"]),
        ("6011 9093 7865 7973", &["CARD"]),
        ("4111 1111 1111 1112", &[]),
        ("1111 1111 1111 1117", &[]),
        ("9780306406157", &[]),
        // IPv4.
        ("IP 192.168.1.10", &["IP"]),
        ("z 10.0.0.1.", &["IP"]),
        ("host 8.8.8.8 i 1.1.1.1", &["IP", "IP"]),
        ("255.255.255.255", &["IP"]),
        ("256.1.1.1", &[]),
        ("1.2.3", &[]),
        ("wersja 1.2.300.4", &[]),
        // Ordinary text that must stay as it is.
        ("Cena: 1 299,99 zł", &[]),
        ("Cena 12.99 PLN", &[]),
        ("Data 2024-01-15, godz. 12:30", &[]),
        ("15.01.2024 r.", &[]),
        ("15/01/2024", &[]),
        ("Kod pocztowy 00-950 Warszawa", &[]),
        ("ul. Marszałkowska 10/12 m. 5", &[]),
        ("ISBN 978-83-01-00000-1", &[]),
        ("ISBN 83-01-00000-1", &[]),
        ("Zamówienie nr 2024/11/12345", &[]),
        ("Faktura FV/123/2024", &[]),
        ("Zamówienie 12345678", &[]),
        ("ABC600100200 w słowie", &[]),
        ("SKU600100200X", &[]),
        ("x44051401359", &[]),
        ("44051401359ab", &[]),
        ("Temperatura 36,6 °C", &[]),
        ("Wzrost o 15% w 2023", &[]),
        ("3 × 4 = 12", &[]),
        ("Numer [EMAIL_1] to szablon", &[]),
        ("", &[]),
        ("Zażółć gęślą jaźń 🦀", &[]),
    ];

    #[test]
    fn detector_table() {
        assert!(TABLE.len() >= 100, "{} cases", TABLE.len());
        for (text, expected) in TABLE {
            let r = redact(text);
            let kinds: Vec<String> = r
                .values
                .iter()
                .flat_map(|(p, _, n)| std::iter::repeat_n(p.clone(), *n))
                .collect();
            let found: Vec<&str> = placeholders_in(r.text())
                .iter()
                .filter(|p| kinds.contains(p))
                .map(|p| {
                    KINDS
                        .iter()
                        .copied()
                        .find(|k| p.starts_with(&format!("[{k}_")))
                        .unwrap_or("?")
                })
                .collect();
            assert_eq!(&found, expected, "{text:?} -> {:?}", r.text());
            assert_eq!(r.restore(r.text()).as_deref(), Ok(*text), "{text:?}");
        }
    }

    #[test]
    fn redact_then_restore_is_the_identity_for_any_text() {
        const PIECES: &[&str] = &[
            "a",
            "Ż",
            " ",
            "-",
            ".",
            "(",
            ")",
            "+",
            "@",
            "_",
            "/",
            "0",
            "1",
            "4",
            "9",
            "[",
            "]",
            "[EMAIL_1]",
            "[PHONE_2]",
            "PL",
            "x@y.pl",
            "600 100 200",
            "44051401359",
            "\n",
            "🦀",
            ",",
        ];
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len)
                .map(|_| PIECES[(next() as usize) % PIECES.len()])
                .collect();
            let r = redact(&text);
            assert_eq!(
                r.restore(r.text()).as_deref(),
                Ok(text.as_str()),
                "{text:?} -> {:?}",
                r.text()
            );
        }
    }
}
