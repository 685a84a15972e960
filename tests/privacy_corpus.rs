//! The privacy corpus: texts generated from Polish and English templates with
//! checksummed personal values of every kind and format the README names, and
//! numbers that look personal but are not. Every value is looked for in what would be
//! sent; the per-kind table is printed (`scripts/bench-privacy`, BENCHMARKS.md).

use std::collections::BTreeMap;

use ai_worker::internals::Redactor;

/// A small deterministic generator (xorshift64*), so the corpus is the same each run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'0' + self.below(10) as u8))
            .collect()
    }
    fn letters(&mut self, n: usize) -> String {
        (0..n)
            .map(|_| char::from(b'A' + self.below(26) as u8))
            .collect()
    }
}

fn weighted(d: &str, w: &[u32]) -> u32 {
    d.chars()
        .zip(w)
        .map(|(c, w)| c.to_digit(10).unwrap() * w)
        .sum()
}

fn pesel(r: &mut Rng) -> String {
    let base = format!(
        "{:02}{:02}{:02}{}",
        r.below(100),
        1 + r.below(12),
        1 + r.below(28),
        r.digits(4)
    );
    let check = (10 - weighted(&base, &[1, 3, 7, 9, 1, 3, 7, 9, 1, 3]) % 10) % 10;
    format!("{base}{check}")
}

fn nip(r: &mut Rng) -> String {
    loop {
        let base = format!("{}{}", 1 + r.below(9), r.digits(8));
        let check = weighted(&base, &[6, 5, 7, 2, 3, 4, 5, 6, 7]) % 11;
        if check < 10 {
            let d = format!("{base}{check}");
            return match r.below(3) {
                0 => d,
                1 => format!("{}-{}-{}-{}", &d[..3], &d[3..6], &d[6..8], &d[8..]),
                _ => format!("PL{d}"),
            };
        }
    }
}

fn regon(r: &mut Rng) -> String {
    let base = format!("{}{}", 1 + r.below(9), r.digits(7));
    let check = weighted(&base, &[8, 9, 2, 3, 4, 5, 6, 7]) % 11 % 10;
    format!("{base}{check}")
}

fn mod97(s: &str) -> u32 {
    s.chars().fold(0u32, |acc, c| {
        let v = c.to_digit(36).unwrap();
        if v >= 10 {
            (acc * 100 + v) % 97
        } else {
            (acc * 10 + v) % 97
        }
    })
}

fn iban(country: &str, bban: &str) -> String {
    let check = 98 - mod97(&format!("{bban}{country}00"));
    format!("{country}{check:02}{bban}")
}

fn grouped(s: &str) -> String {
    s.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ")
}

fn any_iban(r: &mut Rng) -> String {
    let value = match r.below(5) {
        0 | 1 => iban("PL", &r.digits(24)),
        2 => iban("DE", &r.digits(18)),
        3 => iban("GB", &format!("{}{}", r.letters(4), r.digits(14))),
        _ => iban("FR", &r.digits(23)),
    };
    match r.below(3) {
        0 => value,
        1 if value.starts_with("PL") => grouped(&value[2..]),
        _ => grouped(&value),
    }
}

fn luhn_complete(base: &str) -> String {
    let sum: u32 = base
        .chars()
        .rev()
        .enumerate()
        .map(|(i, c)| {
            let d = c.to_digit(10).unwrap();
            if i % 2 == 0 {
                let x = d * 2;
                if x > 9 { x - 9 } else { x }
            } else {
                d
            }
        })
        .sum();
    format!("{base}{}", (10 - sum % 10) % 10)
}

