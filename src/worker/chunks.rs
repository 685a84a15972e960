//! Splitting a long text into parts a model can answer within its output limit: at
//! paragraph boundaries, else at sentence ends, else between words, never inside a
//! tag, a URL, a placeholder or code. Joining the parts' results with the original
//! separators gives the text back byte for byte.

/// One part of a text and the whitespace that followed it in the original.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The part's text.
    pub text: String,
    /// What separated it from the next part (empty for the last).
    pub separator: String,
}

/// Words after which a full stop does not end a sentence (Polish and English).
const ABBREVIATIONS: &[&str] = &[
    "np", "itd", "itp", "dr", "prof", "mgr", "inż", "tzw", "tj", "m.in", "ok", "ul", "nr", "godz",
    "r", "zł", "wg", "pt", "tel", "e.g", "i.e", "etc", "mr", "mrs", "ms", "vs", "no", "st", "jr",
    "sr", "dept", "fig", "approx",
];

/// Splits `text` into parts of at most `max` characters where it can (a single word
/// longer than that stays whole); a text that fits is one part.
pub fn split(text: &str, max: usize) -> Vec<Part> {
    let max = max.max(100);
    if text.chars().count() <= max {
        return vec![Part {
            text: text.to_string(),
            separator: String::new(),
        }];
    }
    let protected = protected_spans(text);
    let boundaries = boundaries(text, &protected);
    let mut parts = Vec::new();
    let mut start = 0;
    while start < text.len() {
        let limit = byte_after_chars(text, start, max);
        if limit >= text.len() {
            parts.push(Part {
                text: text[start..].to_string(),
                separator: String::new(),
            });
            break;
        }
        let (end, next) = best_boundary(&boundaries, start, limit)
            .unwrap_or_else(|| first_boundary_after(&boundaries, limit, text.len()));
        parts.push(Part {
            text: text[start..end].to_string(),
            separator: text[end..next].to_string(),
        });
        start = next;
    }
    parts
}

/// Puts parts back together: each result followed by its part's separator.
pub fn join(results: &[String], parts: &[Part]) -> String {
    results
        .iter()
        .zip(parts)
        .map(|(result, part)| format!("{result}{}", part.separator))
        .collect()
}

/// A place a text may be split: the part ends at `end`, the next starts at `next`
/// (the whitespace between is the separator), with a `level`: 3 paragraph,
/// 2 sentence, 1 word.
#[derive(Clone, Copy, Debug)]
struct Boundary {
    end: usize,
    next: usize,
    level: u8,
}

/// The last boundary before `limit`, of the highest level that leaves a part at least
/// a quarter as long as allowed.
fn best_boundary(boundaries: &[Boundary], start: usize, limit: usize) -> Option<(usize, usize)> {
    let window: Vec<&Boundary> = boundaries
        .iter()
        .filter(|b| b.end > start && b.end <= limit)
        .collect();
    let quarter = start + (limit - start) / 4;
    for level in [3, 2, 1] {
        if let Some(b) = window
            .iter()
            .rev()
            .find(|b| b.level == level && (b.end >= quarter || level == 1))
        {
            return Some((b.end, b.next));
        }
    }
    None
}

/// The first boundary after `limit` (a word longer than the limit stays whole).
fn first_boundary_after(boundaries: &[Boundary], limit: usize, len: usize) -> (usize, usize) {
    boundaries
        .iter()
        .find(|b| b.end >= limit)
        .map_or((len, len), |b| (b.end, b.next))
}

fn byte_after_chars(text: &str, start: usize, chars: usize) -> usize {
    text[start..]
        .char_indices()
        .nth(chars)
        .map_or(text.len(), |(i, _)| start + i)
}

/// Every whitespace run outside protected spans, as a boundary with its level.
fn boundaries(text: &str, protected: &[(usize, usize)]) -> Vec<Boundary> {
    let inside = |at: usize| protected.iter().any(|&(s, e)| at > s && at < e);
    let mut out = Vec::new();
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        if !c.is_whitespace() || i == 0 {
            continue;
        }
        let mut next = i + c.len_utf8();
        while let Some(&(j, d)) = iter.peek() {
            if !d.is_whitespace() {
                break;
            }
            next = j + d.len_utf8();
            iter.next();
        }
        if next >= text.len() || inside(i) {
            continue;
        }
        let gap = &text[i..next];
        let level = if gap.matches('\n').count() >= 2 {
            3
        } else if sentence_ends_before(&text[..i]) && starts_sentence(&text[next..]) {
            2
        } else {
            1
        };
        out.push(Boundary {
            end: i,
            next,
            level,
        });
    }
    out
}

