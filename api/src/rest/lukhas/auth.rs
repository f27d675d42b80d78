use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Error, LukhasError};
use crate::http::auth::CredentialGate;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct TokenRequest {
    /// The account's email address.
    #[schema(example = "user@example.com")]
    username: String,
    #[schema(example = "correct horse battery")]
    password: String,
    /// A second factor: the WebAuthn assertion (the PublicKeyCredential's JSON, or its
    /// base64) of one of the account's passkeys, answering a challenge from
    /// `POST /auth/passkeys/authenticate/begin`. Anything else is 400; an assertion that does not
    /// verify is 401.
    #[schema(
        example = "eyJpZCI6InA0bTFtVTR4UTBXY0IxYThacjVzM2ciLCJyYXdJZCI6InA0bTFtVTR4UTBXY0IxYThacjVzM2ciLCJ0eXBlIjoicHVibGljLWtleSIsInJlc3BvbnNlIjp7ImF1dGhlbnRpY2F0b3JEYXRhIjoiZXRqa1RjZ0FpNzRDY3RCUzVjSlBjUDU1cDJHdW1ZenFPWC1fS2xzUW8tQUZBQUFBQnciLCJjbGllbnREYXRhSlNPTiI6ImV5SjBlWEJsSWpvaWQyVmlZWFYwYUc0dVoyVjBJaXdpWTJoaGJHeGxibWRsSWpvaVdXc3pkbFF3WXpsYWNESlJlRmM0YzB3MGJWSTNia0l4WVVZMlpFbzFhRlV3WlVzNVowTXllVll6YnlJc0ltOXlhV2RwYmlJNkltaDBkSEJ6T2k4dmJIVnJhR0Z6TG1WNFlXMXdiR1V1WTI5dElpd2lZM0p2YzNOUGNtbG5hVzRpT21aaGJITmxmUSIsInNpZ25hdHVyZSI6Ik1FVUNJUUJGUTBua0l2QlNseGtlclJQaUhUMjFJT1dyNzFJRlhrbGt1Qy15RV9XVG9RSWdCRHB4aDNURmNyMktKYTItc2JfTlhBSldyaEhPejUtY1A1SmREbEstcjRrIiwidXNlckhhbmRsZSI6IkMzNHZUbDRYUlEtWnhIVWxicHpUM1EifSwiY2xpZW50RXh0ZW5zaW9uUmVzdWx0cyI6e319",
        max_length = 65536
    )]
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
        (status = 400, description = "Invalid input, or biometric_data that is not a WebAuthn assertion", body = LukhasError),
        (status = 401, description = "Invalid credentials, or a passkey assertion that does not verify", body = LukhasError),
        (status = 429, description = "Too many attempts from this address", body = LukhasError),
    )
)]
pub async fn token(
    State(state): State<AppState>,
    _gate: CredentialGate<super::Lukhas>,
    Body { 0: body, .. }: Body<TokenRequest>,
) -> Result<Json<TokenResponse>, Error> {
    let session = state
        .identity
        .log_in_with(
            &body.username,
            &body.password,
            body.biometric_data.as_deref(),
        )
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
