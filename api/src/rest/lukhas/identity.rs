//! `POST /constellation/identity/authenticate`: the session proves its ΛiD, and with a
//! passkey assertion a second factor, and gets a constellation token that carries both.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::constellation::{self, AuthenticationRequest, ConstellationAuth};
use crate::http::dialect::Authed;
use crate::state::AppState;

/// The document's context; only `requested_tier` changes anything (the session is the
/// bearer token's, and the constellation context is always reported).
#[derive(Deserialize, ToSchema)]
#[allow(dead_code)]
pub struct AuthenticationContext {
    /// The caller's own correlation id; accepted for compatibility.
    #[schema(example = "session456", max_length = 128)]
    session_id: Option<String>,
    /// `ΛBASIC`, `ΛPRO` or `ΛPRIME`. A tier above the account's is not granted
    /// (`status: tier_limited`).
    #[schema(example = "ΛPRIME", pattern = r"^Λ(BASIC|PRO|PRIME)$")]
    requested_tier: Option<String>,
    #[schema(example = true)]
    constellation_context: Option<bool>,
}

#[derive(Deserialize, ToSchema)]
pub struct AuthenticateRequest {
    /// The authenticated account's own Lambda ID.
    #[schema(
        example = "ΛPRIME-2026-0001",
        max_length = 40,
        pattern = r"^Λ(BASIC|PRO|PRIME)-[0-9]{4}-[0-9]{4,9}$"
    )]
    lambda_id: String,
    /// A WebAuthn assertion by one of the account's passkeys (the PublicKeyCredential's
    /// JSON, or its base64), answering `POST /auth/passkeys/authenticate/begin`'s challenge.
    /// Anything else is 400; an assertion that does not verify is 401.
    #[schema(
        example = "eyJpZCI6InA0bTFtVTR4UTBXY0IxYThacjVzM2ciLCJyYXdJZCI6InA0bTFtVTR4UTBXY0IxYThacjVzM2ciLCJ0eXBlIjoicHVibGljLWtleSIsInJlc3BvbnNlIjp7ImF1dGhlbnRpY2F0b3JEYXRhIjoiZXRqa1RjZ0FpNzRDY3RCUzVjSlBjUDU1cDJHdW1ZenFPWC1fS2xzUW8tQUZBQUFBQnciLCJjbGllbnREYXRhSlNPTiI6ImV5SjBlWEJsSWpvaWQyVmlZWFYwYUc0dVoyVjBJaXdpWTJoaGJHeGxibWRsSWpvaVdXc3pkbFF3WXpsYWNESlJlRmM0YzB3MGJWSTNia0l4WVVZMlpFbzFhRlV3WlVzNVowTXllVll6YnlJc0ltOXlhV2RwYmlJNkltaDBkSEJ6T2k4dmJIVnJhR0Z6TG1WNFlXMXdiR1V1WTI5dElpd2lZM0p2YzNOUGNtbG5hVzRpT21aaGJITmxmUSIsInNpZ25hdHVyZSI6Ik1FVUNJUUJGUTBua0l2QlNseGtlclJQaUhUMjFJT1dyNzFJRlhrbGt1Qy15RV9XVG9RSWdCRHB4aDNURmNyMktKYTItc2JfTlhBSldyaEhPejUtY1A1SmREbEstcjRrIiwidXNlckhhbmRsZSI6IkMzNHZUbDRYUlEtWnhIVWxicHpUM1EifSwiY2xpZW50RXh0ZW5zaW9uUmVzdWx0cyI6e319",
        max_length = 65536
    )]
    biometric_data: Option<String>,
    authentication_context: Option<AuthenticationContext>,
}

#[derive(Serialize, ToSchema)]
pub struct AuthenticationResult {
    /// `authenticated`, or `tier_limited` when a tier above the account's was requested.
    #[schema(example = "authenticated")]
    status: &'static str,
    #[schema(example = "ΛPRIME")]
    tier_granted: &'static str,
    /// The Lambda ID is the account's (a different one is refused with 403).
    #[schema(example = true)]
    lambda_id_verified: bool,
    /// 1.0 when a passkey assertion was presented and verified; `null` when none was. A
    /// WebAuthn signature verifies or does not: there is no similarity score.
    #[schema(example = 1.0)]
    biometric_match: Option<f64>,
    /// The factors the session has now presented: `password`, `passkey`.
    #[schema(example = json!(["password", "passkey"]))]
    factors: Vec<&'static str>,
    /// 1 (one factor) or 2 (password and passkey).
    #[schema(example = 2)]
    assurance_level: u32,
}

