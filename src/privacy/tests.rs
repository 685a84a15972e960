//! The detector table, the checksums and the redact/restore property test.

use super::*;

fn kinds(text: &str) -> Vec<String> {
    let r = redact(text);
    placeholders_in(r.text()).into_iter().collect()
}

#[test]
fn replaces_and_restores_the_same_value_with_the_same_placeholder() {
    let text = "Pisz na jan.kowalski@example.pl lub jan.kowalski@example.pl, tel. +48 600 100 200.";
    let r = redact(text);
    assert_eq!(r.text(), "Pisz na [EMAIL_1] lub [EMAIL_1], tel. [PHONE_1].");
    assert_eq!(r.replaced(), 2);
    let answer = "Pisz na [EMAIL_1] lub [EMAIL_1], tel.: [PHONE_1].";
    assert_eq!(
        r.restore(answer).unwrap(),
        "Pisz na jan.kowalski@example.pl lub jan.kowalski@example.pl, tel.: +48 600 100 200."
    );
}

#[test]
fn lost_duplicated_or_invented_placeholders_are_errors() {
    let r = redact("Mail: a@b.pl, drugi c@d.pl");
    assert!(
        r.restore("Mail: [EMAIL_1]")
            .unwrap_err()
            .to_string()
            .contains("[EMAIL_2] lost")
    );
    assert!(
        r.restore("Mail: [EMAIL_1] [EMAIL_1], drugi [EMAIL_2]")
            .unwrap_err()
            .to_string()
            .contains("duplicated")
    );
    assert!(
        r.restore("Mail: [EMAIL_1], drugi [EMAIL_2] [PHONE_7]")
            .unwrap_err()
            .to_string()
            .contains("[PHONE_7] invented")
    );
}

#[test]
fn placeholders_already_in_the_text_are_not_confused_with_ours() {
    let text = "Szablon [EMAIL_1] zostaje, a adres x@y.com znika.";
    let r = redact(text);
    assert_eq!(
        r.text(),
        "Szablon [EMAIL_1] zostaje, a adres [EMAIL_2] znika."
    );
    assert_eq!(r.restore(r.text()).unwrap(), text);
}

#[test]
fn detects_each_kind() {
    let cases = [
        ("PESEL 44051401359.", "PESEL"),
        ("NIP 526-000-12-46", "NIP"),
        ("NIP: 5260001246", "NIP"),
        ("REGON 123456785", "REGON"),
        ("konto PL61 1090 1014 0000 0712 1981 2874", "IBAN"),
        ("konto 61 1090 1014 0000 0712 1981 2874", "IBAN"),
        ("karta 4111 1111 1111 1111", "CARD"),
        ("karta 5500-0000-0000-0004", "CARD"),
        ("IP 192.168.1.10", "IP"),
        ("tel. 600-100-200", "PHONE"),
        ("tel. (22) 123 45 67", "PHONE"),
        ("tel. +44 20 7946 0958", "PHONE"),
        ("a.b-c+tag@sub.example.co.uk", "EMAIL"),
    ];
    for (text, kind) in cases {
        let found = kinds(text);
        assert_eq!(
            found.len(),
            1,
            "{text}: {found:?} in {}",
            redact(text).text()
        );
        assert!(
            found[0].starts_with(&format!("[{kind}_")),
            "{text}: {found:?}"
        );
    }
}

#[test]
fn ordinary_numbers_are_left_alone() {
    for text in [
        "Cena: 1 299,99 zł",
        "Data 2024-01-15, godz. 12:30",
        "Kod pocztowy 00-950 bez miasta",
        "ISBN 978-83-01-00000-1",
        "Zamówienie nr 12345678901 (niepoprawny PESEL)",
        "ABC600100200 w słowie",
        "wersja 1.2.300.4",
        "małpa @ bez adresu",
    ] {
        assert!(kinds(text).is_empty(), "{text} -> {}", redact(text).text());
    }
}

#[test]
fn disabled_redactor_passes_text_through() {
    let r = Redactor::new(false).redact("a@b.pl");
    assert_eq!(r.text(), "a@b.pl");
    assert_eq!(r.restore("x").unwrap(), "x");
}

