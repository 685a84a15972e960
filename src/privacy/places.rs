//! Personal data written as words and numbers together: street addresses, postal
//! codes with their town, dates of birth, ID card and passport numbers, car plates
//! and links that lead to a person (a profile, a query with an e-mail or a name).
//! Most are found by the words written before them ("ul.", "ur.", "paszport", "nr
//! rej."); ID cards and passports also by their check digits.

use super::checksums::{id_card_ok, passport_ok};
use super::detect::Hit;

/// Word starts (byte offsets) of `text`: a position whose previous character is not a
/// letter or digit.
fn word_starts(text: &str) -> impl Iterator<Item = usize> + '_ {
    let mut prev_alnum = false;
    text.char_indices().filter_map(move |(i, c)| {
        let start = !prev_alnum && c.is_alphanumeric();
        prev_alnum = c.is_alphanumeric();
        start.then_some(i)
    })
}

/// Where `cue` ends if the text at `at` starts with it, letters compared without case,
/// and the cue is a whole word (or ends with a dot).
fn cue_at(text: &str, at: usize, cue: &str) -> Option<usize> {
    let mut chars = text[at..].char_indices();
    for want in cue.chars() {
        let (_, got) = chars.next()?;
        if !got.to_lowercase().eq(want.to_lowercase()) {
            return None;
        }
    }
    let after = chars.next();
    let end = after.map_or(text.len(), |(i, _)| at + i);
    let whole = cue.ends_with('.') || after.is_none_or(|(_, c)| !c.is_alphanumeric());
    whole.then_some(end)
}

/// The end of the first of `cues` that starts at a word start, for every such place.
fn cues_in(text: &str, cues: &[&str]) -> Vec<usize> {
    word_starts(text)
        .filter_map(|at| cues.iter().find_map(|cue| cue_at(text, at, cue)))
        .collect()
}

/// Skips spaces, colons, dashes and the filler words given, from `at`.
fn skip_filler(text: &str, mut at: usize, words: &[&str]) -> usize {
    loop {
        let rest = &text[at..];
        let trimmed = rest.trim_start_matches([' ', ':', '-', '\u{a0}', '\t', ',']);
        at += rest.len() - trimmed.len();
        match words.iter().find_map(|w| cue_at(text, at, w)) {
            Some(end) => at = end,
            None => return at,
        }
    }
}

/// The byte length of the run at the start of `s` whose characters pass `ok`.
fn run_len(s: &str, ok: impl Fn(char) -> bool) -> usize {
    s.char_indices()
        .find(|&(_, c)| !ok(c))
        .map_or(s.len(), |(i, _)| i)
}

fn is_capitalised_word(w: &str) -> bool {
    w.chars().next().is_some_and(char::is_uppercase) && w.chars().count() >= 2
}

// ---------------------------------------------------------------- street addresses

const STREET_CUES: &[&str] = &[
    "ul.", "ul", "ulica", "ulicy", "ulicę", "ulicą", "al.", "al", "aleja", "alei", "aleję",
    "aleje", "alejach", "os.", "os", "osiedle", "osiedla", "osiedlu", "pl.", "plac", "placu",
    "placem",
];

/// Abbreviations inside street names ("ul. gen. Józefa Bema", "al. św. Marcina").
const STREET_ABBREVIATIONS: &[&str] = &[
    "gen.", "św.", "ks.", "marsz.", "kard.", "prof.", "płk.", "im.",
];

const STREET_TYPES: &[&str] = &[
    "Street",
    "St",
    "Road",
    "Rd",
    "Avenue",
    "Ave",
    "Lane",
    "Ln",
    "Drive",
    "Dr",
    "Close",
    "Court",
    "Crescent",
    "Place",
    "Way",
    "Boulevard",
    "Blvd",
    "Terrace",
    "Gardens",
    "Square",
];

