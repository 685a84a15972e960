//! Finds personal data in a text: e-mail addresses, and numbers that pass the checks
//! of a phone, PESEL, NIP, REGON, IBAN, card or IPv4 address.

use super::checksums::{ean_ok, iban_ok, luhn_ok, nip_ok, pesel_ok, regon_ok};
use super::phones;

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

const SEPARATORS: &[char] = &[' ', '-', '.', '(', ')', '/'];

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
        let found = match classify(&run).filter(|_| !next_alnum) {
            Some(kind) => vec![Hit {
                start: run.start,
                end: run.end,
                kind,
            }],
            None => classify_windows(text, &run, next_alnum),
        };
        hits.extend(found.into_iter().filter(|hit| !not_personal(text, hit)));
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
    if run.raw.starts_with('+') || run.raw.starts_with('(') || seps.contains(['.', '/']) {
        return phones::phone_ok(run.raw, d, &groups).then_some("PHONE");
    }
    if d.len() == 26 && iban_ok(&format!("PL{d}")) {
        return Some("IBAN");
    }
    if (13..=19).contains(&d.len())
        && luhn_ok(d)
        && matches!(d.as_bytes()[0], b'2'..=b'6')
        && !(d.len() == 13 && ean_ok(d))
        && (seps.is_empty()
            || groups.iter().take(groups.len() - 1).all(|&g| g == 4)
            || groups == [4, 6, 5]
            || groups == [4, 6, 4])
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
    if phones::phone_ok(run.raw, d, &groups) {
        return Some("PHONE");
    }
    None
}

/// Words before a number that say it is not personal: an order, an invoice, a
/// version, a product code, a parcel, a hotline, a price.
const NOT_PERSONAL_CUES: &[&str] = &[
    "zamówieni",
    "zamowieni",
    "zam.",
    "order",
    "faktur",
    "fv",
    "invoice",
    "wersj",
    "version",
    "ver.",
    "build",
    "firmware",
    "sku",
    "kod produktu",
    "product code",
    "katalog",
    "indeks",
    "art.",
    "seryjn",
    "serial",
    "s/n",
    "przesyłk",
    "paczk",
    "tracking",
    "umow",
    "sygn",
    "ticket",
    "zgłoszeni",
    "sprawy",
    "infolini",
    "hotline",
    "helpline",
    "call center",
    "model",
    "part no",
    "cena",
    "kwot",
    "price",
    "amount",
    "total",
    "razem",
    "suma",
    "koszt",
];

/// Names of registers whose numbers may pass another kind's check (a KRS number
/// passing NIP's, an EAN passing Luhn's): right before the number, they decide.
const REGISTER_CUES: &[&str] = &["krs", "ean", "isbn", "issn", "gtin", "upc"];

/// Currencies: a number followed by one is a price.
const CURRENCIES: &[&str] = &[
    "zł", "pln", "eur", "€", "usd", "$", "gbp", "£", "złotych", "chf",
];

/// Whether the words around a hit say it is not personal data: a register's name
/// right before any number but a PESEL or IBAN; an order, invoice, version or price
/// word shortly before a phone, REGON or 4-part address; a decimal part or currency
/// after a phone; a business line (80x).
fn not_personal(text: &str, hit: &Hit) -> bool {
    if matches!(hit.kind, "PESEL" | "IBAN") {
        return false;
    }
    let before = lower_tail(text, hit.start, 40);
    let last_word = before
        .trim_end_matches([' ', ':', '.', '#'])
        .rsplit([' ', '\n'])
        .next()
        .unwrap_or("");
    let last_word = last_word.trim_start_matches(['(', '[']);
    if REGISTER_CUES
        .iter()
        .any(|c| last_word.trim_end_matches(':') == *c)
    {
        return true;
    }
    if !matches!(hit.kind, "PHONE" | "REGON" | "IP") {
        return false;
    }
    // The words since the sentence began ("zam. 123": an abbreviation's dot is no end).
    let clause = before.rsplit(['\n', ';', '!', '?']).next().unwrap_or("");
    let abbreviation_ends = |head: &str| {
        NOT_PERSONAL_CUES.iter().any(|c| {
            let Some(word) = c.strip_suffix('.') else {
                return false;
            };
            head.strip_suffix(word)
                .is_some_and(|pre| !pre.ends_with(char::is_alphanumeric))
        })
    };
    let clause = match clause.rsplit_once(". ") {
        Some((head, tail)) if !abbreviation_ends(head) => tail,
        _ => clause,
    };
    // Only the last three words count: "koszt" early in a sentence says nothing of
    // the phone number at its end.
    let words: Vec<&str> = clause.split_whitespace().collect();
    let near = words[words.len().saturating_sub(3)..].join(" ");
    let starts_word = |cue: &&str| {
        near.match_indices(*cue)
            .any(|(i, _)| !near[..i].ends_with(char::is_alphanumeric))
    };
    if NOT_PERSONAL_CUES.iter().any(starts_word) {
        return true;
    }
    let after = text[hit.end..].to_lowercase();
    let decimal =
        after.starts_with([',', '.']) && after[1..].starts_with(|c: char| c.is_ascii_digit());
    let after = after.trim_start_matches([' ', '\u{a0}']);
    let priced =
        CURRENCIES.iter().any(|c| after.starts_with(c)) || before.ends_with(['$', '€', '£']);
    let digits: String = text[hit.start..hit.end]
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let business = hit.kind == "PHONE" && digits.len() == 9 && digits.starts_with("80");
    hit.kind == "PHONE" && (decimal || priced || business)
}

/// The last `max` bytes before `at` (on a character boundary), lower-cased.
fn lower_tail(text: &str, at: usize, max: usize) -> String {
    let mut from = at.saturating_sub(max);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..at].to_lowercase()
}
