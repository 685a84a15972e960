//! Word-level differences between an original text and its result: the changed runs
//! of words for the worker's own change summary, and the marked-up sides the task
//! page shows (deleted words in the original, inserted words in the result).

/// Edits looked for at most; beyond them two texts count as rewritten (a
/// translation, a rewrite), and no word-level difference is given.
pub const MAX_EDITS: usize = 1_000;

/// One run of a text as the task page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Words both texts have (as the result spells its spacing).
    Same(String),
    /// Words only the original has.
    Removed(String),
    /// Words only the result has.
    Added(String),
}

/// The changed runs of words of `old` into `new`, as (removed, inserted) pairs in
/// order; `None` when they differ in more than [`MAX_EDITS`] words.
pub fn word_changes<'a>(
    old: &[&'a str],
    new: &[&'a str],
) -> Option<Vec<(Vec<&'a str>, Vec<&'a str>)>> {
    let mut changes = Vec::new();
    let mut current: Option<(Vec<&str>, Vec<&str>)> = None;
    for step in trimmed_script(old, new)? {
        match step {
            Step::Keep => changes.extend(current.take()),
            Step::Remove(w) => current.get_or_insert_with(Default::default).0.push(w),
            Step::Insert(w) => current.get_or_insert_with(Default::default).1.push(w),
        }
    }
    changes.extend(current);
    Some(changes)
}

/// `original` into `result` as runs of kept, removed and added text, each word with
/// the spacing after it, neighbouring runs of one kind merged; `None` when the texts
/// differ in more than [`MAX_EDITS`] words.
pub fn segments(original: &str, result: &str) -> Option<Vec<Segment>> {
    let old = spaced_words(original);
    let new = spaced_words(result);
    let old_words: Vec<&str> = old.iter().map(|w| w.trim_end()).collect();
    let new_words: Vec<&str> = new.iter().map(|w| w.trim_end()).collect();
    let script = trimmed_script(&old_words, &new_words)?;
    let (mut at_old, mut at_new) = (0, 0);
    let mut out: Vec<Segment> = Vec::new();
    for step in script {
        let next = match step {
            Step::Keep => {
                at_old += 1;
                at_new += 1;
                Segment::Same(new[at_new - 1].to_string())
            }
            Step::Remove(_) => {
                at_old += 1;
                Segment::Removed(old[at_old - 1].to_string())
            }
            Step::Insert(_) => {
                at_new += 1;
                Segment::Added(new[at_new - 1].to_string())
            }
        };
        push_merged(&mut out, next);
    }
    Some(out)
}

/// The text cut after each run of spaces: every piece is a word and the spacing that
/// follows it (the first piece may be leading spacing alone).
fn spaced_words(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            pieces.push(&text[start..i]);
            start = i;
            in_space = false;
        }
    }
    if start < text.len() {
        pieces.push(&text[start..]);
    }
    pieces
}

fn push_merged(out: &mut Vec<Segment>, next: Segment) {
    match (out.last_mut(), next) {
        (Some(Segment::Same(a)), Segment::Same(b))
        | (Some(Segment::Removed(a)), Segment::Removed(b))
        | (Some(Segment::Added(a)), Segment::Added(b)) => a.push_str(&b),
        (_, next) => out.push(next),
    }
}

