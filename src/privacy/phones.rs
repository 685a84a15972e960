//! Phone numbers as people write them: Polish mobiles and landlines with or without
//! the country code ("+48", "0048", the old trunk "0" and "(0-52)"), dotted and
//! slashed forms ("538.476.874", "52/110-98-88"), and British and American numbers
//! with or without their country code ("+44 (0)20 7946 0958", "(335) 555-0720").

/// Whether a run of digits with its separators (`raw`, digits `d`, group lengths
/// `groups`) is written as a phone number.
pub(super) fn phone_ok(raw: &str, d: &str, groups: &[usize]) -> bool {
    if raw.starts_with('+') {
        return (8..=15).contains(&d.len());
    }
    if d.len() == 13 && d.starts_with("0048") {
        return true;
    }
    if raw.starts_with('(') {
        return parenthesised(raw, d, groups);
    }
    let seps: String = raw.chars().filter(|c| !c.is_ascii_digit()).collect();
    if seps.contains('.') {
        // 538.476.874 (a mobile), 335.555.0720 (American)
        let mobile = groups == [3, 3, 3] && matches!(d.as_bytes()[0], b'4'..=b'8');
        return seps.chars().all(|c| c == '.') && (mobile || groups == [3, 3, 4]);
    }
    if seps.contains('/') {
        // 52/110-98-88: a Polish area code, then the number
        return d.len() == 9 && groups.first() == Some(&2) && raw.find('/') == Some(2);
    }
    match d.len() {
        9 => polish(d, groups),
        // 48 600 100 200: the country code written without its "+"
        11 if d.starts_with("48") => {
            polish(&d[2..], &groups[1..]) && groups.first() == Some(&2) || groups == [11]
        }
        10 if d.starts_with('0') => groups.len() >= 2 && matches!(groups[0], 3 | 4),
        10 => groups == [3, 3, 4] && !d.starts_with('1'),
        11 if d.starts_with('0') => {
            matches!(groups, [3, 4, 4] | [5, 6] | [4, 3, 4] | [5, 3, 3] | [4, 7])
        }
        _ => false,
    }
}

/// A Polish national number: nine digits, grouped as people group them; numbers of
/// businesses (80x) are not a person's.
fn polish(d: &str, groups: &[usize]) -> bool {
    !d.starts_with('0')
        && !d.starts_with("80")
        && matches!(
            groups,
            [9] | [3, 3, 3] | [2, 3, 2, 2] | [2, 7] | [3, 2, 2, 2]
        )
}

/// "(22) 123 45 67", "(0-52) 358 32 44", "(052) 358 32 44", "(335) 555-0720",
/// "(020) 7946 0958".
fn parenthesised(raw: &str, d: &str, groups: &[usize]) -> bool {
    if !raw.contains(')') {
        return false;
    }
    match d.len() {
        9 => groups.first() == Some(&2),
        10 if d.starts_with('0') => true,
        10 => groups == [3, 3, 4],
        11 => d.starts_with('0'),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::detect::find_numbers;

    fn phones(text: &str) -> Vec<&str> {
        find_numbers(text)
            .iter()
            .filter(|h| h.kind == "PHONE")
            .map(|h| &text[h.start..h.end])
            .collect()
    }

    #[test]
    fn the_formats_people_write() {
        for number in [
            "0048601234567",
            "(0-52) 358 32 44",
            "052 181 24 31",
            "52/110-98-88",
            "538.476.874",
            "+1 (335) 555-0720",
            "+44 (0)20 7946 0958",
            "+49 (0)30 901820",
            "020 7946 0958",
            "07700 900123",
            "(335) 555-0720",
            "335-555-0720",
            "601 234 567",
            "+48 601-234-567",
            "(22) 123 45 67",
            "48 600 100 200",
        ] {
            let text = format!("Tel. {number}, proszę dzwonić.");
            assert_eq!(phones(&text), [number], "{number}");
        }
        // A cue word far from the number does not unmask it.
        let text = "Koszt dostawy pokryje sklep, a kurier zadzwoni pod 600 100 200.";
        assert_eq!(phones(text), ["600 100 200"]);
    }

    #[test]
    fn numbers_that_are_not_a_persons_phone_stay() {
        for text in [
            "Zamówienie nr 123 456 789 wysłane.",
            "Kwota 205 618 000,00 zł do zapłaty.",
            "Cena: 601 234 567 zł",
            "Infolinia 801 234 567 czynna.",
            "Kod produktu 123-456-789.",
            "Order 600100200 shipped.",
            "Wersja 1.2.3.4 jest nowa.",
        ] {
            let found: Vec<&str> = find_numbers(text)
                .iter()
                .map(|h| &text[h.start..h.end])
                .collect();
            assert!(found.is_empty(), "{text}: {found:?}");
        }
    }
}
