//! Access tokens (HS256 JWTs with a `kid` from a persisted key ring) and opaque refresh tokens.

/// Clock skew tolerated when checking `exp`, `iat` and `nbf`.
pub const JWT_LEEWAY_SECS: u64 = 5;

use std::collections::HashMap;
use std::path::Path;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::{
    decode, decode_header, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation,
};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{DomainError, DomainResult};

const ACCESS_TYP: &str = "access";
const REFRESH_PREFIX: &str = "rt_";

#[derive(Debug, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub typ: String,
    /// The login session (refresh-token family) this token belongs to.
    pub sid: String,
    /// The factors the session presented (RFC 8176: `pwd`, `hwk`, `mfa`). Tokens from
    /// before passkeys carry none; they were password logins.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
}

impl AccessClaims {
    pub fn factors(&self) -> super::factors::Factors {
        match super::factors::Factors::from_amr(&self.amr) {
            super::factors::Factors::NONE => super::factors::Factors::PASSWORD,
            known => known,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct StoredKey {
    kid: String,
    secret: String,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, Deserialize)]
struct StoredRing {
    active: String,
    keys: Vec<StoredKey>,
}

/// Signing keys by `kid`: the active one signs, every one in the ring verifies, so a key
/// can be rotated without logging anybody out.
pub struct KeyRing {
    active: String,
    encoding: EncodingKey,
    decoding: HashMap<String, DecodingKey>,
    issuer: String,
    audience: String,
    ttl_secs: i64,
    validation: Validation,
}

fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    STANDARD.encode(bytes)
}

fn kid_of(secret: &str) -> String {
    format!("k{}", &hex(&Sha256::digest(secret.as_bytes()))[..12])
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex SHA-256, the stored form of high-entropy secrets (refresh tokens, API keys).
pub fn sha256_hex(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

impl KeyRing {
    fn from_stored(
        ring: StoredRing,
        issuer: String,
        audience: String,
        ttl_secs: i64,
    ) -> DomainResult<Self> {
        let mut decoding = HashMap::new();
        let mut encoding = None;
        for key in &ring.keys {
            let secret = STANDARD
                .decode(&key.secret)
                .map_err(|e| DomainError::internal(format!("JWT key {}: {e}", key.kid)))?;
            if secret.len() < 32 {
                return Err(DomainError::internal(format!(
                    "JWT key {} is shorter than 256 bits",
                    key.kid
                )));
            }
            decoding.insert(key.kid.clone(), DecodingKey::from_secret(&secret));
            if key.kid == ring.active {
                encoding = Some(EncodingKey::from_secret(&secret));
            }
        }
        let encoding = encoding
            .ok_or_else(|| DomainError::internal("the active JWT key is not in the key ring"))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&issuer]);
        validation.set_audience(&[&audience]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Tokens are issued by this server (or its siblings on one clock source): a few
        // seconds cover clock skew between instances without extending a token's life.
        validation.leeway = JWT_LEEWAY_SECS;
        Ok(Self {
            active: ring.active,
            encoding,
            decoding,
            issuer,
            audience,
            ttl_secs,
            validation,
        })
    }

    /// A ring holding only the configured secret.
    pub fn from_secret(
        secret: &str,
        issuer: String,
        audience: String,
        ttl_secs: i64,
    ) -> DomainResult<Self> {
        let kid = kid_of(secret);
        let ring = StoredRing {
            active: kid.clone(),
            keys: vec![StoredKey {
                kid,
                secret: secret.to_string(),
                created_at: Utc::now(),
            }],
        };
        Self::from_stored(ring, issuer, audience, ttl_secs)
    }

    /// Loads `jwt-keys.json` from the data dir, creating it (mode 0600) on first start.
    pub fn load_or_create(
        dir: &Path,
        issuer: String,
        audience: String,
        ttl_secs: i64,
    ) -> DomainResult<Self> {
        let path = dir.join("jwt-keys.json");
        let ring = if path.exists() {
            let text = std::fs::read_to_string(&path).map_err(DomainError::internal)?;
            serde_json::from_str(&text)
                .map_err(|e| DomainError::internal(format!("{}: {e}", path.display())))?
        } else {
            let secret = random_secret();
            let kid = kid_of(&secret);
            let ring = StoredRing {
                active: kid.clone(),
                keys: vec![StoredKey {
                    kid,
                    secret,
                    created_at: Utc::now(),
                }],
            };
            write_private(
                &path,
                &serde_json::to_vec_pretty(&ring).map_err(DomainError::internal)?,
            )?;
            ring
        };
        Self::from_stored(ring, issuer, audience, ttl_secs)
    }

    /// Adds a new active key to the ring file; older keys keep verifying until removed.
    pub fn rotate(dir: &Path) -> DomainResult<String> {
        let path = dir.join("jwt-keys.json");
        let text = std::fs::read_to_string(&path).map_err(DomainError::internal)?;
        let mut ring: StoredRing = serde_json::from_str(&text).map_err(DomainError::internal)?;
        let secret = random_secret();
        let kid = kid_of(&secret);
        ring.keys.push(StoredKey {
            kid: kid.clone(),
            secret,
            created_at: Utc::now(),
        });
        ring.active = kid.clone();
        write_private(
            &path,
            &serde_json::to_vec_pretty(&ring).map_err(DomainError::internal)?,
        )?;
        Ok(kid)
    }

    pub fn ttl_secs(&self) -> i64 {
        self.ttl_secs
    }

    pub fn issue(
        &self,
        user_id: &str,
        session: &str,
        factors: super::factors::Factors,
    ) -> DomainResult<String> {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user_id.to_string(),
            exp: now + self.ttl_secs,
            iat: now,
            jti: uuid::Uuid::new_v4().to_string(),
            typ: ACCESS_TYP.into(),
            sid: session.to_string(),
            amr: factors.amr(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.active.clone());
        encode(&header, &claims, &self.encoding).map_err(DomainError::internal)
    }

    pub fn verify(&self, token: &str) -> DomainResult<AccessClaims> {
        let invalid = || DomainError::Unauthenticated("invalid or expired access token".into());
        let header = decode_header(token).map_err(|_| invalid())?;
        // The algorithm is pinned: a token naming any other (e.g. `none`) is refused.
        if header.alg != Algorithm::HS256 {
            return Err(invalid());
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.decoding.get(kid))
            .ok_or_else(invalid)?;
        let data = decode::<AccessClaims>(token, key, &self.validation).map_err(|_| invalid())?;
        if data.claims.typ != ACCESS_TYP || data.claims.jti.is_empty() {
            return Err(invalid());
        }
        Ok(data.claims)
    }
}

pub fn write_private(path: &Path, bytes: &[u8]) -> DomainResult<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| DomainError::internal(format!("{}: {e}", path.display())))?;
    file.write_all(bytes).map_err(DomainError::internal)
}

