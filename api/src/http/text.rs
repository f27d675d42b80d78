//! Text every database can store. PostgreSQL refuses the NUL character (U+0000) in text
//! columns while SQLite stores it, so it is refused at the edge, on every database alike,
//! naming the field — before it can fail a write (or a group commit) deep inside.

use serde_json::Value;

use crate::error::DomainError;

pub fn nul_error(field: &str) -> DomainError {
    DomainError::invalid(
        field,
        format!("{field} must not contain the NUL character (U+0000)"),
    )
}

/// A cheap pre-check on raw JSON: true when an unescaped `\u0000` escape occurs. JSON text
/// cannot hold a raw NUL byte, so this escape is the only way one gets in.
pub fn json_may_contain_nul(bytes: &[u8]) -> bool {
    let needle = b"u0000";
    let mut i = 0;
    while let Some(at) = bytes[i..].windows(needle.len()).position(|w| w == needle) {
        let u = i + at;
        // An escape when an odd number of backslashes precedes the `u`.
        let slashes = bytes[..u].iter().rev().take_while(|b| **b == b'\\').count();
        if slashes % 2 == 1 {
            return true;
        }
        i = u + 1;
    }
    false
}

/// The dotted path of the first key or string value holding a NUL, as an `Invalid` error.
pub fn reject_nul_in_json(value: &Value) -> Result<(), DomainError> {
    match find_nul(value, String::new()) {
        Some(path) => Err(nul_error(if path.is_empty() { "body" } else { &path })),
        None => Ok(()),
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// The path (below `path`) of the first key or string holding a NUL. serde_json bounds the
/// depth of what it parses (128), and GraphQL values are bounded before parsing, so this
/// recursion is bounded too.
pub fn find_nul(value: &Value, path: String) -> Option<String> {
    match value {
        Value::String(s) if s.contains('\0') => Some(path),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| find_nul(item, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(key, item)| {
            if key.contains('\0') {
                Some(join(&path, &key.replace('\0', "\\u0000")))
            } else {
                find_nul(item, join(&path, key))
            }
        }),
        _ => None,
    }
}

/// Refuses a query string whose decoded names or values hold a NUL.
pub fn reject_nul_in_query(query: &str) -> Result<(), DomainError> {
    if !query.contains("%00") {
        return Ok(());
    }
    for (name, value) in form_pairs(query) {
        if name.contains('\0') || value.contains('\0') {
            return Err(nul_error(&name.replace('\0', "\\u0000")));
        }
    }
    Ok(())
}

fn form_pairs(query: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(query).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_escaped_nul_only() {
        assert!(json_may_contain_nul(br#"{"a":"x\u0000"}"#));
        assert!(json_may_contain_nul(br#"{"a":"\\\u0000"}"#));
        assert!(
            !json_may_contain_nul(br#"{"a":"\\u0000"}"#),
            "an escaped backslash"
        );
        assert!(!json_may_contain_nul(br#"{"a":"u0000"}"#));
    }

    #[test]
    fn names_the_field() {
        let field = |v: Value| match reject_nul_in_json(&v) {
            Err(DomainError::Invalid { field, .. }) => field,
            other => panic!("{other:?}"),
        };
        assert_eq!(field(json!({"email": "a\u{0}b"})).as_deref(), Some("email"));
        assert_eq!(
            field(json!({"context": {"k": ["ok", "x\u{0}"]}})).as_deref(),
            Some("context.k[1]")
        );
        assert_eq!(field(json!({"a\u{0}": 1})).as_deref(), Some("a\\u0000"));
        assert!(reject_nul_in_json(&json!({"a": "fine"})).is_ok());
    }

    #[test]
    fn checks_query_strings() {
        assert!(reject_nul_in_query("actor=a%00b").is_err());
        assert!(reject_nul_in_query("actor=ab&x=%2500").is_ok());
    }
}