#[derive(Serialize, ToSchema)]
pub struct AccessPermissions {
    /// `full_access` or `none`.
    #[schema(example = "full_access")]
    matriz_pipeline: &'static str,
    /// `administer`, `read_write` or `none`.
    #[schema(example = "read_write")]
    registry_operations: &'static str,
    /// Administrators load the policy the guardian applies.
    #[schema(example = false)]
    guardian_override: bool,
}

#[derive(Serialize, ToSchema)]
pub struct SessionMetadata {
    #[schema(example = 3600)]
    expires_in: i64,
    /// The constellation modules this server runs.
    #[schema(example = "⚛️ Identity · ✦ Memory · 🌙 Dream · ⚖️ Ethics · 🛡️ Guardian")]
    constellation_context: String,
    /// A compliance report (`/t4`) on this server passed within the last hour.
    #[schema(example = true)]
    t4_compliance_verified: bool,
}

#[derive(Serialize, ToSchema)]
pub struct AuthenticateResponse {
    authentication_result: AuthenticationResult,
    /// An access token for the same session, carrying the factors (`amr`); use it as the
    /// bearer from now on.
    #[schema(
        example = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6ImthMWE3NmZmNmZhOWUifQ.eyJpc3MiOiJvcnJlcnkiLCJzdWIiOiI3ZGFiNmNlNyIsImFtciI6WyJwd2QiLCJod2siLCJtZmEiXX0.2OrOMhb-NvxjQjlQbFb7WVOeca05Mu13v7PswB1XJhk"
    )]
    constellation_token: String,
    access_permissions: AccessPermissions,
    session_metadata: SessionMetadata,
}

impl From<ConstellationAuth> for AuthenticateResponse {
    fn from(auth: ConstellationAuth) -> Self {
        let factors = auth.assurance.factors;
        Self {
            authentication_result: AuthenticationResult {
                status: auth.status,
                tier_granted: auth.tier_granted,
                lambda_id_verified: true,
                biometric_match: auth.assurance.passkey_verified.then_some(1.0),
                factors: factors.names(),
                assurance_level: factors.count(),
            },
            constellation_token: auth.assurance.access_token,
            access_permissions: AccessPermissions {
                matriz_pipeline: auth.access.matriz_pipeline,
                registry_operations: auth.access.registry_operations,
                guardian_override: auth.access.guardian_override,
            },
            session_metadata: SessionMetadata {
                expires_in: auth.assurance.expires_in,
                constellation_context: auth.constellation_context,
                t4_compliance_verified: auth.t4_compliance_verified,
            },
        }
    }
}

/// Authenticate with Lambda ID
///
/// Raises the calling login session's assurance by the factors presented now: the
/// session's password login, plus a passkey assertion in `biometric_data`. Returns a new
/// access token for the same session that carries them (its refresh token keeps them
/// too), and the permissions the account's tier, roles and scopes give.
#[utoipa::path(
    post, path = "/constellation/identity/authenticate", tag = "identity",
    operation_id = "authenticate_lambda_id",
    security(("bearer" = [])),
    request_body = AuthenticateRequest,
    responses(
        (status = 200, description = "Authenticated", body = AuthenticateResponse),
        (status = 400, description = "A malformed Lambda ID or tier, or biometric_data that is not a WebAuthn assertion", body = LukhasError),
        (status = 401, description = "Missing credential, or a passkey assertion that does not verify", body = LukhasError),
        (status = 403, description = "Not the account's Lambda ID, or an API key (no session to raise)", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn authenticate(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<AuthenticateRequest>,
) -> Result<Json<AuthenticateResponse>, Error> {
    let context = body.authentication_context;
    let auth = constellation::authenticate(
        &state,
        &principal,
        AuthenticationRequest {
            lambda_id: body.lambda_id,
            biometric_data: body.biometric_data,
            requested_tier: context.and_then(|c| c.requested_tier),
        },
    )
    .await?;
    Ok(Json(auth.into()))
}
