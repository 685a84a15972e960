//! Personal data never leaves the machine; keys stay secret.

mod common;

use ai_worker::{RunOptions, StopSignal, run};
use common::fake_llm::{FakeLlm, gemini_error, gemini_ok};
use common::{TestDb, output_text};
use mysql::prelude::Queryable;

const PERSONAL: &[&str] = &[
    "jan.kowalski@example.pl",
    "+48 600 100 200",
    "44051401359",
    "526-000-12-46",
    "PL61 1090 1014 0000 0712 1981 2874",
    "4111 1111 1111 1111",
    "192.168.10.20",
    "(22) 123 45 67",
];

fn text_full_of_personal_data() -> String {
    format!(
        "Klient {} (tel. {}, PESEL {}) z firmy o NIP {} prosi o zwrot na konto {}. Płacił kartą {}, logował się z {}. Biuro: {}. Ponownie: {}.",
        PERSONAL[0],
        PERSONAL[1],
        PERSONAL[2],
        PERSONAL[3],
        PERSONAL[4],
        PERSONAL[5],
        PERSONAL[6],
        PERSONAL[7],
        PERSONAL[0]
    )
}

#[test]
fn the_model_never_sees_personal_data_and_the_result_has_it_back() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| {
        gemini_ok(
            &req.item_text().replace("prosi", "uprzejmie prosi"),
            "Dodano uprzejmość.",
            5,
            5,
            0,
        )
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let text = text_full_of_personal_data();
    let (_, items) = t.task(model, &[&text]);
    let summary = run(
        &t.config,
        &RunOptions {
            trigger: "cli".into(),
            ..RunOptions::default()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(summary.items_ok, 1);
    let sent = &llm.requests()[0].body;
    for value in PERSONAL {
        assert!(!sent.contains(value), "{value} reached the model: {sent}");
    }
    assert!(sent.contains("[EMAIL_1]") && sent.contains("[PESEL_1]") && sent.contains("[IBAN_1]"));
    let saved: String = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        items[0]
    ));
    assert_eq!(saved, text.replace("prosi", "uprzejmie prosi"));
}

#[test]
fn an_answer_that_loses_a_placeholder_is_an_item_error() {
    let mut t = TestDb::new();
    let llm = FakeLlm::start(|req, _| {
        gemini_ok(
            &req.item_text().replace("[EMAIL_1]", "adres"),
            "zmieniono",
            1,
            1,
            0,
        )
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (task, items) = t.task(model, &["Pisz: a.b@example.com"]);
    let summary = run(
        &t.config,
        &RunOptions {
            trigger: "cli".into(),
            ..RunOptions::default()
        },
        &StopSignal::new(),
    )
    .unwrap();
    assert_eq!(summary.items_error, 1);
    assert_eq!(llm.requests().len(), 3, "retried like any bad answer");
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task_item WHERE id_task_item = {}",
        items[0]
    ));
    assert!(msg.contains("[EMAIL_1] lost"), "{msg}");
    let corrected: Option<String> = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        items[0]
    ));
    assert_eq!(corrected, None);
    t.assert_counters_match_items(task);
}

#[test]
fn dry_run_verbose_prints_the_redacted_prompt() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    t.task(model, &["Mój mail to ola@example.org"]);
    let out = t.run_bin(&["--dry-run", "-v"]);
    assert!(out.status.success(), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(
        text.contains("Prompt as sent") && text.contains("Mój mail to [EMAIL_1]"),
        "{text}"
    );
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains("text_corrected: Mój mail to ola@example.org")
    );
}

