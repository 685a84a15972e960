//! Answers worth saving: a proofreading result must be the same text corrected, a
//! readable-but-malformed JSON answer is read, and no note to the model is ever saved.

mod common;

use ai_worker::{RunOptions, StopSignal, run};
use common::TestDb;
use common::fake_llm::{FakeLlm, Reply};
use serde_json::json;

const TEXT: &str = "Wczoraj wieczorem zamówiłem nowy ekspres do kawy w sklepie internetowym, ale kurier przywiózł go dopiero po tygodniu i opakowanie było uszkodzone.";

/// A local OpenAI-compatible server answering with `content` as it is.
fn local(
    content: impl Fn(&common::fake_llm::Request, usize) -> String + Send + Sync + 'static,
) -> FakeLlm {
    FakeLlm::start(move |req, n| {
        Reply::new(
            200,
            json!({
                "choices": [{"message": {"content": content(req, n)}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5}
            })
            .to_string(),
        )
    })
}

fn answer(text: &str) -> String {
    json!({"text_corrected": text, "change_summary": "poprawki"}).to_string()
}

fn outcome(t: &mut TestDb, id: u32) -> (u8, Option<String>, Option<String>) {
    t.conn_first(&format!(
        "SELECT status_id, text_corrected, error_message FROM task_item WHERE id_task_item = {id}"
    ))
}

#[test]
fn an_unrelated_answer_or_one_with_the_instruction_appended_is_refused() {
    let mut t = TestDb::new();
    let llm = local(|req, _| {
        let text = req.item_text();
        if text.starts_with("Wczoraj") {
            answer(
                "The message has been edited and the new recipe has been modified with special ingredients for everyone who likes it.",
            )
        } else {
            answer(&format!("{text} Zachowaj język tekstu i jego znaczenie."))
        }
    });
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let second = "Sklep odpowiedział na moją reklamację po trzech dniach i zaproponował zwrot pieniędzy albo wymianę towaru.";
    let (task, ids) = t.task(model, &[TEXT, second]);
    t.conn_exec(&format!(
        "UPDATE task SET description = 'Popraw błędy. Zachowaj język tekstu i jego znaczenie.' WHERE id_task = {task}"
    ));
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    let (status, text, error) = outcome(&mut t, ids[0]);
    assert_eq!((status, text), (3, None));
    assert!(error.unwrap().contains("not a correction of this text"));
    let (status, text, error) = outcome(&mut t, ids[1]);
    assert_eq!((status, text), (3, None));
    assert!(error.unwrap().contains("contains the task's instruction"));
    assert!(llm.requests().len() > 2, "retried before giving up");
}

#[test]
fn a_correction_that_drops_a_negation_or_tacks_on_a_word_of_the_instruction_is_refused() {
    let mut t = TestDb::new();
    let llm = local(|req, _| {
        let text = req.item_text();
        if text.starts_with("The comittee") {
            answer("The committee has received your application yet.")
        } else {
            answer("Na pewno przyjdziemy na spotkanie, chyba że będzie padać. Nie znaczenia.")
        }
    });
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let (task, ids) = t.task(
        model,
        &[
            "The comittee have not recieved you're application yet.",
            "Napewno przyjdziemy na spotkanie, chyba że bedzie padać.",
        ],
    );
    t.conn_exec(&format!(
        "UPDATE task SET description = 'Popraw błędy ortograficzne bez zmiany znaczenia.' WHERE id_task = {task}"
    ));
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    let (status, text, error) = outcome(&mut t, ids[0]);
    assert_eq!((status, text), (3, None));
    assert!(
        error
            .unwrap()
            .contains("drops the text's negation (\"not\")")
    );
    let (status, text, error) = outcome(&mut t, ids[1]);
    assert_eq!((status, text), (3, None));
    let error = error.unwrap();
    assert!(
        error.contains("contains the task's instruction (\"znaczenia\")"),
        "{error}"
    );
}

#[test]
fn a_real_correction_with_many_fixes_and_a_raw_newline_in_its_json_is_saved() {
    let mut t = TestDb::new();
    let llm = local(|_, _| {
        // A raw line break inside the string: strict JSON refuses it.
        "{\"text_corrected\": \"Wczoraj wieczorem zamówiłem nowy ekspres do kawy\nw sklepie internetowym; kurier przywiózł go jednak dopiero po tygodniu, a opakowanie było uszkodzone.\", \"change_summary\": \"styl\",}".to_string()
    });
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let sent = "Wczoraj wieczorem zamowiłem nowy expres do kawy w sklepie internetowym ale kurier przywiuzł go dopiero po tygodniu i opakowanie bylo uszkodzone.";
    let (_, ids) = t.task(model, &[sent]);
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    let (status, text, _) = outcome(&mut t, ids[0]);
    assert_eq!(status, 1);
    assert!(text.unwrap().contains("kawy\nw sklepie"));
    assert_eq!(llm.requests().len(), 1, "read at the first answer");
}

#[test]
fn no_note_to_the_model_is_ever_saved() {
    let mut t = TestDb::new();
    // First a bad answer; then the model copies the worker's note into its text.
    let llm = local(|req, n| {
        let system = req.json()["messages"][0]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        match (n, system.split_once("could not be used: ")) {
            (0, _) => "Sure, here you go!".to_string(),
            (_, Some((_, note))) => answer(&format!(
                "{} {}",
                req.item_text(),
                note.lines().next().unwrap_or_default()
            )),
            _ => answer(&req.item_text()),
        }
    });
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let (task, ids) = t.task(model, &[TEXT]);
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    let (status, text, error) = outcome(&mut t, ids[0]);
    assert_eq!(status, 3, "{text:?}");
    assert!(error.unwrap().contains("repeats the worker's note"));
    let saved: Option<String> = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task = {task}"
    ));
    assert!(saved.is_none_or(|s| !s.contains("requested JSON")));
}