/// The detector table: (text, kinds expected in order of appearance).
const TABLE: &[(&str, &[&str])] = &[
    // E-mail addresses.
    ("jan@example.com", &["EMAIL"]),
    ("Pisz: Jan.Kowalski@firma.com.pl!", &["EMAIL"]),
    ("a_b-c@sub-domain.example.org", &["EMAIL"]),
    ("x+tag@example.io.", &["EMAIL"]),
    ("<ola@example.eu>", &["EMAIL"]),
    ("dwa: a@b.pl i c@d.de", &["EMAIL", "EMAIL"]),
    ("kontakt@żółw.pl", &[]),
    ("user@localhost", &[]),
    ("@handle on Twitter", &[]),
    ("a@b", &[]),
    ("email@123", &[]),
    ("cena 5 @ 10 zł", &[]),
    // Phone numbers.
    ("tel. 600 100 200", &["PHONE"]),
    ("tel. 600-100-200", &["PHONE"]),
    ("tel. 600100200", &["PHONE"]),
    ("tel. +48 600 100 200", &["PHONE"]),
    ("tel. +48600100200", &["PHONE"]),
    ("tel. 0048 600 100 200", &["PHONE"]),
    ("tel. (22) 123 45 67", &["PHONE"]),
    ("tel. 22 123 45 67", &["PHONE"]),
    ("tel. +44 20 7946 0958", &["PHONE"]),
    ("tel. +1 202 555 0143", &["PHONE"]),
    ("tel. +49 30 901820", &["PHONE"]),
    ("zadzwoń: 512 345 678.", &["PHONE"]),
    ("numery 600 100 200 oraz 700-800-900", &["PHONE", "PHONE"]),
    // Run into neighbouring numbers.
    ("tel. 600 100 200 200 zł", &["PHONE"]),
    ("poz. 12 600 100 200", &["PHONE"]),
    ("nr 7 +48 600 100 200", &["PHONE"]),
    ("600 100 200 700 800 900", &["PHONE", "PHONE"]),
    ("tel. 600 100 200 200zł", &["PHONE"]),
    ("1 2 3 4 5 6 7 8 9", &[]),
    ("+12 345", &[]),
    ("012 345 678", &[]),
    ("12 34", &[]),
    ("rok 2024, strona 123", &[]),
    // PESEL.
    ("PESEL 44051401359", &["PESEL"]),
    ("PESEL: 85031253056.", &["PESEL"]),
    ("pesel 01313024714", &["PESEL"]),
    ("(99120164688)", &["PESEL"]),
    ("10213107915", &["PESEL"]),
    ("44051401358", &[]),
    ("12345678901", &[]),
    ("00000000000", &[]),
    ("4405140135", &[]),
    ("440514013590", &[]),
    // NIP.
    ("NIP 5260001246", &["NIP"]),
    ("NIP 526-000-12-46", &["NIP"]),
    ("NIP 526-00-01-246", &["NIP"]),
    ("NIP: 1748611686", &["NIP"]),
    ("nip 6480987020", &["NIP"]),
    ("4746110970", &["NIP"]),
    ("1599538931", &["NIP"]),
    ("5260001245", &[]),
    ("0000000000", &[]),
    // A valid NIP with a digit after it: redacted (a number kept from the model
    // costs nothing, it comes back unchanged).
    ("526 000 12 46 5", &["NIP"]),
    // REGON.
    ("REGON 123456785", &["REGON"]),
    ("REGON 781068711", &["REGON"]),
    ("regon: 388163023", &["REGON"]),
    ("150325823", &["REGON"]),
    ("REGON 12345678512347", &["REGON"]),
    ("000000000", &[]),
    // IBAN and account numbers.
    ("PL61109010140000071219812874", &["IBAN"]),
    ("PL61 1090 1014 0000 0712 1981 2874", &["IBAN"]),
    ("konto 61 1090 1014 0000 0712 1981 2874", &["IBAN"]),
    ("konto 61109010140000071219812874", &["IBAN"]),
    ("52543231948757491186252760", &["IBAN"]),
    ("42 1895 5597 9711 4710 4974 6507", &["IBAN"]),
    ("35529170342366712768426846", &["IBAN"]),
    ("PL62 1090 1014 0000 0712 1981 2874", &[]),
    ("62109010140000071219812874", &[]),
    ("PLN 100", &[]),
    // Payment cards.
    ("karta 4111 1111 1111 1111", &["CARD"]),
    ("karta 4111-1111-1111-1111", &["CARD"]),
    ("karta 4111111111111111", &["CARD"]),
    ("4166131860913909", &["CARD"]),
    ("5199603082462814", &["CARD"]),
    ("379482199351811", &["CARD"]),
    ("6011 9093 7865 7973", &["CARD"]),
    ("4111 1111 1111 1112", &[]),
    ("1111 1111 1111 1117", &[]),
    ("9780306406157", &[]),
    // IPv4.
    ("IP 192.168.1.10", &["IP"]),
    ("z 10.0.0.1.", &["IP"]),
    ("host 8.8.8.8 i 1.1.1.1", &["IP", "IP"]),
    ("255.255.255.255", &["IP"]),
    ("256.1.1.1", &[]),
    ("1.2.3", &[]),
    ("wersja 1.2.300.4", &[]),
    // Ordinary text that must stay as it is.
    ("Cena: 1 299,99 zł", &[]),
    ("Cena 12.99 PLN", &[]),
    ("Data 2024-01-15, godz. 12:30", &[]),
    ("15.01.2024 r.", &[]),
    ("15/01/2024", &[]),
    ("Kod pocztowy 00-950 Warszawa", &["ADDRESS"]),
    ("ul. Marszałkowska 10/12 m. 5", &["ADDRESS"]),
    // Documents, dates of birth, plates, names.
    ("dowód osobisty ABA300000", &["ID"]),
    ("seria i numer ABS 123456", &["ID"]),
    ("ur. 12.03.1985 w Gdańsku", &["DOB"]),
    ("nr rej. WA 12345", &["PLATE"]),
    ("Pani Jankowskiej", &["NAME"]),
    ("Maja wróci w maju", &[]),
    ("ISBN 978-83-01-00000-1", &[]),
    ("ISBN 83-01-00000-1", &[]),
    ("Zamówienie nr 2024/11/12345", &[]),
    ("Faktura FV/123/2024", &[]),
    ("Zamówienie 12345678", &[]),
    ("ABC600100200 w słowie", &[]),
    ("SKU600100200X", &[]),
    ("x44051401359", &[]),
    ("44051401359ab", &[]),
    ("Temperatura 36,6 °C", &[]),
    ("Wzrost o 15% w 2023", &[]),
    ("3 × 4 = 12", &[]),
    ("Numer [EMAIL_1] to szablon", &[]),
    ("", &[]),
    ("Zażółć gęślą jaźń 🦀", &[]),
];

