//! `/glyphs`: GLYPH tokens in the document's token format — send, list, get and bind —
//! behind `LUKHAS_GLYPHS_ENABLED` (503 `FEATURE_DISABLED` otherwise).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::cognition::glyphs::{Glyph, GlyphFilter, NewGlyph};
use crate::http::dialect::{Authed, PathParams, QueryParams};
use crate::state::AppState;

string_enum!(
    /// The document's eight GLYPH symbols.
    GlyphSymbol {
        Trust = "TRUST",
        Learn = "LEARN",
        Adapt = "ADAPT",
        Create = "CREATE",
        Protect = "PROTECT",
        Remember = "REMEMBER",
        Reflect = "REFLECT",
        Connect = "CONNECT",
    }
);

string_enum!(
    /// How urgent the glyph is.
    GlyphPriority { Low = "low", Normal = "normal", High = "high", Critical = "critical" }
);

#[derive(Deserialize, Serialize, ToSchema)]
pub struct GlyphSource {
    #[schema(example = "consciousness", pattern = "^[a-z0-9_]{1,64}$")]
    module: String,
    #[schema(example = "awareness_engine", pattern = "^[a-z0-9_]{1,64}$")]
    component: Option<String>,
    #[schema(example = 0.92, minimum = 0, maximum = 1)]
    confidence: Option<f64>,
}

#[derive(Deserialize, Serialize, ToSchema)]
pub struct GlyphTarget {
    #[schema(example = "memory", pattern = "^[a-z0-9_]{1,64}$")]
    module: String,
    #[schema(example = "episodic_storage", pattern = "^[a-z0-9_]{1,64}$")]
    component: Option<String>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct GlyphContextInput {
    #[schema(example = "session456", min_length = 1, max_length = 128)]
    session_id: Option<String>,
    #[schema(example = "interaction789", min_length = 1, max_length = 128)]
    interaction_id: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct GlyphPayload {
    #[schema(example = "store_learning_event", pattern = "^[a-z0-9_]{1,64}$")]
    action: String,
    /// Any JSON object (at most 16 KB).
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    #[schema(value_type = Option<Object>, example = json!({"concept": "quantum_entanglement", "understanding_level": 0.75}))]
    data: Option<Value>,
}

#[derive(Deserialize, ToSchema, Default)]
pub struct GlyphMetadataInput {
    #[schema(value_type = Option<GlyphPriority>, example = "normal")]
    priority: Option<String>,
    /// 1 to 86 400 (default 300); the glyph is gone after it.
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<u32>, example = 300, minimum = 1, maximum = 86400)]
    ttl_seconds: Option<i64>,
    /// Validate it with the guardian first (needs `governance:decide`); a rejection refuses it.
    #[serde(default)]
    #[schema(example = true)]
    requires_guardian: bool,
}

#[derive(Deserialize, ToSchema)]
pub struct SendGlyphRequest {
    #[schema(value_type = GlyphSymbol, example = "LEARN")]
    symbol: String,
    source: GlyphSource,
    target: GlyphTarget,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    context: Option<GlyphContextInput>,
    payload: GlyphPayload,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    metadata: Option<GlyphMetadataInput>,
}

