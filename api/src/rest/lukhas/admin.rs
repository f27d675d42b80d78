//! `/admin` (the core API's admin dashboard): accounts, their tiers, roles and API keys,
//! for administrators only.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::identity::{AccountChange, ApiKeyInfo, Role, User, UserFilter};
use crate::error::DomainError;
use crate::http::dialect::{Authed, PathParams, QueryParams};
use crate::rest::shared::AccountTier;
use crate::state::AppState;

string_enum!(
    /// A built-in role.
    AccountRole {
        User = "user",
        Admin = "admin",
        Reviewer = "reviewer",
        Auditor = "auditor",
    }
);

#[derive(Serialize, ToSchema)]
pub struct AdminUser {
    #[schema(example = "6f1c2d3e-4b5a-4978-8a1b-2c3d4e5f6a7b")]
    user_id: String,
    #[schema(example = "ada@example.com")]
    email: String,
    #[schema(example = "Ada")]
    name: Option<String>,
    #[schema(value_type = AccountTier, example = "pro")]
    tier: &'static str,
    #[schema(example = json!(["user", "reviewer"]))]
    roles: Vec<&'static str>,
    /// Approver groups.
    #[schema(example = json!(["finance"]))]
    groups: Vec<String>,
    created_at: DateTime<Utc>,
}