/// One step of an edit script.
enum Step<'a> {
    Keep,
    Remove(&'a str),
    Insert(&'a str),
}

/// The edit script of `old` into `new`, the common start and end taken off first (a
/// long text with a few fixes is mostly that).
fn trimmed_script<'a>(old: &[&'a str], new: &[&'a str]) -> Option<Vec<Step<'a>>> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let (rest_old, rest_new) = (&old[prefix..], &new[prefix..]);
    let suffix = rest_old
        .iter()
        .rev()
        .zip(rest_new.iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let middle_old = &rest_old[..rest_old.len() - suffix];
    let middle_new = &rest_new[..rest_new.len() - suffix];
    let mut script: Vec<Step> = old[..prefix].iter().map(|_| Step::Keep).collect();
    script.extend(edit_script(middle_old, middle_new)?);
    script.extend(old[old.len() - suffix..].iter().map(|_| Step::Keep));
    Some(script)
}

/// Myers' shortest edit script between two word lists, in O((N + M) D) time; `None`
/// beyond [`MAX_EDITS`] edits.
fn edit_script<'a>(old: &[&'a str], new: &[&'a str]) -> Option<Vec<Step<'a>>> {
    let (n, m) = (old.len() as isize, new.len() as isize);
    let max = (n + m) as usize;
    let offset = max as isize + 1;
    let mut v = vec![0isize; 2 * max + 3];
    let mut trace: Vec<Vec<isize>> = Vec::new();
    for d in 0..=max.min(MAX_EDITS) as isize {
        // Only the diagonals this step can reach are kept for the way back.
        let window = (offset - d - 1) as usize..=(offset + d + 1) as usize;
        trace.push(v[window].to_vec());
        for k in (-d..=d).step_by(2) {
            let i = (k + offset) as usize;
            let mut x = if k == -d || (k != d && v[i - 1] < v[i + 1]) {
                v[i + 1]
            } else {
                v[i - 1] + 1
            };
            let mut y = x - k;
            while x < n && y < m && old[x as usize] == new[y as usize] {
                x += 1;
                y += 1;
            }
            v[i] = x;
            if x >= n && y >= m {
                return Some(backtrack(old, new, &trace));
            }
        }
    }
    None
}

/// The steps of the path [`edit_script`] found, from its saved frontiers.
fn backtrack<'a>(old: &[&'a str], new: &[&'a str], trace: &[Vec<isize>]) -> Vec<Step<'a>> {
    let (mut x, mut y) = (old.len() as isize, new.len() as isize);
    let mut steps = Vec::new();
    for (d, v) in trace.iter().enumerate().rev() {
        let d = d as isize;
        let at = |k: isize| v[(k + d + 1) as usize];
        let k = x - y;
        let prev_k = if k == -d || (k != d && at(k - 1) < at(k + 1)) {
            k + 1
        } else {
            k - 1
        };
        let prev_x = at(prev_k);
        let prev_y = prev_x - prev_k;
        while x > prev_x && y > prev_y {
            steps.push(Step::Keep);
            x -= 1;
            y -= 1;
        }
        if d > 0 {
            if x == prev_x {
                steps.push(Step::Insert(new[(y - 1) as usize]));
            } else {
                steps.push(Step::Remove(old[(x - 1) as usize]));
            }
        }
        x = prev_x;
        y = prev_y;
    }
    steps.reverse();
    steps
}

#[cfg(test)]
mod tests {
    use super::*;
    use Segment::*;

    fn s(text: &str) -> String {
        text.to_string()
    }

    #[test]
    fn each_side_keeps_its_own_words_and_the_results_spacing() {
        assert_eq!(
            segments("To jest bład i wogóle nic.", "To jest błąd i w ogóle nic.").unwrap(),
            vec![
                Same(s("To jest ")),
                Removed(s("bład ")),
                Added(s("błąd ")),
                Same(s("i ")),
                Removed(s("wogóle ")),
                Added(s("w ogóle ")),
                Same(s("nic.")),
            ]
        );
        assert_eq!(segments("", "").unwrap(), vec![]);
        assert_eq!(segments("a\nb", "a\nb").unwrap(), vec![Same(s("a\nb"))]);
        assert_eq!(
            segments("  lead", "lead"),
            Some(vec![Removed(s("  ")), Same(s("lead"))])
        );
        assert_eq!(
            segments("", "new words").unwrap(),
            vec![Added(s("new words"))]
        );
    }

    #[test]
    fn put_together_each_side_is_its_text() {
        let old = "Zażółć gęślą  jaźń.\nDruga linia bez zmian, ale z błędem: wogóle.";
        let new = "Zażółć gęślą jaźń.\nDruga linia bez zmian, ale z błędem: w ogóle.";
        let segs = segments(old, new).unwrap();
        let result: String = segs
            .iter()
            .filter_map(|seg| match seg {
                Same(t) | Added(t) => Some(t.as_str()),
                Removed(_) => None,
            })
            .collect();
        assert_eq!(result, new);
        let original_words: Vec<String> = segs
            .iter()
            .filter_map(|seg| match seg {
                Same(t) | Removed(t) => Some(t.as_str()),
                Added(_) => None,
            })
            .collect::<String>()
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let expected: Vec<String> = old.split_whitespace().map(str::to_string).collect();
        assert_eq!(original_words, expected);
    }

    #[test]
    fn a_long_text_with_few_fixes_is_diffed_and_a_rewrite_is_not() {
        let old: String = (0..150_000).map(|i| format!("słowo{} ", i % 97)).collect();
        let new = old.replacen("słowo5 ", "słówko5 ", 3);
        let segs = segments(&old, &new).unwrap();
        assert_eq!(segs.iter().filter(|s| matches!(s, Added(_))).count(), 3);
        let a: String = (0..3000).map(|i| format!("a{i} ")).collect();
        let b: String = (0..3000).map(|i| format!("b{i} ")).collect();
        assert_eq!(segments(&a, &b), None);
    }
}