#[derive(Serialize, ToSchema)]
pub struct GlyphContext {
    /// The sender's user id.
    #[schema(example = "0193a1f2-7c4b-7d21-9e55-2f1c3b4a5d6e")]
    user_id: String,
    #[schema(example = "session456")]
    session_id: Option<String>,
    #[schema(example = "interaction789")]
    interaction_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct GlyphPayloadView {
    #[schema(example = "store_learning_event")]
    action: String,
    #[schema(value_type = Object, example = json!({"concept": "quantum_entanglement", "understanding_level": 0.75}))]
    data: Value,
}

#[derive(Serialize, ToSchema)]
pub struct GlyphMetadata {
    #[schema(value_type = GlyphPriority, example = "normal")]
    priority: String,
    #[schema(example = 300)]
    ttl_seconds: i64,
    #[schema(example = true)]
    requires_guardian: bool,
}

/// A GLYPH token in the document's format, with when it expires, the guardian's
/// validation and the memories it was bound to.
#[derive(Serialize, ToSchema)]
pub struct GlyphToken {
    #[schema(example = "glyph_2026_12_06_01jew8q2v7g6y5t4r3e2w1q0pz")]
    glyph_id: String,
    #[schema(value_type = GlyphSymbol, example = "LEARN")]
    symbol: String,
    timestamp: DateTime<Utc>,
    source: GlyphSource,
    target: GlyphTarget,
    context: GlyphContext,
    payload: GlyphPayloadView,
    metadata: GlyphMetadata,
    expires_at: DateTime<Utc>,
    /// The guardian's validation (`requires_guardian`), in the ledger.
    #[schema(example = "val_01jew8q2v7g6y5t4r3e2w1q0pz")]
    guardian_validation_id: Option<String>,
    #[schema(example = json!([]))]
    bound_memories: Vec<String>,
}

impl From<Glyph> for GlyphToken {
    fn from(g: Glyph) -> Self {
        Self {
            glyph_id: g.id,
            symbol: g.symbol,
            timestamp: g.created_at,
            source: GlyphSource {
                module: g.source_module,
                component: g.source_component,
                confidence: g.source_confidence,
            },
            target: GlyphTarget {
                module: g.target_module,
                component: g.target_component,
            },
            context: GlyphContext {
                user_id: g.owner,
                session_id: g.session_id,
                interaction_id: g.interaction_id,
            },
            payload: GlyphPayloadView {
                action: g.action,
                data: g.data,
            },
            metadata: GlyphMetadata {
                priority: g.priority,
                ttl_seconds: g.ttl_seconds,
                requires_guardian: g.requires_guardian,
            },
            expires_at: g.expires_at,
            guardian_validation_id: g.validation_id,
            bound_memories: g.bound_memories,
        }
    }
}

/// Send a GLYPH
///
/// Creates a token in the document's format, alive for `metadata.ttl_seconds`. With
/// `requires_guardian` the guardian validates its action and data first
/// (`GUARDIAN_REJECTION` refuses it). Needs the `glyphs` scope; off unless the server sets
/// `LUKHAS_GLYPHS_ENABLED`.
#[utoipa::path(
    post, path = "/glyphs", tag = "glyphs", operation_id = "send_glyph",
    security(("bearer" = []), ("api_key" = [])),
    request_body = SendGlyphRequest,
    responses(
        (status = 200, description = "The token", body = GlyphToken),
        (status = 400, description = "A field is missing or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "`GUARDIAN_REJECTION`, a missing scope, or 1 000 live glyphs", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
        (status = 503, description = "`FEATURE_DISABLED`: GLYPHs are off on this server", body = LukhasError),
    )
)]
pub async fn send(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<SendGlyphRequest>,
) -> Result<Json<GlyphToken>, Error> {
    let context = body.context.unwrap_or_default();
    let metadata = body.metadata.unwrap_or_default();
    let glyph = state
        .matriz
        .send_glyph(
            &principal,
            NewGlyph {
                symbol: body.symbol,
                source_module: body.source.module,
                source_component: body.source.component,
                source_confidence: body.source.confidence,
                target_module: body.target.module,
                target_component: body.target.component,
                session_id: context.session_id,
                interaction_id: context.interaction_id,
                action: body.payload.action,
                data: body.payload.data.unwrap_or(Value::Null),
                priority: metadata.priority,
                ttl_seconds: metadata.ttl_seconds,
                requires_guardian: metadata.requires_guardian,
            },
        )
        .await?;
    Ok(Json(glyph.into()))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GlyphQuery {
    #[param(inline, value_type = Option<GlyphSymbol>, example = "LEARN")]
    symbol: Option<String>,
    #[param(example = "memory", pattern = "^[a-z0-9_]{1,64}$")]
    target_module: Option<String>,
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    limit: Option<i64>,
    #[param(minimum = 0)]
    offset: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct GlyphList {
    glyphs: Vec<GlyphToken>,
    /// Live glyphs matching the filters.
    #[schema(example = 1)]
    total: u64,
}

/// List GLYPHs
///
/// Your live glyphs (expired ones are gone), newest first, by symbol and target module.
#[utoipa::path(
    get, path = "/glyphs", tag = "glyphs", operation_id = "list_glyphs",
    security(("bearer" = []), ("api_key" = [])),
    params(GlyphQuery),
    responses(
        (status = 200, description = "The glyphs", body = GlyphList),
        (status = 400, description = "A filter is out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the glyphs scope", body = LukhasError),
        (status = 503, description = "`FEATURE_DISABLED`", body = LukhasError),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    QueryParams(query, ..): QueryParams<GlyphQuery, Lukhas>,
) -> Result<Json<GlyphList>, Error> {
    let (glyphs, total) = state
        .matriz
        .glyphs(
            &principal,
            GlyphFilter {
                symbol: query.symbol,
                target_module: query.target_module,
                limit: query.limit,
                offset: query.offset,
            },
        )
        .await?;
    Ok(Json(GlyphList {
        glyphs: glyphs.into_iter().map(Into::into).collect(),
        total,
    }))
}

/// Get a GLYPH
///
/// One of your live glyphs; 404 once it expired (or when it is someone else's).
#[utoipa::path(
    get, path = "/glyphs/{glyph_id}", tag = "glyphs", operation_id = "get_glyph",
    security(("bearer" = []), ("api_key" = [])),
    params(("glyph_id" = String, Path, example = "glyph_2026_12_06_01jew8q2v7g6y5t4r3e2w1q0pz")),
    responses(
        (status = 200, description = "The token", body = GlyphToken),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the glyphs scope", body = LukhasError),
        (status = 404, description = "No live glyph of yours has this id", body = LukhasError),
        (status = 503, description = "`FEATURE_DISABLED`", body = LukhasError),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    PathParams { 0: id, .. }: PathParams<String, Lukhas>,
) -> Result<Json<GlyphToken>, Error> {
    Ok(Json(state.matriz.glyph(&principal, &id).await?.into()))
}

#[derive(Deserialize, ToSchema)]
pub struct BindGlyphRequest {
    /// One of your memories: it is tagged `glyph:<symbol>`.
    #[schema(
        example = "mem_2026_12_06_01m95dp3xv6csc1ze0ejn3ft3",
        min_length = 1,
        max_length = 128
    )]
    memory_id: String,
}

