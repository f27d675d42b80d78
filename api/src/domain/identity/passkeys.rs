//! Passkeys: WebAuthn registration and authentication ceremonies, verified by webauthn-rs.
//! A ceremony's state is stored under its challenge, so whichever instance the client's
//! second request reaches can finish it, and taking it deletes it (a challenge answers
//! once). Identity decides who may start a ceremony; this module only keeps the
//! credentials and checks what authenticators sign.

use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use orrery_entities::{passkey, webauthn_ceremony};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde::de::DeserializeOwned;
use serde::Serialize;
use webauthn_rs::prelude::{
    Passkey, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, Url, Uuid, Webauthn, WebauthnBuilder,
};

use crate::config::AuthConfig;
use crate::error::{DomainError, DomainResult};

/// How long a begun ceremony can be finished (the WebAuthn timeout sent to the client).
const CEREMONY_TTL_SECS: i64 = 300;
/// Ceremonies of one kind a user may have open; beginning another drops the oldest.
const OPEN_CEREMONIES: u64 = 5;
pub const MAX_PASSKEYS: u64 = 10;
const NAME_MAX: usize = 64;
/// A serialised credential beyond this is not one (ids are ≤ 1 023 bytes, keys small).
const CREDENTIAL_JSON_MAX: usize = 64 * 1024;

