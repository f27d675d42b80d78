//! Passkeys in GraphQL: the WebAuthn ceremonies as mutations, the viewer's passkeys, and
//! `authenticateLambdaId` (the LUKHAS constellation login that raises a session's
//! assurance).

use async_graphql::{Context, InputObject, Json, Object, SimpleObject, ID};
use serde_json::Value;

use super::core;
use super::errors::{to_gql, user_error, ErrorCode, UserError};
use super::identity::require_user;
use super::scalars::DateTime;
use crate::domain::constellation::{self, AuthenticationRequest};
use crate::domain::identity::passkeys::{CeremonyOptions, PasskeyInfo};
use crate::error::DomainError;

/// A registered WebAuthn credential of the viewer's.
#[derive(SimpleObject)]
pub struct Passkey {
    id: ID,
    name: String,
    /// Base64url of the WebAuthn credential id.
    credential_id: String,
    /// The authenticator's signature counter as last seen (0 when it keeps none).
    counter: i64,
    created_at: DateTime,
    last_used_at: Option<DateTime>,
}

impl From<PasskeyInfo> for Passkey {
    fn from(p: PasskeyInfo) -> Self {
        Self {
            id: ID(p.id),
            name: p.name,
            credential_id: p.credential_id,
            counter: p.counter,
            created_at: DateTime(p.created_at),
            last_used_at: p.last_used_at.map(DateTime),
        }
    }
}