fn card(r: &mut Rng) -> String {
    let (prefix, len, groups): (&str, usize, &[usize]) = *r.pick(&[
        ("4", 16, &[4, 4, 4, 4][..]),
        ("5", 16, &[4, 4, 4, 4][..]),
        ("37", 15, &[4, 6, 5][..]),
        ("36", 14, &[4, 6, 4][..]),
    ]);
    let prefix = if prefix == "5" {
        format!("5{}", 1 + r.below(5))
    } else {
        prefix.to_string()
    };
    let d = luhn_complete(&format!("{prefix}{}", r.digits(len - prefix.len() - 1)));
    if r.below(3) == 0 {
        return d;
    }
    let mut out = Vec::new();
    let mut at = 0;
    for g in groups {
        out.push(&d[at..at + g]);
        at += g;
    }
    out.join(if r.below(2) == 0 { " " } else { "-" })
}

fn id_card(r: &mut Rng) -> String {
    let letters = r.letters(3);
    let digits = r.digits(5);
    let v: Vec<u32> = letters.bytes().map(|b| u32::from(b - b'A') + 10).collect();
    let s = 7 * v[0] + 3 * v[1] + v[2] + weighted(&digits, &[7, 3, 1, 7, 3]);
    let sep = if r.below(3) == 0 { " " } else { "" };
    format!("{letters}{sep}{}{digits}", s % 10)
}

fn passport(r: &mut Rng) -> String {
    let letters = r.letters(2);
    let digits = r.digits(6);
    let v: Vec<u32> = letters.bytes().map(|b| u32::from(b - b'A') + 10).collect();
    let s = 7 * v[0] + 3 * v[1] + weighted(&digits, &[1, 7, 3, 1, 7, 3]);
    format!("{letters}{}{digits}", s % 10)
}

fn phone(r: &mut Rng) -> String {
    let m = format!("{}{}", r.pick(&["5", "6", "7", "8"]), r.digits(8));
    match r.below(16) {
        0 => format!("+48 {} {} {}", &m[..3], &m[3..6], &m[6..]),
        1 => format!("{}-{}-{}", &m[..3], &m[3..6], &m[6..]),
        2 => format!("0048{m}"),
        3 => format!("(0-52) 3{} {} {}", r.digits(2), r.digits(2), r.digits(2)),
        4 => format!("052 1{} {} {}", r.digits(2), r.digits(2), r.digits(2)),
        5 => format!("52/1{}-{}-{}", r.digits(2), r.digits(2), r.digits(2)),
        6 => format!("{}.{}.{}", &m[..3], &m[3..6], &m[6..]),
        7 => format!("+1 (3{}) 555-0{}", r.digits(2), r.digits(3)),
        8 => format!("+44 (0)20 7946 0{}", r.digits(3)),
        9 => format!("+49 (0)30 9018{}", r.digits(2)),
        10 => format!("020 7946 0{}", r.digits(3)),
        11 => format!("07700 900{}", r.digits(3)),
        12 => format!("(3{}) 555-0{}", r.digits(2), r.digits(3)),
        13 => format!("(22) 1{} {} {}", r.digits(2), r.digits(2), r.digits(2)),
        14 => format!("{} {} {}", &m[..3], &m[3..6], &m[6..]),
        _ => m,
    }
}

const FIRST: &[&str] = &[
    "jan", "anna", "piotr", "kasia", "tomasz", "ewa", "john", "sarah",
];
const LAST: &[&str] = &[
    "kowalski", "nowak", "bielecka", "wrzos", "smith", "holloway",
];

fn email(r: &mut Rng) -> String {
    let (f, l) = (r.pick(FIRST), r.pick(LAST));
    match r.below(5) {
        0 => format!("{f}.{l} (at) firma [dot] pl"),
        1 => format!("{f}(at){l}.com"),
        2 => format!("józef.żak{}@poczta.pl", r.below(100)),
        _ => format!("{f}.{l}{}@example.com", r.below(100)),
    }
}

