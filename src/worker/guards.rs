//! The checks every answer passes before it is saved. Each has one shape: the text
//! sent and the text received in, what is wrong out. A task can switch one off
//! (`task.skip_guards`), for example `length` for a translation into a wordier
//! language.

/// What a task is doing, which decides how much a text may grow or shrink.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Bounds {
    /// Smallest answer length, as a share of the original's characters.
    pub min_ratio: f64,
    /// Largest answer length, as a multiple of the original's characters.
    pub max_ratio: f64,
    /// The least share of the text's words an answer must keep (a correction is the
    /// same text); `None` where the words change (a translation).
    pub min_same_words: Option<f64>,
}

/// Proofreading keeps the text's length within these bounds, and most of its words.
pub const PROOFREAD: Bounds = Bounds {
    min_ratio: 0.5,
    max_ratio: 2.0,
    min_same_words: Some(SAME_WORDS),
};
/// Translation between European languages stays within these.
pub const TRANSLATE: Bounds = Bounds {
    min_ratio: 0.3,
    max_ratio: 3.0,
    min_same_words: None,
};

/// The share of a text's words (of 4 letters or more) a correction keeps, as written
/// or within a small edit of it. Measured on the corrections in the tests (heavy ones
/// keep 0.75 and more) against unrelated texts of the same language and length (0.2
/// and less): 0.5 sits between with room on both sides.
pub const SAME_WORDS: f64 = 0.5;

/// The share of a correction's words (of 4 letters or more) that may be its own, not
/// the text's as written or within a small edit. Corrections with many fixes bring
/// 0.2 and less (a split word, "they're" for "their"); answers of a 135M model that
/// kept the text's words and added sentences of their own brought 0.55-0.62.
pub const MAX_NEW_WORDS: f64 = 0.4;

/// Texts with fewer words than this (of 4 letters or more) are not held to sameness.
const SAME_FROM_WORDS: usize = 3;

/// Texts shorter than this are not held to a length ratio (a word may become three).
const RATIO_FROM_CHARS: usize = 40;

/// One check.
pub struct Guard {
    /// Its name, as `task.skip_guards` spells it.
    pub name: &'static str,
    /// The check: `Err` says what is wrong with the answer.
    pub check: fn(&Bounds, &str, &str) -> Result<(), String>,
}

/// Every guard, in the order they run.
pub const GUARDS: &[Guard] = &[
    Guard {
        name: "empty",
        check: not_empty,
    },
    Guard {
        name: "markup",
        check: markup_kept,
    },
    Guard {
        name: "length",
        check: length_sane,
    },
    Guard {
        name: "sameness",
        check: same_text,
    },
    Guard {
        name: "negation",
        check: negation_kept,
    },
];

/// Words that negate what follows, in Polish and English ("n't" forms count too).
const NEGATIONS: &[&str] = &[
    "nie", "nigdy", "nikt", "nic", "żaden", "żadna", "żadne", "ani", "not", "no", "never", "none",
    "nobody", "nothing", "cannot", "neither", "nor", "nowhere",
];

/// The first negation of a text, if any.
fn first_negation(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '’'))
        .map(str::to_lowercase)
        .find(|w| NEGATIONS.contains(&w.as_str()) || w.ends_with("n't") || w.ends_with("n’t"))
}

/// A correction keeps the text's negation: "have not recieved" corrected to "has
/// received" says the opposite. (Removing one of two, as in fixing "don't have no",
/// is allowed; proofreading only.)
fn negation_kept(bounds: &Bounds, sent: &str, received: &str) -> Result<(), String> {
    if bounds.min_same_words.is_none() {
        return Ok(());
    }
    match (first_negation(sent), first_negation(received)) {
        (Some(word), None) => Err(format!(
            "the answer drops the text's negation (\"{word}\"): that reverses its meaning"
        )),
        _ => Ok(()),
    }
}

/// Runs the guards a task has not switched off.
pub fn check_all(
    skip: &[String],
    bounds: &Bounds,
    sent: &str,
    received: &str,
) -> Result<(), String> {
    for guard in GUARDS.iter().filter(|g| !skip.iter().any(|s| s == g.name)) {
        (guard.check)(bounds, sent, received)?;
    }
    Ok(())
}

