//! Passkeys (the Identity component's WebAuthn support): registration and authentication
//! ceremonies. The options are webauthn-rs's JSON (`{"publicKey": {...}}`, binary fields in
//! base64url), ready for `navigator.credentials.create()` / `get()` once decoded; the
//! credentials come back as the browser's `PublicKeyCredential.toJSON()`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::identity::passkeys::{CeremonyOptions, PasskeyInfo};
use crate::http::auth::CredentialGate;
use crate::http::dialect::{Authed, PathParams};
use crate::state::AppState;

fn request_options_example() -> serde_json::Value {
    serde_json::json!({
        "challenge": "Yk3vT0c9Zp2QxW8sL4mR7nB1aF6dJ5hU0eK9gC2yV3o",
        "timeout": 300000,
        "rpId": "localhost",
        "allowCredentials": [{"type": "public-key", "id": "p4m1mU4xQ0WcB1a8Zr5s3g"}],
        "userVerification": "required"
    })
}

fn challenge_response_example() -> serde_json::Value {
    serde_json::json!({"publicKey": request_options_example(), "expires_at": "2026-12-07T10:05:00Z"})
}

/// The options of a begun ceremony.
#[derive(Serialize, ToSchema)]
pub struct CeremonyResponse {
    /// `PublicKeyCredentialCreationOptions` (registration) or
    /// `PublicKeyCredentialRequestOptions` (authentication), binary fields base64url.
    #[serde(rename = "publicKey")]
    #[schema(value_type = Object, example = json!({
        "rp": {"name": "Orrery", "id": "localhost"},
        "user": {"id": "C34vTl4XRQ-ZxHUlbpzT3Q", "name": "ada@example.com", "displayName": "Ada Lovelace"},
        "challenge": "l0Q2o9n8s1X8i7fS2cWq3eA6b1Yk8zJ9mZc7vR4tU5w",
        "pubKeyCredParams": [{"type": "public-key", "alg": -7}, {"type": "public-key", "alg": -257}],
        "timeout": 300000,
        "attestation": "none",
        "excludeCredentials": [],
        "authenticatorSelection": {"residentKey": "discouraged", "requireResidentKey": false, "userVerification": "required"}
    }))]
    public_key: serde_json::Value,
    /// The ceremony must be finished before this (5 minutes); its challenge answers once.
    expires_at: DateTime<Utc>,
}

