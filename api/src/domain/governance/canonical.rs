//! RFC 8785 (JCS) canonical JSON and the domain-separated hashes and signatures built on it.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::error::{DomainError, DomainResult};

/// Domain tags keep a hash or signature of one kind from being valid as another.
pub const LEDGER_ENTRY_TAG: &[u8] = b"orrery/ledger-entry/v1\0";
pub const DECISION_TAG: &[u8] = b"orrery/decision/v1\0";
pub const CAPABILITY_TAG: &[u8] = b"orrery/capability/v1\0";
pub const CHECKPOINT_TAG: &[u8] = b"orrery/ledger-checkpoint/v1\0";

pub fn canonical<T: Serialize + ?Sized>(value: &T) -> DomainResult<String> {
    serde_jcs::to_string(value).map_err(DomainError::internal)
}

/// `"sha256:" + hex(SHA-256(tag ‖ bytes))`.
pub fn tagged_hash(tag: &[u8], bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(tag);
    hasher.update(bytes);
    format!(
        "sha256:{}",
        crate::domain::identity::tokens::hex(&hasher.finalize())
    )
}

pub fn signature_text(signature: &ed25519_dalek::Signature) -> String {
    format!("ed25519:{}", STANDARD.encode(signature.to_bytes()))
}

pub fn parse_signature(text: &str) -> Option<ed25519_dalek::Signature> {
    let bytes = STANDARD.decode(text.strip_prefix("ed25519:")?).ok()?;
    let bytes: [u8; 64] = bytes.try_into().ok()?;
    Some(ed25519_dalek::Signature::from_bytes(&bytes))
}

/// Timestamps that are hashed are stored as text in this one format, so the bytes read back
/// are the bytes that were hashed on every database.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_form_follows_rfc_8785() {
        // Keys sorted by UTF-16 code units, no whitespace, ES number formatting.
        let value = json!({ "b": 1, "a": [1.5, 1e21, 0.000001, -0.0], "\u{e9}": "x", "A": null });
        assert_eq!(
            canonical(&value).unwrap(),
            r#"{"A":null,"a":[1.5,1e+21,0.000001,0],"b":1,"é":"x"}"#
        );
    }

    #[test]
    fn tags_separate_domains() {
        assert_ne!(
            tagged_hash(LEDGER_ENTRY_TAG, b"x"),
            tagged_hash(DECISION_TAG, b"x")
        );
        assert!(tagged_hash(LEDGER_ENTRY_TAG, b"x").starts_with("sha256:"));
        assert_eq!(tagged_hash(LEDGER_ENTRY_TAG, b"x").len(), 7 + 64);
    }

    #[test]
    fn timestamps_have_one_format() {
        let at = chrono::DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456789Z")
            .unwrap()
            .to_utc();
        assert_eq!(timestamp(at), "2026-01-02T03:04:05.123456Z");
    }
}
