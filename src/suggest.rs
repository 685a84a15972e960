//! "Did you mean ...?": the closest of some known words to a mistyped one.

/// The candidate closest to `word` (case-insensitive edit distance), if it is close
/// enough to be a typo: at most 2 edits, or 1 for short words.
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_ascii_lowercase();
    let allowed = if word.len() <= 4 { 1 } else { 2 };
    candidates
        .into_iter()
        .map(|c| (distance(&word, &c.to_ascii_lowercase()), c))
        .filter(|&(d, _)| d <= allowed)
        .min_by_key(|&(d, _)| d)
        .map(|(_, c)| c)
}

/// Levenshtein distance between two strings, by characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_find_their_word_and_strangers_find_none() {
        let keys = ["WORKER_CONCURRENCY", "DB_NAME", "DB_HOST"];
        assert_eq!(
            closest("WORKER_CONCURENCY", keys),
            Some("WORKER_CONCURRENCY")
        );
        assert_eq!(closest("DB_NAM", keys), Some("DB_NAME"));
        assert_eq!(closest("COMPLETELY_ELSE", keys), None);
        assert_eq!(
            closest("--max-items", ["--max-item", "--task"]),
            Some("--max-item")
        );
        assert_eq!(distance("kitten", "sitting"), 3);
    }
}
