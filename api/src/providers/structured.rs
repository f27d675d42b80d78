//! Structured output: the JSON-schema subset Orrery can check, the check itself, and the
//! simplest instance of a schema (what the builtin provider answers with). A schema using a
//! keyword outside the subset is refused up front — output is never passed off as valid
//! against rules nobody checked.

use serde_json::{Map, Value};

const MAX_DEPTH: usize = 32;

/// Keywords that constrain and are checked here.
const CHECKED: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "anyOf",
    "$ref",
    "$defs",
    "definitions",
];
/// Keywords that only describe.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "$schema",
    "default",
    "examples",
    "$id",
];

/// Every keyword a schema may use.
pub fn keywords() -> Vec<&'static str> {
    CHECKED.iter().chain(ANNOTATIONS).copied().collect()
}

/// Refuses schemas with keywords this module does not check, naming the first one.
pub fn check_supported(schema: &Value) -> Result<(), String> {
    if schema == &Value::Bool(false) {
        return Err("schema: `false` allows no output at all".into());
    }
    supported(schema, "", 0)
}

const TYPES: &[&str] = &[
    "string", "number", "integer", "boolean", "object", "array", "null",
];

fn supported(schema: &Value, at: &str, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!(
            "{at}: the schema nests deeper than {MAX_DEPTH} levels"
        ));
    }
    let Some(object) = schema.as_object() else {
        return match schema {
            Value::Bool(_) => Ok(()),
            _ => Err(format!("{}: a schema must be an object", or_root(at))),
        };
    };
    for (key, value) in object {
        if !CHECKED.contains(&key.as_str()) && !ANNOTATIONS.contains(&key.as_str()) {
            return Err(format!(
                "{}: keyword `{key}` is not supported (supported: {})",
                or_root(at),
                CHECKED.join(", ")
            ));
        }
        let here = format!("{at}/{key}");
        let wrong = |what: &str| Err(format!("{here}: must be {what}"));
        match key.as_str() {
            "properties" | "$defs" | "definitions" => {
                let Some(entries) = value.as_object() else {
                    return wrong("an object of schemas");
                };
                for (name, inner) in entries {
                    supported(inner, &format!("{here}/{name}"), depth + 1)?;
                }
            }
            "items" => supported(value, &here, depth + 1)?,
            "additionalProperties" if !value.is_boolean() => supported(value, &here, depth + 1)?,
            "anyOf" => {
                let Some(variants) = value.as_array() else {
                    return wrong("an array of schemas");
                };
                for (i, inner) in variants.iter().enumerate() {
                    supported(inner, &format!("{here}/{i}"), depth + 1)?;
                }
            }
            "type" => {
                let known = |t: &Value| t.as_str().is_some_and(|t| TYPES.contains(&t));
                let ok = match value {
                    Value::Array(types) => types.iter().all(known),
                    other => known(other),
                };
                if !ok {
                    return wrong(&format!("one of {} or an array of them", TYPES.join(", ")));
                }
            }
            "required"
                if !value
                    .as_array()
                    .is_some_and(|r| r.iter().all(Value::is_string)) =>
            {
                return wrong("an array of property names");
            }
            "enum" | "examples" if !value.is_array() => return wrong("an array"),
            "minItems" | "maxItems" | "minLength" | "maxLength" if value.as_u64().is_none() => {
                return wrong("a non-negative integer");
            }
            "minimum" | "maximum" if !value.is_number() => return wrong("a number"),
            "title" | "description" | "$schema" | "$id" if !value.is_string() => {
                return wrong("a string");
            }
            "$ref" => {
                let target = value.as_str().unwrap_or_default();
                if !(target.starts_with("#/$defs/") || target.starts_with("#/definitions/")) {
                    return Err(format!(
                        "{here}: only local references (#/$defs/…) are supported"
                    ));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn or_root(at: &str) -> &str {
    if at.is_empty() {
        "schema"
    } else {
        at
    }
}

/// The first local reference that names nothing (`#/$defs/missing`), if any.
pub fn unresolved_reference(schema: &Value) -> Option<String> {
    fn walk(root: &Value, value: &Value, depth: usize) -> Option<String> {
        if depth > MAX_DEPTH {
            return None;
        }
        match value {
            Value::Object(object) => {
                if let Some(target) = object.get("$ref").and_then(Value::as_str) {
                    if target.len() < 2 || root.pointer(&target[1..]).is_none() {
                        return Some(target.to_string());
                    }
                }
                object.values().find_map(|v| walk(root, v, depth + 1))
            }
            Value::Array(items) => items.iter().find_map(|v| walk(root, v, depth + 1)),
            _ => None,
        }
    }
    walk(schema, schema, 0)
}

/// Checks `value` against `schema`; the error names the first place that fails.
pub fn validate(schema: &Value, value: &Value) -> Result<(), String> {
    check(schema, schema, value, "$", 0)
}

fn check(
    root: &Value,
    schema: &Value,
    value: &Value,
    at: &str,
    depth: usize,
) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err(format!("{at}: nested too deeply"));
    }
    let schema = match schema {
        Value::Bool(true) => return Ok(()),
        Value::Bool(false) => return Err(format!("{at}: no value is allowed here")),
        Value::Object(object) => object,
        _ => return Err(format!("{at}: invalid schema")),
    };
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        let resolved = root
            .pointer(target.trim_start_matches('#'))
            .ok_or_else(|| format!("{at}: unresolved reference {target}"))?;
        return check(root, resolved, value, at, depth + 1);
    }
    if let Some(types) = schema.get("type") {
        let allowed: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !allowed.iter().any(|t| has_type(value, t)) {
            return Err(format!(
                "{at}: expected {}, got {}",
                allowed.join(" or "),
                type_of(value)
            ));
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        if !options.contains(value) {
            return Err(format!(
                "{at}: must be one of {}",
                Value::Array(options.clone())
            ));
        }
    }
    if let Some(expected) = schema.get("const") {
        if expected != value {
            return Err(format!("{at}: must be {expected}"));
        }
    }
    if let Some(variants) = schema.get("anyOf").and_then(Value::as_array) {
        if !variants
            .iter()
            .any(|v| check(root, v, value, at, depth + 1).is_ok())
        {
            return Err(format!("{at}: matches none of the allowed shapes"));
        }
    }
    match value {
        Value::String(s) => {
            let length = s.chars().count() as u64;
            if schema
                .get("minLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| length < m)
            {
                return Err(format!("{at}: shorter than minLength"));
            }
            if schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .is_some_and(|m| length > m)
            {
                return Err(format!("{at}: longer than maxLength"));
            }
        }
        Value::Number(n) => {
            let n = n.as_f64().unwrap_or(f64::NAN);
            if schema
                .get("minimum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n < m)
            {
                return Err(format!("{at}: below minimum"));
            }
            if schema
                .get("maximum")
                .and_then(Value::as_f64)
                .is_some_and(|m| n > m)
            {
                return Err(format!("{at}: above maximum"));
            }
        }
        Value::Array(items) => {
            let count = items.len() as u64;
            if schema
                .get("minItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| count < m)
            {
                return Err(format!("{at}: fewer items than minItems"));
            }
            if schema
                .get("maxItems")
                .and_then(Value::as_u64)
                .is_some_and(|m| count > m)
            {
                return Err(format!("{at}: more items than maxItems"));
            }
            if let Some(item_schema) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(root, item_schema, item, &format!("{at}[{i}]"), depth + 1)?;
                }
            }
        }
        Value::Object(object) => {
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let name = name.as_str().unwrap_or_default();
                if !object.contains_key(name) {
                    return Err(format!("{at}: missing required property `{name}`"));
                }
            }
            let properties = schema.get("properties").and_then(Value::as_object);
            for (name, inner) in object {
                let here = format!("{at}.{name}");
                match properties.and_then(|p| p.get(name)) {
                    Some(property) => check(root, property, inner, &here, depth + 1)?,
                    None => {
                        if let Some(extra) = schema.get("additionalProperties") {
                            check(root, extra, inner, &here, depth + 1)?;
                        }
                    }
                }
            }
        }
        _ => {}
    }
    Ok(())
}

fn has_type(value: &Value, kind: &str) -> bool {
    match kind {
        "string" => value.is_string(),
        "number" => value.is_number(),
        "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "array" => value.is_array(),
        "null" => value.is_null(),
        _ => false,
    }
}

fn type_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The simplest value `schema` allows: required properties only, minimum sizes, the first
/// enum value; strings are built from `words` (the input's key terms) so a reader can see
/// where they came from.
pub fn minimal_instance(schema: &Value, words: &[String]) -> Value {
    instance(schema, schema, words, 0)
}

fn instance(root: &Value, schema: &Value, words: &[String], depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if let Some(target) = schema.get("$ref").and_then(Value::as_str) {
        if let Some(resolved) = root.pointer(target.trim_start_matches('#')) {
            return instance(root, resolved, words, depth + 1);
        }
    }
    if let Some(value) = schema.get("const") {
        return value.clone();
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(first) = schema
        .get("anyOf")
        .and_then(Value::as_array)
        .and_then(|v| v.first())
    {
        return instance(root, first, words, depth + 1);
    }
    let kind = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ => "null",
    };
    match kind {
        "string" => {
            let min = schema.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
            let max = schema
                .get("maxLength")
                .and_then(Value::as_u64)
                .map_or(usize::MAX, |m| m as usize);
            let mut text = if words.is_empty() {
                "builtin".to_string()
            } else {
                words.join(" ")
            };
            while text.chars().count() < min {
                text.push('.');
            }
            text.chars().take(max).collect::<String>().into()
        }
        "integer" | "number" => {
            let min = schema.get("minimum").and_then(Value::as_f64);
            let max = schema.get("maximum").and_then(Value::as_f64);
            let n = match (min, max) {
                (Some(min), _) => min,
                (None, Some(max)) if max < 0.0 => max,
                _ => 0.0,
            };
            if kind == "integer" {
                Value::from(n.ceil() as i64)
            } else {
                Value::from(n)
            }
        }
        "boolean" => Value::Bool(false),
        "array" => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let item = schema.get("items").cloned().unwrap_or(Value::Bool(true));
            Value::Array(
                (0..min)
                    .map(|_| instance(root, &item, words, depth + 1))
                    .collect(),
            )
        }
        "object" => {
            let mut object = Map::new();
            let properties = schema.get("properties").and_then(Value::as_object);
            for name in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let Some(name) = name.as_str() else { continue };
                let property = properties
                    .and_then(|p| p.get(name))
                    .cloned()
                    .unwrap_or(Value::Bool(true));
                object.insert(
                    name.to_string(),
                    instance(root, &property, words, depth + 1),
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
    use serde_json::json;

    fn schema() -> Value {
        json!({
            "type": "object",
            "required": ["verdict", "score", "tags"],
            "additionalProperties": false,
            "properties": {
                "verdict": {"type": "string", "enum": ["allow", "deny"]},
                "score": {"type": "number", "minimum": 0.5, "maximum": 1},
                "tags": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/tag"}},
                "note": {"type": ["string", "null"], "maxLength": 5}
            },
            "$defs": {"tag": {"type": "string", "minLength": 2}}
        })
    }

    #[test]
    fn the_minimal_instance_validates() {
        let value = minimal_instance(&schema(), &["ledger".into()]);
        assert_eq!(
            value,
            json!({"verdict": "allow", "score": 0.5, "tags": ["ledger"]})
        );
        validate(&schema(), &value).unwrap();
    }

    #[test]
    fn failures_name_the_place() {
        let bad = json!({"verdict": "maybe", "score": 0.7, "tags": ["ok"]});
        assert!(validate(&schema(), &bad)
            .unwrap_err()
            .starts_with("$.verdict"));
        let bad = json!({"verdict": "allow", "score": 0.7, "tags": ["x"]});
        assert_eq!(
            validate(&schema(), &bad).unwrap_err(),
            "$.tags[0]: shorter than minLength"
        );
        let bad = json!({"verdict": "allow", "score": 0.7, "tags": ["ok"], "extra": 1});
        assert!(validate(&schema(), &bad)
            .unwrap_err()
            .contains("no value is allowed"));
        let bad = json!({"verdict": "allow", "tags": ["ok"]});
        assert!(validate(&schema(), &bad).unwrap_err().contains("`score`"));
    }

    #[test]
    fn unchecked_keywords_are_refused() {
        check_supported(&schema()).unwrap();
        let err = check_supported(&json!({"type": "string", "pattern": "^a"})).unwrap_err();
        assert!(err.contains("`pattern`"), "{err}");
        let err = check_supported(&json!({"$ref": "https://example.com/s.json"})).unwrap_err();
        assert!(err.contains("local references"), "{err}");
        let err = check_supported(&json!({"type": "strin"})).unwrap_err();
        assert!(err.starts_with("/type: must be one of"), "{err}");
        assert_eq!(unresolved_reference(&schema()), None);
        assert_eq!(
            unresolved_reference(&json!({"items": {"$ref": "#/$defs/gone"}})).as_deref(),
            Some("#/$defs/gone")
        );
    }
}
