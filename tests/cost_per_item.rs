//! Cost per item: a text already done is not paid for again, and the worker can
//! write the change summary itself.

mod common;

use ai_worker::{RunOptions, StopSignal, run};
use common::TestDb;
use common::fake_llm::{FakeLlm, gemini_ok};

/// A Gemini fake that corrects "bład" and bills 10 tokens in, 5 out per call.
fn fixing() -> FakeLlm {
    FakeLlm::start(|req, _| {
        let text = req.item_text();
        gemini_ok(&text.replace("bład", "błąd"), "poprawiono błąd", 10, 5, 0)
    })
}

fn run_all(t: &TestDb) {
    let options = RunOptions {
        concurrency: Some(4),
        ..RunOptions::default()
    };
    run(&t.config, &options, &StopSignal::new()).unwrap();
}

/// Seven distinct descriptions, each ten times.
fn catalogue() -> Vec<String> {
    (0..70)
        .map(|i| format!("Opis produktu numer {} ma jeden bład w zdaniu.", i % 7))
        .collect()
}

#[test]
fn identical_texts_are_sent_once_in_a_task_and_across_tasks() {
    let mut t = TestDb::new();
    let llm = fixing();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let texts = catalogue();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, ids) = t.task(model, &refs);
    run_all(&t);
    assert_eq!(llm.requests().len(), 7, "one call per distinct text");
    assert_eq!(t.item_statuses(task), vec![1; 70]);
    let reused: u64 = t.value(&format!(
        "SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND reused_from IS NOT NULL AND tokens_input = 0 AND tokens_output = 0"
    ));
    assert_eq!(reused, 63);
    // Every copy has its original's result, and points at an item of the same text.
    let wrong: u64 = t.value(&format!(
        "SELECT COUNT(*) FROM task_item c JOIN task_item o ON o.id_task_item = c.reused_from \
         WHERE c.id_task = {task} AND (o.text_original <> c.text_original \
         OR c.text_corrected <> REPLACE(c.text_original, 'bład', 'błąd') \
         OR o.reused_from IS NOT NULL)"
    ));
    assert_eq!(wrong, 0);
    // The task's sums are exactly what the provider billed: 7 calls.
    let (_, _, _, _, tokens_in, tokens_out) = t.task_row(task);
    assert_eq!((tokens_in, tokens_out), (70, 35));
    t.assert_counters_match_items(task);

    // Another task, same model and instruction: three of the texts, twice each.
    let again: Vec<&str> = refs[..3].iter().chain(&refs[..3]).copied().collect();
    let (second, _) = t.task(model, &again);
    run_all(&t);
    assert_eq!(llm.requests().len(), 7, "nothing new was sent");
    assert_eq!(t.item_statuses(second), vec![1; 6]);
    let first_id: u32 = ids[0];
    let from: Vec<u32> = {
        let sql = format!(
            "SELECT reused_from FROM task_item WHERE id_task = {second} ORDER BY id_task_item LIMIT 1"
        );
        vec![t.value(&sql)]
    };
    assert_eq!(from, vec![first_id]);
}

#[test]
fn rejected_results_other_instructions_and_tasks_that_opt_out_are_not_reused() {
    let mut t = TestDb::new();
    let llm = fixing();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let text = "Ten opis ma jeden bład.";
    let (first, ids) = t.task(model, &[text]);
    run_all(&t);
    assert_eq!(llm.requests().len(), 1);
    t.conn_exec(&format!(
        "UPDATE task_item SET review_status = 2 WHERE id_task_item = {}",
        ids[0]
    ));
    // A rejected result is never given to a copy.
    t.task(model, &[text]);
    run_all(&t);
    assert_eq!(llm.requests().len(), 2);
    // Another instruction: another result.
    let (other, _) = t.task(model, &[text]);
    t.conn_exec(&format!(
        "UPDATE task SET description = 'Przetłumacz na angielski.' WHERE id_task = {other}"
    ));
    run_all(&t);
    assert_eq!(llm.requests().len(), 3);
    // A task that opts out sends its copy.
    let (opted_out, _) = t.task(model, &[text]);
    t.conn_exec(&format!(
        "UPDATE task SET reuse_results = 0 WHERE id_task = {opted_out}"
    ));
    run_all(&t);
    assert_eq!(llm.requests().len(), 4);
    for task in [first, other, opted_out] {
        t.assert_counters_match_items(task);
    }
}
