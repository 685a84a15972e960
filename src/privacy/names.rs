//! Names of people, Polish and English, in every case form: a dictionary of first
//! names (with the Polish case forms derived from each), common surnames, and the
//! context that marks a name (a title such as "Pani" or "Mr", a greeting, a first
//! name before a capitalised word). The placeholder stands for the exact form
//! written, so the restored text reads as the writer declined it.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use super::detect::Hit;

const FIRST_PL: &str = include_str!("data/first_names_pl.txt");
const FIRST_EN: &str = include_str!("data/first_names_en.txt");
const SURNAMES: &str = include_str!("data/surnames.txt");

/// Words after which a capitalised word is a name: titles and forms of address.
const TITLES: &[&str] = &[
    "pan", "pani", "pana", "panu", "panem", "panią", "panie", "państwo", "państwa", "państwu",
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "mgr", "inż", "sir", "madam",
];

/// Greetings: a name after them needs no surname to count (ambiguous names too).
const GREETINGS: &[&str] = &[
    "dear",
    "hi",
    "hello",
    "hey",
    "cześć",
    "witaj",
    "witam",
    "drogi",
    "droga",
    "drodzy",
    "szanowny",
    "szanowna",
    "kochany",
    "kochana",
    "thanks",
    "dzięki",
    "regards",
    "pozdrawiam",
];

/// Capitalised words that follow a title without being a name ("Panie Prezesie").
const NOT_NAMES: &[&str] = &[
    "prezes",
    "prezesie",
    "prezesa",
    "dyrektor",
    "dyrektorze",
    "dyrektora",
    "kierownik",
    "kierowniku",
    "doktor",
    "doktorze",
    "profesor",
    "profesorze",
    "mecenas",
    "mecenasie",
    "minister",
    "ministrze",
    "premier",
    "premierze",
    "inżynier",
    "inżynierze",
    "bóg",
    "boże",
    "president",
    "director",
    "manager",
    "chairman",
    "customer",
    "client",
    "klient",
    "kliencie",
    "sir",
    "madam",
    "the",
    "and",
    "or",
    "i",
    "oraz",
    "w",
    "z",
    "na",
    "do",
];

/// The dictionary, built once: every case form of every first name (with whether the
/// name is also a common word) and every form of the common surnames.
struct Dictionary {
    first: HashMap<String, bool>,
    surnames: HashSet<String>,
}

fn dictionary() -> &'static Dictionary {
    static DICTIONARY: OnceLock<Dictionary> = OnceLock::new();
    DICTIONARY.get_or_init(|| {
        let mut first = HashMap::new();
        for (list, polish) in [(FIRST_PL, true), (FIRST_EN, false)] {
            for line in entries(list) {
                let (name, ambiguous) = match line.strip_suffix('?') {
                    Some(name) => (name, true),
                    None => (line, false),
                };
                let forms = if polish {
                    polish_forms(name)
                } else {
                    vec![name.to_string()]
                };
                for form in forms {
                    let entry = first.entry(form).or_insert(ambiguous);
                    *entry &= ambiguous;
                }
            }
        }
        let surnames = entries(SURNAMES).flat_map(surname_forms).collect();
        Dictionary { first, surnames }
    })
}

