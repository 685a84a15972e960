//! A task's items for the task page (`GET /task/{id}/items`): each text before and
//! after, the words that changed, what the item cost and where review and export
//! stand, a page at a time.

use serde_json::{Value, json};

use super::AppError;
use super::status::with_db;
use crate::config::Config;
use crate::db::item_view_repository::{self as views, ItemFilter, ItemView};
use crate::db::review_repository::{export_status, review};
use crate::db::status::item;
use crate::db::task_repository;
use crate::diff::{self, Segment};
use crate::privacy::Redactor;

/// Items on one page when the request names no size.
pub const DEFAULT_PER_PAGE: u32 = 50;
/// Most items on one page.
pub const MAX_PER_PAGE: u32 = 200;

/// Item statuses by the names a request uses.
const ITEM_STATUSES: [(&str, u8); 4] = [
    ("pending", item::PENDING),
    ("processing", item::PROCESSING),
    ("processed", item::PROCESSED),
    ("error", item::ERROR),
];
/// Review statuses by the names a request uses.
const REVIEW_STATUSES: [(&str, u8); 3] = [
    ("unreviewed", review::UNREVIEWED),
    ("accepted", review::ACCEPTED),
    ("rejected", review::REJECTED),
];
/// Export statuses by name.
const EXPORT_STATUSES: [(&str, u8); 4] = [
    ("not exported", export_status::NOT_YET),
    ("exported", export_status::EXPORTED),
    ("conflict", export_status::CONFLICT),
    ("error", export_status::ERROR),
];

/// Which page of a task's items a door asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemsQuery {
    /// Only items of this status (`task_item.status_id`).
    pub status: Option<u8>,
    /// Only items of this review status.
    pub review: Option<u8>,
    /// The page, from 1.
    pub page: u32,
    /// Items per page, 1 to [`MAX_PER_PAGE`].
    pub per_page: u32,
}

impl Default for ItemsQuery {
    fn default() -> Self {
        ItemsQuery {
            status: None,
            review: None,
            page: 1,
            per_page: DEFAULT_PER_PAGE,
        }
    }
}

impl ItemsQuery {
    /// The query from `name=value` pairs (`status`, `review`, `page`, `per_page`);
    /// an unknown name or a bad value is refused with a message naming what is allowed.
    pub fn from_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<ItemsQuery, String> {
        let mut query = ItemsQuery::default();
        for (name, value) in pairs {
            match name {
                "status" => query.status = named(value, &ITEM_STATUSES, "status")?,
                "review" => query.review = named(value, &REVIEW_STATUSES, "review")?,
                "page" => query.page = whole(value, "page", u32::MAX / MAX_PER_PAGE)?,
                "per_page" => query.per_page = whole(value, "per_page", MAX_PER_PAGE)?,
                _ => {
                    return Err(format!(
                        "unknown parameter '{}' (allowed: status, review, page, per_page)",
                        shown(name)
                    ));
                }
            }
        }
        Ok(query)
    }
}

/// A status by name ("any" or nothing: every status).
fn named(value: &str, names: &[(&str, u8)], what: &str) -> Result<Option<u8>, String> {
    if value.is_empty() || value == "any" {
        return Ok(None);
    }
    names
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(value))
        .map(|(_, id)| Some(*id))
        .ok_or_else(|| {
            let allowed: Vec<&str> = names.iter().map(|(n, _)| *n).collect();
            format!(
                "{what} '{}' is not one of: any, {}",
                shown(value),
                allowed.join(", ")
            )
        })
}

/// A whole number from 1 to `max`.
fn whole(value: &str, what: &str, max: u32) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=max).contains(n))
        .ok_or_else(|| {
            format!(
                "{what} must be a whole number from 1 to {max}, not '{}'",
                shown(value)
            )
        })
}

