//! `/tools` (the core API's tools management): the catalog of tools with their risk level
//! and the data they touch, which governance decisions naming a tool take in.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::governance::tools::{NewTool, Tool};
use crate::http::dialect::{Authed, PathParams, QueryParams};
use crate::state::AppState;

fn data_classes_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(serde_json::json!({
        "type": "array",
        "maxItems": 16,
        "items": {
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "pattern": r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
        },
        "example": ["financial", "pii"]
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterToolRequest {
    /// The name decisions use as their `tool`.
    #[schema(
        example = "wire_transfer",
        min_length = 1,
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    )]
    name: String,
    #[schema(
        example = "Sends money from the company account to a payee.",
        max_length = 2000
    )]
    description: Option<String>,
    /// 1 (harmless) to 5 (critical): a decision naming the tool is judged at least at it.
    #[serde(deserialize_with = "crate::http::json_int::integer")]
    #[schema(minimum = 1, maximum = 5, example = 5)]
    risk_level: i64,
    /// Data classes the tool touches: added to every decision naming it.
    #[serde(default)]
    #[schema(schema_with = data_classes_schema)]
    data_classes: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ToolRecord {
    #[schema(example = "tool_01JEX5F2K8Q7W4T8K5R6Y0ZC1N")]
    tool_id: String,
    #[schema(example = "wire_transfer")]
    name: String,
    #[schema(example = "Sends money from the company account to a payee.")]
    description: String,
    #[schema(example = 5)]
    risk_level: u8,
    #[schema(example = json!(["financial", "pii"]))]
    data_classes: Vec<String>,
    /// The administrator's user id.
    #[schema(example = "0b7e2f4a-9c1d-4e8f-a2b3-c4d5e6f7a8b9")]
    registered_by: String,
    created_at: DateTime<Utc>,
}

impl From<Tool> for ToolRecord {
    fn from(t: Tool) -> Self {
        Self {
            tool_id: t.id,
            name: t.name,
            description: t.description,
            risk_level: t.risk_level,
            data_classes: t.data_classes,
            registered_by: t.registered_by,
            created_at: t.created_at,
        }
    }
}

/// Register a tool
///
/// Adds a tool to the catalog (administrators only). From then on every governance
/// decision naming it (`/lexecon/decide`'s `tool`) is judged at least at its risk level —
/// level 5 asks for a review in permissive mode, 4 and up in strict — and with its data
/// classes (which the policy's forbids see). A name already registered is 409.
#[utoipa::path(
    post, path = "/tools", tag = "tools", operation_id = "register_tool",
    security(("bearer" = []), ("api_key" = [])),
    request_body = RegisterToolRequest,
    responses(
        (status = 201, description = "Registered", body = ToolRecord),
        (status = 400, description = "A field is missing, blank, too long or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator", body = LukhasError),
        (status = 409, description = "A tool with this name is registered", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<RegisterToolRequest>,
) -> Result<(StatusCode, Json<ToolRecord>), Error> {
    let tool = state
        .governance
        .tools()
        .register(
            &state.db,
            &principal,
            NewTool {
                name: body.name,
                description: body.description,
                risk_level: body.risk_level,
                data_classes: body.data_classes,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(tool.into())))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ToolQuery {
    /// 1 to 100 (default 50).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ToolList {
    tools: Vec<ToolRecord>,
    #[schema(example = 1)]
    total_count: u64,
}

/// List tools
///
/// The catalog, newest first. Needs `governance:read`.
#[utoipa::path(
    get, path = "/tools", tag = "tools", operation_id = "list_tools",
    security(("bearer" = []), ("api_key" = [])),
    params(ToolQuery),
    responses(
        (status = 200, description = "The tools", body = ToolList),
        (status = 400, description = "limit or offset out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks governance:read", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    QueryParams(query, ..): QueryParams<ToolQuery, Lukhas>,
) -> Result<Json<ToolList>, Error> {
    let (tools, total_count) = state
        .governance
        .tools()
        .list(&state.db, &principal, query.limit, query.offset)
        .await?;
    Ok(Json(ToolList {
        tools: tools.into_iter().map(Into::into).collect(),
        total_count,
    }))
}

/// Get a tool
///
/// One tool, by its id or its name. Needs `governance:read`.
#[utoipa::path(
    get, path = "/tools/{tool_id}", tag = "tools", operation_id = "get_tool",
    security(("bearer" = []), ("api_key" = [])),
    params(("tool_id" = String, Path, description = "The tool's id or name", example = "wire_transfer")),
    responses(
        (status = 200, description = "The tool", body = ToolRecord),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks governance:read", body = LukhasError),
        (status = 404, description = "No tool has this id or name", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    PathParams { 0: id, .. }: PathParams<String, Lukhas>,
) -> Result<Json<ToolRecord>, Error> {
    Ok(Json(
        state
            .governance
            .tools()
            .get(&state.db, &principal, &id)
            .await?
            .into(),
    ))
}
