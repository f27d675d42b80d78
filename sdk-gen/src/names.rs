//! Identifier spelling for each target language.

pub fn snake_case(name: &str) -> String {
    let mut out = String::new();
    let mut prev_lower = false;
    for ch in name.chars() {
        if ch == '-' || ch == ' ' || ch == '.' || ch == '/' {
            if !out.ends_with('_') && !out.is_empty() {
                out.push('_');
            }
            prev_lower = false;
        } else if ch.is_ascii_uppercase() {
            if prev_lower && !out.ends_with('_') {
                out.push('_');
            }
            out.push(ch.to_ascii_lowercase());
            prev_lower = false;
        } else {
            out.push(ch);
            prev_lower = ch.is_ascii_lowercase() || ch.is_ascii_digit();
        }
    }
    out
}

pub fn camel_case(name: &str) -> String {
    let snake = snake_case(name);
    let mut out = String::new();
    let mut upper = false;
    for ch in snake.chars() {
        if ch == '_' {
            upper = !out.is_empty();
        } else if upper {
            out.push(ch.to_ascii_uppercase());
            upper = false;
        } else {
            out.push(ch);
        }
    }
    out
}

pub fn pascal_case(name: &str) -> String {
    let camel = camel_case(name);
    let mut chars = camel.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

const PYTHON_RESERVED: &[&str] = &[
    "False",
    "None",
    "True",
    "and",
    "as",
    "assert",
    "async",
    "await",
    "break",
    "class",
    "continue",
    "def",
    "del",
    "elif",
    "else",
    "except",
    "finally",
    "for",
    "from",
    "global",
    "if",
    "import",
    "in",
    "is",
    "lambda",
    "nonlocal",
    "not",
    "or",
    "pass",
    "raise",
    "return",
    "try",
    "while",
    "with",
    "yield",
    "request_options",
];

const TS_RESERVED: &[&str] = &[
    "break",
    "case",
    "catch",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "else",
    "enum",
    "export",
    "extends",
    "false",
    "finally",
    "for",
    "function",
    "if",
    "import",
    "in",
    "instanceof",
    "new",
    "null",
    "return",
    "super",
    "switch",
    "this",
    "throw",
    "true",
    "try",
    "typeof",
    "var",
    "void",
    "while",
    "with",
    "options",
];

/// A Python identifier for `name` (snake_case, reserved words suffixed with `_`).
pub fn python_ident(name: &str) -> String {
    let ident = snake_case(name);
    if PYTHON_RESERVED.contains(&ident.as_str()) {
        ident + "_"
    } else {
        ident
    }
}

/// A TypeScript identifier for `name` (camelCase, reserved words suffixed with `_`).
pub fn ts_ident(name: &str) -> String {
    let ident = camel_case(name);
    if TS_RESERVED.contains(&ident.as_str()) {
        ident + "_"
    } else {
        ident
    }
}

/// A TypeScript property key: the wire name, quoted when it is not an identifier.
pub fn ts_key(name: &str) -> String {
    let plain = name.chars().enumerate().all(|(i, c)| {
        c == '_' || c == '$' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())
    });
    if plain {
        name.to_string()
    } else {
        format!("{name:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cases() {
        assert_eq!(snake_case("createdAt"), "created_at");
        assert_eq!(snake_case("get_ledger"), "get_ledger");
        assert_eq!(snake_case("api-keys"), "api_keys");
        assert_eq!(camel_case("get_ledger"), "getLedger");
        assert_eq!(camel_case("isActive"), "isActive");
        assert_eq!(pascal_case("api_keys"), "ApiKeys");
        assert_eq!(python_ident("from"), "from_");
        assert_eq!(ts_ident("delete"), "delete_");
        assert_eq!(ts_key("x-y"), "\"x-y\"");
        assert_eq!(ts_key("entry_id"), "entry_id");
    }
}