/// A value as an error message may quote it: bounded, without control characters.
fn shown(value: &str) -> String {
    value.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// One page of a task's items as JSON. With `mask`, personal data in every text is
/// replaced by placeholders (for a server without a token, which anyone on the
/// machine can ask).
pub fn task_items(
    config: &Config,
    id_task: u32,
    query: ItemsQuery,
    mask: bool,
) -> Result<Value, AppError> {
    let (task, progress, counts, items) = with_db(config, |db| {
        let not_found = || AppError::NotFound(format!("task {id_task} does not exist"));
        let task = task_repository::get(db, id_task)?.ok_or_else(not_found)?;
        let progress = task_repository::progress(db, id_task)?.ok_or_else(not_found)?;
        let counts = views::counts(db, id_task)?;
        let filter = ItemFilter {
            status: query.status,
            review: query.review,
        };
        let offset = u64::from(query.page - 1) * u64::from(query.per_page);
        let items = views::page(db, id_task, filter, query.per_page, offset)?;
        Ok((task, progress, counts, items))
    })?;
    let kind = crate::worker::kind_of(&task).unwrap_or("proofread");
    let matching: u64 = counts
        .iter()
        .filter(|(s, r, _)| {
            query.status.is_none_or(|q| q == *s) && query.review.is_none_or(|q| q == *r)
        })
        .map(|(_, _, n)| n)
        .sum();
    let first_place = u64::from(query.page - 1) * u64::from(query.per_page) + 1;
    let items = page_json(items, kind, mask, first_place);
    Ok(json!({
        "id_task": id_task,
        "name": progress.name,
        "status": crate::db::status::task::name(progress.status_id),
        "kind": kind,
        "currency": progress.cost.2,
        "masked": mask,
        "filter": {"status": query.status.map(|s| name_of(s, &ITEM_STATUSES)),
                   "review": query.review.map(|r| name_of(r, &REVIEW_STATUSES))},
        "page": query.page,
        "per_page": query.per_page,
        "total": matching,
        "pages": matching.div_ceil(u64::from(query.per_page)).max(1),
        "counts": {"status": tally(&counts, &ITEM_STATUSES, |c| c.0),
                   "review": tally(&counts, &REVIEW_STATUSES, |c| c.1)},
        "items": items,
    }))
}

/// Bytes of text one page carries at most (a page of 200 items of 1 MB each
/// would otherwise be gigabytes); items past it are shortened to a preview.
const PAGE_TEXT_CHARS: usize = 16_000_000;
/// Characters of each text of a shortened item.
const PREVIEW_CHARS: usize = 2_000;

/// Shortens the texts of the items past `budget` bytes (in page order, the
/// first item always whole) to a preview; returns their ids.
fn fit_page(items: &mut [ItemView], budget: usize) -> Vec<u32> {
    let mut used = 0;
    let mut shortened = Vec::new();
    for (k, view) in items.iter_mut().enumerate() {
        let size = view.text_original.len()
            + view.result.0.as_ref().map_or(0, String::len)
            + view.result.1.as_ref().map_or(0, String::len);
        used += size;
        if k == 0 || used <= budget || size <= 2 * PREVIEW_CHARS {
            continue;
        }
        let cut = |text: &mut String| {
            if let Some((at, _)) = text.char_indices().nth(PREVIEW_CHARS) {
                text.truncate(at);
                text.push('…');
            }
        };
        cut(&mut view.text_original);
        view.result.0.as_mut().map(cut);
        view.result.1.as_mut().map(cut);
        shortened.push(view.id);
    }
    shortened
}

/// The page's items as JSON, those past the page's budget shortened (each says
/// where it can be seen whole: its place in the list is its page at per_page=1).
fn page_json(mut items: Vec<ItemView>, kind: &str, mask: bool, first_place: u64) -> Vec<Value> {
    let shortened = fit_page(&mut items, PAGE_TEXT_CHARS);
    items
        .iter()
        .enumerate()
        .map(|(k, view)| {
            let mut item = item_json(view, kind, mask);
            if shortened.contains(&view.id) {
                item["shortened"] = json!(true);
                item["diff_note"] = json!(format!(
                    "shortened to its first {PREVIEW_CHARS} characters: this page holds more text than it shows at once; open it alone (per_page=1, page {})",
                    first_place + k as u64
                ));
            }
            item
        })
        .collect()
}

fn name_of(id: u8, names: &[(&'static str, u8)]) -> &'static str {
    names
        .iter()
        .find(|(_, i)| *i == id)
        .map_or("unknown", |(n, _)| n)
}

/// Items per status name (every name, zeros included).
fn tally(counts: &[(u8, u8, u64)], names: &[(&str, u8)], key: fn(&(u8, u8, u64)) -> u8) -> Value {
    let mut out = serde_json::Map::new();
    for (name, id) in names {
        let n: u64 = counts.iter().filter(|c| key(c) == *id).map(|c| c.2).sum();
        out.insert(name.to_string(), json!(n));
    }
    Value::Object(out)
}

/// One item: its texts (masked when asked), the word-level difference of a
/// proofreading result, and its counters.
fn item_json(view: &ItemView, kind: &str, mask: bool) -> Value {
    let texts = Texts::of(view, mask);
    let (diff, diff_note) = match (&texts.corrected, kind) {
        (None, _) => (Value::Null, None),
        (Some(_), "translate") => (Value::Null, Some("a translation: no word-level difference")),
        (Some(corrected), _) => match diff::segments(&texts.original, corrected) {
            Some(segments) => (segments_json(&segments), None),
            None => (
                Value::Null,
                Some("rewritten: too many changes to mark word by word"),
            ),
        },
    };
    let result_json = texts
        .result_json
        .map(|raw| serde_json::from_str::<Value>(&raw).unwrap_or(Value::String(raw)));
    json!({
        "id_task_item": view.id,
        "status": name_of(view.statuses.0, &ITEM_STATUSES),
        "review_status": name_of(view.statuses.1, &REVIEW_STATUSES),
        "export_status": name_of(view.statuses.2, &EXPORT_STATUSES),
        "text_original": texts.original,
        "text_corrected": texts.corrected,
        "result_json": result_json,
        "change_summary": texts.summary,
        "diff": diff,
        "diff_note": diff_note,
        "tokens_input": view.tokens.0,
        "tokens_output": view.tokens.1,
        "cost": view.cost,
        "error_message": texts.error,
        "export_error": view.errors.1,
        "reused_from": view.reused_from,
        "model": view.model,
        "processed_at": view.processed_at,
    })
}

/// `[["=", kept], ["-", removed], ["+", added], ...]`.
fn segments_json(segments: &[Segment]) -> Value {
    segments
        .iter()
        .map(|s| match s {
            Segment::Same(t) => json!(["=", t]),
            Segment::Removed(t) => json!(["-", t]),
            Segment::Added(t) => json!(["+", t]),
        })
        .collect()
}

/// An item's texts as the page may show them.
struct Texts {
    original: String,
    corrected: Option<String>,
    result_json: Option<String>,
    summary: Option<String>,
    error: Option<String>,
}

impl Texts {
    /// The texts, each value of personal data found in the original replaced by the
    /// same placeholder everywhere (and any other by `[PII]`) when `mask` is set.
    fn of(view: &ItemView, mask: bool) -> Texts {
        let original = &view.text_original;
        let (corrected, result_json) = &view.result;
        let (summary, error) = (&view.change_summary, &view.errors.0);
        if !mask {
            return Texts {
                original: original.clone(),
                corrected: corrected.clone(),
                result_json: result_json.clone(),
                summary: summary.clone(),
                error: error.clone(),
            };
        }
        let redacted = Redactor::new(true).with_names(true).redact(original);
        let other = |text: &Option<String>| text.as_deref().map(|t| redacted.mask_other(t));
        Texts {
            original: redacted.text().to_string(),
            corrected: other(corrected),
            result_json: other(result_json),
            summary: other(summary),
            error: other(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: u32, chars: usize) -> ItemView {
        ItemView {
            id,
            statuses: (1, 0, 0),
            text_original: "ą".repeat(chars),
            result: (Some("ę".repeat(chars)), None),
            change_summary: None,
            tokens: (0, 0),
            cost: None,
            errors: (None, None),
            reused_from: None,
            model: None,
            processed_at: None,
        }
    }

    #[test]
    fn a_page_past_its_budget_shortens_the_items_beyond_it() {
        let mut items = vec![
            view(1, 30_000),
            view(2, 10),
            view(3, 30_000),
            view(4, 30_000),
        ];
        assert_eq!(fit_page(&mut items, 300_000), vec![4]);
        assert_eq!(items[3].text_original.chars().count(), PREVIEW_CHARS + 1);
        assert!(items[3].result.0.as_ref().unwrap().ends_with('…'));
        assert_eq!(items[2].text_original.chars().count(), 30_000);
        // The first item is whole whatever its size.
        let mut huge = vec![view(7, 200_000)];
        assert!(fit_page(&mut huge, 1_000).is_empty());
        assert_eq!(huge[0].text_original.chars().count(), 200_000);
    }
}
