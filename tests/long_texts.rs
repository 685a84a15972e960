//! Long texts and markup, as the fake model server sees them: a long article split
//! into parts and joined back exactly, a link an answer drops, Markdown that survives.

mod common;

use ai_worker::{RunOptions, StopSignal, run};
use common::TestDb;
use common::fake_llm::{FakeLlm, gemini_ok};

fn opts() -> RunOptions {
    RunOptions {
        item_limit: Some(1000),
        concurrency: Some(4),
        ..RunOptions::default()
    }
}

/// A long Polish article: paragraphs of sentences with abbreviations and a link.
fn article(chars: usize) -> String {
    let paragraph = "Nasz sklep, tj. firma z Krakowa, sprzedaje m.in. rowery, hulajnogi itd. \
        Zamówienia wysyłamy w ciągu 24 godz. od zaksięgowania wpłaty. Więcej informacji \
        znajdziesz na stronie https://sklep.example.pl/regulamin oraz u dr. Nowaka. \
        Czy wiesz, że rower to najzdrowszy środek transportu? Tak! Zapraszamy codziennie.";
    let mut text = String::new();
    let mut n = 0;
    while text.chars().count() < chars {
        n += 1;
        text.push_str(&format!("Akapit {n}. {paragraph}\n\n"));
    }
    text.trim_end().to_string()
}

#[test]
fn a_60000_character_article_is_split_and_reassembled_exactly() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| gemini_ok(&req.item_text(), "ok", 10, 10, 0));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    t.conn_exec(&format!(
        "UPDATE ai_model SET max_chunk_chars = 5000 WHERE id_ai_model = {model}"
    ));
    let text = article(60_000);
    let (task, ids) = t.task(model, &[text.as_str()]);
    let summary = run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 1);
    let requests = llm.requests();
    assert!(requests.len() >= 12, "{} parts", requests.len());
    for r in &requests {
        let part = r.item_text();
        assert!(part.chars().count() <= 5000, "{}", part.chars().count());
        assert!(
            !part.ends_with("tj.") && !part.ends_with("dr."),
            "split after an abbreviation"
        );
    }
    let saved: String = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert_eq!(
        saved, text,
        "joined with the original separators, byte for byte"
    );
    let (tokens, calls): (u64, usize) = (t.task_row(task).4, requests.len());
    assert_eq!(tokens, 10 * calls as u64, "every part's tokens counted");
}

#[test]
fn an_html_answer_that_drops_a_link_is_never_saved() {
    let mut t = TestDb::new();
    // The model "corrects" the text and loses the link around "ofertę".
    let llm = FakeLlm::start(|req, _| {
        let dropped = req
            .item_text()
            .replacen("[TAG_1]", "", 1)
            .replacen("</a>", "", 1);
        gemini_ok(&dropped, "poprawiono", 5, 5, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let html = r#"<p>Sprawdź naszą <a href="https://sklep.example.pl/promocja?utm=1" class="btn">ofertę</a> już dziś!</p>"#;
    let (task, ids) = t.task(model, &[html]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    let sent = llm.requests()[0].item_text();
    assert!(
        !sent.contains("href"),
        "the tag with its address was masked: {sent}"
    );
    assert_eq!(t.item_statuses(task), vec![3]);
    let message: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert!(message.contains("tag [TAG_1] missing"), "{message}");
    assert!(!message.contains("sklep.example.pl"), "{message}");
    assert!(llm.requests().len() > 1, "retried before giving up");
    for request in llm.requests() {
        assert!(
            !request.body.contains("sklep.example.pl"),
            "no repair note quotes the masked tag: {}",
            request.body
        );
    }
}

#[test]
fn markdown_headings_survive_and_a_dropped_one_fails_the_answer() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| {
        let text = req.item_text();
        let answer = if text.contains("Zwroty") {
            text.replace("## Zwroty", "Zwroty")
        } else {
            text.replace("błendem", "błędem")
        };
        gemini_ok(&answer, "ok", 5, 5, 0)
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let good = "# Regulamin\n\nTekst z błendem.\n\n## Dostawa\n\n- kurier\n- paczkomat\n\nKod: `npm install`";
    let bad = "# Regulamin\n\n## Zwroty\n\nMożna zwrócić w ciągu 14 dni.";
    let (task, ids) = t.task(model, &[good, bad]);
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(t.item_statuses(task), vec![1, 3]);
    let saved: String = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert_eq!(saved, good.replace("błendem", "błędem"));
    let message: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        ids[1]
    ));
    assert!(message.contains("heading ## missing"), "{message}");
}

#[test]
fn a_task_can_switch_the_length_guard_off() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|_, _| gemini_ok("Krótko.", "skrócono", 5, 5, 0));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let long = "To jest całkiem długi tekst, który model skrócił do jednego słowa bez powodu.";
    let (strict, _) = t.task(model, &[long]);
    let (lenient, _) = t.task(model, &[long]);
    t.conn_exec(&format!(
        "UPDATE task SET skip_guards = 'length, sameness' WHERE id_task = {lenient}"
    ));
    run(&t.config, &opts(), &StopSignal::new()).unwrap();
    assert_eq!(t.item_statuses(strict), vec![3], "cut short: an error");
    assert_eq!(t.item_statuses(lenient), vec![1], "the task allows it");
}