/// The words of a text that carry it: 4 letters or more, lower-cased.
pub(super) fn content_words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 4)
        .map(str::to_lowercase)
        .collect()
}

/// Whether `other` is `word` as written or within a small edit (a quarter of its
/// letters, at least one): "błąd" for "bład".
pub(super) fn close_to(word: &str, other: &str) -> bool {
    word == other || near(word, other, (word.chars().count() / 4).max(1))
}

/// The text's word an answer's word stands for, as written or within a small edit.
fn text_word_for<'w>(words: &'w [String], answer_word: &str) -> Option<&'w str> {
    words
        .iter()
        .find(|w| close_to(w, answer_word))
        .map(String::as_str)
}

/// Whether two words are within `max` edits of each other.
fn near(a: &str, b: &str, max: usize) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != cb);
            current[j + 1] = (previous[j] + cost)
                .min(previous[j + 1] + 1)
                .min(current[j] + 1);
        }
        if current.iter().min().is_some_and(|&m| m > max) {
            return false;
        }
        previous = current;
    }
    previous[b.len()] <= max
}

/// A correction is the same text: most of its words are still there, as written or
/// within a small edit ("bład" -> "błąd"). An unrelated answer of the right length,
/// or a loop of one word, is not.
fn same_text(bounds: &Bounds, sent: &str, received: &str) -> Result<(), String> {
    let Some(least) = bounds.min_same_words else {
        return Ok(());
    };
    let words = content_words(sent);
    let answer = content_words(received);
    says_no_more(&words, &answer)?;
    if words.len() < SAME_FROM_WORDS {
        added_words(&words, &answer)?;
        return repeated_words(&words, &answer);
    }
    let exact: std::collections::HashSet<&str> = answer.iter().map(String::as_str).collect();
    let kept = words
        .iter()
        .filter(|w| exact.contains(w.as_str()) || answer.iter().any(|a| close_to(w, a)))
        .count();
    let share = kept as f64 / words.len() as f64;
    if share < least {
        return Err(format!(
            "the answer keeps {kept} of the text's {} words ({:.0} %, at least {:.0} % expected): it is not a correction of this text",
            words.len(),
            share * 100.0,
            least * 100.0
        ));
    }
    added_words(&words, &answer)?;
    repeated_words(&words, &answer)
}

/// How many more words (of 4 letters or more) than the text a correction may have:
/// this share of the text's, plus one. Fixes change words, they rarely add any
/// ("should of" -> "should have"); a sentence of the model's own adds several.
pub const MAX_GROWTH_WORDS: f64 = 0.3;

/// A correction says no more than the text: an answer with many more words than
/// the text has added something of its own ("The text has been corrected to: ...",
/// "... I'm looking for a quick solution to my subscription.").
fn says_no_more(words: &[String], answer: &[String]) -> Result<(), String> {
    let most = words.len() as f64 * (1.0 + MAX_GROWTH_WORDS) + 1.0;
    if answer.len() as f64 > most {
        return Err(format!(
            "the answer has {} words of 4 letters or more for the text's {}: it says more than the text, so it is not a correction of it",
            answer.len(),
            words.len()
        ));
    }
    Ok(())
}

/// Occurrences beyond the text's own that a correction may have: it says each thing
/// as often as the text does. Answers that said a sentence of the text twice ("The
/// application has not been received yet. The application has not been received
/// yet.") repeated 22-50 % of their words; corrections repeat none.
pub const MAX_REPEATED_WORDS: f64 = 0.2;

/// A correction says each thing as often as the text: words (4 letters or more)
/// that come back more often than the text has them are a sentence said twice, or
/// padding built from the text's own words.
fn repeated_words(words: &[String], answer: &[String]) -> Result<(), String> {
    let mut in_text: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for w in words {
        *in_text.entry(w.as_str()).or_default() += 1;
    }
    let mut in_answer: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for a in answer {
        // Counted as the text's word it stands for ("błąd" for "bład"), if any.
        let key = text_word_for(words, a).unwrap_or(a.as_str());
        *in_answer.entry(key).or_default() += 1;
    }
    let extra: usize = in_answer
        .iter()
        .map(|(key, &n)| n.saturating_sub(in_text.get(key).copied().unwrap_or(0).max(1)))
        .sum();
    let share = extra as f64 / answer.len().max(1) as f64;
    if extra >= 2 && share >= MAX_REPEATED_WORDS {
        return Err(format!(
            "the answer says {extra} of its {} words more often than the text does ({:.0} %): part of it is said twice, so it is not a correction of this text",
            answer.len(),
            share * 100.0
        ));
    }
    Ok(())
}