fn entries(list: &str) -> impl Iterator<Item = &str> {
    list.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// The Polish case forms of a first name (nominative included).
fn polish_forms(name: &str) -> Vec<String> {
    let mut forms = vec![name.to_string()];
    if let Some(stem) = name.strip_suffix("ia").or_else(|| name.strip_suffix("ja")) {
        // Maria: Marii, Marię, Marią, Mario; Kasia: Kasi, Kasiu.
        let soft = &name[..name.len() - 1];
        forms.extend(["i", "ę", "ą", "o", "u"].map(|e| format!("{soft}{e}")));
        forms.push(format!("{stem}i"));
    } else if let Some(stem) = name.strip_suffix('a') {
        forms.extend(feminine_forms(stem));
    } else if let Some(stem) = name.strip_suffix('i').or_else(|| name.strip_suffix('y')) {
        // Antoni, Jerzy: declined like adjectives.
        let i = if name.ends_with('i') { "i" } else { "" };
        forms.extend(["ego", "emu", "m"].map(|e| format!("{stem}{i}{e}")));
        if i.is_empty() {
            forms.push(format!("{stem}ym"));
        }
    } else {
        forms.extend(masculine_forms(name));
    }
    forms
}

/// Cases of a name ending in -a, from its stem (Agnieszk-a, Ew-a, Marcin-a).
fn feminine_forms(stem: &str) -> Vec<String> {
    let velar = stem.ends_with('k') || stem.ends_with('g');
    let soft = ["l", "j", "cz", "sz", "rz", "ż", "c", "dz"]
        .iter()
        .any(|s| stem.ends_with(s));
    let genitive = if velar || stem.ends_with('l') || stem.ends_with('j') {
        "i"
    } else {
        "y"
    };
    let mut forms: Vec<String> = [genitive, "ę", "ą", "o", "u"]
        .iter()
        .map(|e| format!("{stem}{e}"))
        .collect();
    let dative = if soft {
        format!("{stem}{genitive}")
    } else {
        format!("{}e", soften(stem))
    };
    forms.push(dative);
    forms
}

/// The stem before the locative -e: Agnieszk → Agnieszc, Jadwig → Jadwidz, Mart →
/// Marci, Ew → Ewi, Barbar → Barbarz.
fn soften(stem: &str) -> String {
    const CHANGES: &[(&str, &str)] = &[
        ("k", "c"),
        ("g", "dz"),
        ("ch", "sz"),
        ("st", "ści"),
        ("t", "ci"),
        ("d", "dzi"),
        ("r", "rz"),
        ("ł", "l"),
    ];
    for (end, soft) in CHANGES {
        if let Some(base) = stem.strip_suffix(end) {
            return format!("{base}{soft}");
        }
    }
    format!("{stem}i")
}

/// Cases of a name ending in a consonant: Marek → Marka, Markowi, Markiem, Marku;
/// Paweł → Pawła, Pawle; Piotr → Piotrze; Robert → Robercie.
fn masculine_forms(name: &str) -> Vec<String> {
    let stem = if let Some(base) = name.strip_suffix("ek") {
        format!("{base}k")
    } else if let Some(base) = name.strip_suffix("eł") {
        format!("{base}ł")
    } else {
        name.to_string()
    };
    let velar = stem.ends_with('k') || stem.ends_with('g');
    let instrumental = if velar { "iem" } else { "em" };
    let mut forms: Vec<String> = ["a", "owi", instrumental, "u", "owie", "ów"]
        .iter()
        .map(|e| format!("{stem}{e}"))
        .collect();
    let hard = ![
        "k", "g", "ch", "sz", "cz", "rz", "ż", "j", "l", "c", "dz", "ń", "ś",
    ]
    .iter()
    .any(|s| stem.ends_with(s));
    if hard {
        forms.push(format!("{}e", soften(&stem)));
    }
    forms
}

/// A surname's forms: Kowalski, Kowalskiego, Kowalska, Kowalskiej, Kowalscy…; a noun
/// surname as a masculine name (Nowak, Nowaka, Nowakowi); English ones as written.
fn surname_forms(name: &str) -> Vec<String> {
    let adjective = ["ski", "cki", "dzki"].iter().any(|e| name.ends_with(e));
    if adjective {
        let stem = &name[..name.len() - 1];
        let mut forms: Vec<String> = ["i", "iego", "iemu", "im", "a", "iej", "ą", "ich", "imi"]
            .iter()
            .map(|e| format!("{stem}{e}"))
            .collect();
        forms.push(format!("{}cy", &stem[..stem.len() - 1]));
        return forms;
    }
    let polish = name.chars().any(|c| "ąćęłńóśźż".contains(c))
        || ["ak", "ek", "ik", "yk", "ec", "ąc"]
            .iter()
            .any(|e| name.ends_with(e));
    if polish {
        let mut forms = vec![name.to_string()];
        forms.extend(masculine_forms(name));
        forms
    } else {
        vec![name.to_string()]
    }
}

/// A word of the text and where it lies.
struct Word<'a> {
    start: usize,
    end: usize,
    text: &'a str,
}

fn words(text: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        // "Nowak-Kowalska" and "O'Brien" are one word; "John's" is "John".
        let joins = start.is_some()
            && match c {
                '-' => chars.peek().is_some_and(|&(_, n)| n.is_alphabetic()),
                '\'' | '’' => chars.peek().is_some_and(|&(_, n)| n.is_uppercase()),
                _ => false,
            };
        match (start, c.is_alphabetic() || joins) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                out.push(Word {
                    start: s,
                    end: i,
                    text: &text[s..i],
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Word {
            start: s,
            end: text.len(),
            text: &text[s..],
        });
    }
    out
}

/// A capitalised word that can be part of a name: "Kowalski", "Nowak-Zając",
/// "O'Brien", "McDonald" (not "ABC", not "kot").
fn capitalised(word: &str) -> bool {
    let mut chars = word.chars();
    let first_upper = chars.next().is_some_and(char::is_uppercase);
    let letters = word.chars().filter(|c| c.is_alphabetic()).count();
    let uppers = word.chars().filter(|c| c.is_uppercase()).count();
    first_upper && letters >= 2 && uppers * 2 <= letters + 1
}

fn lower(word: &str) -> String {
    word.to_lowercase()
}