/// Polish street addresses after "ul.", "al.", "os.", "pl." (the name, the number,
/// "/4", "m. 2", "lok. 5"), and English ones ("221B Baker Street").
pub(super) fn find_addresses(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    for cue_end in cues_in(text, STREET_CUES) {
        let start = skip_filler(text, cue_end, &[]);
        if let Some(end) = street_name_end(text, start) {
            let end = house_number_end(text, end).unwrap_or(end);
            hits.push(Hit {
                start,
                end,
                kind: "ADDRESS",
            });
        }
    }
    hits.extend(english_addresses(text));
    hits
}

/// Where a street name starting at `at` ends: capitalised words, "3 Maja", and the
/// abbreviations above, one to five of them.
fn street_name_end(text: &str, at: usize) -> Option<usize> {
    let mut end = None;
    let mut pos = at;
    for _ in 0..5 {
        let rest = &text[pos..];
        if let Some(abbr) = STREET_ABBREVIATIONS
            .iter()
            .find_map(|a| cue_at(text, pos, a))
        {
            pos = skip_filler(text, abbr, &[]);
            continue;
        }
        let digits = run_len(rest, |c| c.is_ascii_digit());
        let (word_at, lead) = if (1..=2).contains(&digits) && rest[digits..].starts_with(' ') {
            (pos + digits + 1, true) // "3 Maja", "11 Listopada"
        } else {
            (pos, false)
        };
        let word_len = run_len(&text[word_at..], |c| c.is_alphabetic() || c == '-');
        let word = &text[word_at..word_at + word_len];
        let roman = !word.is_empty() && word.chars().all(|c| "IVX".contains(c));
        if !(is_capitalised_word(word) || roman && end.is_some())
            || lead && !is_capitalised_word(word)
        {
            break;
        }
        end = Some(word_at + word_len);
        let gap = run_len(&text[word_at + word_len..], |c| c == ' ');
        if gap != 1 {
            break;
        }
        pos = word_at + word_len + 1;
    }
    end
}

/// The end of a house number after a street name: " 12", " 12a", " 12/4", " 5 m. 2",
/// " 7 lok. 3".
fn house_number_end(text: &str, at: usize) -> Option<usize> {
    let rest = &text[at..];
    let spaced = run_len(rest, |c| c == ' ' || c == ',');
    let number = |s: &str| {
        let d = run_len(s, |c| c.is_ascii_digit());
        if d == 0 || d > 4 {
            return 0;
        }
        let letter = s[d..]
            .chars()
            .next()
            .filter(|c| c.is_ascii_alphabetic())
            .filter(|_| !s[d + 1..].starts_with(|c: char| c.is_alphabetic()))
            .map_or(0, |_| 1);
        d + letter
    };
    let first = number(&rest[spaced..]);
    if spaced == 0 || spaced > 2 || first == 0 {
        return None;
    }
    let mut end = at + spaced + first;
    let tail = &text[end..];
    if let Some(flat) = tail.strip_prefix('/').or_else(|| tail.strip_prefix(" / ")) {
        let n = number(flat);
        if n > 0 {
            end += tail.len() - flat.len() + n;
        }
    }
    for unit in [
        " m. ", " m.", " m ", " lok. ", " lok.", ", m. ", ", lok. ", " apt ", " flat ",
    ] {
        if text[end..].starts_with(unit) {
            let n = number(&text[end + unit.len()..]);
            if n > 0 {
                return Some(end + unit.len() + n);
            }
        }
    }
    Some(end)
}