#[test]
fn the_note_about_an_echoed_instruction_quotes_it_masked() {
    let mut t = TestDb::new();
    let llm = local(|req, _| {
        let user = req.json()["messages"][1]["content"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let instruction = user
            .lines()
            .nth(1)
            .unwrap_or_default()
            .split(". ")
            .nth(1)
            .unwrap_or_default()
            .to_string();
        answer(&format!("{} {instruction}", req.item_text()))
    });
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let (task, ids) = t.task(model, &[TEXT]);
    t.conn_exec(&format!(
        "UPDATE task SET description = 'Popraw błędy. Pytania kieruj do jan.kowalski@example.pl w dziale' WHERE id_task = {task}"
    ));
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    let (status, _, error) = outcome(&mut t, ids[0]);
    assert_eq!(status, 3);
    assert!(error.unwrap().contains("contains the task's instruction"));
    for request in llm.requests() {
        assert!(
            !request.body.contains("jan.kowalski@example.pl"),
            "{}",
            request.body
        );
    }
}

#[test]
fn proofreading_goes_out_at_a_low_temperature_where_the_model_takes_one() {
    let mut t = TestDb::new();
    // The first answer is the text with a note appended (refused), the retry the text.
    let llm = local(|req, n| {
        let text = req.item_text();
        if n == 0 {
            answer(&format!("{text} {text}"))
        } else {
            answer(&text)
        }
    });
    let local_model = t.model("openai", "local", Some(&llm.openai_url()), None);
    t.task(local_model, &[TEXT]);
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    let temperatures: Vec<serde_json::Value> = llm
        .requests()
        .iter()
        .map(|r| r.json()["temperature"].clone())
        .collect();
    assert_eq!(
        temperatures,
        vec![json!(0.2), json!(0.4)],
        "a step in tenths on the retry"
    );

    let reasoning = local(|req, _| answer(&req.item_text()));
    let gpt5 = t.model("openai", "gpt-5-mini", Some(&reasoning.openai_url()), None);
    t.conn_exec(&format!(
        "UPDATE task SET status_id = 2 WHERE id_ai_model = {local_model}"
    ));
    t.task(gpt5, &[TEXT]);
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    let body = reasoning.requests()[0].json();
    assert!(body.get("temperature").is_none(), "{body}");
}

#[test]
fn a_cut_off_answer_that_loops_is_named_as_a_loop() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|_, _| {
        Reply::new(
            200,
            json!({
                "choices": [{"message": {"content": format!("{{\"text_corrected\": \"Tak {}", "więc ".repeat(40))}, "finish_reason": "length"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 50}
            })
            .to_string(),
        )
    });
    let model = t.model("openai", "local", Some(&llm.openai_url()), None);
    let (_, ids) = t.task(model, &[TEXT]);
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    let (status, _, error) = outcome(&mut t, ids[0]);
    assert_eq!(status, 3);
    let error = error.unwrap_or_default();
    assert!(error.contains("in a loop repeating"), "{error}");
    assert!(
        error.contains("gave up after"),
        "a loop is asked again first: {error}"
    );
}

/// A first answer that loops until the limit cuts it off, then a good one.
fn loops_once(req: &common::fake_llm::Request, n: usize, gemini: bool) -> Reply {
    let looping = format!("{{\"text_corrected\": \"Tak {}", "więc ".repeat(40));
    let (content, cut) = if n == 0 {
        (looping, true)
    } else {
        (answer(&req.item_text()), false)
    };
    let body = if gemini {
        json!({"candidates": [{"content": {"parts": [{"text": content}]},
               "finishReason": if cut { "MAX_TOKENS" } else { "STOP" }}],
               "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 50}})
    } else {
        json!({"choices": [{"message": {"content": content}, "finish_reason": if cut { "length" } else { "stop" }}],
               "usage": {"prompt_tokens": 10, "completion_tokens": 50}})
    };
    Reply::new(200, body.to_string())
}

#[test]
fn a_loop_is_asked_again_with_a_repetition_penalty_on_a_server_of_ones_own() {
    let mut t = TestDb::new();
    let own = FakeLlm::start(|req, n| loops_once(req, n, false));
    let model = t.model("openai", "local", Some(&own.openai_url()), None);
    let (_, ids) = t.task(model, &[TEXT]);
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert_eq!(outcome(&mut t, ids[0]), (1, Some(TEXT.to_string()), None));
    let requests = own.requests();
    assert_eq!(requests.len(), 2);
    let (first, again) = (requests[0].json(), requests[1].json());
    assert!(
        first.get("frequency_penalty").is_none(),
        "a faithful copy repeats words: {first}"
    );
    assert_eq!(again["frequency_penalty"], 0.5, "{again}");
    assert_eq!(
        (first["temperature"].clone(), again["temperature"].clone()),
        (json!(0.2), json!(0.4))
    );

    // Gemini is asked again too, without a penalty (not every Gemini model takes one).
    let gemini = FakeLlm::start(|req, n| loops_once(req, n, true));
    let model = t.model(
        "gemini",
        "gemini-2.5-flash",
        Some(&gemini.base_url),
        Some("k"),
    );
    let (_, ids) = t.task(model, &[TEXT]);
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert_eq!(outcome(&mut t, ids[0]).0, 1);
    let requests = gemini.requests();
    assert_eq!(requests.len(), 2);
    let config = &requests[1].json()["generationConfig"];
    assert_eq!(config["temperature"], 0.4, "{config}");
    assert!(config.get("frequencyPenalty").is_none(), "{config}");
}