/// Bind a GLYPH to a memory
///
/// Tags one of your memories with the glyph's symbol (`glyph:learn`) and lists the memory
/// on the glyph. Needs `glyphs` and `memory:write`.
#[utoipa::path(
    post, path = "/glyphs/{glyph_id}/bind", tag = "glyphs", operation_id = "bind_glyph",
    security(("bearer" = []), ("api_key" = [])),
    params(("glyph_id" = String, Path, example = "glyph_2026_12_06_01jew8q2v7g6y5t4r3e2w1q0pz")),
    request_body = BindGlyphRequest,
    responses(
        (status = 200, description = "The glyph, listing the memory", body = GlyphToken),
        (status = 400, description = "A field is missing", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "A missing scope", body = LukhasError),
        (status = 404, description = "No live glyph, or no memory, of yours has this id", body = LukhasError),
        (status = 422, description = "The memory drifted too far: repair it first", body = LukhasError),
        (status = 503, description = "`FEATURE_DISABLED`", body = LukhasError),
    )
)]
pub async fn bind(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    PathParams { 0: id, .. }: PathParams<String, Lukhas>,
    Body { 0: body, .. }: Body<BindGlyphRequest>,
) -> Result<Json<GlyphToken>, Error> {
    Ok(Json(
        state
            .matriz
            .bind_glyph(&principal, &id, &body.memory_id)
            .await?
            .into(),
    ))
}
