//! The task page: `GET /task/{id}/items` (a task's texts before and after, a page at
//! a time, with the words that changed) and `/task/{id}/view` in headless Chromium.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;

use ai_worker::{Config, Server, StopSignal};
use common::browser::{chromium, rendered, screenshot};
use common::fake_llm::{FakeLlm, gemini_error, gemini_ok};
use common::{TestDb, http};
use serde_json::{Value, json};

fn start(config: &Config) -> (SocketAddr, Arc<StopSignal>) {
    let stop = Arc::new(StopSignal::new());
    let server = Server::bind(config, "127.0.0.1:0", Arc::clone(&stop)).unwrap();
    let addr = server.local_addr().unwrap();
    std::thread::spawn(move || server.run());
    (addr, stop)
}

/// A GET with the token; the status and the JSON body.
fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> (u16, Value) {
    let (status, body) = http(addr, "GET", path, token, "");
    let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    (status, value)
}

/// A proofreader that fixes "bład" and refuses texts starting with "zły".
fn proofreader() -> FakeLlm {
    FakeLlm::start(|req, _| {
        let text = req.item_text();
        if text.starts_with("zły") {
            gemini_error(400, "INVALID_ARGUMENT", "nie da się")
        } else {
            gemini_ok(&text.replace("bład", "błąd"), "Poprawiono błąd.", 10, 5, 0)
        }
    })
}

fn with_token(t: &TestDb) -> Config {
    let mut config = t.config.clone();
    config.serve_token = Some("sekret".into());
    config
}

#[test]
fn a_tasks_items_come_a_page_at_a_time_with_the_words_that_changed() {
    let mut t = TestDb::new();
    let llm = proofreader();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["To jest bład.", "Bez zmian.", "zły tekst"]);
    let (addr, stop) = start(&with_token(&t));
    let body = format!(r#"{{"task":{task}}}"#);
    assert_eq!(
        http(addr, "POST", "/task/run", Some("sekret"), &body).0,
        200
    );

    let (status, page) = get(addr, &format!("/task/{task}/items"), Some("sekret"));
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["kind"], "proofread");
    assert_eq!(page["masked"], false);
    assert_eq!(
        (page["total"].clone(), page["pages"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(page["counts"]["status"]["processed"], 2);
    assert_eq!(page["counts"]["status"]["error"], 1);
    assert_eq!(page["counts"]["review"]["unreviewed"], 3);
    let first = &page["items"][0];
    assert_eq!(first["id_task_item"], ids[0]);
    assert_eq!(first["text_corrected"], "To jest błąd.");
    assert_eq!(
        first["diff"],
        json!([["=", "To jest "], ["-", "bład."], ["+", "błąd."]])
    );
    assert_eq!(first["change_summary"], "Poprawiono błąd.");
    assert_eq!(
        (
            first["tokens_input"].clone(),
            first["tokens_output"].clone()
        ),
        (json!(10), json!(5))
    );
    assert_eq!(first["export_status"], "not exported");
    assert_eq!(page["items"][1]["diff"], json!([["=", "Bez zmian."]]));
    assert!(
        page["items"][2]["error_message"]
            .as_str()
            .unwrap()
            .contains("nie da się")
    );

    // Filters and pages.
    let (_, errors) = get(
        addr,
        &format!("/task/{task}/items?status=error"),
        Some("sekret"),
    );
    assert_eq!(errors["total"], 1);
    assert_eq!(errors["items"][0]["id_task_item"], ids[2]);
    let (_, second) = get(
        addr,
        &format!("/task/{task}/items?per_page=1&page=2"),
        Some("sekret"),
    );
    assert_eq!(
        (
            second["pages"].clone(),
            second["items"][0]["id_task_item"].clone()
        ),
        (json!(3), json!(ids[1]))
    );
    let (_, past) = get(addr, &format!("/task/{task}/items?page=9"), Some("sekret"));
    assert_eq!(past["items"], json!([]));
    t.conn_exec(&format!(
        "UPDATE task_item SET review_status = 2 WHERE id_task_item = {}",
        ids[1]
    ));
    let (_, rejected) = get(
        addr,
        &format!("/task/{task}/items?review=rejected&status=any"),
        Some("sekret"),
    );
    assert_eq!(
        (
            rejected["total"].clone(),
            rejected["items"][0]["id_task_item"].clone()
        ),
        (json!(1), json!(ids[1]))
    );
    stop.raise();
}

#[test]
fn bad_requests_for_items_are_named_and_the_token_is_required() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &["a"]);
    let (addr, stop) = start(&with_token(&t));
    let path = |q: &str| format!("/task/{task}/items?{q}");
    for (query, said) in [
        (
            "status=done",
            "status 'done' is not one of: any, pending, processing, processed, error",
        ),
        ("review=ok", "review 'ok' is not one of"),
        (
            "per_page=500",
            "per_page must be a whole number from 1 to 200, not '500'",
        ),
        ("page=0", "page must be a whole number from 1"),
        ("page=-1", "page must be a whole number"),
        ("per_page=%00%0a", "not '%00%0a'"),
        (
            "sort=id",
            "unknown parameter 'sort' (allowed: status, review, page, per_page)",
        ),
    ] {
        let (status, body) = get(addr, &path(query), Some("sekret"));
        assert_eq!(status, 400, "{query}: {body}");
        let message = body["error"].as_str().unwrap();
        assert!(message.contains(said), "{query}: {message}");
    }
    let (status, body) = get(addr, "/task/abc/items", Some("sekret"));
    assert_eq!(status, 400, "{body}");
    let (status, body) = get(addr, "/task/999999/items", Some("sekret"));
    assert_eq!(
        (status, body["error"].clone()),
        (404, json!("task 999999 does not exist"))
    );
    let (status, _) = get(addr, &path(""), None);
    assert_eq!(status, 401);
    let (status, _) = get(addr, &path(""), Some("wrong"));
    assert_eq!(status, 401);
    let (status, _) = http(
        addr,
        "POST",
        &format!("/task/{task}/items"),
        Some("sekret"),
        "{}",
    );
    assert_eq!(status, 405);
    // The page itself holds no data: it is served without the token.
    let (status, html) = http(addr, "GET", &format!("/task/{task}/view"), None, "");
    assert_eq!(status, 200);
    assert!(html.contains("<title>ai-worker task</title>"), "{html}");
    assert_eq!(
        http(addr, "GET", "/task/x1/view", None, "").0,
        401,
        "not a page: JSON, token first"
    );
    stop.raise();
}