#[test]
fn detector_table() {
    assert!(TABLE.len() >= 100, "{} cases", TABLE.len());
    for (text, expected) in TABLE {
        let r = redact(text);
        let kinds: Vec<String> = r
            .values
            .iter()
            .flat_map(|(p, _, n)| std::iter::repeat_n(p.clone(), *n))
            .collect();
        let found: Vec<&str> = placeholders_in(r.text())
            .iter()
            .filter(|p| kinds.contains(p))
            .map(|p| {
                KINDS
                    .iter()
                    .copied()
                    .find(|k| p.starts_with(&format!("[{k}_")))
                    .unwrap_or("?")
            })
            .collect();
        assert_eq!(&found, expected, "{text:?} -> {:?}", r.text());
        assert_eq!(r.restore(r.text()).as_deref(), Ok(*text), "{text:?}");
    }
}

#[test]
fn redact_then_restore_is_the_identity_for_any_text() {
    const PIECES: &[&str] = &[
        "a",
        "Ż",
        " ",
        "-",
        ".",
        "(",
        ")",
        "+",
        "@",
        "_",
        "/",
        "0",
        "1",
        "4",
        "9",
        "[",
        "]",
        "[EMAIL_1]",
        "[PHONE_2]",
        "PL",
        "x@y.pl",
        "600 100 200",
        "44051401359",
        "\n",
        "🦀",
        ",",
    ];
    let mut state: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..5000 {
        let len = (next() % 40) as usize;
        let text: String = (0..len)
            .map(|_| PIECES[(next() as usize) % PIECES.len()])
            .collect();
        let r = redact(&text);
        assert_eq!(
            r.restore(r.text()).as_deref(),
            Ok(text.as_str()),
            "{text:?} -> {:?}",
            r.text()
        );
    }
}

#[test]
fn spans_with_their_cue_words_stay_on_character_boundaries() {
    // Wide spaces before a value: the cue words are found without cutting a character.
    let text = "kontakt\u{3000}pod\u{a0}numerem\u{2003}600 100 200, ul.\u{a0}Długa 5";
    for (start, end) in personal_spans(text) {
        assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
        assert!(!text[start..end].is_empty());
    }
}
