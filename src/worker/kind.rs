//! The three kinds of work (`task.kind`): proofreading, translation, analysis. A task
//! without a kind gets the one its instruction names, in Polish or English.

use super::guards::{Bounds, PROOFREAD, TRANSLATE};

/// What a task does to its texts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The same text, corrected.
    Proofread,
    /// The text in another language.
    Translate,
    /// An answer about the text: a summary, a label, a rating, a list, fields.
    Analyze,
}

/// Words that ask for an answer about a text, not the text corrected (stems, so that
/// "streść", "streszczenie", "summarize" and "summary" all count).
const ANALYSIS_WORDS: &[&str] = &[
    "streść",
    "streszcz",
    "podsumuj",
    "podsumowa",
    "określ",
    "oceń",
    "ocen ",
    "sklasyfikuj",
    "klasyfik",
    "wypisz",
    "wyodrębnij",
    "wydobądź",
    "wyciągnij",
    "wskaż",
    "zidentyfikuj",
    "przypisz",
    "kategoryzuj",
    "skategoryzuj",
    "zlicz",
    "policz",
    "jaki jest",
    "jaka jest",
    "jakie są",
    "czy tekst",
    "wydźwięk",
    "sentyment",
    "etykiet",
    "słowa kluczowe",
    "summar",
    "classif",
    "categori",
    "extract",
    "rate ",
    "rating",
    "score",
    "sentiment",
    "identify",
    "list the",
    "list all",
    "detect",
    "label",
    "keywords",
    "what is the",
    "which ",
    "count the",
    "tag the",
];

/// Words that ask for a translation.
const TRANSLATION_WORDS: &[&str] = &["translat", "tłumacz", "przetłumacz", "übersetz", "tradu"];

/// Words that ask for the text corrected (they win over an analysis word elsewhere in
/// the instruction: "popraw błędy i określ styl" is still proofreading).
const CORRECTION_WORDS: &[&str] = &[
    "popraw",
    "korekt",
    "zredaguj",
    "proofread",
    "correct",
    "fix the",
    "edit the",
    "rewrite",
    "przeredaguj",
    "przepisz",
];

impl Kind {
    /// `task.kind` as stored, or inferred from the instruction when it is NULL, empty
    /// or unknown.
    pub fn of(stored: Option<&str>, instruction: &str) -> Kind {
        match stored.map(|k| k.trim().to_ascii_lowercase()).as_deref() {
            Some("proofread") => Kind::Proofread,
            Some("translate") => Kind::Translate,
            Some("analyze" | "analyse") => Kind::Analyze,
            _ => Kind::infer(instruction),
        }
    }

    /// The kind an instruction asks for.
    pub fn infer(instruction: &str) -> Kind {
        let lower = format!("{} ", instruction.to_lowercase());
        let has = |words: &[&str]| words.iter().any(|w| lower.contains(w));
        if has(TRANSLATION_WORDS) {
            Kind::Translate
        } else if has(CORRECTION_WORDS) {
            Kind::Proofread
        } else if has(ANALYSIS_WORDS) {
            Kind::Analyze
        } else {
            Kind::Proofread
        }
    }

    /// The name as `task.kind` spells it.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Proofread => "proofread",
            Kind::Translate => "translate",
            Kind::Analyze => "analyze",
        }
    }

    /// How much an answer may grow or shrink against its text.
    pub fn bounds(self) -> Bounds {
        match self {
            Kind::Translate => TRANSLATE,
            _ => PROOFREAD,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real instructions of the kinds a panel sends, and what each asks for.
    const INSTRUCTIONS: &[(&str, Kind)] = &[
        (
            "Popraw błędy ortograficzne i stylistyczne w poniższym tekście bez zmiany znaczenia.",
            Kind::Proofread,
        ),
        ("Popraw interpunkcję.", Kind::Proofread),
        ("Zredaguj opis produktu, zachowując fakty.", Kind::Proofread),
        (
            "Correct spelling and grammar; keep the meaning.",
            Kind::Proofread,
        ),
        ("Proofread this product description.", Kind::Proofread),
        ("", Kind::Proofread),
        ("Przetłumacz na język angielski.", Kind::Translate),
        ("Translate the text into German.", Kind::Translate),
        ("Przetłumacz i popraw błędy.", Kind::Translate),
        (
            "Streść poniższą opinię klienta w jednym krótkim zdaniu.",
            Kind::Analyze,
        ),
        (
            "Określ wydźwięk opinii. Odpowiedz jednym słowem: pozytywny, negatywny albo neutralny.",
            Kind::Analyze,
        ),
        ("Podsumuj zgłoszenie w trzech punktach.", Kind::Analyze),
        ("Oceń ton wypowiedzi w skali 1-5.", Kind::Analyze),
        (
            "Sklasyfikuj zgłoszenie: reklamacja, pytanie, pochwała.",
            Kind::Analyze,
        ),
        ("Wypisz wszystkie nazwy produktów z tekstu.", Kind::Analyze),
        (
            "Wyodrębnij z faktury numer, datę i kwotę brutto.",
            Kind::Analyze,
        ),
        ("Summarize the review in one sentence.", Kind::Analyze),
        (
            "Classify the ticket as bug, question or feature request.",
            Kind::Analyze,
        ),
        ("Extract the invoice number, date and total.", Kind::Analyze),
        ("Rate the sentiment from 1 to 5.", Kind::Analyze),
        ("List the topics the customer mentions.", Kind::Analyze),
        ("What is the main complaint?", Kind::Analyze),
        ("Jaki jest główny temat tekstu?", Kind::Analyze),
    ];

    #[test]
    fn the_instruction_names_the_kind_in_polish_and_english() {
        let wrong: Vec<_> = INSTRUCTIONS
            .iter()
            .filter(|(text, kind)| Kind::infer(text) != *kind)
            .collect();
        assert!(wrong.is_empty(), "inferred wrongly: {wrong:?}");
    }

    #[test]
    fn a_stored_kind_wins_and_an_unknown_one_is_inferred() {
        assert_eq!(Kind::of(Some("analyze"), "Popraw błędy."), Kind::Analyze);
        assert_eq!(Kind::of(Some(" Translate "), ""), Kind::Translate);
        assert_eq!(Kind::of(Some("???"), "Streść tekst."), Kind::Analyze);
        assert_eq!(Kind::of(None, "Popraw błędy."), Kind::Proofread);
    }
}