fn address(r: &mut Rng) -> String {
    let street = *r.pick(&[
        "Długiej",
        "Mickiewicza",
        "Jana Pawła II",
        "3 Maja",
        "Piłsudskiego",
        "Leśnej",
        "Marszałkowskiej",
        "gen. Józefa Bema",
        "Kościuszki",
        "Ogrodowej",
    ]);
    let (n, m) = (1 + r.below(150), 1 + r.below(60));
    match r.below(6) {
        0 => format!("ul. {street} {n}/{m}"),
        1 => format!("al. {street} {n} m. {m}"),
        2 => format!("os. {street} {n} lok. {m}"),
        3 => format!("pl. {street} {n}{}", r.pick(&["a", "b", ""])),
        4 => format!(
            "{n} {} {}",
            r.pick(&["Baker", "High", "Church", "Station Hill"]),
            r.pick(&["Street", "Road", "Lane", "Avenue"])
        ),
        _ => format!(
            "{:02}-{:03} {}",
            r.below(100),
            r.below(1000),
            r.pick(&["Warszawa", "Kraków", "Nowy Sącz", "Bielsko-Biała", "Łódź"])
        ),
    }
}

fn birth_date(r: &mut Rng) -> String {
    let (d, m, y) = (1 + r.below(28), 1 + r.below(12), 1940 + r.below(70));
    let months = [
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
    ];
    let english = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    match r.below(5) {
        0 => format!("{d:02}.{m:02}.{y}"),
        1 => format!("{y}-{m:02}-{d:02}"),
        2 => format!("{d} {} {y}", months[m as usize - 1]),
        3 => format!("{} {d}, {y}", english[m as usize - 1]),
        _ => format!("{d:02}/{m:02}/{y}"),
    }
}

fn plate(r: &mut Rng) -> String {
    let prefix = *r.pick(&["WA", "KR", "GD", "WPI", "DW", "PO", "LU", "SK"]);
    match r.below(3) {
        0 => format!("{prefix} {}", r.digits(5)),
        1 => format!("{prefix} {}{}", r.digits(4), r.letters(1)),
        _ => format!("{prefix} {}{}", r.digits(3), r.letters(2)),
    }
}

fn url(r: &mut Rng) -> String {
    let (f, l) = (r.pick(FIRST), r.pick(LAST));
    match r.below(4) {
        0 => format!("facebook.com/{f}.{l}"),
        1 => format!("https://www.linkedin.com/in/{f}-{l}-{}", r.below(900)),
        2 => format!("https://sklep.pl/konto?email={f}%40wp.pl&ref=mail"),
        _ => format!("instagram.com/{f}_{l}"),
    }
}

/// Names as written in context: declined, with titles, signatures, greetings.
const NAMES: &[(&str, &[&str])] = &[
    (
        "Proszę przekazać Pani {} dokumenty.",
        &["Jankowskiej", "Bieleckiej", "Fijałkowskiej", "Wiśniewskiej"],
    ),
    (
        "Dziękujemy Panu {} za szybką pomoc.",
        &["Zającowi", "Bieleckiemu", "Wrzosowi", "Kowalskiemu"],
    ),
    (
        "Rozmawiałem wczoraj z {} o umowie.",
        &[
            "Wojciechem Kaczmarkiem",
            "Anną Bielecką",
            "Tomaszem Wrzosem",
            "Martą Fijałkowską",
        ],
    ),
    (
        "{}, oddzwoń proszę jak najszybciej.",
        &["Agnieszko", "Pawle", "Marku", "Kasiu"],
    ),
    (
        "Pozdrawiam serdecznie, {}",
        &[
            "Anna Nowak-Kowalska",
            "Piotr Bielecki",
            "Jan Wrzos",
            "Małgorzata Zięba",
        ],
    ),
    (
        "Wysłałem zdjęcia {} wczoraj wieczorem.",
        &["Agnieszce", "Pawłowi", "Krzysztofowi", "Joannie"],
    ),
    (
        "Dear Mr. {}, thank you for your order.",
        &["Smith", "Holloway", "Featherstone", "Okafor"],
    ),
    (
        "Please call {} tomorrow morning.",
        &["Sarah Connor", "John Doe", "Emily Blunt", "Oliver Twist"],
    ),
    (
        "Kind regards, {}",
        &[
            "Michael Brown",
            "Jessica Alvarez",
            "Thomas Reed",
            "Laura Palmer",
        ],
    ),
    (
        "Reklamację złożył {} w piątek.",
        &["Kowalski", "Nowak", "pan Bielecki", "Jan Wrzos"],
    ),
];