/// A begun ceremony: `publicKey` for `navigator.credentials.create()` or `get()`.
#[derive(SimpleObject, Default)]
pub struct PasskeyCeremonyPayload {
    /// `{"publicKey": {...}}`, binary fields in base64url.
    options: Option<Json<Value>>,
    /// The ceremony must be finished before this; its challenge answers once.
    expires_at: Option<DateTime>,
    user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct PasskeyPayload {
    passkey: Option<Passkey>,
    user_errors: Vec<UserError>,
}

#[derive(InputObject)]
pub struct CompletePasskeyRegistrationInput {
    /// `navigator.credentials.create()`'s PublicKeyCredential as JSON (`toJSON()`).
    credential: Json<Value>,
    /// 1 to 64 characters; `Passkey N` when absent.
    name: Option<String>,
}

#[derive(InputObject)]
pub struct AuthenticateLambdaIdInput {
    /// The viewer's own Lambda ID.
    lambda_id: String,
    /// A passkey's WebAuthn assertion (JSON, or its base64) answering
    /// `beginPasskeyAuthentication`'s challenge: adds the passkey factor.
    passkey_assertion: Option<String>,
    /// `ΛBASIC`, `ΛPRO` or `ΛPRIME`.
    requested_tier: Option<String>,
}

#[derive(SimpleObject)]
pub struct LambdaAuthentication {
    /// `authenticated`, or `tier_limited` when a tier above the account's was requested.
    status: String,
    tier_granted: String,
    /// The factors the session has presented: `password`, `passkey`.
    factors: Vec<String>,
    /// 1 or 2.
    assurance_level: u32,
    /// Whether a passkey assertion was presented and verified in this request.
    passkey_verified: bool,
    /// An access token for the same session carrying the factors; use it from now on.
    access_token: String,
    expires_in: i64,
    matriz_pipeline: String,
    registry_operations: String,
    guardian_override: bool,
    constellation_context: String,
    t4_compliance_verified: bool,
}

#[derive(SimpleObject, Default)]
pub struct AuthenticateLambdaIdPayload {
    authentication: Option<LambdaAuthentication>,
    user_errors: Vec<UserError>,
}

/// A passkey that does not verify is an answer about the credentials, like a wrong
/// password, and a credential that cannot hold passkeys (an API key) one about the
/// caller's session; the domain's `biometric_data` is this API's `passkeyAssertion`.
fn passkey_error(err: DomainError) -> async_graphql::Result<UserError> {
    match err {
        DomainError::Forbidden(message) => Ok(UserError {
            field: None,
            code: ErrorCode::Forbidden,
            message,
        }),
        DomainError::Unauthenticated(message) => Ok(UserError {
            field: Some("passkeyAssertion".into()),
            code: ErrorCode::InvalidCredentials,
            message,
        }),
        other => user_error(other).map(|mut e| {
            if e.field.as_deref() == Some("biometricData") {
                e.field = Some("passkeyAssertion".into());
            }
            e
        }),
    }
}

fn ceremony(
    result: Result<CeremonyOptions, DomainError>,
) -> async_graphql::Result<PasskeyCeremonyPayload> {
    Ok(match result {
        Ok(c) => PasskeyCeremonyPayload {
            options: Some(Json(c.options)),
            expires_at: Some(DateTime(c.expires_at)),
            user_errors: vec![],
        },
        Err(err) => PasskeyCeremonyPayload {
            user_errors: vec![passkey_error(err)?],
            ..Default::default()
        },
    })
}

fn passkey(result: Result<PasskeyInfo, DomainError>) -> async_graphql::Result<PasskeyPayload> {
    Ok(match result {
        Ok(p) => PasskeyPayload {
            passkey: Some(p.into()),
            user_errors: vec![],
        },
        Err(err) => PasskeyPayload {
            passkey: None,
            user_errors: vec![passkey_error(err)?],
        },
    })
}

#[derive(Default)]
pub struct PasskeyQuery;

#[Object]
impl PasskeyQuery {
    /// The viewer's passkeys, oldest first.
    async fn passkeys(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<Passkey>> {
        let p = require_user(ctx)?;
        let passkeys = core(ctx).identity.passkeys(p).await.map_err(to_gql)?;
        Ok(passkeys.into_iter().map(Passkey::from).collect())
    }
}

#[derive(Default)]
pub struct PasskeyMutation;

#[Object]
impl PasskeyMutation {
    /// Begins registering a passkey for the viewer (a login session, not an API key).
    async fn begin_passkey_registration(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<PasskeyCeremonyPayload> {
        let p = require_user(ctx)?;
        ceremony(core(ctx).identity.begin_passkey_registration(p).await)
    }

    /// Verifies the authenticator's attestation and stores the passkey.
    async fn complete_passkey_registration(
        &self,
        ctx: &Context<'_>,
        input: CompletePasskeyRegistrationInput,
    ) -> async_graphql::Result<PasskeyPayload> {
        let p = require_user(ctx)?;
        let credential = match input.credential.0 {
            Value::String(text) => text,
            other => other.to_string(),
        };
        passkey(
            core(ctx)
                .identity
                .complete_passkey_registration(p, &credential, input.name)
                .await,
        )
    }

    /// Removes one of the viewer's passkeys.
    async fn delete_passkey(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<PasskeyPayload> {
        let p = require_user(ctx)?;
        passkey(core(ctx).identity.delete_passkey(p, &id).await)
    }

    /// The challenge for a login with the account's passkeys (no credential needed);
    /// answer it in `logIn`'s `passkeyAssertion` or `authenticateLambdaId`.
    async fn begin_passkey_authentication(
        &self,
        ctx: &Context<'_>,
        email: String,
    ) -> async_graphql::Result<PasskeyCeremonyPayload> {
        super::credential_gate(ctx).await?;
        ceremony(
            core(ctx)
                .identity
                .begin_passkey_authentication(&email)
                .await,
        )
    }

    /// Proves the viewer's Lambda ID and, with a passkey assertion, a second factor; the
    /// returned token carries the session's factors.
    async fn authenticate_lambda_id(
        &self,
        ctx: &Context<'_>,
        input: AuthenticateLambdaIdInput,
    ) -> async_graphql::Result<AuthenticateLambdaIdPayload> {
        let p = require_user(ctx)?;
        let result = constellation::authenticate(
            core(ctx),
            p,
            AuthenticationRequest {
                lambda_id: input.lambda_id,
                biometric_data: input.passkey_assertion,
                requested_tier: input.requested_tier,
            },
        )
        .await;
        Ok(match result {
            Ok(auth) => AuthenticateLambdaIdPayload {
                authentication: Some(LambdaAuthentication {
                    status: auth.status.into(),
                    tier_granted: auth.tier_granted.into(),
                    factors: auth
                        .assurance
                        .factors
                        .names()
                        .into_iter()
                        .map(String::from)
                        .collect(),
                    assurance_level: auth.assurance.factors.count(),
                    passkey_verified: auth.assurance.passkey_verified,
                    access_token: auth.assurance.access_token,
                    expires_in: auth.assurance.expires_in,
                    matriz_pipeline: auth.access.matriz_pipeline.into(),
                    registry_operations: auth.access.registry_operations.into(),
                    guardian_override: auth.access.guardian_override,
                    constellation_context: auth.constellation_context,
                    t4_compliance_verified: auth.t4_compliance_verified,
                }),
                user_errors: vec![],
            },
            Err(err) => AuthenticateLambdaIdPayload {
                authentication: None,
                user_errors: vec![passkey_error(err)?],
            },
        })
    }
}
