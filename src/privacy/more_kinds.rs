//! Personal data that is not a plain run of digits: IBANs of every country (letters in
//! the account part), e-mail addresses written to dodge harvesters ("jan (at) firma
//! [dot] pl"), IPv6 and MAC addresses.

use std::net::Ipv6Addr;

use super::checksums::iban_ok;
use super::detect::Hit;

fn word_start(text: &str, at: usize) -> bool {
    text[..at]
        .chars()
        .next_back()
        .is_none_or(|c| !c.is_alphanumeric() && c != '_')
}

fn word_end(text: &str, at: usize) -> bool {
    text[at..]
        .chars()
        .next()
        .is_none_or(|c| !c.is_alphanumeric() && c != '_')
}

/// IBANs of every country: two letters, two check digits, then up to 30 letters and
/// digits, written together or in groups with single spaces; the mod-97 check decides
/// (the longest run of groups that passes it).
pub(super) fn find_ibans(text: &str) -> Vec<Hit> {
    let bytes = text.as_bytes();
    let mut hits = Vec::new();
    let mut i = 0;
    while i + 4 <= bytes.len() {
        let head = &bytes[i..i + 4];
        let starts = head[0].is_ascii_uppercase()
            && head[1].is_ascii_uppercase()
            && head[2].is_ascii_digit()
            && head[3].is_ascii_digit()
            && word_start(text, i);
        if !starts {
            i += 1;
            continue;
        }
        // Candidate ends: after each group of [A-Z0-9].
        let mut ends = Vec::new();
        let mut j = i;
        let mut chars = 0;
        while j < bytes.len() && chars <= 34 {
            let group = bytes[j..]
                .iter()
                .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                .count();
            if group == 0 {
                break;
            }
            j += group;
            chars += group;
            ends.push(j);
            if bytes.get(j) == Some(&b' ') {
                j += 1;
            } else {
                break;
            }
        }
        let found = ends
            .iter()
            .rev()
            .find(|&&end| word_end(text, end) && iban_ok(&text[i..end]));
        match found {
            Some(&end) => {
                hits.push(Hit {
                    start: i,
                    end,
                    kind: "IBAN",
                });
                i = end;
            }
            None => i += 1,
        }
    }
    hits
}

/// The spellings of "@" and "." that people use to hide an address from harvesters.
const AT: &[&str] = &["(at)", "[at]", "{at}", "(małpa)", "[małpa]"];
const DOT: &[&str] = &["(dot)", "[dot]", "{dot}", "(kropka)", "[kropka]"];

/// E-mail addresses written with "(at)" / "[at]" and "(dot)" / "[dot]", spaces
/// around them or not.
pub(super) fn find_obfuscated_emails(text: &str) -> Vec<Hit> {
    let lower = text.to_lowercase();
    if lower.len() != text.len() {
        return Vec::new(); // lower-casing moved bytes: skip rather than mis-slice
    }
    let mut hits = Vec::new();
    for at in AT {
        for (pos, _) in lower.match_indices(at) {
            let before = text[..pos].trim_end_matches(' ');
            let start = before.len()
                - before
                    .chars()
                    .rev()
                    .take_while(|&c| c.is_alphanumeric() || "._%+-".contains(c))
                    .map(char::len_utf8)
                    .sum::<usize>();
            let after_at = pos + at.len();
            let end = domain_end(&lower, after_at);
            let domain = &lower[after_at..end];
            let has_dot = domain.contains('.') || DOT.iter().any(|d| domain.contains(d));
            if start < before.len() && has_dot && end > after_at {
                hits.push(Hit {
                    start,
                    end,
                    kind: "EMAIL",
                });
            }
        }
    }
    hits
}