/// "221B Baker Street", "12 High St", "1600 Pennsylvania Avenue".
fn english_addresses(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    for at in word_starts(text) {
        let rest = &text[at..];
        let digits = run_len(rest, |c| c.is_ascii_digit());
        if digits == 0 || digits > 5 {
            continue;
        }
        let mut pos = at + digits;
        if text[pos..].starts_with(|c: char| c.is_ascii_uppercase())
            && text[pos + 1..].starts_with(' ')
        {
            pos += 1; // 221B
        }
        let mut words = 0;
        while words < 4 && text[pos..].starts_with(' ') {
            let word_len = run_len(&text[pos + 1..], |c| c.is_alphabetic() || c == '\'');
            let word = &text[pos + 1..pos + 1 + word_len];
            if !is_capitalised_word(word) {
                break;
            }
            pos += 1 + word_len;
            words += 1;
            let after = &text[pos..];
            let boundary = after.chars().next().is_none_or(|c| !c.is_alphanumeric());
            if words >= 2 && boundary && STREET_TYPES.contains(&word) {
                let dot = usize::from(after.starts_with('.') && word.len() <= 4);
                hits.push(Hit {
                    start: at,
                    end: pos + dot,
                    kind: "ADDRESS",
                });
                break;
            }
        }
    }
    hits
}

// ---------------------------------------------------------------- postal codes

/// "00-950 Warszawa", "31-123 Kraków", "43-300 Bielsko-Biała" (a town must follow),
/// UK postcodes ("SW1A 1AA") and US state + ZIP ("IL 62704").
pub(super) fn find_postcodes(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    let b = text.as_bytes();
    for at in word_starts(text) {
        let rest = &b[at..];
        let polish = rest.len() >= 6
            && rest[..2].iter().all(u8::is_ascii_digit)
            && rest[2] == b'-'
            && rest[3..6].iter().all(u8::is_ascii_digit)
            && rest.get(6).is_none_or(|c| !c.is_ascii_alphanumeric());
        if polish {
            let town = town_end(text, at + 6);
            if let Some(end) = town {
                hits.push(Hit {
                    start: at,
                    end,
                    kind: "ADDRESS",
                });
            }
            continue;
        }
        if let Some(len) = uk_postcode(&text[at..]).or_else(|| us_zip(&text[at..])) {
            hits.push(Hit {
                start: at,
                end: at + len,
                kind: "ADDRESS",
            });
        }
    }
    hits
}

/// The end of a town's name after a postal code: " Warszawa", " Nowy Sącz",
/// " Bielsko-Biała".
fn town_end(text: &str, at: usize) -> Option<usize> {
    let mut end = None;
    let mut pos = at;
    for _ in 0..3 {
        if !text[pos..].starts_with(' ') {
            break;
        }
        let len = run_len(&text[pos + 1..], |c| c.is_alphabetic() || c == '-');
        let word = &text[pos + 1..pos + 1 + len];
        if !is_capitalised_word(word) {
            break;
        }
        pos += 1 + len;
        end = Some(pos);
    }
    end
}

