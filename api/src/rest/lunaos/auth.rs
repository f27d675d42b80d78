use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Authed, Body, Data, Error, LunaError, CREATED};
use crate::domain::identity::{Session, SignUp, User};
use crate::http::auth::CredentialGate;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    /// The account's email address (case-insensitive).
    #[schema(example = "ada@example.com", format = Email, max_length = 320)]
    email: String,
    /// 8 to 128 characters.
    #[schema(example = "correct horse battery", min_length = 8, max_length = 128)]
    password: String,
    /// At most 100 characters, no control characters.
    #[schema(
        example = "Ada",
        max_length = 100,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    #[schema(example = "ada@example.com")]
    email: String,
    #[schema(example = "correct horse battery")]
    password: String,
}

#[derive(Serialize, ToSchema)]
pub struct UserView {
    #[schema(example = "7dab6ce7-d36f-4d23-9448-32c51d2d80e5")]
    id: String,
    #[schema(example = "ada@example.com")]
    email: String,
    #[schema(example = "Ada")]
    name: Option<String>,
    /// `free`, `pro` or `team`.
    #[schema(value_type = crate::rest::shared::TierName)]
    tier: String,
    created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct AuthPayload {
    /// Access token (JWT, valid one hour).
    #[schema(
        example = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6ImthMWE3NmZmNmZhOWUifQ.eyJpc3MiOiJvcnJlcnkiLCJzdWIiOiI3ZGFiNmNlNyJ9.2OrOMhb-NvxjQjlQbFb7WVOeca05Mu13v7PswB1XJhk"
    )]
    token: String,
    /// Opaque refresh token, rotated on every use.
    #[schema(example = "rt_XZy56v_QOqbFKVU5eA0HatWfXyo4B3xovB2mLzSaa8o")]
    refresh_token: String,
    user: UserView,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            name: user.name,
            tier: user.tier.to_string(),
            created_at: user.created_at,
        }
    }
}

impl From<Session> for AuthPayload {
    fn from(session: Session) -> Self {
        Self {
            token: session.access_token,
            refresh_token: session.refresh_token,
            user: session.user.into(),
        }
    }
}

/// Create an account.
#[utoipa::path(
    post, path = "/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Account created", body = Data<AuthPayload>),
        (status = 400, description = "Invalid input", body = LunaError),
        (status = 409, description = "Email already registered", body = LunaError),
        (status = 429, description = "Too many attempts from this address", body = LunaError),
    )
)]
pub async fn signup(
    State(state): State<AppState>,
    _gate: CredentialGate<super::LunaOs>,
    Body { 0: body, .. }: Body<SignupRequest>,
) -> Result<(axum::http::StatusCode, Json<Data<AuthPayload>>), Error> {
    let session = state
        .identity
        .sign_up(SignUp {
            email: body.email,
            password: body.password,
            name: body.name,
        })
        .await?;
    Ok((CREATED, Data::json(session.into())))
}

/// Log in with email and password.
#[utoipa::path(
    post, path = "/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = Data<AuthPayload>),
        (status = 400, description = "Invalid input", body = LunaError),
        (status = 401, description = "Invalid email or password", body = LunaError),
        (status = 429, description = "Too many attempts from this address", body = LunaError),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    _gate: CredentialGate<super::LunaOs>,
    Body { 0: body, .. }: Body<LoginRequest>,
) -> Result<Json<Data<AuthPayload>>, Error> {
    let session = state.identity.log_in(&body.email, &body.password).await?;
    Ok(Data::json(session.into()))
}

/// The current user.
#[utoipa::path(
    get, path = "/auth/me", tag = "auth",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The authenticated user", body = Data<UserView>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn me(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
) -> Result<Json<Data<UserView>>, Error> {
    Ok(Data::json(state.identity.me(&principal).await?.into()))
}
