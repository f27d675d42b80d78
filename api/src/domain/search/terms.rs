//! Terms for the lexical index: words, and identifiers split into their sub-words plus the
//! whole, the same way at index and at query time (`SqlitePoolOptions` matches `sqlite pool
//! options`, `verify_token` matches `verifyToken`).

/// `verifyToken`, `verify_token`, `HTTPServer2` → `verify`/`token`, `http`/`server`/`2`:
/// identifiers match the words they are made of.
pub fn sub_words(identifier: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let chars: Vec<char> = identifier.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        let boundary = !current.is_empty()
            && match chars.get(i.wrapping_sub(1)) {
                Some(&prev) => {
                    (prev.is_lowercase() && c.is_uppercase())
                        || (prev.is_alphabetic() != c.is_alphabetic())
                        || (prev.is_uppercase()
                            && c.is_uppercase()
                            && chars.get(i + 1).is_some_and(|n| n.is_lowercase()))
                }
                None => false,
            };
        if boundary {
            words.push(std::mem::take(&mut current));
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The term that marks a chunk's owner in the full-text index, so a MATCH filters by owner
/// itself (and the index can rank only that owner's chunks).
pub fn owner_term(owner: &str) -> String {
    format!("zowner{}", hex16(owner))
}

/// The term that marks a chunk's repository.
pub fn repository_term(repository: &str) -> String {
    format!("zrepo{}", hex16(repository))
}

fn hex16(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Every term of `text`: each word's sub-words, and the word itself (lowercase, joined)
/// when it has several; only ASCII-safe alphanumerics survive, so terms can be quoted into
/// any full-text query language.
pub fn terms_of(text: &str) -> Vec<String> {
    let mut terms = Vec::new();
    for token in text.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
        if token.is_empty() {
            continue;
        }
        let parts = sub_words(token);
        if parts.len() > 1 {
            terms.push(parts.concat());
        }
        terms.extend(parts);
    }
    terms.retain(|t| !t.is_empty() && t.len() <= 64);
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_split_into_words() {
        assert_eq!(sub_words("verifyToken"), ["verify", "token"]);
        assert_eq!(
            sub_words("SqlitePoolOptions"),
            ["sqlite", "pool", "options"]
        );
        assert_eq!(sub_words("HTTPServer2"), ["http", "server", "2"]);
        assert_eq!(sub_words("verify_token"), ["verify", "token"]);
    }

    #[test]
    fn terms_hold_sub_words_and_the_whole() {
        assert_eq!(
            terms_of("fn verify_token(opts: SqlitePoolOptions)"),
            [
                "fn",
                "verifytoken",
                "verify",
                "token",
                "opts",
                "sqlitepooloptions",
                "sqlite",
                "pool",
                "options"
            ]
        );
        assert_eq!(terms_of("verifyToken"), terms_of("verify_token"));
    }
}
