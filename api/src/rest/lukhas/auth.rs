use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Error, LukhasError};
use crate::error::DomainError;
use crate::http::auth::CredentialGate;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The account's email address.
    #[schema(example = "user@example.com")]
    username: String,
    #[schema(example = "correct horse battery")]
    password: String,
    /// Reserved for a WebAuthn assertion of a registered passkey.
    #[schema(example = "(a WebAuthn assertion; not accepted until passkeys can be registered)")]
    biometric_data: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenResponse {
    #[schema(
        example = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6ImthMWE3NmZmNmZhOWUifQ.eyJpc3MiOiJvcnJlcnkiLCJzdWIiOiI3ZGFiNmNlNyJ9.2OrOMhb-NvxjQjlQbFb7WVOeca05Mu13v7PswB1XJhk"
    )]
    access_token: String,
    #[schema(example = "bearer")]
    token_type: String,
    #[schema(example = 3600)]
    expires_in: i64,
    #[schema(example = "rt_XZy56v_QOqbFKVU5eA0HatWfXyo4B3xovB2mLzSaa8o")]
    refresh_token: String,
}

#[derive(Deserialize, ToSchema)]
pub struct RefreshRequest {
    #[schema(example = "rt_XZy56v_QOqbFKVU5eA0HatWfXyo4B3xovB2mLzSaa8o")]
    refresh_token: String,
}

#[derive(Serialize, ToSchema)]
pub struct RefreshResponse {
    #[schema(
        example = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6ImthMWE3NmZmNmZhOWUifQ.eyJpc3MiOiJvcnJlcnkiLCJzdWIiOiI3ZGFiNmNlNyJ9.2OrOMhb-NvxjQjlQbFb7WVOeca05Mu13v7PswB1XJhk"
    )]
    access_token: String,
    expires_in: i64,
    /// The rotated refresh token; the one sent is spent.
    #[schema(example = "rt_0dQm2pY8wVfK3sHc7LbN1eXaUg5iRo4TjZqWy6M9Ab4")]
    refresh_token: String,
}

/// Obtain an access token.
#[utoipa::path(
    post, path = "/auth/token", tag = "auth",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "Token issued", body = TokenResponse),
        (status = 400, description = "Invalid input", body = LukhasError),
        (status = 401, description = "Invalid credentials", body = LukhasError),
        (status = 429, description = "Too many attempts from this address", body = LukhasError),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    _gate: CredentialGate<super::Lukhas>,
    Body { 0: body, .. }: Body<TokenRequest>,
) -> Result<Json<TokenResponse>, Error> {
    if body.biometric_data.is_some() {
        // No fake biometrics: only a WebAuthn assertion of a registered passkey could be
        // accepted here, and no passkey can be registered on this server yet. A factor that
        // cannot be verified fails authentication (the field itself is well-formed).
        return Err(DomainError::Unauthenticated(
            "biometric_data could not be verified: it must be a WebAuthn assertion for a registered passkey, and this server has no passkey registration yet; omit the field to log in with the password".into(),
        )
        .into());
    }
    let session = state
        .identity
        .log_in(&body.username, &body.password)
        .await?;
    Ok(Json(TokenResponse {
        access_token: session.access_token,
        token_type: "bearer".into(),
        expires_in: session.expires_in,
        refresh_token: session.refresh_token,
    }))
}

/// Exchange a refresh token for a new access token (the refresh token rotates).
#[utoipa::path(
    post, path = "/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "Token refreshed", body = RefreshResponse),
        (status = 400, description = "Invalid input", body = LukhasError),
        (status = 401, description = "Invalid, expired, spent or revoked refresh token", body = LukhasError),
        (status = 429, description = "Too many attempts from this address", body = LukhasError),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    _gate: CredentialGate<super::Lukhas>,
    Body { 0: body, .. }: Body<RefreshRequest>,
) -> Result<Json<RefreshResponse>, Error> {
    let session = state.identity.refresh(&body.refresh_token).await?;
    Ok(Json(RefreshResponse {
        access_token: session.access_token,
        expires_in: session.expires_in,
        refresh_token: session.refresh_token,
    }))
}
