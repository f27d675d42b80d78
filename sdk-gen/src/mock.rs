//! Example values for mock mode: the document's own examples where it gives them, otherwise
//! a value of the declared type. Deterministic, so the generated SDKs are too.

use serde_json::{json, Map, Value};

const MAX_DEPTH: usize = 8;

pub fn example(doc: &Value, schema: &Value) -> Value {
    value(doc, schema, 0)
}

fn value(doc: &Value, schema: &Value, depth: usize) -> Value {
    if depth > MAX_DEPTH || schema.is_null() {
        return Value::Null;
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    if let Some(first) = schema["examples"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.trim_start_matches("#/components/schemas/");
        return value(doc, &doc["components"]["schemas"][name], depth + 1);
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(variants) = schema[combinator].as_array() {
            let chosen = variants
                .iter()
                .find(|v| v["type"].as_str() != Some("null"))
                .unwrap_or(&Value::Null);
            return value(doc, chosen, depth + 1);
        }
    }
    if let Some(parts) = schema["allOf"].as_array() {
        let mut merged = Map::new();
        for part in parts {
            if let Value::Object(object) = value(doc, part, depth + 1) {
                merged.extend(object);
            }
        }
        return Value::Object(merged);
    }
    if let Some(first) = schema["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    let kind = match &schema["type"] {
        Value::String(kind) => kind.as_str(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .find(|k| *k != "null")
            .unwrap_or("null"),
        _ => "object",
    };
    match kind {
        "string" => match schema["format"].as_str() {
            Some("date-time") => json!("2026-01-01T00:00:00Z"),
            Some("uuid") => json!("00000000-0000-4000-8000-000000000000"),
            _ => json!("string"),
        },
        "integer" => json!(schema["minimum"].as_i64().unwrap_or(0)),
        "number" => json!(schema["minimum"].as_f64().unwrap_or(0.0)),
        "boolean" => json!(true),
        "array" => json!([value(doc, &schema["items"], depth + 1)]),
        "object" => {
            let mut object = Map::new();
            if let Some(props) = schema["properties"].as_object() {
                for (name, prop) in props {
                    object.insert(name.clone(), value(doc, prop, depth + 1));
                }
            } else if schema["additionalProperties"].is_object() {
                object.insert(
                    "key".into(),
                    value(doc, &schema["additionalProperties"], depth + 1),
                );
            }
            Value::Object(object)
        }
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_win_then_types() {
        let doc = json!({"components": {"schemas": {"A": {"type": "object", "required": ["n"],
            "properties": {"n": {"type": "integer", "minimum": 1}, "s": {"type": ["string", "null"], "example": "hi"},
            "t": {"type": "string", "format": "date-time"}, "l": {"type": "array", "items": {"type": "boolean"}}}}}}});
        let got = example(&doc, &json!({"$ref": "#/components/schemas/A"}));
        assert_eq!(
            got,
            json!({"n": 1, "s": "hi", "t": "2026-01-01T00:00:00Z", "l": [true]})
        );
    }
}
