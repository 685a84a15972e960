//! Finds personal data in a text: e-mail addresses, and numbers that pass the checks
//! of a phone, PESEL, NIP, REGON, IBAN, card or IPv4 address.

use super::checksums::{iban_ok, luhn_ok, nip_ok, pesel_ok, regon_ok};

/// A detected value: byte range and kind.
pub(super) struct Hit {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) kind: &'static str,
}

fn is_email_local(c: char) -> bool {
    // Letters of any script: "józef.żak@..." is one address, not "józef.ż" + one.
    c.is_alphanumeric() || "._%+-".contains(c)
}

fn is_email_domain(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '.' || c == '-'
}

/// Every e-mail address in `text`.
pub(super) fn find_emails(text: &str) -> Vec<Hit> {
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

/// Every number in `text` that passes the checks of one kind of personal data.
pub(super) fn find_numbers(text: &str) -> Vec<Hit> {
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
        if d.len() == 10 && seps.is_empty() && nip_ok(d) {
            return Some("NIP"); // PL1234567890, the EU VAT form of a NIP
        }
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
