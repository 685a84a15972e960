//! Analysis tasks: summaries, labels and structured extraction, over the Gemini and
//! OpenAI wire formats, on the real database.

mod common;

use ai_worker::{RunOptions, StopSignal, run};
use common::TestDb;
use common::fake_llm::{FakeLlm, Reply, Request};
use serde_json::{Value, json};

const REVIEWS: &[&str] = &[
    "Zamówiłem ekspres do kawy w poniedziałek, a kurier przywiózł go już we wtorek rano. Urządzenie działa bez zarzutu, kawa jest gorąca i aromatyczna. Obsługa sklepu odpowiedziała na moje pytanie w kilka minut. Polecam każdemu.",
    "Paczka przyszła uszkodzona, a sklep przez dwa tygodnie nie odpowiadał na maile. Zwrot pieniędzy trwał miesiąc. Produkt sam w sobie jest w porządku, ale obsługa klienta to porażka. Więcej tu nie kupię, szkoda nerwów.",
    "Buty są wygodne i dobrze wykonane, choć rozmiar jest nieco mniejszy niż w tabeli. Dostawa zajęła trzy dni, co jest w normie. Cena przystępna. Ogólnie jestem zadowolona, ale następnym razem wezmę numer większy.",
    "Telefon spełnia swoje zadanie: bateria wytrzymuje dzień, aparat robi przyzwoite zdjęcia. Nic szczególnego, ale też nic złego. Za tę cenę trudno oczekiwać więcej. Kontakt z Janem Nowakiem (jan.nowak@example.pl) z serwisu był sprawny.",
];

/// The content the fake answers with, in the format of `wire`.
fn reply(wire: &str, content: &str) -> Reply {
    let body = match wire {
        "gemini" => json!({
            "candidates": [{"content": {"role": "model", "parts": [{"text": content}]}, "finishReason": "STOP"}],
            "usageMetadata": {"promptTokenCount": 120, "candidatesTokenCount": 12, "totalTokenCount": 132}
        }),
        _ => json!({
            "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-5",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 12, "total_tokens": 132}
        }),
    };
    Reply::new(200, body.to_string())
}

/// A model for `wire` at the fake's address.
fn model_for(t: &mut TestDb, llm: &FakeLlm, wire: &str) -> u32 {
    match wire {
        "gemini" => t.model("gemini", "gemini-2.5-flash", Some(&llm.base_url), Some("k")),
        _ => t.model("openai", "gpt-5", Some(&llm.openai_url()), Some("k")),
    }
}

fn analysis_task(t: &mut TestDb, model: u32, instruction: &str) -> (u32, Vec<u32>) {
    let (task, ids) = t.task(model, REVIEWS);
    t.conn_exec(&format!(
        "UPDATE task SET description = '{instruction}' WHERE id_task = {task}"
    ));
    (task, ids)
}

fn saved(t: &mut TestDb, id: u32) -> (u8, Option<String>, Option<String>, Option<String>) {
    t.conn_first(&format!(
        "SELECT status_id, text_corrected, result_json, error_message FROM task_item WHERE id_task_item = {id}"
    ))
}

/// The system instruction and the answer schema a request carried.
fn request_shape(req: &Request) -> (String, Value) {
    let body = req.json();
    match body.get("systemInstruction") {
        Some(system) => (
            system["parts"][0]["text"]
                .as_str()
                .unwrap_or_default()
                .into(),
            body["generationConfig"]["responseSchema"].clone(),
        ),
        None => (
            body["messages"][0]["content"]
                .as_str()
                .unwrap_or_default()
                .into(),
            body["response_format"]["json_schema"]["schema"].clone(),
        ),
    }
}