#[test]
fn keys_are_encrypted_and_a_wrong_secret_stops_the_task_without_leaking() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let out = t
        .bin_command(&[
            "model",
            "add",
            "--name",
            "g",
            "--provider",
            "gemini",
            "--model",
            "gemini-2.5-pro",
            "--api-url",
            &llm.base_url,
        ])
        .env("GEMINI_API_KEY", "AIzaSyTOPSECRETKEY0123456789")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", output_text(&out));
    assert!(!output_text(&out).contains("TOPSECRET"));
    let stored: Vec<u8> = t.value("SELECT api_key_encrypted FROM ai_model WHERE name = 'g'");
    assert!(
        !String::from_utf8_lossy(&stored).contains("TOPSECRET"),
        "stored encrypted"
    );
    let list = t.run_bin(&["model", "list"]);
    assert!(
        output_text(&list).contains("gemini-2.5-pro") && !output_text(&list).contains("TOPSECRET")
    );
    let model: u32 = t.value("SELECT id_ai_model FROM ai_model WHERE name = 'g'");
    let (task, _) = t.task(model, &["a"]);
    // Right secret: the stored key is what goes out, in the header.
    let out = t.run_bin(&["--task", &task.to_string(), "--json"]);
    assert!(out.status.success(), "{}", output_text(&out));
    assert_eq!(
        llm.requests()[0]
            .headers
            .get("x-goog-api-key")
            .map(String::as_str),
        Some("AIzaSyTOPSECRETKEY0123456789")
    );
    assert!(!output_text(&out).contains("TOPSECRET"));
    // Wrong secret: the task stops with a clear message and nothing of the key anywhere.
    let (task, _) = t.task(model, &["b"]);
    let out = t
        .bin_command(&["--task", &task.to_string(), "--json"])
        .env("AI_KEY_SECRET", "wrong-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let msg: String = t.value(&format!(
        "SELECT error_message FROM task WHERE id_task = {task}"
    ));
    assert!(msg.contains("AI_KEY_SECRET"), "{msg}");
    assert!(!output_text(&out).contains("TOPSECRET") && !output_text(&out).contains("test-secret"));
    // Keys are never accepted as flags.
    let out = t.run_bin(&[
        "model",
        "add",
        "--name",
        "x",
        "--provider",
        "gemini",
        "--model",
        "m",
        "--api-key",
        "AIzaFLAG",
    ]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn secrets_never_appear_in_output_or_tables_on_failure_paths() {
    let mut t = TestDb::new();
    let key = "sk-proj-LEAKYKEYLEAKYKEY0000";
    let llm = FakeLlm::start(move |_, n| {
        if n == 0 {
            gemini_error(401, "UNAUTHENTICATED", &format!("API key {key} not valid"))
        } else {
            gemini_error(500, "INTERNAL", "boom")
        }
    });
    let model = t.model("gemini", "m", Some(&llm.base_url), Some(key));
    let (task, _) = t.task(model, &["a"]);
    let out = t
        .bin_command(&["--task", &task.to_string(), "--json", "-v"])
        .env("DB_PASSWORD", t.config.db.password.clone())
        .output()
        .unwrap();
    let all_output = output_text(&out);
    assert!(
        !all_output.contains(key) && !all_output.contains("LEAKYKEY"),
        "{all_output}"
    );
    assert!(!all_output.contains("test-secret"));
    let dump: String = t.value(
        "SELECT CONCAT_WS('|', (SELECT GROUP_CONCAT(COALESCE(error_message, '')) FROM task), \
         (SELECT GROUP_CONCAT(COALESCE(error_message, '')) FROM task_item), \
         (SELECT GROUP_CONCAT(COALESCE(message, '')) FROM task_run))",
    );
    assert!(
        !dump.contains("LEAKYKEY") && !dump.contains("test-secret"),
        "{dump}"
    );
    t.conn.query_drop("SELECT 1").unwrap();
}

/// `ai-worker model rekey` with the old secret in an environment variable.
fn rekey(t: &TestDb, old: &str, new: &str) -> std::process::Output {
    t.bin_command(&["model", "rekey", "--old-secret-env", "AIW_OLD_SECRET"])
        .env("AIW_OLD_SECRET", old)
        .env("AI_KEY_SECRET", new)
        .output()
        .unwrap()
}

#[test]
fn rekey_moves_every_key_to_the_new_secret_all_or_nothing() {
    let mut t = TestDb::new();
    let llm = FakeLlm::gemini_echo();
    let gemini = t.model("gemini", "m", Some(&llm.base_url), Some("AIzaKEYONE123"));
    let openai = t.model(
        "openai",
        "gpt-5",
        Some(&llm.openai_url()),
        Some("sk-KEYTWO456"),
    );
    t.model("echo", "echo", None, None);
    let names: Vec<String> = t
        .conn
        .query("SELECT name FROM ai_model WHERE api_key_encrypted IS NOT NULL ORDER BY id_ai_model")
        .unwrap();
    let leaks = |text: &str| text.contains("KEYONE") || text.contains("KEYTWO");

    // A wrong old secret: exit 2, the models named, nothing changed.
    let before = t.checksum();
    let out = rekey(&t, "not-the-secret", "new-secret");
    assert_eq!(out.status.code(), Some(2), "{}", output_text(&out));
    let text = output_text(&out);
    assert!(
        text.contains(&names[0]) && text.contains(&names[1]),
        "{text}"
    );
    assert!(
        text.contains("nothing was changed") && !leaks(&text),
        "{text}"
    );
    assert_eq!(t.checksum(), before);

    // The right one: every key moves, and decrypts with the new secret only.
    let out = rekey(&t, "test-secret", "new-secret");
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(!leaks(&output_text(&out)));
    for (id, key) in [(gemini, "AIzaKEYONE123"), (openai, "sk-KEYTWO456")] {
        let under_new: Option<String> = t
            .conn
            .exec_first(
                "SELECT CAST(AES_DECRYPT(api_key_encrypted, 'new-secret') AS CHAR) FROM ai_model WHERE id_ai_model = ?",
                (id,),
            )
            .unwrap()
            .flatten();
        assert_eq!(under_new.as_deref(), Some(key));
    }
    // Run again (say, after an interruption): nothing left to do, nothing changed.
    let after = t.checksum();
    let out = rekey(&t, "test-secret", "new-secret");
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert!(output_text(&out).contains("Re-encrypted with AI_KEY_SECRET: none"));
    assert_eq!(t.checksum(), after);

    // And a task runs with the new secret, sending the same key.
    let (task, _) = t.task(gemini, &["a"]);
    let out = t
        .bin_command(&["--task", &task.to_string()])
        .env("AI_KEY_SECRET", "new-secret")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
    assert_eq!(
        llm.requests()[0]
            .headers
            .get("x-goog-api-key")
            .map(String::as_str),
        Some("AIzaKEYONE123")
    );

    // The old secret from standard input, rotating back.
    let mut child = t
        .bin_command(&["model", "rekey", "--old-secret-stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"new-secret\r\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", output_text(&out));
}

#[test]
fn rekey_refuses_unclear_requests() {
    let t = TestDb::new();
    for (args, env, expected) in [
        (
            &["model", "rekey"][..],
            None,
            "--old-secret-env VAR or --old-secret-stdin",
        ),
        (
            &[
                "model",
                "rekey",
                "--old-secret-env",
                "X",
                "--old-secret-stdin",
            ][..],
            None,
            "--old-secret-env VAR or --old-secret-stdin",
        ),
        (
            &["model", "rekey", "--old-secret-env", "AIW_UNSET_VAR"][..],
            None,
            "AIW_UNSET_VAR",
        ),
        (
            &["model", "rekey", "--old-secret-env", "AIW_SAME"][..],
            Some(("AIW_SAME", "test-secret")),
            "the same as AI_KEY_SECRET",
        ),
    ] {
        let mut cmd = t.bin_command(args);
        if let Some((key, value)) = env {
            cmd.env(key, value);
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            output_text(&out).contains(expected),
            "{args:?}: {}",
            output_text(&out)
        );
    }
    // An empty secret on standard input.
    let out = t
        .bin_command(&["model", "rekey", "--old-secret-stdin"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(output_text(&out).contains("empty"), "{}", output_text(&out));
}

/// A Gemini fake that answers each text with itself (its placeholders kept).
fn echoing() -> FakeLlm {
    FakeLlm::start(|req, _| gemini_ok(&req.item_text(), "ok", 5, 5, 0))
}

fn every_body(llm: &FakeLlm) -> String {
    llm.requests()
        .iter()
        .map(|r| r.body.clone())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn new_kinds_and_the_tasks_instruction_never_reach_the_model() {
    let mut t = TestDb::new();
    let llm = echoing();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let values = [
        "GB82 WEST 1234 5698 7654 32",
        "jan.kowalski (at) firma [dot] pl",
        "józef.żak@poczta.pl",
        "PL5260001246",
        "2001:db8::8a2e:370:7334",
        "00:1A:2B:3C:4D:5E",
    ];
    let text = format!(
        "Przelew z {}, pisać na {} lub {}. VAT UE {}. Serwer {} karta {}.",
        values[0], values[1], values[2], values[3], values[4], values[5]
    );
    let (task, ids) = t.task(model, &[text.as_str()]);
    t.conn_exec(&format!(
        "UPDATE task SET description = 'Popraw tekst. Odpowiedzi wysyła Anna, anna.nowak@firma.pl, tel. 600 100 200.' WHERE id_task = {task}"
    ));
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    let sent = every_body(&llm);
    for value in values.iter().chain(&["anna.nowak@firma.pl", "600 100 200"]) {
        assert!(!sent.contains(value), "{value} reached the model: {sent}");
    }
    let saved: String = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert_eq!(saved, text, "every value came back exactly");
}

#[test]
fn a_long_text_is_never_cut_inside_a_personal_value() {
    let mut t = TestDb::new();
    let llm = echoing();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    t.conn_exec(&format!(
        "UPDATE ai_model SET max_chunk_chars = 100 WHERE id_ai_model = {model}"
    ));
    // Numbers in words and no sentence ends: the only places to cut are spaces,
    // some of them inside the phone numbers and the IBAN.
    let mut text = String::new();
    for i in 0..12 {
        text.push_str(&format!(
            "klient numer {i} dzwonił z 600 100 2{i:02} i wpłacał na PL61 1090 1014 0000 0712 1981 2874 oraz "
        ));
    }
    text.push_str("koniec.");
    let (task, ids) = t.task(model, &[text.as_str()]);
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert!(llm.requests().len() > 5, "sent in parts");
    let sent = every_body(&llm);
    for piece in ["600 100", "100 2", "1090 1014", "0712 1981", "PL61"] {
        assert!(!sent.contains(piece), "{piece} reached the model");
    }
    assert_eq!(t.item_statuses(task), vec![1]);
    let saved: String = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert_eq!(saved, text);
}

#[test]
fn a_task_may_switch_privacy_off_and_the_dry_run_says_so() {
    let mut t = TestDb::new();
    let llm = echoing();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    let (open, _) = t.task(model, &["Dzwoń: 600 100 200."]);
    let (masked, _) = t.task(model, &["Dzwoń: 600 100 201."]);
    t.conn_exec(&format!(
        "UPDATE task SET privacy = 'off' WHERE id_task = {open}"
    ));
    t.conn_exec(&format!(
        "UPDATE task SET privacy = 'identifiers' WHERE id_task = {masked}"
    ));
    let out = t.run_bin(&["--dry-run", "--task", &open.to_string()]);
    assert!(
        output_text(&out).contains(&format!("[Task {open}] kind: proofread, privacy: off")),
        "{}",
        output_text(&out)
    );
    let out = t.run_bin(&["--json"]);
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut privacy: Vec<(u64, &str)> = summary["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id_task"].as_u64().unwrap(),
                t["privacy"].as_str().unwrap(),
            )
        })
        .collect();
    privacy.sort();
    assert_eq!(
        privacy,
        vec![(u64::from(open), "off"), (u64::from(masked), "identifiers")]
    );
    let sent = every_body(&llm);
    assert!(sent.contains("600 100 200"), "privacy off: sent as written");
    assert!(!sent.contains("600 100 201"), "identifiers: masked");
}

#[test]
fn names_addresses_documents_and_dates_never_reach_the_model_on_any_path() {
    let mut t = TestDb::new();
    let llm = echoing();
    let model = t.model("gemini", "m", Some(&llm.base_url), Some("k"));
    t.conn_exec(&format!(
        "UPDATE ai_model SET max_chunk_chars = 120 WHERE id_ai_model = {model}"
    ));
    let values = [
        "Wojciechem Kaczmarkiem",
        "Długiej 12/4",
        "00-950 Warszawa",
        "12.03.1985",
        "ABA300000",
        "KR 2345C",
        "facebook.com/jan.kowalski",
        "538.476.874",
    ];
    let mut text = String::new();
    for _ in 0..4 {
        text.push_str(&format!(
            "rozmawiałem z {} o przesyłce na ul. {} w {} a on ur. {} pokazał dowód {} i auto nr rej. {} oraz profil {} tel. {} ",
            values[0], values[1], values[2], values[3], values[4], values[5], values[6], values[7]
        ));
    }
    let (task, ids) = t.task(model, &[text.as_str()]);
    t.conn_exec(&format!(
        "UPDATE task SET description = 'Popraw tekst. Pytania do Pani Jankowskiej, ul. Leśna 5 m. 3, 31-123 Kraków.' WHERE id_task = {task}"
    ));
    run(&t.config, &RunOptions::default(), &StopSignal::new()).unwrap();
    assert!(llm.requests().len() > 2, "sent in parts");
    let sent = every_body(&llm);
    for value in values
        .iter()
        .chain(&["Jankowskiej", "Leśna 5", "31-123 Kraków"])
    {
        assert!(!sent.contains(value), "{value} reached the model");
    }
    let saved: String = t.value(&format!(
        "SELECT text_corrected FROM task_item WHERE id_task_item = {}",
        ids[0]
    ));
    assert_eq!(saved, text, "every value came back exactly");
}