/// A task whose one item holds personal data in its text and its result.
fn task_with_personal_data(t: &mut TestDb) -> u32 {
    let model = t.model("echo", "echo", None, None);
    let (task, ids) = t.task(model, &["Napisz do jan.kowalski@example.com, jest bład."]);
    t.conn_exec(&format!(
        "UPDATE task_item SET status_id = 1, text_corrected = \
         'Napisz do jan.kowalski@example.com, jest błąd.', \
         change_summary = 'bład → błąd (jan.kowalski@example.com bez zmian)' \
         WHERE id_task_item = {}",
        ids[0]
    ));
    task
}

#[test]
fn without_a_token_the_server_masks_personal_data_in_the_texts() {
    let mut t = TestDb::new();
    let task = task_with_personal_data(&mut t);
    let mut open = t.config.clone();
    open.serve_token = None;
    let (addr, stop) = start(&open);
    let (status, page) = get(addr, &format!("/task/{task}/items"), None);
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["masked"], true);
    let text = page.to_string();
    assert!(!text.contains("jan.kowalski"), "{text}");
    let item = &page["items"][0];
    assert_eq!(item["text_original"], "Napisz do [EMAIL_1], jest bład.");
    assert_eq!(item["text_corrected"], "Napisz do [EMAIL_1], jest błąd.");
    assert_eq!(
        item["diff"],
        json!([
            ["=", "Napisz do [EMAIL_1], jest "],
            ["-", "bład."],
            ["+", "błąd."]
        ])
    );
    stop.raise();

    let (addr, stop) = start(&with_token(&t));
    let (_, page) = get(addr, &format!("/task/{task}/items"), Some("sekret"));
    assert_eq!(page["masked"], false);
    assert_eq!(
        page["items"][0]["text_original"],
        "Napisz do jan.kowalski@example.com, jest bład."
    );
    stop.raise();
}

