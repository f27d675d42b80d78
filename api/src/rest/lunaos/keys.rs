use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Authed, Body, Data, Error, LunaError, PathParams, CREATED};
use crate::domain::identity::ApiKeyInfo;
use crate::state::AppState;

#[derive(Deserialize, ToSchema, Default)]
pub struct CreateKeyRequest {
    /// At most 64 characters, no control characters; defaults to "Default".
    #[schema(
        example = "laptop",
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: Option<String>,
    /// What the key may do; each must be within what you may do. Without it the key gets
    /// everything you may do except `admin` and `terminal:execute`.
    #[schema(value_type = Option<Vec<ScopeName>>, example = json!(["governance:decide", "governance:read"]))]
    scopes: Option<Vec<String>>,
}

string_enum!(
    /// A scope an API key can hold.
    ScopeName {
        AccountRead = "account:read",
        AccountWrite = "account:write",
        GovernanceDecide = "governance:decide",
        GovernanceRead = "governance:read",
        GovernanceReview = "governance:review",
        Admin = "admin",
        TerminalExecute = "terminal:execute",
        ModelsUse = "models:use",
        MemoryRead = "memory:read",
        MemoryWrite = "memory:write",
        RagRead = "rag:read",
        RagWrite = "rag:write",
        AgentsRun = "agents:run",
        Chat = "chat",
        Registry = "registry",
        Glyphs = "glyphs",
        Incidents = "incidents",
        Feedback = "feedback",
    }
);

fn scope_names(info: &ApiKeyInfo) -> Vec<String> {
    info.scopes.iter().map(|s| s.as_str().to_string()).collect()
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedKey {
    #[schema(example = "5b8fbbc3-62b2-42f6-b47e-a9cd9ec77436")]
    id: String,
    /// The full key. It is shown only here and cannot be retrieved again.
    #[schema(example = "lnos_live_Z0G2AF7F6W1BXgiEHfwE8CUQaa2enI3aNRcj")]
    key: String,
    #[schema(example = "lnos_live_Z0G2AF7F")]
    prefix: String,
    #[schema(example = "laptop")]
    name: String,
    #[schema(value_type = Vec<ScopeName>)]
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    #[schema(example = "Store this key securely. It will not be shown again.")]
    warning: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    #[schema(example = "5b8fbbc3-62b2-42f6-b47e-a9cd9ec77436")]
    id: String,
    #[schema(example = "lnos_live_Z0G2AF7F")]
    prefix: String,
    #[schema(example = "laptop")]
    name: String,
    #[schema(value_type = Vec<ScopeName>)]
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    is_active: bool,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(Serialize, ToSchema)]
pub struct KeyList {
    keys: Vec<KeyView>,
    total: usize,
}

#[derive(Serialize, ToSchema)]
#[schema(as = KeyRevoked)]
pub struct Revoked {
    #[schema(example = "API key revoked")]
    message: String,
    #[schema(example = "5b8fbbc3-62b2-42f6-b47e-a9cd9ec77436")]
    id: String,
}

impl From<ApiKeyInfo> for KeyView {
    fn from(info: ApiKeyInfo) -> Self {
        Self {
            is_active: info.is_active(),
            scopes: scope_names(&info),
            id: info.id,
            prefix: info.prefix,
            name: info.name,
            created_at: info.created_at,
            last_used_at: info.last_used_at,
            revoked_at: info.revoked_at,
        }
    }
}

/// Generate an API key.
#[utoipa::path(
    post, path = "/api-keys", tag = "api-keys",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = Option<CreateKeyRequest>, description = "Optional; an empty body names the key \"Default\""),
    responses(
        (status = 201, description = "Key created; the full key is in `key`, shown once", body = Data<CreatedKey>),
        (status = 400, description = "Invalid input", body = LunaError),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 403, description = "A scope beyond what you (or the key you call with) may do", body = LunaError),
        (status = 409, description = "Too many active keys", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    body: Option<Body<CreateKeyRequest>>,
) -> Result<(axum::http::StatusCode, Json<Data<CreatedKey>>), Error> {
    let (name, scopes) = body.map(|b| (b.0.name, b.0.scopes)).unwrap_or_default();
    let created = state
        .identity
        .create_api_key(&principal, name, scopes)
        .await?;
    let info = created.info;
    Ok((
        CREATED,
        Data::json(CreatedKey {
            scopes: scope_names(&info),
            id: info.id,
            key: created.key,
            prefix: info.prefix,
            name: info.name,
            created_at: info.created_at,
            warning: "Store this key securely. It will not be shown again.".into(),
        }),
    ))
}

/// List your API keys (active and revoked), newest first.
#[utoipa::path(
    get, path = "/api-keys", tag = "api-keys",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Your keys", body = Data<KeyList>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
) -> Result<Json<Data<KeyList>>, Error> {
    let keys: Vec<KeyView> = state
        .identity
        .list_api_keys(&principal)
        .await?
        .into_iter()
        .map(Into::into)
        .collect();
    Ok(Data::json(KeyList {
        total: keys.len(),
        keys,
    }))
}

/// Revoke an API key. It stops working at once.
#[utoipa::path(
    delete, path = "/api-keys/{id}", tag = "api-keys",
    security(("bearer" = []), ("api_key" = [])),
    params(("id" = String, Path, description = "The key's id")),
    responses(
        (status = 200, description = "Revoked", body = Data<Revoked>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 404, description = "Unknown, already revoked, or not yours", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn revoke(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    PathParams { 0: id, .. }: PathParams<String>,
) -> Result<Json<Data<Revoked>>, Error> {
    let info = state.identity.revoke_api_key(&principal, &id).await?;
    Ok(Data::json(Revoked {
        message: "API key revoked".into(),
        id: info.id,
    }))
}
