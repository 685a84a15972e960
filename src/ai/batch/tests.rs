use super::*;
use serde_json::json;

#[test]
fn gemini_lines_are_matched_by_key_and_sorted_by_error() {
    let ok = json!({"metadata": {"key": "7"}, "response": {"candidates": [{"content": {"parts": [{"text": "{\"text_corrected\":\"A.\",\"change_summary\":\"s\"}"}]}, "finishReason": "STOP"}], "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 4}}});
    let line = gemini::line(&ok);
    assert_eq!(line.key, "7");
    assert_eq!(line.usage.input, 10);
    let text = line.outcome.unwrap();
    let answer = crate::ai::parse_answer(&text, &crate::ai::Shape::Correction).unwrap();
    assert_eq!(answer.text_corrected, "A.");
    let bad = json!({"key": "8", "error": {"code": 400, "message": "bad"}});
    assert!(matches!(gemini::line(&bad).outcome, Err(AiError::Item(_))));
    let busy = json!({"key": "9", "error": {"code": 503, "message": "busy"}});
    assert!(matches!(
        gemini::line(&busy).outcome,
        Err(AiError::Transient { .. })
    ));
    let garbage = json!({"key": "10"});
    assert!(gemini::line(&garbage).outcome.is_err());
}

#[test]
fn jsonl_skips_lines_that_are_not_json() {
    let lines = jsonl("Test", "{\"a\":1}\n\nnot json\n{\"b\":2}\n");
    assert_eq!(lines.len(), 2);
}

#[test]
fn ids_that_could_steer_a_request_elsewhere_are_refused() {
    for ok in ["batch_abc123", "batches/123", "files/out-1", "file-XyZ"] {
        assert!(id_ok(ok), "{ok}");
    }
    let long = "a".repeat(256);
    for bad in [
        "",
        "../admin",
        "/etc",
        "a?b=c",
        "a b",
        "x#y",
        "batches/1/../../x",
        &long,
    ] {
        assert!(!id_ok(bad), "{bad}");
    }
}