/// Whether `before` ends with a sentence end: . ! ? or … (and closing quotes or
/// brackets), not after an abbreviation or a lone initial.
fn sentence_ends_before(before: &str) -> bool {
    let trimmed = before.trim_end_matches(['"', '\'', ')', ']', '”', '»']);
    let Some(last) = trimmed.chars().last() else {
        return false;
    };
    if "!?…".contains(last) {
        return true;
    }
    if last != '.' {
        return false;
    }
    let word: String = trimmed[..trimmed.len() - 1]
        .chars()
        .rev()
        .take_while(|c| c.is_alphanumeric() || *c == '.')
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let lower = word.to_lowercase();
    let initial = word.chars().count() == 1 && word.chars().all(char::is_uppercase);
    !(ABBREVIATIONS.contains(&lower.as_str()) || initial)
}

fn starts_sentence(after: &str) -> bool {
    after
        .chars()
        .next()
        .is_some_and(|c| c.is_uppercase() || c.is_ascii_digit() || "\"'„«(<[#-*".contains(c))
}

/// Byte ranges no split may fall into: tags, URLs, placeholders, code.
fn protected_spans(text: &str) -> Vec<(usize, usize)> {
    // Personal data first: a part boundary inside a value would send it in two
    // pieces that the redaction of each part no longer recognises.
    let mut spans = crate::privacy::personal_spans(text);
    for (open, close) in [("<", ">"), ("[", "]"), ("`", "`"), ("(http", ")")] {
        let mut at = 0;
        while let Some(found) = text[at..].find(open) {
            let start = at + found;
            let from = start + open.len();
            match text[from..].find(close) {
                Some(len) => {
                    spans.push((start, from + len + close.len()));
                    at = from + len + close.len();
                }
                None => break,
            }
        }
    }
    for scheme in ["https://", "http://"] {
        for (start, _) in text.match_indices(scheme) {
            let len = text[start..]
                .find(char::is_whitespace)
                .unwrap_or(text.len() - start);
            spans.push((start, start + len));
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(parts: &[Part]) -> Vec<&str> {
        parts.iter().map(|p| p.text.as_str()).collect()
    }

    fn round_trip(text: &str, max: usize) -> Vec<Part> {
        let parts = split(text, max);
        let results: Vec<String> = parts.iter().map(|p| p.text.clone()).collect();
        assert_eq!(join(&results, &parts), text, "joined back byte for byte");
        parts
    }

    #[test]
    fn a_short_text_is_one_part() {
        assert_eq!(
            texts(&round_trip("Ala ma kota.", 100)),
            vec!["Ala ma kota."]
        );
    }

    #[test]
    fn paragraphs_first_then_sentences_then_words() {
        let para = "Pierwsze zdanie akapitu jest tutaj. Drugie zdanie, np. z przykładem, itd. też jest tu.";
        let text = format!("{para}\n\n{para}\n\n\n{para}");
        let parts = round_trip(&text, 120);
        assert_eq!(parts.len(), 3);
        assert!(parts.iter().all(|p| p.text == para));
        assert_eq!(parts[1].separator, "\n\n\n");
        let long =
            "To jest zdanie numer jeden. To jest zdanie numer dwa! Czy to zdanie trzy? Tak. "
                .repeat(10);
        for part in round_trip(long.trim_end(), 100) {
            assert!(part.text.chars().count() <= 100, "{part:?}");
            assert!(
                part.text.ends_with(['.', '!', '?']),
                "split at a sentence end: {part:?}"
            );
        }
    }

    #[test]
    fn abbreviations_and_initials_do_not_end_sentences() {
        let text =
            "Spotkanie z dr. Nowakiem, prof. Kowalską i J. Smith, e.g. at 10 a.m. Then lunch. "
                .repeat(6);
        for part in round_trip(text.trim_end(), 120) {
            for bad in ["dr.", "prof.", " J.", "e.g."] {
                assert!(!part.text.ends_with(bad), "split after {bad}: {part:?}");
            }
        }
    }

    #[test]
    fn never_inside_a_tag_a_url_a_placeholder_or_a_word() {
        let text = "Zobacz <a href=\"https://sklep.pl/dlugi/adres/produktu?id=12345&kolor=czerwony\">nasz produkt</a> oraz [EMAIL_1] i https://example.com/bardzo/dlugi/adres/strony tutaj teraz ".repeat(4);
        for part in round_trip(text.trim_end(), 100) {
            assert_eq!(
                part.text.matches('<').count(),
                part.text.matches('>').count(),
                "{part:?}"
            );
            assert_eq!(
                part.text.matches('[').count(),
                part.text.matches(']').count(),
                "{part:?}"
            );
            assert!(!part.text.ends_with("https://sklep.pl/dlugi"), "{part:?}");
        }
        let word = "a".repeat(300);
        let parts = round_trip(&format!("{word} b"), 100);
        assert_eq!(
            parts[0].text, word,
            "a word longer than the limit stays whole"
        );
    }

    #[test]
    fn a_text_without_any_break_is_split_between_words() {
        let text = "słowo ".repeat(100);
        let parts = round_trip(text.trim_end(), 100);
        assert!(parts.len() >= 6);
        assert!(
            parts
                .iter()
                .all(|p| p.text.chars().count() <= 100 && !p.text.starts_with(' '))
        );
    }
}