/// A 1 MB text with three fixes, then `count - 1` short items, every one corrected
/// ("bład" → "błąd"); every tenth item failed instead.
fn big_task(t: &mut TestDb, count: usize) -> u32 {
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &[]);
    let sentence = "Ten akapit opisuje produkt dokładnie i bez pośpiechu. ";
    let mut long = sentence.repeat(1_048_576 / sentence.len() + 1);
    for at in [1_000, 500_000, 1_000_000] {
        let at = (at..).find(|i| long.is_char_boundary(*i)).unwrap();
        long.insert_str(at, " bład ");
    }
    t.conn_exec(&format!(
        "INSERT INTO task_item (id_task, text_original, text_corrected, status_id, change_summary) \
         VALUES ({task}, '{long}', '{}', 1, '3 zmiany')",
        long.replace("bład", "błąd")
    ));
    let rows: Vec<String> = (1..count)
        .map(|i| {
            if i % 10 == 0 {
                format!(
                    "({task}, 'Tekst {i} ma bład.', NULL, 3, NULL, 'INVALID_ARGUMENT: nie da się')"
                )
            } else {
                format!("({task}, 'Tekst {i} ma bład.', 'Tekst {i} ma błąd.', 1, '1 zmiana', NULL)")
            }
        })
        .collect();
    t.conn_exec(&format!(
        "INSERT INTO task_item (id_task, text_original, text_corrected, status_id, change_summary, \
         error_message) VALUES {}",
        rows.join(", ")
    ));
    t.conn_exec(&format!(
        "UPDATE task SET name = 'Opisy produktów' WHERE id_task = {task}"
    ));
    task
}

/// How many item cards a rendered page holds (the script's template is not one).
fn cards(page: &str) -> usize {
    page.split("class=\"card item\" data-item=\"")
        .skip(1)
        .filter(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .count()
}

#[test]
fn the_task_page_shows_200_items_with_their_diffs_in_a_real_browser() {
    if !chromium() {
        return;
    }
    let mut t = TestDb::new();
    let task = big_task(&mut t, 200);
    // A hostile text is shown as text.
    t.conn_exec(&format!(
        "UPDATE task_item SET text_original = '<img src=x onerror=alert(1)> bład', \
         text_corrected = '<img src=x onerror=alert(1)> błąd' \
         WHERE id_task = {task} AND text_original = 'Tekst 5 ma bład.'"
    ));
    let (addr, stop) = start(&with_token(&t));
    let view = format!("http://{addr}/task/{task}/view");

    let page = rendered(&view);
    assert!(
        page.contains("needs its token"),
        "asks for the token:\n{page}"
    );
    assert!(!page.contains("Tekst 1 ma"), "no texts without the token");

    let page = rendered(&format!("{view}?per_page=200#token=sekret"));
    assert!(
        page.contains("Opisy produktów"),
        "{}",
        &page[..page.len().min(3000)]
    );
    assert_eq!(cards(&page), 200);
    assert!(page.contains("page 1 of 1, 200 items"));
    assert!(
        page.contains("Tekst 199 ma <del>bład.</del>"),
        "the original marks what went"
    );
    assert!(
        page.contains("Tekst 199 ma <ins>błąd.</ins>"),
        "the result marks what came"
    );
    assert_eq!(
        page.matches("<ins>błąd </ins>").count(),
        3,
        "the 1 MB text's three fixes"
    );
    assert!(
        page.contains("class=\"sides folded\""),
        "the long text is folded"
    );
    assert!(page.contains("Show all (1,0"), "with a button to unfold it");
    assert_eq!(page.matches("INVALID_ARGUMENT: nie da się").count(), 19);
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt; <del>bład</del>"));
    assert!(
        !page.contains("<img src=\"x\""),
        "markup in a text is never markup"
    );

    let errors = rendered(&format!("{view}?status=error#token=sekret"));
    assert_eq!(cards(&errors), 19);
    assert!(errors.contains("page 1 of 1, 19 items"));
    assert!(
        errors.contains("class=\"on\">error <span class=\"n\">19</span>"),
        "the filter shows as chosen"
    );

    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("task-page.png");
    screenshot(
        &format!("{view}?per_page=20&page=2#token=sekret"),
        &shot,
        (1200, 1400),
    );
    stop.raise();
}