impl From<CeremonyOptions> for CeremonyResponse {
    fn from(c: CeremonyOptions) -> Self {
        Self {
            public_key: c.options["publicKey"].clone(),
            expires_at: c.expires_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyRecord {
    #[schema(example = "7c0d2a4e-5b6f-4a81-9c3d-2e1f0a9b8c7d")]
    passkey_id: String,
    #[schema(example = "Laptop (Touch ID)")]
    name: String,
    /// Base64url of the WebAuthn credential id.
    #[schema(example = "p4m1mU4xQ0WcB1a8Zr5s3g")]
    credential_id: String,
    /// The authenticator's signature counter as last seen (0 when it keeps none).
    #[schema(example = 3)]
    counter: i64,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<PasskeyInfo> for PasskeyRecord {
    fn from(p: PasskeyInfo) -> Self {
        Self {
            passkey_id: p.id,
            name: p.name,
            credential_id: p.credential_id,
            counter: p.counter,
            created_at: p.created_at,
            last_used_at: p.last_used_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct PasskeyList {
    passkeys: Vec<PasskeyRecord>,
}

#[derive(Deserialize, ToSchema)]
pub struct CompleteRegistrationRequest {
    /// The authenticator's answer: `navigator.credentials.create()`'s PublicKeyCredential
    /// as JSON (`toJSON()`), or the base64 of that JSON.
    #[schema(value_type = Object, example = json!({
        "id": "p4m1mU4xQ0WcB1a8Zr5s3g",
        "rawId": "p4m1mU4xQ0WcB1a8Zr5s3g",
        "type": "public-key",
        "response": {
            "clientDataJSON": "eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoibDBRMm85bjhzMVg4aTdmUzJjV3EzZUE2YjFZazh6SjltWmM3dlI0dFU1dyIsIm9yaWdpbiI6Imh0dHA6Ly9sb2NhbGhvc3Q6ODA4MCJ9",
            "attestationObject": "o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVikSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAA"
        }
    }))]
    credential: serde_json::Value,
    /// What to call it (1 to 64 characters); `Passkey N` when absent.
    #[schema(example = "Laptop (Touch ID)", max_length = 64)]
    name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct ChallengeRequest {
    /// The account's email address.
    #[schema(example = "ada@example.com", max_length = 320)]
    username: String,
}

/// The credential as the domain reads it: a JSON object, or a string holding it.
fn credential_text(value: serde_json::Value) -> String {
    match value {
        serde_json::Value::String(text) => text,
        other => other.to_string(),
    }
}

/// Begin a passkey registration
///
/// Starts registering a passkey for the logged-in account (a login session; API keys
/// cannot). Pass `publicKey` to `navigator.credentials.create()` after decoding its
/// base64url fields; an account holds at most 10 passkeys.
#[utoipa::path(
    post, path = "/auth/passkeys/register/begin", tag = "auth", operation_id = "begin_passkey_registration",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The creation options", body = CeremonyResponse),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "An API key, or the account already holds 10 passkeys", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn begin_registration(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
) -> Result<Json<CeremonyResponse>, Error> {
    Ok(Json(
        state
            .identity
            .begin_passkey_registration(&principal)
            .await?
            .into(),
    ))
}

/// Complete a passkey registration
///
/// Verifies the authenticator's attestation (origin, relying party, challenge, user
/// verification) and stores the passkey.
#[utoipa::path(
    post, path = "/auth/passkeys/register/complete", tag = "auth", operation_id = "complete_passkey_registration",
    security(("bearer" = [])),
    request_body = CompleteRegistrationRequest,
    responses(
        (status = 201, description = "Registered", body = PasskeyRecord),
        (status = 400, description = "Not a WebAuthn credential, or a bad name", body = LukhasError),
        (status = 401, description = "Missing credential, or an attestation that does not verify (wrong origin, unknown or spent challenge)", body = LukhasError),
        (status = 403, description = "An API key", body = LukhasError),
        (status = 409, description = "This credential is already registered", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn complete_registration(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<CompleteRegistrationRequest>,
) -> Result<(StatusCode, Json<PasskeyRecord>), Error> {
    let passkey = state
        .identity
        .complete_passkey_registration(&principal, &credential_text(body.credential), body.name)
        .await?;
    Ok((StatusCode::CREATED, Json(passkey.into())))
}

/// List passkeys
///
/// The account's passkeys, oldest first.
#[utoipa::path(
    get, path = "/auth/passkeys", tag = "auth", operation_id = "list_passkeys",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The passkeys", body = PasskeyList),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
) -> Result<Json<PasskeyList>, Error> {
    let passkeys = state.identity.passkeys(&principal).await?;
    Ok(Json(PasskeyList {
        passkeys: passkeys.into_iter().map(Into::into).collect(),
    }))
}

/// Delete a passkey
///
/// Removes one of the account's passkeys; it can no longer sign in. Another account's
/// passkey is 404.
#[utoipa::path(
    delete, path = "/auth/passkeys/{passkey_id}", tag = "auth", operation_id = "delete_passkey",
    security(("bearer" = [])),
    params(("passkey_id" = String, Path, example = "7c0d2a4e-5b6f-4a81-9c3d-2e1f0a9b8c7d")),
    responses(
        (status = 200, description = "The deleted passkey", body = PasskeyRecord),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "An API key", body = LukhasError),
        (status = 404, description = "No passkey of this account has this id", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    PathParams { 0: id, .. }: PathParams<String, Lukhas>,
) -> Result<Json<PasskeyRecord>, Error> {
    Ok(Json(
        state.identity.delete_passkey(&principal, &id).await?.into(),
    ))
}

/// Begin a passkey authentication
///
/// The challenge for a login with the account's passkeys (no credential needed; limited
/// per address like `/auth/token`). Pass `publicKey` to `navigator.credentials.get()`, then
/// send the assertion as `biometric_data` to `/auth/token` or
/// `/constellation/identity/authenticate`. An unknown address and an account without
/// passkeys get the same 404.
#[utoipa::path(
    post, path = "/auth/passkeys/authenticate/begin", tag = "auth", operation_id = "begin_passkey_authentication",
    request_body = ChallengeRequest,
    responses(
        (status = 200, description = "The request options", body = CeremonyResponse,
            example = challenge_response_example),
        (status = 404, description = "No passkey is registered for this username", body = LukhasError),
        (status = 429, description = "Too many attempts from this address", body = LukhasError),
    )
)]
pub async fn challenge(
    State(state): State<AppState>,
    _gate: CredentialGate<Lukhas>,
    Body { 0: body, .. }: Body<ChallengeRequest>,
) -> Result<Json<CeremonyResponse>, Error> {
    Ok(Json(
        state
            .identity
            .begin_passkey_authentication(&body.username)
            .await?
            .into(),
    ))
}