/// Whether only spaces (or a title's dot and spaces) lie between two words.
fn adjacent(text: &str, left: &Word<'_>, right: &Word<'_>, after_title: bool) -> bool {
    let gap = &text[left.end..right.start];
    let gap = if after_title {
        gap.strip_prefix('.').unwrap_or(gap)
    } else {
        gap
    };
    !gap.is_empty() && gap.len() <= 2 && gap.chars().all(|c| c == ' ' || c == '\u{a0}')
}

/// An initial before a name: "J." in "J. Kowalski".
fn initial_before(text: &str, start: usize) -> usize {
    let before = &text[..start];
    let b = before.as_bytes();
    let n = b.len();
    if n >= 3 && b[n - 1] == b' ' && b[n - 2] == b'.' && b[n - 3].is_ascii_uppercase() {
        let pre = n - 3;
        if pre == 0 || !b[pre - 1].is_ascii_alphanumeric() {
            return pre;
        }
    }
    start
}

/// Every name of a person found in `text`.
pub(super) fn find_names(text: &str) -> Vec<Hit> {
    let dict = dictionary();
    let words = words(text);
    let mut hits = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match name_at(text, &words, i, dict) {
            Some((first, last)) => {
                let start = initial_before(text, words[first].start);
                hits.push(Hit {
                    start,
                    end: words[last].end,
                    kind: "NAME",
                });
                i = last + 1;
            }
            None => i += 1,
        }
    }
    hits
}

/// The words (first, last) of a name starting at or right after word `i`.
fn name_at(text: &str, words: &[Word<'_>], i: usize, dict: &Dictionary) -> Option<(usize, usize)> {
    let word = &words[i];
    let lowered = lower(word.text);
    let next_cap = |k: usize, after_title: bool| {
        words.get(k + 1).filter(|n| {
            capitalised(n.text)
                && adjacent(text, &words[k], n, after_title)
                && !NOT_NAMES.contains(&lower(n.text).as_str())
                && !TITLES.contains(&lower(n.text).as_str())
        })
    };
    if TITLES.contains(&lowered.as_str()) && next_cap(i, true).is_some() {
        // "Pani Jankowskiej", "Mr. John Smith": up to two words after the title.
        let last = if next_cap(i + 1, false).is_some() {
            i + 2
        } else {
            i + 1
        };
        return Some((i + 1, last));
    }
    if !capitalised(word.text) {
        return None;
    }
    if let Some(&ambiguous) = dict.first.get(word.text) {
        let surname = next_cap(i, false).is_some();
        let greeted = i > 0 && GREETINGS.contains(&lower(words[i - 1].text).as_str());
        if ambiguous && !surname && !greeted {
            return None;
        }
        // A second given name or a surname (and a double surname) may follow.
        let mut last = i;
        while last < i + 2 && next_cap(last, false).is_some() {
            last += 1;
        }
        return Some((i, last));
    }
    if dict.surnames.contains(word.text) {
        return Some((i, i));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&str> {
        find_names(text)
            .iter()
            .map(|h| &text[h.start..h.end])
            .collect()
    }

    #[test]
    fn polish_names_in_every_case() {
        assert_eq!(
            names("Proszę przekazać Pani Jankowskiej dokumenty."),
            ["Jankowskiej"]
        );
        assert_eq!(names("Dziękujemy Panu Zającowi za pomoc."), ["Zającowi"]);
        assert_eq!(
            names("Rozmawiałem z Wojciechem Kaczmarkiem wczoraj."),
            ["Wojciechem Kaczmarkiem"]
        );
        assert_eq!(names("Agnieszko, oddzwoń proszę."), ["Agnieszko"]);
        assert_eq!(
            names("Wysłałem to Agnieszce i Pawłowi."),
            ["Agnieszce", "Pawłowi"]
        );
        assert_eq!(names("Spotkanie z Markiem i Martą."), ["Markiem", "Martą"]);
        assert_eq!(
            names("Pozdrawiam, Anna Nowak-Kowalska"),
            ["Anna Nowak-Kowalska"]
        );
        assert_eq!(names("Reklamację złożył Kowalski."), ["Kowalski"]);
        assert_eq!(names("O Piotrze i o Robercie."), ["Piotrze", "Robercie"]);
    }

    #[test]
    fn english_names_titles_and_initials() {
        assert_eq!(names("Dear Mr. Smith, thank you."), ["Smith"]);
        assert_eq!(
            names("Please call Sarah Connor tomorrow."),
            ["Sarah Connor"]
        );
        assert_eq!(names("Signed: J. Kowalski"), ["J. Kowalski"]);
        assert_eq!(names("Hi Will, see you in May."), ["Will"]);
    }

    #[test]
    fn common_words_that_are_also_names_stay() {
        assert!(names("We will mark the May release. Grace period ends in June.").is_empty());
        assert!(names("Panie Prezesie, dzień dobry. Mieszkam w Polsce.").is_empty());
        assert!(names("Ala ma kota").len() == 1);
    }
}
