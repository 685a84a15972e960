//! Runaway answers: a model that repeats itself until the output limit cuts it off
//! ("8.8.8.8…", "więc więc więc…"). Naming the loop tells the operator that a larger
//! limit would not help; lower sampling or a repetition penalty would.

/// How many times a piece must repeat at the end of an answer to count as a loop.
const REPEATS: usize = 6;
/// The words every loop's message carries.
const LOOP_MARK: &str = " in a loop repeating ";

/// Whether an error message names a loop (the retry then discourages repeats).
pub fn is_loop(message: &str) -> bool {
    message.contains(LOOP_MARK)
}

/// " in a loop repeating \"…\"" when the end of a cut-off answer is one short piece
/// said over and over, else an empty string (for the cut-off message).
pub fn loop_note(answer: &str) -> String {
    match repeated_tail(answer) {
        Some(unit) => format!(
            "{LOOP_MARK}{:?} (the model kept saying the same thing: a larger limit will not help; a lower temperature or the server's repetition penalty does)",
            super::preview_of(unit, 40)
        ),
        None => String::new(),
    }
}

/// The shortest piece (1 to 40 characters) that the answer ends with at least
/// `REPEATS` times in a row.
fn repeated_tail(answer: &str) -> Option<&str> {
    let chars: Vec<(usize, char)> = answer.trim_end().char_indices().collect();
    let trimmed = answer.trim_end();
    for unit in 1..=40 {
        let need = unit * REPEATS;
        if need > chars.len() || need < 12 {
            continue;
        }
        let tail: Vec<char> = chars[chars.len() - need..]
            .iter()
            .map(|&(_, c)| c)
            .collect();
        let piece = &tail[..unit];
        if tail.chunks(unit).all(|c| c == piece) && piece.iter().any(|c| !c.is_whitespace()) {
            let start = chars[chars.len() - unit].0;
            return Some(&trimmed[start..]);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loops_are_named_and_ordinary_endings_are_not() {
        assert!(loop_note("Adres to 8.8.8.8.8.8.8.8.8.8.8.8.8.8").contains("repeating \".8\""));
        assert!(loop_note("Tak więc więc więc więc więc więc więc więc").contains("więc"));
        assert_eq!(loop_note("Zwykły tekst, który się urwał w połowie zda"), "");
        assert_eq!(loop_note("...."), "");
        assert_eq!(loop_note(""), "");
    }
}
