//! The change summary the worker writes itself (`task.change_summary = 'diff'`): the
//! words that changed, from a word-level diff of the original and the result, in the
//! language of the task's instruction ("3 zmiany: bład → błąd, wogóle → w ogóle").
//! Output tokens cost several times input tokens; this summary costs none.

/// Changes listed at most; the rest are counted.
const LISTED: usize = 8;
/// Characters of one side of a change shown at most.
const SIDE_CHARS: usize = 40;
use crate::diff::word_changes;

/// A short summary of what changed from `original` to `corrected`.
pub fn summarize(original: &str, corrected: &str, instruction: &str) -> String {
    let polish = is_polish(instruction);
    let old: Vec<&str> = original.split_whitespace().collect();
    let new: Vec<&str> = corrected.split_whitespace().collect();
    let Some(changes) = word_changes(&old, &new) else {
        return if polish {
            format!(
                "Tekst zmieniony w wielu miejscach ({} → {} słów).",
                old.len(),
                new.len()
            )
        } else {
            format!("Extensive changes ({} → {} words).", old.len(), new.len())
        };
    };
    if changes.is_empty() {
        return if original == corrected {
            if polish { "Bez zmian." } else { "No changes." }.to_string()
        } else if polish {
            "Zmieniono tylko odstępy.".to_string()
        } else {
            "Only spacing changed.".to_string()
        };
    }
    let shown: Vec<String> = changes
        .iter()
        .take(LISTED)
        .map(|(from, to)| format!("{} → {}", side(from, polish), side(to, polish)))
        .collect();
    let more = changes.len().saturating_sub(LISTED);
    let tail = match (more, polish) {
        (0, _) => String::new(),
        (n, true) => format!(" i {n} więcej"),
        (n, false) => format!(" and {n} more"),
    };
    format!(
        "{}: {}{tail}.",
        count(changes.len(), polish),
        shown.join(", ")
    )
}

/// "1 zmiana", "3 zmiany", "5 zmian"; "1 change", "3 changes".
fn count(n: usize, polish: bool) -> String {
    if !polish {
        return format!("{n} {}", if n == 1 { "change" } else { "changes" });
    }
    let word = match (n % 10, n % 100) {
        _ if n == 1 => "zmiana",
        (2..=4, rest) if !(12..=14).contains(&rest) => "zmiany",
        _ => "zmian",
    };
    format!("{n} {word}")
}

/// One side of a change, bounded; an empty side says what happened.
fn side(words: &[&str], polish: bool) -> String {
    if words.is_empty() {
        return if polish { "(usunięto)" } else { "(removed)" }.to_string();
    }
    let text = words.join(" ");
    if text.chars().count() <= SIDE_CHARS {
        return text;
    }
    let cut: String = text.chars().take(SIDE_CHARS).collect();
    format!("{cut}…")
}

/// Whether an instruction is written in Polish (else the summary is in English).
fn is_polish(instruction: &str) -> bool {
    let lower = instruction.to_lowercase();
    lower.chars().any(|c| "ąćęłńóśźż".contains(c))
        || ["popraw", "przetłumacz", "tekst", "zmian", "bez "]
            .iter()
            .any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_words_that_changed_in_the_instructions_language() {
        assert_eq!(
            summarize(
                "To jest bład i wogóle nic.",
                "To jest błąd i w ogóle nic.",
                "Popraw błędy."
            ),
            "2 zmiany: bład → błąd, wogóle → w ogóle."
        );
        assert_eq!(
            summarize(
                "Their is a eror here",
                "There is an error here",
                "Fix the spelling."
            ),
            "2 changes: Their → There, a eror → an error."
        );
        assert_eq!(
            summarize("Bez błędów.", "Bez błędów.", "Popraw."),
            "Bez zmian."
        );
        assert_eq!(summarize("a  b", "a b", "Fix."), "Only spacing changed.");
        assert_eq!(
            summarize("Ala ma kota", "Ala kota", "Popraw"),
            "1 zmiana: ma → (usunięto)."
        );
    }

    #[test]
    fn long_lists_are_bounded_and_counted() {
        let old: Vec<String> = (0..20).map(|i| format!("w{i} x")).collect();
        let new: Vec<String> = (0..20).map(|i| format!("W{i} x")).collect();
        let s = summarize(&old.join(" "), &new.join(" "), "Popraw");
        assert!(s.starts_with("20 zmian: w0 → W0, "), "{s}");
        assert!(s.ends_with(" i 12 więcej."), "{s}");
        assert_eq!(count(22, true), "22 zmiany");
        assert_eq!(count(12, true), "12 zmian");
        let long = "słowo ".repeat(30);
        let s = summarize(&long, "inne", "Popraw");
        assert!(s.chars().count() < 200, "{s}");
    }

    #[test]
    fn a_rewrite_beyond_the_edit_limit_is_only_counted() {
        let old: String = (0..5000).map(|i| format!("a{i} ")).collect();
        let new: String = (0..5000).map(|i| format!("b{i} ")).collect();
        assert_eq!(
            summarize(&old, &new, "Fix"),
            "Extensive changes (5000 → 5000 words)."
        );
        // Scattered fixes in a long text are listed.
        let old: String = (0..3000)
            .map(|i| {
                if i % 500 == 0 {
                    "bład ".to_string()
                } else {
                    format!("s{i} ")
                }
            })
            .collect();
        let new = old.replace("bład", "błąd");
        assert!(summarize(&old, &new, "Popraw").starts_with("6 zmian: bład → błąd"));
    }
}