/// Numbers that look personal but are not, in the contexts people write them.
const NOT_PERSONAL: &[(&str, &[&str])] = &[
    (
        "Zamówienie nr {} zostało wysłane.",
        &["123456785", "600100200", "523 123 456"],
    ),
    (
        "Kwota {} zł do zapłaty.",
        &["205 618 000,00", "1 299,99", "600 100 200,00"],
    ),
    (
        "Mamy już wersję {} programu.",
        &["1.2.3.4", "10.0.0.1", "2.4.1.0"],
    ),
    (
        "KRS {} w rejestrze.",
        &["0000123456", "0000028860", "0000612345"],
    ),
    (
        "EAN {} na opakowaniu.",
        &["5901234123457", "5900000000008", "4006381333931"],
    ),
    (
        "ISBN {} wydania.",
        &["978-83-01-00000-1", "83-01-00000-1", "978-0-306-40615-7"],
    ),
    (
        "Kod produktu {} w katalogu.",
        &["123-456-789", "600-100-200", "321-654-987"],
    ),
    (
        "Infolinia {} czynna całą dobę.",
        &["801 234 567", "800 100 200", "801 600 600"],
    ),
    (
        "Spotkanie {} o 10:00.",
        &["12.03.2024", "2024-03-12", "15/01/2025"],
    ),
    (
        "Order {} shipped today.",
        &["600100200", "523123456", "123456785"],
    ),
    (
        "Temperatura {} °C, wzrost o 15% w 2023.",
        &["36,6", "38,2", "21,5"],
    ),
    (
        "Price: {} PLN per box.",
        &["1 299,99", "605 100 200", "12.99"],
    ),
];

/// (kind, sentence with `{}`, value generator)
type Gen = fn(&mut Rng) -> String;
const KINDS: &[(&str, &str, Gen)] = &[
    ("PESEL", "PESEL klienta: {}.", pesel),
    ("NIP", "NIP {} na fakturze.", nip),
    ("REGON", "REGON {}.", regon),
    ("IBAN", "Zwrot na konto {} proszę.", any_iban),
    ("CARD", "Płaciłem kartą {} wczoraj.", card),
    ("EMAIL", "Pisz na {} w razie pytań.", email),
    ("PHONE", "Kontakt: {}, po 16.", phone),
    ("IP", "Logował się z {} dwa razy.", |r| {
        format!(
            "{}.{}.{}.{}",
            1 + r.below(223),
            r.below(256),
            r.below(256),
            1 + r.below(254)
        )
    }),
    ("IPv6", "Serwer {} nie odpowiada.", |r| {
        format!("2001:db8::{:x}:{:x}", r.below(65536), 1 + r.below(65535))
    }),
    ("MAC", "Karta sieciowa {} jest nowa.", |r| {
        (0..6)
            .map(|_| format!("{:02X}", r.below(256)))
            .collect::<Vec<_>>()
            .join(":")
    }),
    ("ID card", "Dowód osobisty {} ważny do 2030.", id_card),
    ("ID card (no cue)", "Dokumenty: {} oraz zdjęcie.", id_card),
    ("passport", "Passport no. {} expires soon.", passport),
    (
        "passport (foreign)",
        "Paszport nr {} wydany w Berlinie.",
        |r| format!("C{}X{}T{}", r.digits(2), r.digits(2), r.digits(2)),
    ),
    (
        "date of birth",
        "Pacjent ur. {} zgłosił się rano.",
        birth_date,
    ),
    ("date of birth (EN)", "Date of birth: {}.", birth_date),
    ("address", "Proszę wysłać na adres {} jutro.", address),
    ("car plate", "Auto o nr rej. {} stało na parkingu.", plate),
    ("car plate (no cue)", "Zaparkowałem {} przed domem.", plate),
    ("URL", "Mój profil: {} zapraszam.", url),
];

