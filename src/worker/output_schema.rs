//! `task.output_schema`: the JSON object an analysis task asks for. A focused checker
//! for the subset of JSON Schema the providers' structured output takes (`type`,
//! `properties`, `required`, `enum`, `items`, `description`, nested objects), used
//! twice: on the schema before any call (a keyword the provider cannot take stops the
//! task with its name), and on every answer (a field that does not match is a bad
//! answer, retried with a note naming it).

use serde_json::Value;

use crate::ai::gemini::SCHEMA_KEYWORDS;

const TYPES: &[&str] = &[
    "object", "array", "string", "number", "integer", "boolean", "null",
];

/// Reads `task.output_schema`: a JSON object whose keywords and types are all in the
/// subset; the error names what is wrong and where.
pub fn parse(text: &str) -> Result<Value, String> {
    let schema: Value = serde_json::from_str(text).map_err(|e| {
        format!("task.output_schema is not valid JSON ({e}); write a JSON Schema object")
    })?;
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(
            "task.output_schema must describe an object: {\"type\": \"object\", \"properties\": {...}}"
                .into(),
        );
    }
    check(&schema, "$")?;
    Ok(schema)
}

fn check(schema: &Value, at: &str) -> Result<(), String> {
    let Some(object) = schema.as_object() else {
        return Err(format!("task.output_schema at {at} is not a schema object"));
    };
    for (keyword, value) in object {
        if !SCHEMA_KEYWORDS.contains(&keyword.as_str()) {
            return Err(format!(
                "task.output_schema uses the keyword '{keyword}' at {at}, which the providers' structured output does not take; use only {}",
                SCHEMA_KEYWORDS.join(", ")
            ));
        }
        if keyword == "type" && !value.as_str().is_some_and(|t| TYPES.contains(&t)) {
            return Err(format!(
                "task.output_schema at {at} has type {value}; use one of {}",
                TYPES.join(", ")
            ));
        }
    }
    if let Some(properties) = object.get("properties") {
        let properties = properties
            .as_object()
            .ok_or_else(|| format!("task.output_schema at {at}: properties must be an object"))?;
        for (name, property) in properties {
            check(property, &format!("{at}.{name}"))?;
        }
    }
    if let Some(items) = object.get("items") {
        check(items, &format!("{at}[]"))?;
    }
    Ok(())
}

/// Whether `value` matches `schema`; the error names the first field that does not
/// ("sentiment: 'zły' is not one of pozytywny, negatywny, neutralny").
pub fn validate(value: &Value, schema: &Value) -> Result<(), String> {
    matches(value, schema, "")
}

fn matches(value: &Value, schema: &Value, at: &str) -> Result<(), String> {
    let name = if at.is_empty() { "the answer" } else { at };
    let nullable = schema.get("nullable").and_then(Value::as_bool) == Some(true);
    if value.is_null() && nullable {
        return Ok(());
    }
    if let Some(kind) = schema.get("type").and_then(Value::as_str)
        && !has_type(value, kind)
    {
        return Err(format!("{name}: expected {kind}, got {}", shown(value)));
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        let list: Vec<String> = allowed.iter().map(plain).collect();
        return Err(format!(
            "{name}: {} is not one of {}",
            shown(value),
            list.join(", ")
        ));
    }
    if let Some(object) = value.as_object() {
        let required = schema.get("required").and_then(Value::as_array);
        for field in required.into_iter().flatten().filter_map(Value::as_str) {
            if !object.contains_key(field) {
                return Err(format!("{}: missing", join(at, field)));
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (field, property) in properties.into_iter().flatten() {
            if let Some(inner) = object.get(field) {
                matches(inner, property, &join(at, field))?;
            }
        }
    }
    if let (Some(items), Some(schema)) = (value.as_array(), schema.get("items")) {
        for (i, item) in items.iter().enumerate() {
            matches(item, schema, &format!("{name}[{i}]"))?;
        }
    }
    Ok(())
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_i64().is_some() || value.as_u64().is_some(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        _ => true,
    }
}

fn join(at: &str, field: &str) -> String {
    if at.is_empty() {
        field.to_string()
    } else {
        format!("{at}.{field}")
    }
}

/// A value for a message: strings quoted, at most 60 characters.
fn shown(value: &Value) -> String {
    match value {
        Value::String(s) => format!("'{}'", crate::ai::preview_of(s, 60)),
        other => crate::ai::preview_of(&other.to_string(), 60),
    }
}

fn plain(value: &Value) -> String {
    value
        .as_str()
        .map_or_else(|| value.to_string(), str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sentiment() -> Value {
        parse(r#"{"type":"object","properties":{"sentiment":{"type":"string","enum":["pozytywny","negatywny","neutralny"]},"topics":{"type":"array","items":{"type":"string"}}},"required":["sentiment","topics"]}"#).unwrap()
    }

    #[test]
    fn a_valid_answer_passes_and_every_kind_of_mismatch_names_its_field() {
        let schema = sentiment();
        let ok = json!({"sentiment": "pozytywny", "topics": ["dostawa", "cena"]});
        assert_eq!(validate(&ok, &schema), Ok(()));
        let cases = [
            (
                json!({"sentiment": "zły", "topics": []}),
                "sentiment: 'zły' is not one of pozytywny, negatywny, neutralny",
            ),
            (json!({"sentiment": "pozytywny"}), "topics: missing"),
            (
                json!({"sentiment": "pozytywny", "topics": "cena"}),
                "topics: expected array",
            ),
            (
                json!({"sentiment": "pozytywny", "topics": [3]}),
                "topics[0]: expected string",
            ),
            (json!([1]), "the answer: expected object"),
        ];
        for (answer, why) in cases {
            let err = validate(&answer, &schema).unwrap_err();
            assert!(err.starts_with(why), "{err}");
        }
    }

    #[test]
    fn nested_objects_integers_and_nullable_fields() {
        let schema = parse(r#"{"type":"object","properties":{"invoice":{"type":"object","properties":{"number":{"type":"string"},"total":{"type":"number"},"items":{"type":"integer","nullable":true}},"required":["number","total"]}},"required":["invoice"]}"#).unwrap();
        assert!(
            validate(
                &json!({"invoice": {"number": "FV/1", "total": 12.5, "items": null}}),
                &schema
            )
            .is_ok()
        );
        let err = validate(
            &json!({"invoice": {"number": "FV/1", "total": "12"}}),
            &schema,
        )
        .unwrap_err();
        assert!(err.starts_with("invoice.total: expected number"), "{err}");
        let err = validate(
            &json!({"invoice": {"number": "FV/1", "total": 1, "items": 1.5}}),
            &schema,
        )
        .unwrap_err();
        assert!(err.starts_with("invoice.items: expected integer"), "{err}");
    }

    #[test]
    fn a_schema_the_providers_cannot_take_is_refused_by_keyword() {
        let err = parse(r#"{"type":"object","properties":{"a":{"type":"string","pattern":"^x"}}}"#)
            .unwrap_err();
        assert!(err.contains("'pattern'") && err.contains("$.a"), "{err}");
        let err = parse(r#"{"type":"object","oneOf":[]}"#).unwrap_err();
        assert!(err.contains("'oneOf'"), "{err}");
        assert!(parse("{not json").unwrap_err().contains("not valid JSON"));
        assert!(
            parse(r#"{"type":"string"}"#)
                .unwrap_err()
                .contains("must describe an object")
        );
        let err = parse(r#"{"type":"object","properties":{"a":{"type":"date"}}}"#).unwrap_err();
        assert!(err.contains("type \"date\""), "{err}");
    }
}