const REGISTER: &str = "register";
const AUTHENTICATE: &str = "authenticate";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasskeyInfo {
    pub id: String,
    pub name: String,
    /// Base64url of the credential id (what the authenticator and the browser call it).
    pub credential_id: String,
    /// The authenticator's signature counter as last seen (0 for authenticators without one).
    pub counter: i64,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The options for `navigator.credentials.create()` / `get()`, in the library's JSON
/// (`{"publicKey": {...}}`, binary fields base64url), and until when they can be answered.
#[derive(Clone, Debug)]
pub struct CeremonyOptions {
    pub options: serde_json::Value,
    pub expires_at: DateTime<Utc>,
}

/// Which registered passkey signed a verified assertion.
#[derive(Clone, Debug)]
pub struct VerifiedAssertion {
    pub passkey_id: String,
}

pub struct Passkeys {
    db: DatabaseConnection,
    webauthn: Webauthn,
}

fn to_info(model: passkey::Model) -> PasskeyInfo {
    PasskeyInfo {
        id: model.id,
        name: model.name,
        credential_id: model.credential_id,
        counter: model.counter,
        created_at: model.created_at,
        last_used_at: model.last_used_at,
    }
}

/// The relying party from the configuration.
fn relying_party(config: &AuthConfig) -> DomainResult<Webauthn> {
    let bad = |what: String| DomainError::internal(format!("auth.webauthn: {what}"));
    let rp_id = config.webauthn_rp_id.as_str();
    let localhost = rp_id == "localhost";
    let any_port = localhost && config.webauthn_origins.is_empty();
    let mut origins = config
        .webauthn_origins
        .iter()
        .map(|o| Url::parse(o).map_err(|e| bad(format!("origin '{o}': {e}"))))
        .collect::<DomainResult<Vec<_>>>()?;
    if origins.is_empty() {
        let default = if localhost {
            "http://localhost".to_string()
        } else {
            format!("https://{rp_id}")
        };
        origins.push(Url::parse(&default).map_err(|e| bad(format!("rp_id '{rp_id}': {e}")))?);
    }
    let mut builder = WebauthnBuilder::new(rp_id, &origins[0])
        .map_err(|e| bad(format!("rp_id '{rp_id}' with origin {}: {e}", origins[0])))?
        .rp_name("Orrery")
        .timeout(std::time::Duration::from_secs(CEREMONY_TTL_SECS as u64))
        // Development servers run on whatever port they were given; configured origins
        // are taken exactly.
        .allow_any_port(any_port);
    for origin in &origins[1..] {
        builder = builder.append_allowed_origin(origin);
    }
    builder.build().map_err(|e| bad(e.to_string()))
}

fn to_json<T: Serialize>(value: &T) -> DomainResult<String> {
    serde_json::to_string(value).map_err(DomainError::internal)
}

fn from_stored<T: DeserializeOwned>(text: &str) -> DomainResult<T> {
    serde_json::from_str(text).map_err(DomainError::internal)
}

/// Reads a credential the client sent: a JSON object, or the base64 of one (the form the
/// LUKHAS document's `biometric_data` string takes).
pub fn parse_credential<T: DeserializeOwned>(field: &str, text: &str) -> DomainResult<T> {
    let invalid = |why: &str| {
        DomainError::invalid(
            field,
            format!("{field} must be a WebAuthn credential (the PublicKeyCredential's JSON, or its base64): {why}"),
        )
    };
    if text.len() > CREDENTIAL_JSON_MAX {
        return Err(invalid("too long"));
    }
    let trimmed = text.trim();
    let json = if trimmed.starts_with('{') {
        trimmed.as_bytes().to_vec()
    } else {
        [&STANDARD, &URL_SAFE, &URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(trimmed).ok())
            .ok_or_else(|| invalid("neither JSON nor base64"))?
    };
    serde_json::from_slice(&json).map_err(|e| invalid(&e.to_string()))
}

/// Refuses (400) what is not a WebAuthn assertion at all, before any credential is checked.
pub fn check_assertion_shape(field: &str, text: &str) -> DomainResult<()> {
    let credential: PublicKeyCredential = parse_credential(field, text)?;
    challenge_of(field, &credential.response.client_data_json).map(|_| ())
}

/// The challenge a credential answers, from its client data, in the stored form.
fn challenge_of(field: &str, client_data_json: &[u8]) -> DomainResult<String> {
    #[derive(serde::Deserialize)]
    struct ClientData {
        challenge: String,
    }
    let data: ClientData = serde_json::from_slice(client_data_json).map_err(|_| {
        DomainError::invalid(field, "the credential's clientDataJSON has no challenge")
    })?;
    let bytes = URL_SAFE_NO_PAD
        .decode(data.challenge.trim_end_matches('='))
        .map_err(|_| DomainError::invalid(field, "the credential's challenge is not base64url"))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The challenge of options the library made, in the stored form.
fn challenge_in(options: &serde_json::Value) -> DomainResult<String> {
    options["publicKey"]["challenge"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| DomainError::internal("WebAuthn options without a challenge"))
}

fn refused(why: impl std::fmt::Display) -> DomainError {
    DomainError::Unauthenticated(format!("passkey not verified: {why}"))
}

pub fn check_name(name: Option<String>, ordinal: u64) -> DomainResult<String> {
    let name = name.map(|n| n.trim().to_string()).unwrap_or_default();
    if name.chars().count() > NAME_MAX {
        return Err(DomainError::invalid(
            "name",
            format!("name must be at most {NAME_MAX} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "name",
            "name must not contain control characters",
        ));
    }
    Ok(if name.is_empty() {
        format!("Passkey {ordinal}")
    } else {
        name
    })
}

impl Passkeys {
    pub fn new(db: DatabaseConnection, config: &AuthConfig) -> DomainResult<Self> {
        Ok(Self {
            db,
            webauthn: relying_party(config)?,
        })
    }

    async fn models(&self, user_id: &str) -> DomainResult<Vec<passkey::Model>> {
        Ok(passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user_id))
            .order_by_asc(passkey::Column::CreatedAt)
            .all(&self.db)
            .await?)
    }

    pub async fn list(&self, user_id: &str) -> DomainResult<Vec<PasskeyInfo>> {
        Ok(self
            .models(user_id)
            .await?
            .into_iter()
            .map(to_info)
            .collect())
    }

    /// Removes one of the user's passkeys; another user's id is not found.
    pub async fn delete(&self, user_id: &str, id: &str) -> DomainResult<PasskeyInfo> {
        let model = passkey::Entity::find_by_id(id)
            .filter(passkey::Column::UserId.eq(user_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("passkey {id}")))?;
        passkey::Entity::delete_by_id(id).exec(&self.db).await?;
        Ok(to_info(model))
    }

    /// Stores a ceremony's state under its challenge, dropping the user's expired ones and
    /// the oldest beyond the bound.
    async fn open(
        &self,
        user_id: &str,
        kind: &str,
        options: serde_json::Value,
        state: String,
    ) -> DomainResult<CeremonyOptions> {
        let now = Utc::now();
        webauthn_ceremony::Entity::delete_many()
            .filter(webauthn_ceremony::Column::ExpiresAt.lte(now))
            .exec(&self.db)
            .await?;
        let open = webauthn_ceremony::Entity::find()
            .filter(webauthn_ceremony::Column::UserId.eq(user_id))
            .filter(webauthn_ceremony::Column::Kind.eq(kind))
            .order_by_desc(webauthn_ceremony::Column::ExpiresAt)
            .all(&self.db)
            .await?;
        for stale in open.iter().skip(OPEN_CEREMONIES as usize - 1) {
            webauthn_ceremony::Entity::delete_by_id(stale.challenge.clone())
                .exec(&self.db)
                .await?;
        }
        let expires_at = now + Duration::seconds(CEREMONY_TTL_SECS);
        webauthn_ceremony::ActiveModel {
            challenge: Set(challenge_in(&options)?),
            user_id: Set(user_id.to_string()),
            kind: Set(kind.into()),
            state: Set(state),
            expires_at: Set(expires_at),
        }
        .insert(&self.db)
        .await?;
        Ok(CeremonyOptions {
            options,
            expires_at,
        })
    }

    /// Takes (deletes and returns) the user's open ceremony of `kind` for `challenge`.
    async fn take<T: DeserializeOwned, C: ConnectionTrait>(
        &self,
        db: &C,
        user_id: &str,
        kind: &str,
        challenge: &str,
    ) -> DomainResult<T> {
        let gone = || {
            refused("the challenge is unknown, expired, already answered, or not this account's; begin the ceremony again")
        };
        // Writing first (dropping expired ceremonies) takes SQLite's write lock before
        // anything is read, so in a transaction no read has to be upgraded.
        webauthn_ceremony::Entity::delete_many()
            .filter(webauthn_ceremony::Column::ExpiresAt.lte(Utc::now()))
            .exec(db)
            .await?;
        let row = webauthn_ceremony::Entity::find_by_id(challenge)
            .filter(webauthn_ceremony::Column::UserId.eq(user_id))
            .filter(webauthn_ceremony::Column::Kind.eq(kind))
            .one(db)
            .await?
            .ok_or_else(gone)?;
        // Of two answers racing for it, one deletes it.
        let taken = webauthn_ceremony::Entity::delete_many()
            .filter(webauthn_ceremony::Column::Challenge.eq(challenge))
            .exec(db)
            .await?
            .rows_affected
            == 1;
        if !taken {
            return Err(gone());
        }
        from_stored(&row.state)
    }

    pub async fn begin_registration(
        &self,
        user_id: &str,
        user_name: &str,
        display_name: &str,
    ) -> DomainResult<CeremonyOptions> {
        let existing = self.models(user_id).await?;
        if existing.len() as u64 >= MAX_PASSKEYS {
            return Err(DomainError::QuotaExceeded(format!(
                "an account holds at most {MAX_PASSKEYS} passkeys; delete one first"
            )));
        }
        let handle = Uuid::parse_str(user_id).map_err(DomainError::internal)?;
        let exclude = existing
            .iter()
            .map(|m| from_stored::<Passkey>(&m.credential).map(|p| p.cred_id().clone()))
            .collect::<DomainResult<Vec<_>>>()?;
        let (options, state) = self
            .webauthn
            .start_passkey_registration(handle, user_name, display_name, Some(exclude))
            .map_err(DomainError::internal)?;
        let options = serde_json::to_value(&options).map_err(DomainError::internal)?;
        self.open(user_id, REGISTER, options, to_json(&state)?)
            .await
    }

    /// Verifies the authenticator's attestation against the user's open registration and
    /// stores the new credential.
    pub async fn complete_registration(
        &self,
        user_id: &str,
        credential: &str,
        name: Option<String>,
    ) -> DomainResult<PasskeyInfo> {
        let credential: RegisterPublicKeyCredential = parse_credential("credential", credential)?;
        let challenge = challenge_of("credential", &credential.response.client_data_json)?;
        let state: PasskeyRegistration = self.take(&self.db, user_id, REGISTER, &challenge).await?;
        let passkey = self
            .webauthn
            .finish_passkey_registration(&credential, &state)
            .map_err(refused)?;
        let count = passkey::Entity::find()
            .filter(passkey::Column::UserId.eq(user_id))
            .count(&self.db)
            .await?;
        let name = check_name(name, count + 1)?;
        let now = Utc::now();
        let model = passkey::ActiveModel {
            id: Set(Uuid::new_v4().to_string()),
            user_id: Set(user_id.to_string()),
            credential_id: Set(URL_SAFE_NO_PAD.encode(passkey.cred_id())),
            name: Set(name),
            credential: Set(to_json(&passkey)?),
            counter: Set(0),
            created_at: Set(now),
            last_used_at: Set(None),
        }
        .insert(&self.db)
        .await
        .map_err(|err| match err.sql_err() {
            Some(sea_orm::SqlErr::UniqueConstraintViolation(_)) => {
                DomainError::Conflict("this credential is already registered".into())
            }
            _ => err.into(),
        })?;
        Ok(to_info(model))
    }

    /// Begins an authentication by the user's passkeys.
    pub async fn begin_authentication(&self, user_id: &str) -> DomainResult<CeremonyOptions> {
        let passkeys = self
            .models(user_id)
            .await?
            .iter()
            .map(|m| from_stored::<Passkey>(&m.credential))
            .collect::<DomainResult<Vec<_>>>()?;
        if passkeys.is_empty() {
            return Err(DomainError::NotFound(
                "this account has no passkey; register one first (or log in with the password alone)".into(),
            ));
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(DomainError::internal)?;
        let options = serde_json::to_value(&options).map_err(DomainError::internal)?;
        self.open(user_id, AUTHENTICATE, options, to_json(&state)?)
            .await
    }

    /// Verifies an assertion (`field` names it in errors) against the user's open
    /// authentication, and records the authenticator's new counter, in the caller's
    /// transaction (which the caller commits also when this fails: the challenge is spent
    /// either way). A counter that did not move past the stored one means a cloned
    /// authenticator or a replay: refused.
    pub async fn verify_assertion<C: ConnectionTrait>(
        &self,
        db: &C,
        user_id: &str,
        field: &str,
        assertion: &str,
    ) -> DomainResult<VerifiedAssertion> {
        let credential: PublicKeyCredential = parse_credential(field, assertion)?;
        let challenge = challenge_of(field, &credential.response.client_data_json)?;
        let state: PasskeyAuthentication = self.take(db, user_id, AUTHENTICATE, &challenge).await?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&credential, &state)
            .map_err(refused)?;
        let credential_id = URL_SAFE_NO_PAD.encode(result.cred_id());
        let stored = passkey::Entity::find()
            .filter(passkey::Column::CredentialId.eq(&credential_id))
            .filter(passkey::Column::UserId.eq(user_id))
            .one(db)
            .await?
            .ok_or_else(|| refused("the credential is not registered to this account"))?;
        let counter = i64::from(result.counter());
        if (counter > 0 || stored.counter > 0) && counter <= stored.counter {
            return Err(refused(format!(
                "the authenticator's counter ({counter}) did not advance past {}: a cloned authenticator or a replayed assertion",
                stored.counter
            )));
        }
        let mut passkey: Passkey = from_stored(&stored.credential)?;
        passkey.update_credential(&result);
        // Compare-and-set: of two assertions racing with one counter value, one wins.
        let updated = passkey::Entity::update_many()
            .col_expr(passkey::Column::Counter, Expr::value(counter))
            .col_expr(passkey::Column::Credential, Expr::value(to_json(&passkey)?))
            .col_expr(passkey::Column::LastUsedAt, Expr::value(Utc::now()))
            .filter(passkey::Column::Id.eq(&stored.id))
            .filter(passkey::Column::Counter.eq(stored.counter))
            .exec(db)
            .await?
            .rows_affected;
        if updated != 1 {
            return Err(refused("the passkey was used concurrently; try again"));
        }
        Ok(VerifiedAssertion {
            passkey_id: stored.id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_are_read_as_json_or_base64() {
        let json = r#"{"challenge":"abc"}"#;
        let direct: serde_json::Value = parse_credential("f", json).unwrap();
        let encoded: serde_json::Value = parse_credential("f", &STANDARD.encode(json)).unwrap();
        let url: serde_json::Value = parse_credential("f", &URL_SAFE_NO_PAD.encode(json)).unwrap();
        assert_eq!(direct, encoded);
        assert_eq!(direct, url);
        let err =
            parse_credential::<serde_json::Value>("f", "base64_encoded_biometric!").unwrap_err();
        assert!(matches!(err, DomainError::Invalid { .. }), "{err:?}");
    }

    #[test]
    fn challenges_are_normalised_to_unpadded_base64url() {
        let padded = br#"{"challenge":"AAEC_w==","type":"webauthn.get"}"#;
        assert_eq!(challenge_of("f", padded).unwrap(), "AAEC_w");
        assert!(challenge_of("f", b"{}").is_err());
    }

    #[test]
    fn relying_party_defaults_follow_the_rp_id() {
        let mut config = AuthConfig::default();
        assert!(relying_party(&config).is_ok());
        config.webauthn_rp_id = "example.com".into();
        assert!(relying_party(&config).is_ok());
        config.webauthn_origins = vec!["https://evil.test".into()];
        assert!(
            relying_party(&config).is_err(),
            "an origin outside the rp id"
        );
    }
}
