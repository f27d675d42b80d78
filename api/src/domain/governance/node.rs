//! The governance node's identity: a persistent id and Ed25519 key that sign decisions,
//! capability tokens and ledger entries. Kept in the data dir (mode 0600) or given in config;
//! never regenerated once it exists.

use std::path::Path;

use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::domain::identity::tokens::hex;
use crate::error::{DomainError, DomainResult};

pub const FILE: &str = "governance-node.json";

#[derive(Serialize, Deserialize)]
struct StoredNode {
    node_id: String,
    /// Hex of the 32-byte Ed25519 secret key.
    secret_key: String,
    created_at: DateTime<Utc>,
}

pub struct NodeKey {
    pub node_id: String,
    pub created_at: DateTime<Utc>,
    signing: SigningKey,
}

fn parse_secret(text: &str) -> DomainResult<SigningKey> {
    let bad = || DomainError::internal("governance node key must be 64 hex characters");
    if text.len() != 64 {
        return Err(bad());
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[i * 2..i * 2 + 2], 16).map_err(|_| bad())?;
    }
    Ok(SigningKey::from_bytes(&bytes))
}

impl NodeKey {
    /// From configuration (`governance.node_id` + `governance.node_key`).
    pub fn from_config(node_id: &str, secret_hex: &str) -> DomainResult<Self> {
        Ok(Self {
            node_id: node_id.to_string(),
            created_at: DateTime::<Utc>::UNIX_EPOCH,
            signing: parse_secret(secret_hex)?,
        })
    }

    /// The configured identity, or the data dir's.
    pub fn from(config: &crate::config::Config) -> DomainResult<Self> {
        match (&config.governance.node_id, &config.governance.node_key) {
            (Some(id), Some(key)) => Self::from_config(id, key),
            _ => Self::load_or_create(&config.data_dir),
        }
    }

    pub fn load_or_create(dir: &Path) -> DomainResult<Self> {
        let path = dir.join(FILE);
        if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(DomainError::internal)?;
            let stored: StoredNode = serde_json::from_str(&text)
                .map_err(|e| DomainError::internal(format!("{}: {e}", path.display())))?;
            return Ok(Self {
                signing: parse_secret(&stored.secret_key)?,
                node_id: stored.node_id,
                created_at: stored.created_at,
            });
        }
        let mut secret = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let stored = StoredNode {
            node_id: format!("node_{}", ulid::Ulid::new()),
            secret_key: hex(&secret),
            created_at: Utc::now(),
        };
        crate::domain::identity::tokens::write_private(
            &path,
            &serde_json::to_vec_pretty(&stored).map_err(DomainError::internal)?,
        )?;
        Ok(Self {
            signing: SigningKey::from_bytes(&secret),
            node_id: stored.node_id,
            created_at: stored.created_at,
        })
    }

    pub fn public_key(&self) -> VerifyingKey {
        self.signing.verifying_key()
    }

    pub fn public_key_hex(&self) -> String {
        hex(self.public_key().as_bytes())
    }

    pub fn sign(&self, message: &[u8]) -> Signature {
        self.signing.sign(message)
    }

    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        self.public_key().verify(message, signature).is_ok()
    }
}

/// A verifying key from its hex form (as `/node/info` publishes it).
pub fn public_key_from_hex(text: &str) -> Option<VerifyingKey> {
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    VerifyingKey::from_bytes(&bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persists_and_never_regenerates() {
        let dir = tempfile::tempdir().unwrap();
        let first = NodeKey::load_or_create(dir.path()).unwrap();
        let again = NodeKey::load_or_create(dir.path()).unwrap();
        assert_eq!(first.node_id, again.node_id);
        assert_eq!(first.public_key_hex(), again.public_key_hex());
        let signature = first.sign(b"m");
        assert!(again.verify(b"m", &signature));
        assert!(!again.verify(b"n", &signature));
        assert_eq!(
            public_key_from_hex(&first.public_key_hex()),
            Some(first.public_key())
        );
    }
}