/// A UK postcode at the start of `s`: "SW1A 1AA", "M1 1AE", "B33 8TH".
fn uk_postcode(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if !(1..=2).contains(&letters) {
        return None;
    }
    let mut i = letters;
    if !b.get(i)?.is_ascii_digit() {
        return None;
    }
    i += 1;
    if b.get(i)
        .is_some_and(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    {
        i += 1;
    }
    let inward = b.get(i + 1..i + 4)?;
    let ok = b[i] == b' '
        && inward[0].is_ascii_digit()
        && inward[1..].iter().all(u8::is_ascii_uppercase)
        && b.get(i + 4).is_none_or(|c| !c.is_ascii_alphanumeric());
    ok.then_some(i + 4)
}

/// A US state and ZIP code at the start of `s`: "IL 62704", "NY 10001-1234".
fn us_zip(s: &str) -> Option<usize> {
    const STATES: &str = "AL AK AZ AR CA CO CT DE FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY DC";
    let b = s.as_bytes();
    if b.len() < 8 || b[2] != b' ' || !STATES.split(' ').any(|st| st.as_bytes() == &b[..2]) {
        return None;
    }
    if !b[3..8].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut end = 8;
    if b.get(8) == Some(&b'-') && b.len() >= 13 && b[9..13].iter().all(u8::is_ascii_digit) {
        end = 13;
    }
    b.get(end)
        .is_none_or(|c| !c.is_ascii_alphanumeric())
        .then_some(end)
}

// ---------------------------------------------------------------- dates of birth

const BIRTH_CUES: &[&str] = &[
    "ur.",
    "urodzony",
    "urodzona",
    "urodzonego",
    "urodzonej",
    "urodzonemu",
    "urodzeni",
    "urodził",
    "urodziła",
    "data urodzenia",
    "daty urodzenia",
    "datą urodzenia",
    "dat. ur.",
    "born",
    "dob",
    "d.o.b.",
    "date of birth",
    "birth date",
    "birthdate",
];

const BIRTH_FILLER: &[&str] = &["się", "dnia", "w dniu", "on", "the", "r.", "is"];

const MONTHS: &[&str] = &[
    "stycznia",
    "lutego",
    "marca",
    "kwietnia",
    "maja",
    "czerwca",
    "lipca",
    "sierpnia",
    "września",
    "października",
    "listopada",
    "grudnia",
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
    "jan",
    "feb",
    "mar",
    "apr",
    "jun",
    "jul",
    "aug",
    "sep",
    "sept",
    "oct",
    "nov",
    "dec",
    "xii",
    "xi",
    "x",
    "ix",
    "viii",
    "vii",
    "vi",
    "v",
    "iv",
    "iii",
    "ii",
    "i",
];

/// Dates written after "ur.", "urodzony/a", "data urodzenia", "born", "DOB".
pub(super) fn find_birth_dates(text: &str) -> Vec<Hit> {
    cues_in(text, BIRTH_CUES)
        .into_iter()
        .filter_map(|cue_end| {
            let start = skip_filler(text, cue_end, BIRTH_FILLER);
            let len = date_len(&text[start..])?;
            Some(Hit {
                start,
                end: start + len,
                kind: "DOB",
            })
        })
        .collect()
}

/// The length of a date at the start of `s`: 12.03.1985, 1985-03-12, 12/03/1985,
/// 12 marca 1985, 12 III 1985, 12th March 1985, March 12, 1985.
fn date_len(s: &str) -> Option<usize> {
    let digits = |s: &str| run_len(s, |c| c.is_ascii_digit());
    let d1 = digits(s);
    if d1 == 4 || (1..=2).contains(&d1) {
        let sep = s[d1..].chars().next()?;
        if ".-/".contains(sep) {
            let d2 = digits(&s[d1 + 1..]);
            let third = d1 + 1 + d2;
            if (1..=2).contains(&d2) && s[third..].starts_with(sep) {
                let d3 = digits(&s[third + 1..]);
                let ok = if d1 == 4 {
                    (1..=2).contains(&d3)
                } else {
                    d3 == 4 || d3 == 2
                };
                return ok.then_some(third + 1 + d3);
            }
            return None;
        }
        // 12 marca 1985, 12th March 1985
        let ord = ["st", "nd", "rd", "th"]
            .iter()
            .find(|o| s[d1..].starts_with(*o))
            .map_or(0, |o| o.len());
        let after = &s[d1 + ord..];
        let month = after.strip_prefix(' ').and_then(month_len)?;
        let year_at = d1 + ord + 1 + month;
        let year = s[year_at..].strip_prefix(" ").map_or(0, digits);
        return (year == 4).then_some(year_at + 1 + 4);
    }
    // March 12, 1985
    let month = month_len(s)?;
    let rest = s[month..].strip_prefix(' ')?;
    let day = digits(rest);
    let after_day = &rest[day..];
    let after_day = after_day.strip_prefix(',').unwrap_or(after_day);
    let year = after_day.strip_prefix(" ").map_or(0, digits);
    ((1..=2).contains(&day) && year == 4).then(|| s.len() - after_day.len() + 1 + 4)
}

fn month_len(s: &str) -> Option<usize> {
    MONTHS.iter().find_map(|m| {
        let end = cue_at(s, 0, m)?;
        let dotted = usize::from(m.len() == 3 && s[end..].starts_with('.'));
        Some(end + dotted)
    })
}

// ---------------------------------------------------------------- documents

const DOCUMENT_CUES: &[&str] = &[
    "dowód osobisty",
    "dowodu osobistego",
    "dowodem osobistym",
    "dowód",
    "dowodu",
    "dowodem",
    "dowodzie",
    "paszport",
    "paszportu",
    "paszportem",
    "passport",
    "id card",
    "identity card",
    "id number",
    "id no",
    "nr dokumentu",
    "numer dokumentu",
    "document number",
    "document no",
];

const DOCUMENT_FILLER: &[&str] = &[
    "seria i numer",
    "seria i nr",
    "nr.",
    "nr",
    "numer",
    "no.",
    "no",
    "number",
    "num.",
    "is",
    "o numerze",
    "osobisty",
    "osobistego",
    "#",
];

/// ID card and passport numbers: after "dowód", "paszport", "passport", "ID card"
/// (any letters and digits), and on their own when they pass the check digits of a
/// Polish ID card (ABC123456) or passport (AB1234567).
pub(super) fn find_documents(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    for cue_end in cues_in(text, DOCUMENT_CUES) {
        let start = skip_filler(text, cue_end, DOCUMENT_FILLER);
        let len = document_len(&text[start..]);
        let token = &text[start..start + len];
        let digits = token.chars().filter(char::is_ascii_digit).count();
        if (6..=12).contains(&token.chars().filter(|c| *c != ' ').count()) && digits >= 3 {
            hits.push(Hit {
                start,
                end: start + len,
                kind: "ID",
            });
        }
    }
    for at in word_starts(text) {
        let len = document_len(&text[at..]);
        let token: String = text[at..at + len].chars().filter(|c| *c != ' ').collect();
        if id_card_ok(&token) || passport_ok(&token) {
            hits.push(Hit {
                start: at,
                end: at + len,
                kind: "ID",
            });
        }
    }
    hits
}

/// Letters then digits, with one optional space between them ("ABC 123456").
fn document_len(s: &str) -> usize {
    let letters = run_len(s, |c| c.is_ascii_uppercase());
    let spaced = usize::from(letters > 0 && s[letters..].starts_with(' '));
    let rest = run_len(&s[letters + spaced..], |c| c.is_ascii_alphanumeric());
    let len = letters + spaced + rest;
    let boundary = s[len..].chars().next().is_none_or(|c| !c.is_alphanumeric());
    if boundary { len } else { 0 }
}

// ---------------------------------------------------------------- car plates

const PLATE_CUES: &[&str] = &[
    "nr rej.",
    "nr. rej.",
    "numer rej.",
    "rej.",
    "numer rejestracyjny",
    "numerze rejestracyjnym",
    "numerem rejestracyjnym",
    "nr rejestracyjny",
    "rejestracja",
    "rejestracji",
    "tablice",
    "tablicach",
    "tablicy",
    "registration",
    "reg. no",
    "reg no",
    "licence plate",
    "license plate",
    "number plate",
    "plate",
    "plates",
];

const PLATE_FILLER: &[&str] = &[
    "rejestracyjne",
    "rejestracyjnej",
    "rejestracyjnych",
    "number",
    "no.",
    "nr",
    ":",
];

/// Letters of the Polish voivodeships, the first letter of every plate.
const VOIVODESHIPS: &str = "BCDEFGKLNOPRSTWZ";

/// Prefixes that look like a plate's but start standards and document numbers.
const NOT_PLATES: &[&str] = &[
    "EN", "ISO", "PN", "DIN", "IEC", "EU", "UE", "FV", "NR", "NIP", "KRS", "EAN", "TEL", "FAX",
    "PKD",
];

/// Car plates: after "nr rej.", "tablice", "registration", any; on their own, the
/// Polish form "WA 12345", "KR 2345C", "WPI 1234A" and the British "AB12 CDE".
pub(super) fn find_plates(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    for cue_end in cues_in(text, PLATE_CUES) {
        let start = skip_filler(text, cue_end, PLATE_FILLER);
        if let Some(len) = plate_len(&text[start..], false) {
            hits.push(Hit {
                start,
                end: start + len,
                kind: "PLATE",
            });
        }
    }
    for at in word_starts(text) {
        if let Some(len) = plate_len(&text[at..], true) {
            hits.push(Hit {
                start: at,
                end: at + len,
                kind: "PLATE",
            });
        }
    }
    hits
}

/// A plate at the start of `s`; `strict` asks for the Polish or British form.
fn plate_len(s: &str, strict: bool) -> Option<usize> {
    let b = s.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    if !(1..=3).contains(&letters) {
        return None;
    }
    if uk_plate(b) {
        return Some(8);
    }
    let spaced = usize::from(b.get(letters) == Some(&b' '));
    let rest = &b[letters + spaced..];
    let len = rest
        .iter()
        .take_while(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
        .count();
    let digits = rest[..len].iter().filter(|c| c.is_ascii_digit()).count();
    let end = letters + spaced + len;
    let boundary = b.get(end).is_none_or(|c| !c.is_ascii_alphanumeric());
    if !boundary || !(3..=5).contains(&len) || digits == 0 {
        return None;
    }
    if strict {
        let prefix = &s[..letters];
        let polish = letters >= 2
            && spaced == 1
            && VOIVODESHIPS.contains(prefix.chars().next()?)
            && rest[0].is_ascii_digit()
            && digits >= 2
            && len >= 4
            && !NOT_PLATES.contains(&prefix);
        return polish.then_some(end);
    }
    Some(end)
}

/// "AB12 CDE": two letters, two digits, a space, three letters.
fn uk_plate(b: &[u8]) -> bool {
    b.len() >= 8
        && b[..2].iter().all(u8::is_ascii_uppercase)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4] == b' '
        && b[5..8].iter().all(u8::is_ascii_uppercase)
        && b.get(8).is_none_or(|c| !c.is_ascii_alphanumeric())
}

// ---------------------------------------------------------------- links to a person

/// Hosts where a path names a person.
const PROFILE_HOSTS: &[&str] = &[
    "facebook.com",
    "fb.com",
    "linkedin.com",
    "twitter.com",
    "x.com",
    "instagram.com",
    "github.com",
    "gitlab.com",
    "tiktok.com",
    "youtube.com",
    "medium.com",
    "vk.com",
    "goldenline.pl",
    "nk.pl",
    "t.me",
    "wa.me",
    "threads.net",
    "bsky.app",
    "mastodon.social",
];

/// Path pieces that name a person on any host.
const PROFILE_PATHS: &[&str] = &[
    "/user/",
    "/users/",
    "/profile/",
    "/profil/",
    "/u/",
    "/in/",
    "/people/",
    "/member/",
    "/members/",
    "/~",
    "/@",
];

/// Query keys whose value is personal.
const PERSONAL_KEYS: &[&str] = &[
    "email",
    "e-mail",
    "mail",
    "name",
    "imie",
    "imię",
    "nazwisko",
    "surname",
    "user",
    "username",
    "login",
    "uid",
    "userid",
    "user_id",
    "phone",
    "tel",
    "telefon",
    "pesel",
    "address",
    "adres",
    "token",
    "customer",
    "client",
    "member",
    "firstname",
    "lastname",
    "first_name",
    "last_name",
];

/// Links to a person: a profile (facebook.com/jan.kowalski, /in/…, /user/…, /~jan),
/// or a query carrying an e-mail, a name, a phone or a token; with or without
/// "https://".
pub(super) fn find_personal_urls(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut seen_until = 0;
    for at in word_starts(text) {
        if at < seen_until {
            continue;
        }
        let len = run_len(&text[at..], |c| {
            !c.is_whitespace() && !"<>\"'()[]{}".contains(c)
        });
        seen_until = at + len;
        let url = text[at..at + len].trim_end_matches(['.', ',', ';', ':', '!', '?']);
        if url.contains('/') && personal_url(url) {
            hits.push(Hit {
                start: at,
                end: at + url.len(),
                kind: "URL",
            });
        }
    }
    hits
}

fn personal_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if !host.contains('.') || host.starts_with('.') {
        return false;
    }
    let profile_host = PROFILE_HOSTS
        .iter()
        .any(|h| host == *h || host.ends_with(&format!(".{h}")));
    let path_only = path.split(['?', '#']).next().unwrap_or("");
    if profile_host && path_only.trim_matches('/').len() > 1 {
        return true;
    }
    if PROFILE_PATHS.iter().any(|p| path_only.contains(p)) {
        return true;
    }
    let query = path.split_once('?').map_or("", |(_, q)| q);
    query.split('&').any(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        !value.is_empty()
            && (PERSONAL_KEYS.contains(&key) || value.contains("%40") || value.contains('@'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(hits: Vec<Hit>, text: &str) -> Vec<String> {
        hits.iter()
            .map(|h| text[h.start..h.end].to_string())
            .collect()
    }

    #[test]
    fn street_addresses_with_their_numbers() {
        let text = "Mieszkam przy ul. Długiej 12/4, a biuro: al. Jana Pawła II 45 m. 2 i os. Słoneczne 5 lok. 7; pl. gen. Józefa Bema 3a.";
        assert_eq!(
            found(find_addresses(text), text),
            [
                "Długiej 12/4",
                "Jana Pawła II 45 m. 2",
                "Słoneczne 5 lok. 7",
                "gen. Józefa Bema 3a"
            ]
        );
        let text = "Send it to 221B Baker Street, London or 12 High St. please.";
        assert_eq!(
            found(find_addresses(text), text),
            ["221B Baker Street", "12 High St."]
        );
        let text = "ul. 3 Maja 10";
        assert_eq!(found(find_addresses(text), text), ["3 Maja 10"]);
    }

    #[test]
    fn postal_codes_with_their_town() {
        let text = "Adres: 00-950 Warszawa, 43-300 Bielsko-Biała; kod 12-345 bez miasta; London SW1A 1AA; Springfield, IL 62704.";
        assert_eq!(
            found(find_postcodes(text), text),
            [
                "00-950 Warszawa",
                "43-300 Bielsko-Biała",
                "SW1A 1AA",
                "IL 62704"
            ]
        );
    }

    #[test]
    fn birth_dates_after_their_cue() {
        let text = "Jan, ur. 12.03.1985 r., urodzona 5 marca 1990, born on March 12, 1985, DOB: 1985-03-12, data urodzenia: 12 III 1985. Spotkanie 12.03.2024.";
        assert_eq!(
            found(find_birth_dates(text), text),
            [
                "12.03.1985",
                "5 marca 1990",
                "March 12, 1985",
                "1985-03-12",
                "12 III 1985"
            ]
        );
    }

    #[test]
    fn plates_with_and_without_a_cue() {
        let text = "Auto o nr rej. KR 2345C stało obok WPI 1234A i WA 12345; norma EN 12345, ISO 9001, reg. no AB12 CDE.";
        assert_eq!(
            found(find_plates(text), text),
            [
                "KR 2345C",
                "KR 2345C",
                "AB12 CDE",
                "KR 2345C",
                "WPI 1234A",
                "WA 12345",
                "AB12 CDE"
            ]
        );
    }

    #[test]
    fn links_that_lead_to_a_person() {
        for url in [
            "facebook.com/jan.kowalski",
            "https://www.linkedin.com/in/anna-nowak-123/",
            "http://example.com/profile/jkowalski",
            "https://shop.pl/zamowienie?email=jan%40wp.pl&id=5",
            "www.uni.edu/~jsmith",
        ] {
            let text = format!("Zobacz {url}, dzięki.");
            assert_eq!(found(find_personal_urls(&text), &text), [url], "{url}");
        }
        let text = "Docs: https://docs.rs/ureq/latest/ureq/ and www.example.com/pricing?plan=pro";
        assert!(find_personal_urls(text).is_empty());
    }
}