impl From<User> for AdminUser {
    fn from(u: User) -> Self {
        Self {
            user_id: u.id,
            email: u.email,
            name: u.name,
            tier: u.tier.as_str(),
            roles: u.roles.iter().map(|r| r.as_str()).collect(),
            groups: u.groups,
            created_at: u.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AdminUserSummary {
    #[serde(flatten)]
    user: AdminUser,
    /// Keys not revoked.
    #[schema(example = 2)]
    active_api_keys: u64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AdminUserQuery {
    /// A part of the address.
    #[param(example = "example.com", min_length = 1, max_length = 254)]
    email: Option<String>,
    #[param(inline, value_type = Option<AccountTier>, example = "pro")]
    tier: Option<String>,
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct AdminUserList {
    users: Vec<AdminUserSummary>,
    #[schema(example = 1)]
    total_count: u64,
}

/// List accounts
///
/// Every account, newest first, with its active key count; `email` matches a part of the
/// address. Administrators only.
#[utoipa::path(
    get, path = "/admin/users", tag = "admin", operation_id = "admin_list_users",
    security(("bearer" = []), ("api_key" = [])),
    params(AdminUserQuery),
    responses(
        (status = 200, description = "The accounts", body = AdminUserList),
        (status = 400, description = "A filter is out of range or unknown", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn users(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    QueryParams(query, ..): QueryParams<AdminUserQuery, Lukhas>,
) -> Result<Json<AdminUserList>, Error> {
    let (users, total_count) = state
        .identity
        .admin_users(
            &principal,
            UserFilter {
                email: query.email,
                tier: query.tier,
                limit: query.limit,
                offset: query.offset,
            },
        )
        .await?;
    Ok(Json(AdminUserList {
        users: users
            .into_iter()
            .map(|(user, active_api_keys)| AdminUserSummary {
                user: user.into(),
                active_api_keys,
            })
            .collect(),
        total_count,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct AdminApiKey {
    #[schema(example = "5b0f3a5e-2c1d-4e6f-8a9b-0c1d2e3f4a5b")]
    key_id: String,
    #[schema(example = "CI deploys")]
    name: String,
    #[schema(example = "lnos_live_7Qh2xK9m")]
    prefix: String,
    #[schema(example = json!(["governance:decide", "governance:read"]))]
    scopes: Vec<&'static str>,
    created_at: DateTime<Utc>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl From<ApiKeyInfo> for AdminApiKey {
    fn from(k: ApiKeyInfo) -> Self {
        Self {
            key_id: k.id,
            name: k.name,
            prefix: k.prefix,
            scopes: k.scopes.iter().map(|s| s.as_str()).collect(),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
            revoked_at: k.revoked_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AdminUserDetail {
    #[serde(flatten)]
    user: AdminUser,
    /// Active and revoked, newest first.
    api_keys: Vec<AdminApiKey>,
}

/// Get an account
///
/// One account with all its API keys. Administrators only.
#[utoipa::path(
    get, path = "/admin/users/{user_id}", tag = "admin", operation_id = "admin_get_user",
    security(("bearer" = []), ("api_key" = [])),
    params(("user_id" = String, Path, example = "6f1c2d3e-4b5a-4978-8a1b-2c3d4e5f6a7b")),
    responses(
        (status = 200, description = "The account", body = AdminUserDetail),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator", body = LukhasError),
        (status = 404, description = "No account has this id", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn user(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    PathParams { 0: id, .. }: PathParams<String, Lukhas>,
) -> Result<Json<AdminUserDetail>, Error> {
    let (user, keys) = state.identity.admin_user(&principal, &id).await?;
    Ok(Json(AdminUserDetail {
        user: user.into(),
        api_keys: keys.into_iter().map(Into::into).collect(),
    }))
}

/// Group names: lowercase, starting with a letter, not a built-in role; at most 16.
fn groups_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(serde_json::json!({
        "type": ["array", "null"],
        "maxItems": 16,
        "items": {
            "type": "string",
            "pattern": "^[a-z][a-z0-9_-]{0,31}$",
            "not": {"enum": ["user", "admin", "reviewer", "auditor"]}
        },
        "example": ["finance"]
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct AdminUserUpdate {
    #[schema(value_type = Option<AccountTier>, example = "team")]
    tier: Option<String>,
    /// The complete role list (`user` is always kept).
    #[schema(value_type = Option<Vec<AccountRole>>, example = json!(["user", "auditor"]))]
    roles: Option<Vec<String>>,
    /// The complete approver-group list.
    #[schema(schema_with = groups_schema)]
    groups: Option<Vec<String>>,
}

/// Change an account
///
/// Sets an account's tier, roles and approver groups (what is left out stays). Takes
/// effect on every instance within a second; the account's security events record it.
/// Administrators only; removing your own admin role is 409.
#[utoipa::path(
    patch, path = "/admin/users/{user_id}", tag = "admin", operation_id = "admin_update_user",
    security(("bearer" = []), ("api_key" = [])),
    params(("user_id" = String, Path, example = "6f1c2d3e-4b5a-4978-8a1b-2c3d4e5f6a7b")),
    request_body = AdminUserUpdate,
    responses(
        (status = 200, description = "The account as changed", body = AdminUser),
        (status = 400, description = "An unknown tier, role or group name", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator", body = LukhasError),
        (status = 404, description = "No account has this id", body = LukhasError),
        (status = 409, description = "You would remove your own admin role", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn update_user(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    PathParams { 0: id, .. }: PathParams<String, Lukhas>,
    Body { 0: body, .. }: Body<AdminUserUpdate>,
) -> Result<Json<AdminUser>, Error> {
    let roles = body
        .roles
        .map(|names| {
            names
                .iter()
                .enumerate()
                .map(|(i, name)| Role::named(&format!("roles[{i}]"), name))
                .collect::<Result<Vec<Role>, DomainError>>()
        })
        .transpose()?;
    let tier = body.tier.map(|t| t.parse()).transpose()?;
    let user = state
        .identity
        .update_user(
            &principal,
            &id,
            AccountChange {
                roles,
                groups: body.groups,
                tier,
            },
        )
        .await?;
    Ok(Json(user.into()))
}

/// Revoke any API key
///
/// Revokes an API key of any account; it stops working on every instance within a second
/// and its owner's security events record who did it. Administrators only (anyone else
/// revokes their own keys with `DELETE /lunaos/api-keys/{id}`).
#[utoipa::path(
    delete, path = "/admin/keys/{key_id}", tag = "admin", operation_id = "admin_revoke_key",
    security(("bearer" = []), ("api_key" = [])),
    params(("key_id" = String, Path, example = "5b0f3a5e-2c1d-4e6f-8a9b-0c1d2e3f4a5b")),
    responses(
        (status = 200, description = "The key, revoked", body = AdminApiKey),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator", body = LukhasError),
        (status = 404, description = "No active key has this id", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn revoke_key(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    PathParams { 0: id, .. }: PathParams<String, Lukhas>,
) -> Result<Json<AdminApiKey>, Error> {
    Ok(Json(
        state
            .identity
            .admin_revoke_api_key(&principal, &id)
            .await?
            .into(),
    ))
}