#[test]
fn a_summary_and_a_sentiment_label_are_saved_as_the_model_gave_them() {
    for wire in ["gemini", "openai"] {
        for (instruction, answer) in [
            (
                "Streść poniższą opinię klienta w jednym krótkim zdaniu.",
                "Klient jest zadowolony z szybkiej dostawy.",
            ),
            (
                "Określ wydźwięk opinii. Odpowiedz jednym słowem: pozytywny, negatywny albo neutralny.",
                "pozytywny",
            ),
        ] {
            let mut t = TestDb::new();
            let content = json!({"answer": answer}).to_string();
            let llm = FakeLlm::start(move |_, _| reply(wire, &content));
            let model = model_for(&mut t, &llm, wire);
            let (task, ids) = analysis_task(&mut t, model, instruction);
            let summary = run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
            assert_eq!(
                (summary.items_ok, summary.exit_code()),
                (4, 0),
                "{wire}: {}",
                summary.message
            );
            assert_eq!(llm.requests().len(), 4, "{wire}: one call per item");
            for id in ids {
                let (status, text, json, _) = saved(&mut t, id);
                assert_eq!(
                    (status, text.as_deref(), json),
                    (1, Some(answer), None),
                    "{wire}"
                );
            }
            assert_eq!(t.task_row(task).0, 2);
            let (system, schema) = request_shape(&llm.requests()[0]);
            assert!(
                system.contains("analyst") && !system.contains("proofreader"),
                "{system}"
            );
            assert!(schema.to_string().contains("answer"), "{wire}: {schema}");
            assert!(
                !schema.to_string().contains("change_summary"),
                "{wire}: {schema}"
            );
            let sent = llm.requests()[3].body.clone();
            assert!(
                !sent.contains("jan.nowak@example.pl"),
                "personal data stays masked"
            );
        }
    }
}

const SCHEMA: &str = r#"{"type":"object","properties":{"sentiment":{"type":"string","enum":["pozytywny","negatywny","neutralny"]},"topics":{"type":"array","items":{"type":"string"}}},"required":["sentiment","topics"]}"#;

#[test]
fn a_schema_task_saves_valid_objects_and_names_the_field_of_an_invalid_one() {
    for wire in ["gemini", "openai"] {
        let mut t = TestDb::new();
        let llm = FakeLlm::start(move |req, _| {
            let text = req.item_text();
            let object = if text.starts_with("Paczka") {
                json!({"sentiment": "zły", "topics": ["zwrot"]})
            } else if text.starts_with("Telefon") {
                json!({"sentiment": "neutralny", "topics": ["bateria", "[EMAIL_1]"]})
            } else {
                json!({"sentiment": "pozytywny", "topics": ["dostawa"]})
            };
            reply(wire, &format!("```json\n{object}\n```"))
        });
        let model = model_for(&mut t, &llm, wire);
        let (task, ids) =
            analysis_task(&mut t, model, "Określ wydźwięk opinii i wypisz jej tematy.");
        t.conn_exec(&format!(
            "UPDATE task SET output_schema = '{SCHEMA}' WHERE id_task = {task}"
        ));
        let summary = run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
        assert_eq!((summary.items_ok, summary.items_error), (3, 1), "{wire}");
        let (status, text, json, _) = saved(&mut t, ids[0]);
        assert_eq!(
            (status, text),
            (1, None),
            "{wire}: the object goes to result_json only"
        );
        let object: Value = serde_json::from_str(&json.unwrap()).unwrap();
        assert_eq!(
            object,
            json!({"sentiment": "pozytywny", "topics": ["dostawa"]})
        );
        let (_, _, json, _) = saved(&mut t, ids[3]);
        assert!(
            json.unwrap().contains("jan.nowak@example.pl"),
            "placeholders put back"
        );
        let (status, _, json, error) = saved(&mut t, ids[1]);
        assert_eq!((status, json), (3, None), "{wire}");
        let error = error.unwrap();
        assert!(
            error.contains("sentiment") && error.contains("zły"),
            "{wire}: {error}"
        );
        let calls_for_bad = llm
            .requests()
            .iter()
            .filter(|r| r.item_text().starts_with("Paczka"))
            .count();
        assert!(calls_for_bad > 1, "{wire}: retried with a note first");
        let retry = llm
            .requests()
            .into_iter()
            .filter(|r| r.item_text().starts_with("Paczka"))
            .nth(1)
            .unwrap();
        assert!(
            retry.body.contains("sentiment"),
            "{wire}: the note names the field"
        );
        let (_, schema) = request_shape(&llm.requests()[0]);
        assert!(schema.to_string().contains("negatywny"), "{wire}: {schema}");
        t.assert_counters_match_items(task);
    }
}