/// A correction brings few words of its own: most of its words are the text's, as
/// written or within a small edit. One that keeps the text's words but wraps them in
/// sentences of its own ("... The committee will wait for your confirmation.") is not.
fn added_words(words: &[String], answer: &[String]) -> Result<(), String> {
    if answer.len() < SAME_FROM_WORDS {
        return Ok(());
    }
    let text: std::collections::HashSet<&str> = words.iter().map(String::as_str).collect();
    let added = answer
        .iter()
        .filter(|a| !text.contains(a.as_str()) && text_word_for(words, a).is_none())
        .count();
    let share = added as f64 / answer.len() as f64;
    if share > MAX_NEW_WORDS {
        return Err(format!(
            "{added} of the answer's {} words are not the text's ({:.0} %, at most {:.0} % expected): it is not a correction of this text",
            answer.len(),
            share * 100.0,
            MAX_NEW_WORDS * 100.0
        ));
    }
    Ok(())
}

fn not_empty(_: &Bounds, sent: &str, received: &str) -> Result<(), String> {
    if received.trim().is_empty() && !sent.trim().is_empty() {
        return Err(
            "the model returned an empty text_corrected for a text that is not empty".into(),
        );
    }
    Ok(())
}

fn length_sane(bounds: &Bounds, sent: &str, received: &str) -> Result<(), String> {
    let (a, b) = (sent.chars().count(), received.chars().count());
    if a < RATIO_FROM_CHARS {
        return Ok(());
    }
    let ratio = b as f64 / a as f64;
    if ratio < bounds.min_ratio || ratio > bounds.max_ratio {
        return Err(format!(
            "the answer is {b} characters for a text of {a} ({ratio:.2} times), outside {}-{} (cut short or padded?)",
            bounds.min_ratio, bounds.max_ratio
        ));
    }
    Ok(())
}

/// Tags, entities, Markdown headings and list markers come back the same and in the
/// same order (tags with attributes, URLs and code are masked before sending and
/// cannot change at all).
fn markup_kept(_: &Bounds, sent: &str, received: &str) -> Result<(), String> {
    compare("tag", &tags(sent), &tags(received))?;
    compare("entity", &entities(sent), &entities(received))?;
    compare(
        "heading",
        &line_marks(sent, heading),
        &line_marks(received, heading),
    )?;
    compare(
        "list item",
        &line_marks(sent, list_marker),
        &line_marks(received, list_marker),
    )?;
    compare("link", &links(sent), &links(received))
}

/// Names the first difference between what was sent and what came back.
fn compare(what: &str, sent: &[String], received: &[String]) -> Result<(), String> {
    let Some(i) = (0..sent.len().max(received.len())).find(|&i| sent.get(i) != received.get(i))
    else {
        return Ok(());
    };
    let problem = match (sent.get(i), received.get(i)) {
        (Some(expected), got) if !received[i..].contains(expected) || got.is_none() => {
            format!("{what} {expected} missing")
        }
        (_, Some(extra)) if !sent[i..].contains(extra) => format!("{what} {extra} added"),
        (Some(expected), _) => format!("{what} {expected} moved"),
        (None, Some(extra)) => format!("{what} {extra} added"),
        (None, None) => return Ok(()),
    };
    Err(format!("{problem} (markup must come back unchanged)"))
}

/// HTML tags in order: `<p>`, `</b>`, `<br/>` (with attributes they are masked).
fn tags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (start, _) in text.match_indices('<') {
        let rest = &text[start + 1..];
        let name = rest.trim_start_matches('/');
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) && !rest.starts_with("!--") {
            continue;
        }
        if let Some(end) = rest.find('>').filter(|&e| !rest[..e].contains('<')) {
            out.push(format!("<{}>", &rest[..end]));
        }
    }
    out
}