/// Where the domain of an obfuscated address ends: labels joined by "." or a "(dot)"
/// spelling, with spaces around the spellings allowed.
fn domain_end(lower: &str, from: usize) -> usize {
    let mut end = from;
    let mut pos = from;
    loop {
        let rest = &lower[pos..];
        let spaced = rest.len() - rest.trim_start_matches(' ').len();
        let label: usize = rest[spaced..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-')
            .map(char::len_utf8)
            .sum();
        if label == 0 {
            return end;
        }
        pos += spaced + label;
        end = pos;
        let rest = &lower[pos..];
        let gap = rest.len() - rest.trim_start_matches(' ').len();
        let joined = DOT
            .iter()
            .find(|d| rest[gap..].starts_with(*d))
            .map(|d| gap + d.len())
            .or_else(|| rest.starts_with('.').then_some(1));
        match joined {
            Some(len) => pos += len,
            None => return end,
        }
    }
}

/// IPv6 addresses (as `std` parses them, so "12:30:45" is no address) and MAC
/// addresses (six pairs of hex digits joined by ":" or "-").
pub(super) fn find_ipv6_and_mac(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    let is_part = |c: char| c.is_ascii_hexdigit() || c == ':' || c == '-' || c == '.';
    let mut start = None;
    for (i, c) in text
        .char_indices()
        .chain(std::iter::once((text.len(), ' ')))
    {
        match (start, is_part(c)) {
            (None, true) if word_start(text, i) => start = Some(i),
            (Some(s), false) => {
                let token = text[s..i].trim_end_matches(['.', '-', ':']);
                if let Some(kind) = address_kind(token) {
                    hits.push(Hit {
                        start: s,
                        end: s + token.len(),
                        kind,
                    });
                }
                start = None;
            }
            _ => {}
        }
    }
    hits
}

fn address_kind(token: &str) -> Option<&'static str> {
    if token.matches(':').count() >= 2 && token.parse::<Ipv6Addr>().is_ok() {
        return Some("IP");
    }
    let pairs: Vec<&str> = token.split([':', '-']).collect();
    let one_separator = !(token.contains(':') && token.contains('-'));
    (pairs.len() == 6
        && one_separator
        && pairs
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit())))
    .then_some("MAC")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(hits: Vec<Hit>, text: &str) -> Vec<(String, &'static str)> {
        hits.iter()
            .map(|h| (text[h.start..h.end].to_string(), h.kind))
            .collect()
    }

    #[test]
    fn ibans_of_every_country_pass_mod_97() {
        let text = "Konto GB82 WEST 1234 5698 7654 32, DE89370400440532013000 i FR14 2004 1010 0505 0001 3M02 606. Zły: GB82 WEST 1234 5698 7654 33.";
        let got = found(find_ibans(text), text);
        assert_eq!(
            got,
            vec![
                ("GB82 WEST 1234 5698 7654 32".to_string(), "IBAN"),
                ("DE89370400440532013000".to_string(), "IBAN"),
                ("FR14 2004 1010 0505 0001 3M02 606".to_string(), "IBAN"),
            ]
        );
    }

    #[test]
    fn addresses_hidden_from_harvesters_are_found() {
        for text in [
            "pisz: jan.kowalski(at)firma.pl dziękuję",
            "pisz: jan.kowalski [at] firma [dot] pl dziękuję",
            "pisz: jan.kowalski {at} firma(dot)pl dziękuję",
        ] {
            let got = find_obfuscated_emails(text);
            assert_eq!(got.len(), 1, "{text}");
            let value = &text[got[0].start..got[0].end];
            assert!(
                value.starts_with("jan.kowalski") && value.ends_with("pl"),
                "{value}"
            );
        }
        assert!(find_obfuscated_emails("spotkanie (at) 10:00").is_empty());
    }

    #[test]
    fn ipv6_and_mac_but_not_times_or_versions() {
        let text = "Serwer 2001:db8::8a2e:370:7334 i fe80::1, karta 00:1A:2B:3C:4D:5E oraz 00-1a-2b-3c-4d-5e; o 12:30:45, wersja 1.2.3.4";
        let got = found(find_ipv6_and_mac(text), text);
        assert_eq!(
            got,
            vec![
                ("2001:db8::8a2e:370:7334".to_string(), "IP"),
                ("fe80::1".to_string(), "IP"),
                ("00:1A:2B:3C:4D:5E".to_string(), "MAC"),
                ("00-1a-2b-3c-4d-5e".to_string(), "MAC"),
            ]
        );
    }
}
