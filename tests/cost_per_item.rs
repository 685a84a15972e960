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

#[test]
fn with_change_summary_diff_the_model_writes_the_text_only_and_the_worker_the_summary() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| {
        let text = req.item_text();
        let body = req.json();
        let properties = &body["generationConfig"]["responseSchema"]["properties"];
        // A summary it was not asked for is not what gets saved.
        let summary = if properties.get("change_summary").is_some() {
            "asked"
        } else {
            "model's own words"
        };
        gemini_ok(
            &text.replace("bład", "błąd").replace("wogóle", "w ogóle"),
            summary,
            10,
            5,
            0,
        )
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, ids) = t.task(model, &["To jest bład i wogóle nic."]);
    t.conn_exec(&format!(
        "UPDATE task SET change_summary = 'diff' WHERE id_task = {task}"
    ));
    run_all(&t);
    let body = llm.requests()[0].json();
    let schema = &body["generationConfig"]["responseSchema"];
    assert!(
        schema["properties"].get("change_summary").is_none(),
        "{schema}"
    );
    let system = body["systemInstruction"].to_string();
    assert!(!system.contains("change_summary"), "{system}");
    let (text, summary): (String, String) = t.conn_first(&format!(
        "SELECT text_corrected, change_summary FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert_eq!(text, "To jest błąd i w ogóle nic.");
    assert_eq!(summary, "2 zmiany: bład → błąd, wogóle → w ogóle.");
}

fn estimated(t: &TestDb, task: u32) -> (f64, f64) {
    let out = t.run_bin(&["--estimate", "--json", "--task", &task.to_string()]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = &doc["estimate"][0];
    (
        row["tokens_input"].as_f64().unwrap(),
        row["tokens_output"].as_f64().unwrap(),
    )
}

#[test]
fn the_estimate_knows_copies_and_the_workers_summary_within_a_quarter() {
    let texts = catalogue();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    for (reuse, summary, pack) in [
        (1, "model", 1),
        (0, "model", 1),
        (1, "diff", 1),
        (0, "model", 20),
        (0, "diff", 20),
    ] {
        let mut t = TestDb::new();
        let llm = FakeLlm::gemini_billing();
        let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
        let (task, _) = t.task(model, &refs);
        t.conn_exec(&format!(
            "UPDATE task SET reuse_results = {reuse}, change_summary = '{summary}', pack_max_items = {pack} WHERE id_task = {task}"
        ));
        let (est_in, est_out) = estimated(&t, task);
        run_all(&t);
        let (_, _, _, _, billed_in, billed_out) = t.task_row(task);
        for (what, est, billed) in [
            ("input", est_in, billed_in),
            ("output", est_out, billed_out),
        ] {
            let ratio = est / billed as f64;
            assert!(
                (0.75..=1.25).contains(&ratio),
                "reuse {reuse}, summary {summary}, pack {pack}: {what} estimated {est}, billed {billed}"
            );
        }
    }
}

/// A Gemini fake that answers a packed request entry by entry (`skip` leaves one id
/// out), and a single text as usual; 100 tokens in and 10 per text out per call.
fn packing(skip: Option<&'static str>) -> FakeLlm {
    FakeLlm::start(move |req, _| {
        let texts = req.packed_texts();
        if texts.is_empty() {
            let text = req.item_text().replace("bład", "błąd");
            return gemini_ok(&text, "poprawiono", 100, 10, 0);
        }
        let items: Vec<serde_json::Value> = texts
            .iter()
            .filter(|(id, _)| Some(id.as_str()) != skip)
            .map(|(id, text)| {
                serde_json::json!({"id": id, "text_corrected": text.replace("bład", "błąd"), "change_summary": "poprawiono"})
            })
            .collect();
        let answer = serde_json::json!({ "items": items }).to_string();
        common::fake_llm::Reply::new(
            200,
            serde_json::json!({
                "candidates": [{"content": {"role": "model", "parts": [{"text": answer}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 100, "candidatesTokenCount": 10 * texts.len(), "totalTokenCount": 100 + 10 * texts.len()}
            })
            .to_string(),
        )
    })
}

fn titles(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("Tytuł produktu {i} z jednym bład"))
        .collect()
}

#[test]
fn short_texts_go_out_several_to_a_request_and_their_tokens_add_up() {
    let mut t = TestDb::new();
    let llm = packing(None);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let texts = titles(20);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    t.conn_exec(&format!(
        "UPDATE task SET pack_max_items = 10 WHERE id_task = {task}"
    ));
    run_all(&t);
    let requests = llm.requests();
    assert_eq!(requests.len(), 2, "20 titles in 2 requests");
    for request in &requests {
        assert_eq!(request.packed_texts().len(), 10);
        let body = request.json();
        let schema = &body["generationConfig"]["responseSchema"]["properties"]["items"];
        assert_eq!(schema["type"], "ARRAY", "{body}");
    }
    assert_eq!(t.item_statuses(task), vec![1; 20]);
    let wrong: u64 = t.value(&format!(
        "SELECT COUNT(*) FROM task_item WHERE id_task = {task} AND text_corrected <> REPLACE(text_original, 'bład', 'błąd')"
    ));
    assert_eq!(wrong, 0, "each text has its own correction");
    // The items' shares add up to exactly what the provider billed.
    let (_, _, _, _, tokens_in, tokens_out) = t.task_row(task);
    assert_eq!((tokens_in, tokens_out), (200, 200));
    let (sum_in, sum_out): (u64, u64) = t.conn_first(&format!(
        "SELECT CAST(SUM(tokens_input) AS UNSIGNED), CAST(SUM(tokens_output) AS UNSIGNED) FROM task_item WHERE id_task = {task}"
    ));
    assert_eq!((sum_in, sum_out), (200, 200));
    t.assert_counters_match_items(task);
}

#[test]
fn an_item_the_packed_answer_misses_is_sent_alone_and_its_neighbours_are_saved() {
    let mut t = TestDb::new();
    let llm = packing(Some("3"));
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let texts = titles(5);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, ids) = t.task(model, &refs);
    t.conn_exec(&format!(
        "UPDATE task SET pack_max_items = 5 WHERE id_task = {task}"
    ));
    run_all(&t);
    let requests = llm.requests();
    assert_eq!(requests.len(), 2, "the pack, then the missed text alone");
    assert_eq!(requests[1].item_text(), texts[2]);
    assert_eq!(t.item_statuses(task), vec![1; 5]);
    // The missed item paid its share of the pack and its own call.
    let (tokens_in, tokens_out): (u64, u64) = t.conn_first(&format!(
        "SELECT tokens_input, tokens_output FROM task_item WHERE id_task_item = {}",
        ids[2]
    ));
    assert_eq!((tokens_in, tokens_out), (20 + 100, 10 + 10));
    let (_, _, _, _, task_in, task_out) = t.task_row(task);
    assert_eq!((task_in, task_out), (200, 60));
    t.assert_counters_match_items(task);
}

#[test]
fn a_model_whose_packed_answers_keep_missing_texts_gets_one_per_request_in_later_runs() {
    let mut t = TestDb::new();
    // Each packed answer holds only its first text.
    let llm = FakeLlm::start(|req, _| {
        let texts = req.packed_texts();
        let answer = match texts.first() {
            None => serde_json::json!({"text_corrected": req.item_text(), "change_summary": "ok"}),
            Some((id, text)) => {
                serde_json::json!({"items": [{"id": id, "text_corrected": text, "change_summary": "ok"}]})
            }
        };
        common::fake_llm::Reply::new(
            200,
            serde_json::json!({
                "candidates": [{"content": {"role": "model", "parts": [{"text": answer.to_string()}]}, "finishReason": "STOP"}],
                "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5}
            })
            .to_string(),
        )
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let texts = titles(30);
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (first, _) = t.task(model, &refs);
    t.conn_exec(&format!(
        "UPDATE task SET pack_max_items = 5 WHERE id_task = {first}"
    ));
    run_all(&t);
    assert_eq!(
        t.item_statuses(first),
        vec![1; 30],
        "every text saved, the missed ones alone"
    );
    let remembered: Option<i64> = t.value(&format!(
        "SELECT pack_max_items FROM ai_model WHERE id_ai_model = {model}"
    ));
    assert_eq!(remembered, Some(1));

    // A later run sends one text per request from its first call.
    let before = llm.requests().len();
    let others: Vec<String> = (0..6).map(|i| format!("Inny tytuł {i}")).collect();
    let others: Vec<&str> = others.iter().map(String::as_str).collect();
    let (second, _) = t.task(model, &others);
    t.conn_exec(&format!(
        "UPDATE task SET pack_max_items = 5 WHERE id_task = {second}"
    ));
    run_all(&t);
    let later = &llm.requests()[before..];
    assert_eq!(later.len(), 6);
    assert!(later.iter().all(|r| r.packed_texts().is_empty()));

    // An operator's own setting is never overwritten; `none` lets the model try again.
    let name: String = t.value(&format!(
        "SELECT name FROM ai_model WHERE id_ai_model = {model}"
    ));
    let out = t.run_bin(&["model", "update", &name, "--pack-max-items", "none", "-q"]);
    assert!(out.status.success(), "{}", common::output_text(&out));
    let cleared: Option<i64> = t.value(&format!(
        "SELECT pack_max_items FROM ai_model WHERE id_ai_model = {model}"
    ));
    assert_eq!(cleared, None);
    let out = t.run_bin(&["model", "update", &name, "--pack-max-items", "0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        common::output_text(&out)
            .contains("--pack-max-items must be a whole number greater than 0")
    );
}

#[test]
fn long_texts_and_tasks_that_opt_out_are_not_packed() {
    let mut t = TestDb::new();
    let llm = packing(None);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let long = format!("{} bład", "Długi opis produktu. ".repeat(40));
    let (task, _) = t.task(model, &[long.as_str(), "Krótki bład", "Drugi bład"]);
    t.conn_exec(&format!(
        "UPDATE task SET pack_max_items = 10 WHERE id_task = {task}"
    ));
    let (alone, _) = t.task(model, &["Trzeci bład", "Czwarty bład"]);
    t.conn_exec(&format!(
        "UPDATE task SET pack_max_items = 1 WHERE id_task = {alone}"
    ));
    run_all(&t);
    let packed: Vec<usize> = llm
        .requests()
        .iter()
        .map(|r| r.packed_texts().len())
        .collect();
    let mut sorted = packed.clone();
    sorted.sort();
    assert_eq!(
        sorted,
        vec![0, 0, 0, 2],
        "the two short texts together, the rest alone: {packed:?}"
    );
    assert_eq!(t.item_statuses(task), vec![1; 3]);
    assert_eq!(t.item_statuses(alone), vec![1; 2]);
}

#[test]
fn analysis_tasks_with_a_schema_pack_on_openai_compatible_servers_too() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| {
        let items: Vec<serde_json::Value> = req
            .packed_texts()
            .iter()
            .map(|(id, text)| {
                let label = if text.contains("super") {
                    "positive"
                } else {
                    "negative"
                };
                serde_json::json!({"id": id, "result": {"sentiment": label}})
            })
            .collect();
        common::fake_llm::Reply::new(
            200,
            serde_json::json!({
                "choices": [{"message": {"content": serde_json::json!({"items": items}).to_string()}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 90, "completion_tokens": 30}
            })
            .to_string(),
        )
    });
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let (task, ids) = t.task(model, &["Produkt super!", "Produkt słaby.", "Jest super."]);
    t.conn_exec(&format!(
        "UPDATE task SET pack_max_items = 10, kind = 'analyze', description = 'Oceń wydźwięk opinii.', \
         output_schema = '{{\"type\":\"object\",\"properties\":{{\"sentiment\":{{\"type\":\"string\",\"enum\":[\"positive\",\"negative\"]}}}},\"required\":[\"sentiment\"]}}' \
         WHERE id_task = {task}"
    ));
    run_all(&t);
    let requests = llm.requests();
    assert_eq!(requests.len(), 1, "three opinions in one request");
    let body = requests[0].json();
    let format = &body["response_format"];
    assert_eq!(format["type"], "json_schema", "{body}");
    assert_eq!(format["json_schema"]["strict"], false);
    let entry = &format["json_schema"]["schema"]["properties"]["items"]["items"];
    assert!(
        entry["properties"]["result"]["properties"]["sentiment"].is_object(),
        "{entry}"
    );
    let saved: Vec<String> = ids
        .iter()
        .map(|id| {
            t.value(&format!(
                "SELECT result_json FROM task_item WHERE id_task_item = {id}"
            ))
        })
        .collect();
    assert_eq!(
        saved,
        vec![
            r#"{"sentiment":"positive"}"#,
            r#"{"sentiment":"negative"}"#,
            r#"{"sentiment":"positive"}"#
        ]
    );
    t.assert_counters_match_items(task);
}

#[test]
fn nonsense_in_the_new_task_columns_is_read_safely() {
    let mut t = TestDb::new();
    let llm = packing(None);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let mut tasks = Vec::new();
    for (n, sets) in [
        "pack_max_items = -3, change_summary = 'nonsense', reuse_results = 7",
        "pack_max_items = 100000, change_summary = '', reuse_results = -1",
    ]
    .iter()
    .enumerate()
    {
        // Texts of their own: no copy of one task's text in the other.
        let texts: Vec<String> = titles(4).iter().map(|t| format!("{t} ({n})")).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let (task, _) = t.task(model, &refs);
        t.conn_exec(&format!("UPDATE task SET {sets} WHERE id_task = {task}"));
        tasks.push(task);
    }
    run_all(&t);
    for task in tasks {
        assert_eq!(t.item_statuses(task), vec![1; 4], "task {task}");
        t.assert_counters_match_items(task);
    }
    // A negative size packs nothing; an absurd one is held to 50 (4 titles: one pack).
    let sizes: Vec<usize> = llm
        .requests()
        .iter()
        .map(|r| r.packed_texts().len())
        .collect();
    assert!(sizes.contains(&0) && sizes.contains(&4), "{sizes:?}");
}

#[test]
fn copies_spread_over_packs_in_flight_together_never_wait_on_each_other() {
    let mut t = TestDb::new();
    let llm = packing(None);
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    // Five texts in a shuffled order, so that packs hold copies of each other's texts.
    let texts: Vec<String> = (0..120)
        .map(|i| format!("Opis {} ma bład.", (i * 7 + i / 5) % 5))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let (task, _) = t.task(model, &refs);
    t.conn_exec(&format!(
        "UPDATE task SET pack_max_items = 3 WHERE id_task = {task}"
    ));
    let options = RunOptions {
        concurrency: Some(8),
        ..RunOptions::default()
    };
    let summary = run(&t.config, &options, &StopSignal::new()).unwrap();
    assert_eq!(summary.items_ok, 100, "{}", summary.message);
    t.assert_counters_match_items(task);
}
