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