/// A new opaque refresh token and the hash that is stored for it.
pub fn new_refresh_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{REFRESH_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = sha256_hex(&token);
    (token, hash)
}

pub fn looks_like_refresh_token(token: &str) -> bool {
    token.len() == REFRESH_PREFIX.len() + 43 && token.starts_with(REFRESH_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::factors::Factors;

    fn ring() -> KeyRing {
        KeyRing::from_secret(&random_secret(), "orrery".into(), "orrery-api".into(), 3600).unwrap()
    }

    #[test]
    fn issues_and_verifies() {
        let ring = ring();
        let token = ring.issue("u1", "s1", Factors::PASSWORD).unwrap();
        let claims = ring.verify(&token).unwrap();
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("u1", "s1"));
    }

    #[test]
    fn refuses_foreign_keys_and_tampering() {
        let token = ring().issue("u1", "s1", Factors::PASSWORD).unwrap();
        assert!(ring().verify(&token).is_err(), "another ring's key");
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(
            br#"{"iss":"orrery","aud":"orrery-api","sub":"admin","exp":9999999999,"iat":0,"jti":"x","typ":"access","sid":"s"}"#,
        );
        let ring = ring();
        let forged = parts.join(".");
        assert!(ring.verify(&forged).is_err());
    }

    #[test]
    fn refuses_alg_none_and_wrong_audience() {
        let ring = ring();
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
            URL_SAFE_NO_PAD.encode(br#"{"sub":"u1"}"#)
        );
        assert!(ring.verify(&none).is_err());
        let secret = random_secret();
        let ours = KeyRing::from_secret(&secret, "orrery".into(), "orrery-api".into(), 60).unwrap();
        let theirs =
            KeyRing::from_secret(&secret, "orrery".into(), "someone-else".into(), 60).unwrap();
        let token = theirs.issue("u1", "s1", Factors::PASSWORD).unwrap();
        assert!(ours.verify(&token).is_err(), "same key, other audience");
        assert!(ours
            .verify(&ours.issue("u1", "s1", Factors::PASSWORD).unwrap())
            .is_ok());
    }

    #[test]
    fn rotation_keeps_old_tokens_valid() {
        let dir = tempfile::tempdir().unwrap();
        let old = KeyRing::load_or_create(dir.path(), "i".into(), "a".into(), 60).unwrap();
        let token = old.issue("u", "s", Factors::PASSWORD).unwrap();
        let kid = KeyRing::rotate(dir.path()).unwrap();
        let new = KeyRing::load_or_create(dir.path(), "i".into(), "a".into(), 60).unwrap();
        assert_eq!(new.active, kid);
        assert!(new.verify(&token).is_ok());
        assert_ne!(
            decode_header(&new.issue("u", "s", Factors::PASSWORD).unwrap())
                .unwrap()
                .kid
                .unwrap(),
            decode_header(&token).unwrap().kid.unwrap()
        );
    }

    #[test]
    fn refresh_tokens_are_opaque_and_hashed() {
        let (token, hash) = new_refresh_token();
        assert!(looks_like_refresh_token(&token));
        assert_eq!(hash, sha256_hex(&token));
        assert_eq!(hash.len(), 64);
    }
}
