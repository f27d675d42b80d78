//! Capability tokens: `cap_` + base64url(JCS claims) + `.` + base64url(Ed25519 signature),
//! self-contained and checkable offline with the node's public key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use ed25519_dalek::{Signature, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

use super::canonical::{canonical, CAPABILITY_TAG};
use super::node::NodeKey;
use crate::error::DomainResult;

const PREFIX: &str = "cap_";
/// Tokens longer than this are refused unread.
const MAX_LEN: usize = 8192;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub token_id: String,
    pub decision_id: String,
    pub actor: String,
    pub tool: String,
    pub action: String,
    pub policy_version: String,
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub node_id: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalid {
    Malformed,
    Signature,
    Expired,
    Revoked,
    ActionMismatch,
    ActorMismatch,
}

impl Invalid {
    /// The reasons the spec lists for `POST /verify`.
    pub fn reason(self) -> &'static str {
        match self {
            Invalid::Malformed => "Malformed token",
            Invalid::Signature => "Invalid signature",
            Invalid::Expired => "Token expired",
            Invalid::Revoked => "Token revoked",
            Invalid::ActionMismatch => "Action mismatch",
            Invalid::ActorMismatch => "Actor mismatch",
        }
    }
}

fn signed_message(claims_json: &[u8]) -> Vec<u8> {
    [CAPABILITY_TAG, claims_json].concat()
}

pub fn issue(node: &NodeKey, claims: &Claims) -> DomainResult<String> {
    let json = canonical(claims)?;
    let signature = node.sign(&signed_message(json.as_bytes()));
    Ok(format!(
        "{PREFIX}{}.{}",
        URL_SAFE_NO_PAD.encode(json.as_bytes()),
        URL_SAFE_NO_PAD.encode(signature.to_bytes())
    ))
}

/// Checks shape, signature and expiry; revocation and bindings are the caller's next steps.
pub fn check(key: &VerifyingKey, token: &str, now: DateTime<Utc>) -> Result<Claims, Invalid> {
    if token.len() > MAX_LEN {
        return Err(Invalid::Malformed);
    }
    let body = token.strip_prefix(PREFIX).ok_or(Invalid::Malformed)?;
    let (claims_b64, signature_b64) = body.split_once('.').ok_or(Invalid::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(claims_b64)
        .map_err(|_| Invalid::Malformed)?;
    let signature: [u8; 64] = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .ok()
        .and_then(|s| s.try_into().ok())
        .ok_or(Invalid::Malformed)?;
    let claims: Claims = serde_json::from_slice(&json).map_err(|_| Invalid::Malformed)?;
    key.verify(&signed_message(&json), &Signature::from_bytes(&signature))
        .map_err(|_| Invalid::Signature)?;
    if claims.expires_at <= now {
        return Err(Invalid::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(expires_in: i64) -> Claims {
        let now = Utc::now();
        Claims {
            token_id: "cap_1".into(),
            decision_id: "dec_1".into(),
            actor: "model".into(),
            tool: "web_search".into(),
            action: "Search the web".into(),
            policy_version: "1.0.0".into(),
            issued_at: now,
            expires_at: now + chrono::Duration::seconds(expires_in),
            node_id: "node_1".into(),
        }
    }

    fn node() -> NodeKey {
        NodeKey::load_or_create(tempfile::tempdir().unwrap().path()).unwrap()
    }

    #[test]
    fn valid_tokens_verify_offline() {
        let node = node();
        let token = issue(&node, &claims(60)).unwrap();
        assert_eq!(
            check(&node.public_key(), &token, Utc::now()).unwrap(),
            claims_of(&token)
        );
    }

    fn claims_of(token: &str) -> Claims {
        let body = token
            .strip_prefix(PREFIX)
            .unwrap()
            .split('.')
            .next()
            .unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).unwrap()).unwrap()
    }

    #[test]
    fn expired_tampered_foreign_and_garbage_tokens_fail() {
        let node = node();
        let now = Utc::now();
        let expired = issue(&node, &claims(-1)).unwrap();
        assert_eq!(
            check(&node.public_key(), &expired, now),
            Err(Invalid::Expired)
        );

        let token = issue(&node, &claims(60)).unwrap();
        let (body, signature) = token.strip_prefix(PREFIX).unwrap().split_once('.').unwrap();
        let mut forged = claims_of(&token);
        forged.tool = "delete_everything".into();
        let forged_body = URL_SAFE_NO_PAD.encode(canonical(&forged).unwrap());
        let tampered = format!("{PREFIX}{forged_body}.{signature}");
        assert_eq!(
            check(&node.public_key(), &tampered, now),
            Err(Invalid::Signature)
        );

        let other =
            super::super::node::NodeKey::load_or_create(tempfile::tempdir().unwrap().path())
                .unwrap();
        assert_eq!(
            check(&other.public_key(), &token, now),
            Err(Invalid::Signature)
        );

        for garbage in [
            "",
            "cap_",
            "cap_x.y",
            "tok_abc",
            &format!("{PREFIX}{body}"),
            &format!("{PREFIX}{body}.AAAA"),
        ] {
            assert_eq!(
                check(&node.public_key(), garbage, now),
                Err(Invalid::Malformed),
                "{garbage}"
            );
        }
    }
}