/// One generated text and what it holds.
struct Sample {
    text: String,
    personal: Vec<(String, String)>,
    harmless: Vec<String>,
}

fn corpus() -> Vec<Sample> {
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut samples = Vec::new();
    for i in 0..400 {
        let mut text = String::new();
        let mut personal = Vec::new();
        let mut harmless = Vec::new();
        for _ in 0..3 {
            let (kind, template, make) = KINDS[r.below(KINDS.len() as u64) as usize];
            let value = make(&mut r);
            text.push_str(&template.replace("{}", &value));
            text.push(' ');
            personal.push((kind.to_string(), value));
        }
        let (template, names) = NAMES[i % NAMES.len()];
        let name = r.pick(names).to_string();
        text.push_str(&template.replace("{}", &name));
        text.push(' ');
        personal.push(("name".to_string(), name));
        for _ in 0..2 {
            let (template, values) = *r.pick(NOT_PERSONAL);
            let value = r.pick(values).to_string();
            text.push_str(&template.replace("{}", &value));
            text.push(' ');
            harmless.push(value);
        }
        samples.push(Sample {
            text,
            personal,
            harmless,
        });
    }
    samples
}

/// Whether `value` (or, for a name, any of its words) is still readable in `sent`.
fn leaked(kind: &str, value: &str, sent: &str) -> bool {
    if kind != "name" {
        return sent.contains(value);
    }
    value
        .split([' ', '-'])
        .filter(|w| w.chars().count() >= 3 && w.starts_with(char::is_uppercase))
        .any(|w| {
            sent.split(|c: char| !c.is_alphanumeric())
                .any(|token| token == w)
        })
}

#[test]
fn the_corpus_sends_no_identifier_and_hides_few_harmless_numbers() {
    let redactor = Redactor::new(true);
    let mut table: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut harmless, mut hidden) = (0, 0);
    let mut hidden_examples = Vec::new();
    for sample in corpus() {
        let redacted = redactor.redact(&sample.text);
        let sent = redacted.text();
        for (kind, value) in &sample.personal {
            let row = table.entry(kind.clone()).or_default();
            row.0 += 1;
            if leaked(kind, value, sent) {
                row.1 += 1;
                eprintln!("reached the model ({kind}): {value} in {sent}");
            }
        }
        for value in &sample.harmless {
            harmless += 1;
            if !sent.contains(value.as_str()) {
                hidden += 1;
                hidden_examples.push(value.clone());
            }
        }
        assert_eq!(
            redacted.restore(sent).unwrap(),
            sample.text,
            "restored exactly"
        );
    }
    println!("| kind | values | reached the model |\n|---|---|---|");
    for (kind, (values, leaks)) in &table {
        println!("| {kind} | {values} | {leaks} |");
    }
    println!("| not personal (hidden) | {harmless} | {hidden} hidden |");
    for (kind, (values, leaks)) in &table {
        if kind == "name" || kind == "address" {
            assert!(
                *leaks * 20 <= *values,
                "{kind}: {leaks} of {values} reached the model"
            );
        } else {
            assert_eq!(*leaks, 0, "{kind}: {leaks} of {values} reached the model");
        }
    }
    assert!(
        hidden * 50 <= harmless,
        "{hidden} of {harmless} harmless numbers hidden: {hidden_examples:?}"
    );
}

#[test]
fn the_identifiers_level_leaves_names_and_masks_the_rest() {
    let redactor = Redactor::new(true).with_names(false);
    let text = "Pani Jankowskiej, PESEL 44051401359, ul. Długa 5/3.";
    let sent = redactor.redact(text);
    assert!(sent.text().contains("Jankowskiej"), "{}", sent.text());
    assert!(!sent.text().contains("44051401359") && !sent.text().contains("Długa 5/3"));
}
