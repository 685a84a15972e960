//! The check digits of Polish identifiers and payment numbers: a number that fails
//! them is not personal data of that kind.

/// PESEL: weights 1-3-7-9, check digit, and a real birth date.
pub(super) fn pesel_ok(d: &str) -> bool {
    let n: Vec<u32> = d.chars().filter_map(|c| c.to_digit(10)).collect();
    if n.len() != 11 {
        return false;
    }
    let w = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];
    let sum: u32 = w.iter().zip(&n).map(|(a, b)| a * b).sum();
    if (10 - sum % 10) % 10 != n[10] {
        return false;
    }
    let month = n[2] * 10 + n[3];
    let day = n[4] * 10 + n[5];
    (1..=92).contains(&month) && month % 20 >= 1 && month % 20 <= 12 && (1..=31).contains(&day)
}

/// NIP: weights 6-5-7-2-3-4-5-6-7, mod 11.
pub(super) fn nip_ok(d: &str) -> bool {
    let n: Vec<u32> = d.chars().filter_map(|c| c.to_digit(10)).collect();
    if n.len() != 10 || n.iter().all(|&x| x == 0) {
        return false;
    }
    let w = [6, 5, 7, 2, 3, 4, 5, 6, 7];
    let sum: u32 = w.iter().zip(&n).map(|(a, b)| a * b).sum();
    sum % 11 != 10 && sum % 11 == n[9]
}

/// REGON (9 or 14 digits): weighted sum mod 11 (10 counts as 0).
pub(super) fn regon_ok(d: &str) -> bool {
    let n: Vec<u32> = d.chars().filter_map(|c| c.to_digit(10)).collect();
    let w: &[u32] = match n.len() {
        9 => &[8, 9, 2, 3, 4, 5, 6, 7],
        14 => &[2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8],
        _ => return false,
    };
    if n.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: u32 = w.iter().zip(&n).map(|(a, b)| a * b).sum();
    sum % 11 % 10 == n[n.len() - 1]
}

/// IBAN mod-97 check (letters count as 10..35).
pub(super) fn iban_ok(iban: &str) -> bool {
    let iban: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    if iban.len() < 15 || !iban.is_ascii() {
        return false;
    }
    let (head, tail) = iban.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// Luhn check for payment card numbers.
pub(super) fn luhn_ok(d: &str) -> bool {
    let mut sum = 0;
    for (i, c) in d.chars().rev().enumerate() {
        let Some(mut v) = c.to_digit(10) else {
            return false;
        };
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

/// The value of a character in a document number: digits as they are, A = 10 … Z = 35.
fn document_value(c: char) -> Option<u32> {
    match c {
        '0'..='9' => c.to_digit(10),
        'A'..='Z' => Some(c as u32 - 'A' as u32 + 10),
        _ => None,
    }
}

/// The weighted sum of a document number, mod 10 (0 when its check digit is right).
fn document_sum(d: &str, weights: &[u32]) -> Option<u32> {
    let values: Option<Vec<u32>> = d.chars().map(document_value).collect();
    let values = values?;
    (values.len() == weights.len())
        .then(|| values.iter().zip(weights).map(|(v, w)| v * w).sum::<u32>() % 10)
}

/// Polish ID card (dowód osobisty): three letters, six digits, the first digit the
/// check digit of the weights 7-3-1-7-3-1-7-3 (weight 9 on the check digit itself
/// makes a right number sum to 0 mod 10).
pub(super) fn id_card_ok(d: &str) -> bool {
    let shape = d.len() == 9
        && d[..3].bytes().all(|b| b.is_ascii_uppercase())
        && d[3..].bytes().all(|b| b.is_ascii_digit());
    shape && document_sum(d, &[7, 3, 1, 9, 7, 3, 1, 7, 3]) == Some(0)
}

/// Polish passport: two letters, seven digits, the first digit the check digit of the
/// weights 7-3-1-7-3-1-7-3 over the others.
pub(super) fn passport_ok(d: &str) -> bool {
    let shape = d.len() == 9
        && d[..2].bytes().all(|b| b.is_ascii_uppercase())
        && d[2..].bytes().all(|b| b.is_ascii_digit());
    shape && document_sum(d, &[7, 3, 9, 1, 7, 3, 1, 7, 3]) == Some(0)
}

/// EAN-13: weights 1-3 alternating, the sum a multiple of 10 (a product's barcode,
/// which a 13-digit card number could otherwise be taken for).
pub(super) fn ean_ok(d: &str) -> bool {
    let n: Vec<u32> = d.chars().filter_map(|c| c.to_digit(10)).collect();
    n.len() == 13
        && n.iter()
            .enumerate()
            .map(|(i, v)| if i % 2 == 0 { *v } else { v * 3 })
            .sum::<u32>()
            % 10
            == 0
}
