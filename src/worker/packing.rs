//! Which claimed items go out together: short texts of one task, several to a
//! request, so that the fixed prompt (system instruction, task instruction, schema)
//! is paid once for all of them.

use super::claim::Claim;
use super::executor::Work;
use crate::db::item::Item;

/// Texts longer than this go out alone (their answers are what costs, not the frame).
pub const PACK_ITEM_CHARS: usize = 500;
/// Most texts in one request, whatever a task asks for.
pub const MAX_PACK_ITEMS: i64 = 50;
/// Characters of the texts of one request at most: the answers stay well inside any
/// model's output limit.
pub const PACK_CHARS: usize = 4_000;

/// Groups claimed items into jobs of up to `size` short texts (and [`PACK_CHARS`] in
/// all); with `reuse`, never two copies of one text together (a copy waits for its
/// original's result instead). Items that cannot be packed (long, blank, unreadable,
/// sent again after review) go alone. A group of one is a plain job.
pub fn into_jobs(taken: Vec<Work>, size: usize, reuse: bool) -> Vec<Work> {
    if size <= 1 {
        return taken;
    }
    let mut jobs = Vec::new();
    let mut group: Vec<Claim> = Vec::new();
    let mut chars = 0;
    for work in taken {
        let Work::Claimed(claim) = work else {
            jobs.push(work);
            continue;
        };
        let Some(len) = packable(&claim) else {
            jobs.push(Work::Claimed(claim));
            continue;
        };
        let copy = reuse
            && group
                .iter()
                .any(|c| c.item().text_sha == claim.item().text_sha);
        if group.len() >= size || chars + len > PACK_CHARS || copy {
            flush(&mut jobs, &mut group);
            chars = 0;
        }
        chars += len;
        group.push(claim);
    }
    flush(&mut jobs, &mut group);
    jobs
}

/// The text's length if the item may share a request.
fn packable(claim: &Claim) -> Option<usize> {
    packable_item(claim.item())
}

/// The text's length if the item may share a request: a short readable text of its
/// own, not sent again after review.
pub fn packable_item(item: &Item) -> Option<usize> {
    let len = item.text_original.chars().count();
    let ok = item.unreadable.is_none()
        && item.rejected.is_none()
        && item.text_sha.is_some()
        && !item.text_original.trim().is_empty()
        && len <= PACK_ITEM_CHARS;
    ok.then_some(len)
}

/// Texts one request carries at most for a task: `task.pack_max_items`, else
/// `default` (`PACK_MAX_ITEMS`), never more than the model takes
/// (`ai_model.pack_max_items`) nor [`MAX_PACK_ITEMS`].
pub fn pack_limit(task_limit: Option<i64>, model_limit: Option<i64>, default: u32) -> usize {
    let size = task_limit.unwrap_or(i64::from(default));
    let size = model_limit.map_or(size, |model| size.min(model));
    size.clamp(1, MAX_PACK_ITEMS) as usize
}

fn flush(jobs: &mut Vec<Work>, group: &mut Vec<Claim>) {
    match group.len() {
        0 => {}
        1 => jobs.extend(group.pop().map(Work::Claimed)),
        _ => jobs.push(Work::Pack(std::mem::take(group))),
    }
}
