//! Markup that must come back byte for byte is masked like personal data: code blocks
//! and inline code, HTML tags with attributes (a link's `href`, an image's `src`), and
//! URLs. The model sees `[CODE_1]`, `[TAG_1]`, `[URL_1]` and cannot change them.

use super::detect::Hit;

/// Every code span, tag with attributes and URL in `text`, outermost first where they
/// overlap (a URL inside a tag is part of the tag).
pub(super) fn find_markup(text: &str) -> Vec<Hit> {
    let mut hits = code_spans(text);
    let taken = |hits: &[Hit], start: usize, end: usize| {
        hits.iter().any(|h| start < h.end && h.start < end)
    };
    for hit in tags_with_attributes(text).into_iter().chain(urls(text)) {
        if !taken(&hits, hit.start, hit.end) {
            hits.push(hit);
        }
    }
    hits.sort_by_key(|h| h.start);
    hits
}

/// Fenced code blocks (```...```) and inline code (`...`).
fn code_spans(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find('`') {
        let start = at + found;
        let fence = if text[start..].starts_with("```") {
            "```"
        } else {
            "`"
        };
        let body = start + fence.len();
        let Some(close) = text[body..].find(fence) else {
            break;
        };
        let end = body + close + fence.len();
        if fence == "`" && text[start..end].contains('\n') {
            at = body;
            continue;
        }
        hits.push(Hit {
            start,
            end,
            kind: "CODE",
        });
        at = end;
    }
    hits
}

/// `<name attr...>` tags: the attributes (addresses, classes) must survive as they are.
fn tags_with_attributes(text: &str) -> Vec<Hit> {
    let bytes = text.as_bytes();
    let mut hits = Vec::new();
    for (start, _) in text.match_indices('<') {
        let name_len = bytes[start + 1..]
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric())
            .count();
        let after_name = start + 1 + name_len;
        if name_len == 0
            || !bytes
                .get(after_name)
                .is_some_and(|b| b.is_ascii_whitespace())
        {
            continue;
        }
        if let Some(close) = text[after_name..].find('>') {
            let end = after_name + close + 1;
            if !text[start + 1..end - 1].contains('<') {
                hits.push(Hit {
                    start,
                    end,
                    kind: "TAG",
                });
            }
        }
    }
    hits
}

/// `http://` and `https://` addresses, up to a space, a quote or a bracket; a final
/// full stop or comma is the sentence's, not the address's.
fn urls(text: &str) -> Vec<Hit> {
    let mut hits = Vec::new();
    for scheme in ["https://", "http://"] {
        for (start, _) in text.match_indices(scheme) {
            if scheme == "http://"
                && text[..start].ends_with('s')
                && text[start - 1..].starts_with("https")
            {
                continue;
            }
            let len = text[start..]
                .find(|c: char| c.is_whitespace() || "<>\"'()[]{}".contains(c))
                .unwrap_or(text.len() - start);
            let trimmed = text[start..start + len].trim_end_matches(['.', ',', ';', ':', '!', '?']);
            hits.push(Hit {
                start,
                end: start + trimmed.len(),
                kind: "URL",
            });
        }
    }
    hits.sort_by_key(|h| h.start);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(&str, &str)> {
        find_markup(text)
            .iter()
            .map(|h| (h.kind, &text[h.start..h.end]))
            .collect()
    }

    #[test]
    fn finds_what_must_not_change() {
        assert_eq!(
            found(r#"Zobacz <a href="https://sklep.pl/p?id=1">ofertę</a>."#),
            vec![("TAG", r#"<a href="https://sklep.pl/p?id=1">"#)]
        );
        assert_eq!(
            found("Więcej na https://example.com/a/b."),
            vec![("URL", "https://example.com/a/b")]
        );
        assert_eq!(
            found("Run `cargo test` or:\n```\nmake all\n```\n"),
            vec![("CODE", "`cargo test`"), ("CODE", "```\nmake all\n```")]
        );
        assert_eq!(
            found("<p>Tekst <b>pogrubiony</b></p>"),
            vec![],
            "bare tags are checked, not masked"
        );
        assert_eq!(
            found("[link](http://a.pl/x)"),
            vec![("URL", "http://a.pl/x")]
        );
        assert_eq!(found("a < b and c > d"), vec![]);
    }
}