/// HTML entities in order: `&amp;`, `&nbsp;`, `&#8211;`.
fn entities(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (start, _) in text.match_indices('&') {
        let rest = &text[start + 1..];
        let len = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '#')
            .count();
        if len > 0 && len <= 10 && rest[len..].starts_with(';') {
            out.push(format!("&{};", &rest[..len]));
        }
    }
    out
}

/// The Markdown mark at the start of each line where `mark` finds one.
fn line_marks(text: &str, mark: fn(&str) -> Option<String>) -> Vec<String> {
    text.lines().filter_map(|l| mark(l.trim_start())).collect()
}

fn heading(line: &str) -> Option<String> {
    let level = line.chars().take_while(|&c| c == '#').count();
    ((1..=6).contains(&level) && line[level..].starts_with(' ')).then(|| "#".repeat(level))
}

fn list_marker(line: &str) -> Option<String> {
    for bullet in ["- ", "* ", "+ "] {
        if line.starts_with(bullet) {
            return Some(bullet.trim().to_string());
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    (digits > 0 && line[digits..].starts_with(". ")).then(|| format!("{}.", &line[..digits]))
}

/// Markdown links and images, by their targets (`](...)`), in order.
fn links(text: &str) -> Vec<String> {
    text.match_indices("](")
        .filter_map(|(at, _)| {
            let rest = &text[at + 2..];
            rest.find(')').map(|end| format!("({})", &rest[..end]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "Wczoraj wieczorem zamówiłem nowy ekspres do kawy w sklepie internetowym, ale kurier przywiózł go dopiero po tygodniu i opakowanie było uszkodzone.";

    #[test]
    fn a_correction_brings_few_words_of_its_own() {
        let b = &PROOFREAD;
        let refused = [
            (
                "Wczoraj poszłem do sklepu i kupiłem chleb, mleko oraz jabka.",
                "Pomysl na poczta tym dośto dla kupiłem chleb, mleko oraz jabka. Pobiera to wyrażenie z nadprzedniętkij.",
            ),
            (
                "The comittee have not recieved you're application yet.",
                "The application has not been received yet. The committee will wait for your confirmation.",
            ),
            (
                "Its a beautifull day and we should of gone to the park.",
                "We should have gone to the park yesterday. It was a beautiful day that we shouldn't forget about.",
            ),
        ];
        for (sent, answer) in refused {
            let err = same_text(b, sent, answer).unwrap_err();
            assert!(
                err.contains("are not the text's") || err.contains("says more than the text"),
                "{err}"
            );
        }
        let accepted = [
            (
                "Their going to the libary tomorow to returne the books.",
                "They're going to the library tomorrow to return the books.",
            ),
            (
                "I would like to cancle my subscription as soon as posible.",
                "I would like to cancel my subscription as soon as possible.",
            ),
            (
                "Napewno przyjdziemy na spotkanie, chyba że bedzie padać.",
                "Na pewno przyjdziemy na spotkanie, chyba że będzie padać.",
            ),
            (
                "Wczoraj wieczorem zamowiłem nowy expres do kawy w sklepie internetowym ale kurier przywiuzł go dopiero po tygodniu i opakowanie bylo uszkodzone.",
                "Wczoraj wieczorem zamówiłem nowy ekspres do kawy w sklepie internetowym; kurier przywiózł go jednak dopiero po tygodniu, a opakowanie było uszkodzone.",
            ),
        ];
        for (sent, answer) in accepted {
            assert_eq!(same_text(b, sent, answer), Ok(()), "{answer}");
        }
    }

    #[test]
    fn a_correction_says_each_thing_as_often_as_the_text() {
        let b = &PROOFREAD;
        let refused = [
            (
                "Napewno przyjdziemy na spotkanie, chyba że bedzie padać.",
                "Napewno przyjdziemy na spotkanie, chyba że bedzie padać. Nie wyrażenie, chyba że bedzie padać.",
            ),
            (
                "Spotkanie odbedzie się w poniedziałek o godzinie dziesiątej.",
                "Sin zmianie wprowadzane w poniedziałek o godzinie dziesiątej. Sowiecie wprowadzane w poniedziałek o godzinie dziesiątej.",
            ),
            (
                "The comittee have not recieved you're application yet.",
                "The application has not been received yet. The application has not been received yet.",
            ),
            (
                "Its a beautifull day and we should of gone to the park.",
                "It's a beautiful day and we should of gone to the park. However, we should of also gone to the beach.",
            ),
            (
                "We recieved you're payment and the order is being proccesed.",
                "The order is being processed and the payment is being processed.",
            ),
        ];
        for (sent, answer) in refused {
            assert!(same_text(b, sent, answer).is_err(), "{answer}");
        }
        // Sentences of the model's own, or a preamble, before or after the text.
        for (sent, answer) in [
            (
                "I would like to cancle my subscription as soon as posible.",
                "I'd like to cancle my subscription as soon as possible. I'm looking for a quick solution to my subscription.",
            ),
            (
                "The meeting has been moved to next thursday afternoon.",
                "The meeting has been moved to next Thursday at 2 PM. The text will be edited on Wednesday at 1 PM.",
            ),
            (
                "We recieved you're payment and the order is being proccesed.",
                "The text has been corrected to: We recieved you're payment and the order is being processed.",
            ),
        ] {
            let err = same_text(b, sent, answer).unwrap_err();
            assert!(err.contains("it says more than the text"), "{err}");
        }
        // A short text is held to its words too.
        let err = same_text(
            b,
            "Its a beautifull day and we should of gone to the park.",
            "It was a beautiful day, but it was a beautiful day.",
        )
        .unwrap_err();
        assert!(err.contains("keeps 1 of the text's 4 words"), "{err}");
        assert_eq!(
            same_text(b, "Kubek cermiczny bialy", "Kubek ceramiczny biały"),
            Ok(())
        );
        assert_eq!(
            same_text(b, "Their going tomorow.", "They're going tomorrow."),
            Ok(())
        );
        // The text's own repeats are the text's.
        let sent = "Chleb był świeży, a chleb z wczoraj był czerstwy, więc chleb wyrzuciłem.";
        let fixed = "Chleb był świeży, a chleb z wczoraj był czerstwy, więc chleb wyrzuciłam.";
        assert_eq!(same_text(b, sent, fixed), Ok(()));
    }

    #[test]
    fn a_correction_keeps_the_texts_negation() {
        let b = &PROOFREAD;
        assert!(
            negation_kept(
                b,
                "The comittee have not recieved it.",
                "The committee has received it."
            )
            .is_err()
        );
        assert!(negation_kept(b, "Nie przyjdę jutro.", "Przyjdę jutro.").is_err());
        assert!(negation_kept(b, "I dont know.", "I don't know.").is_ok());
        assert!(negation_kept(b, "I don't have no money.", "I don't have any money.").is_ok());
        assert!(negation_kept(b, "It can not be.", "It cannot be.").is_ok());
        assert!(negation_kept(b, "Wszystko gra.", "Wszystko gra.").is_ok());
        assert!(negation_kept(&TRANSLATE, "Nie wiem.", "I don't know.").is_ok());
        let err = negation_kept(b, "We did not go.", "We did go.").unwrap_err();
        assert!(err.contains("\"not\""), "{err}");
    }

    #[test]
    fn a_correction_with_many_fixes_is_the_same_text() {
        let sent = "Wczoraj wieczorem zamowiłem nowy expres do kawy w sklepie internetowym ale kurier przywiuzł go dopiero po tygodniu, i opakowanie bylo uszkodzone.";
        assert_eq!(same_text(&PROOFREAD, sent, TEXT), Ok(()));
        let restyled = "Wczoraj wieczorem zamówiłem w sklepie internetowym nowy ekspres do kawy; kurier dostarczył go jednak dopiero po tygodniu, a opakowanie było uszkodzone.";
        assert_eq!(same_text(&PROOFREAD, TEXT, restyled), Ok(()));
    }

    #[test]
    fn an_unrelated_answer_or_a_loop_is_not() {
        for answer in [
            "The message has been edited and the new recipe has been modified with special ingredients for everyone.",
            "Zmiejem wzorczeni w tym miejskym ogrodzie, gdzie wszyscy ludzie spacerowali razem z psami i kotami przez cały dzień.",
            "więc więc więc więc więc więc więc więc więc więc więc więc więc więc więc więc więc",
        ] {
            let err = same_text(&PROOFREAD, TEXT, answer).unwrap_err();
            assert!(err.contains("not a correction of this text"), "{err}");
        }
        assert_eq!(
            same_text(&TRANSLATE, TEXT, "Yesterday evening I ordered..."),
            Ok(())
        );
        assert_eq!(
            same_text(&PROOFREAD, "Ala ma kota.", "Zupełnie coś innego."),
            Ok(())
        );
    }

    fn check(sent: &str, received: &str) -> Result<(), String> {
        check_all(&[], &PROOFREAD, sent, received)
    }

    #[test]
    fn html_and_markdown_that_survive_pass() {
        let cases = [
            (
                "<p>Nasz <b>nowy</b> produkt&nbsp;jest świetny. [TAG_1]Kup teraz</a></p>",
                "<p>Nasz <b>nowy</b> produkt&nbsp;jest świetny. [TAG_1]Kup teraz</a></p>",
            ),
            (
                "# Nagłówek\n\nTekst z błendem.\n\n## Podsekcja\n\n- punkt pierwszy\n- punkt drugi\n1. krok",
                "# Nagłówek\n\nTekst z błędem.\n\n## Podsekcja\n\n- punkt pierwszy\n- punkt drugi\n1. krok",
            ),
            (
                "See [the docs]([URL_1]) now.",
                "See [the documentation]([URL_1]) now.",
            ),
        ];
        for (sent, received) in cases {
            assert_eq!(check(sent, received), Ok(()), "{sent}");
        }
    }

    #[test]
    fn markup_that_changed_is_named() {
        let cases = [
            (
                "<p>Tekst <b>ważny</b> tutaj i dalej jeszcze trochę</p>",
                "<p>Tekst ważny tutaj i dalej jeszcze trochę</p>",
                "tag <b> missing",
            ),
            (
                "<p>Tekst pierwszy</p><p>Tekst drugi i trzeci</p>",
                "<p>Tekst pierwszy</p><p>Tekst drugi i trzeci",
                "tag </p> missing",
            ),
            (
                "Cena&nbsp;100 zł za sztukę, dostawa gratis",
                "Cena 100 zł za sztukę, dostawa gratis",
                "entity &nbsp; missing",
            ),
            (
                "## Dostawa\n\nWysyłamy w 24 godziny od zamówienia.",
                "Dostawa\n\nWysyłamy w 24 godziny od zamówienia.",
                "heading ## missing",
            ),
            (
                "- jeden element listy\n- drugi element listy",
                "- jeden element listy\ndrugi element listy",
                "list item - missing",
            ),
            (
                "Read [this]([URL_1]) and [that]([URL_2]) please.",
                "Read [this]([URL_1]) and that please.",
                "link ([URL_2]) missing",
            ),
        ];
        for (sent, received, needle) in cases {
            let err = check(sent, received).unwrap_err();
            assert!(err.contains(needle), "{sent} -> {err}");
        }
    }

    #[test]
    fn length_is_held_to_the_tasks_bounds_and_can_be_skipped() {
        let text = "To jest dość długi tekst, który ma ponad czterdzieści znaków.";
        assert!(check(text, "To jest").unwrap_err().contains("cut short"));
        assert_eq!(
            check_all(
                &["length".into(), "sameness".into()],
                &PROOFREAD,
                text,
                "To jest"
            ),
            Ok(())
        );
        // Short texts are not held to the length ratio (sameness holds them to their
        // words).
        assert_eq!(
            check_all(
                &["sameness".into()],
                &PROOFREAD,
                "Krótki.",
                "Krótki tekst dłuższy niż dwa razy."
            ),
            Ok(())
        );
        use crate::worker::kind::Kind;
        assert_eq!(Kind::infer("Przetłumacz na angielski.").bounds(), TRANSLATE);
        assert_eq!(Kind::infer("Popraw błędy.").bounds(), PROOFREAD);
        assert!(check("", "").is_ok());
        assert!(check("Ala ma kota", "  ").unwrap_err().contains("empty"));
    }
}