#[test]
fn a_schema_the_provider_cannot_take_stops_the_task_before_any_call() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, _) = analysis_task(&mut t, model, "Wyodrębnij dane.");
    t.conn_exec(&format!(
        r#"UPDATE task SET output_schema = '{{"type":"object","properties":{{"nip":{{"type":"string","pattern":"^[0-9]+$"}}}}}}' WHERE id_task = {task}"#
    ));
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert!(llm.requests().is_empty());
    let (status, message): (u8, String) = t.conn_first(&format!(
        "SELECT status_id, error_message FROM task WHERE id_task = {task}"
    ));
    assert_eq!(status, 3);
    assert!(message.contains("'pattern'"), "{message}");
    assert_eq!(
        t.item_statuses(task),
        vec![0, 0, 0, 0],
        "the items wait for a fix"
    );
}

#[test]
fn the_kind_is_shown_in_a_dry_run_and_a_stored_kind_wins() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let (summarise, _) = analysis_task(&mut t, model, "Streść opinię.");
    let (proofread, _) = t.task(model, &["Ala ma kota."]);
    t.conn_exec(&format!(
        "UPDATE task SET kind = 'analyze' WHERE id_task = {proofread}"
    ));
    let out = t.run_bin(&["--dry-run"]);
    let text = common::output_text(&out);
    assert!(
        text.contains(&format!("[Task {summarise}] kind: analyze")),
        "{text}"
    );
    assert!(
        text.contains(&format!("[Task {proofread}] kind: analyze")),
        "{text}"
    );
}

#[test]
fn the_estimate_of_an_analysis_does_not_grow_with_its_texts() {
    let mut t = TestDb::new();
    let model = t.model("echo", "echo", None, None);
    let long = "Bardzo długa opinia o produkcie. ".repeat(60);
    // Two different texts: copies of one text would be sent once.
    let other = format!("Druga, {long}");
    let (summarise, _) = t.task(model, &[long.as_str(), other.as_str()]);
    t.conn_exec(&format!(
        "UPDATE task SET description = 'Streść opinię w jednym zdaniu.' WHERE id_task = {summarise}"
    ));
    let (proofread, _) = t.task(model, &[long.as_str(), other.as_str()]);
    let estimates = ai_worker::app::estimate::estimate(&t.config, None).unwrap();
    let output = |id: u32| {
        estimates
            .iter()
            .find(|e| e.id_task == id)
            .map(|e| e.tokens_output)
            .unwrap()
    };
    assert_eq!(output(summarise), 200, "a small default per answer");
    assert!(
        output(proofread) > 500,
        "a correction is as long as its text"
    );
}

#[test]
fn an_accepted_schema_result_is_never_exported_over_its_source() {
    let mut t = TestDb::new();
    t.conn_exec("CREATE TABLE opinion (id INT PRIMARY KEY, body TEXT)");
    t.conn_exec("INSERT INTO opinion VALUES (1, 'Świetny sklep.')");
    t.config.export_allow = vec![ai_worker::ExportTarget::parse("opinion.body").unwrap()];
    let model = t.model("echo", "echo", None, None);
    let (task, _) = t.task(model, &[]);
    t.conn_exec(&format!(
        "INSERT INTO task_item (id_task, text_original, result_json, status_id, review_status, \
         source_table, source_column, source_id) \
         VALUES ({task}, 'Świetny sklep.', '{{\"sentiment\":\"pozytywny\"}}', 1, 1, 'opinion', 'body', '1')"
    ));
    let done = ai_worker::app::review::export(&t.config, Some(task), false).unwrap();
    assert_eq!((done.exported, done.errors), (0, 0));
    let body: String = t.value("SELECT body FROM opinion WHERE id = 1");
    assert_eq!(body, "Świetny sklep.");
}
