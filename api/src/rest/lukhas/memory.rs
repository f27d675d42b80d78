//! `/memory/*`: store, recall, search, update, repair and delete memories, in the document's
//! shapes, limited to 100 requests a minute per principal (the document's table).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::memory::{
    Helix, Memory, MemoryChange, NewMemory, RepairMethod, SearchFilters, MAX_SEARCH_LIMIT,
};
use crate::error::DomainError;
use crate::http::dialect::{Authed, PathParams};
use crate::state::AppState;

type Principal = Authed<Lukhas>;
type MemoryId = PathParams<String, Lukhas>;

/// The per-principal `/memory/*` budget (the document's 100 a minute).
pub struct MemoryRoutes;

impl super::budget::Budget for MemoryRoutes {
    const NAME: &'static str = "lukhas-memory";

    fn per_minute(state: &AppState) -> u32 {
        state.config.rate_limit.memory
    }
}

type MemoryBudget = super::budget::Charged<MemoryRoutes>;

#[derive(Deserialize, Serialize, ToSchema)]
pub struct MemoryContent {
    /// `episodic`, `semantic`, `procedural`, … (lowercase letters, digits, `_`).
    #[serde(rename = "type")]
    #[schema(example = "episodic", pattern = "^[a-z][a-z0-9_]{0,31}$")]
    kind: String,
    /// What is remembered; this text is embedded.
    #[schema(
        example = "User learned about quantum entanglement",
        min_length = 1,
        max_length = 32768
    )]
    data: String,
    /// Anything to remember beside the text; absent or `null`: none.
    #[serde(default)]
    #[schema(value_type = Option<Object>, example = json!({"location": "main_interaction", "associated_concepts": ["quantum", "physics", "education"]}))]
    context: Value,
    /// Any other field (the document's examples send `query`) is kept in `context`.
    #[serde(flatten, skip_serializing)]
    #[schema(ignore)]
    extra: serde_json::Map<String, Value>,
}

impl MemoryContent {
    /// `context` with the extra fields folded in (an explicit context key wins).
    fn context_with_extra(self) -> (String, String, Value) {
        let mut context = match self.context {
            Value::Object(map) => map,
            Value::Null => serde_json::Map::new(),
            other => return (self.kind, self.data, other),
        };
        for (key, value) in self.extra {
            context.entry(key).or_insert(value);
        }
        (self.kind, self.data, Value::Object(context))
    }
}

#[derive(Deserialize, ToSchema)]
pub struct StoreRequest {
    content: MemoryContent,
    #[serde(default)]
    #[schema(schema_with = tags_schema)]
    tags: Vec<String>,
    /// 0 to 1 (default 0.5).
    #[schema(example = 0.8, minimum = 0, maximum = 1)]
    importance: Option<f64>,
}

/// At most 32 tags of 1 to 64 characters.
fn tags_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(serde_json::json!({
        "type": "array",
        "maxItems": 32,
        "items": {"type": "string", "minLength": 1, "maxLength": 64},
        "example": ["physics", "learning"]
    }))
}

#[derive(Serialize, ToSchema)]
pub struct StoreResponse {
    #[schema(example = "mem_2026_12_01_01m8rhpgxvccwgfbvbzxbh2e2")]
    memory_id: String,
    /// The group of related memories it joined (or started).
    #[schema(example = "helix_quantum_entanglement_a1b2c3")]
    helix_id: String,
    #[schema(example = 0.0)]
    drift_score: f64,
    storage_confirmed: bool,
}

#[derive(Serialize, ToSchema)]
pub struct MemoryMetadata {
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    #[schema(example = 3)]
    access_count: i64,
    last_accessed: Option<DateTime<Utc>>,
    /// 1 − cosine between the stored and the current embedding, smoothed.
    #[schema(example = 0.02)]
    drift_score: f64,
    #[schema(example = 0.8)]
    importance: f64,
    #[schema(example = "helix_quantum_entanglement_a1b2c3")]
    helix_id: String,
    #[schema(example = json!(["physics", "learning"]))]
    tags: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RecallResponse {
    #[schema(example = "mem_2026_12_01_01m8rhpgxvccwgfbvbzxbh2e2")]
    memory_id: String,
    content: MemoryContent,
    metadata: MemoryMetadata,
    /// Up to three of your memories most similar to this one, most similar first.
    #[schema(example = json!(["mem_2026_11_30_01m8nz9sxv88vzjcrghfwj9q9"]))]
    related_memories: Vec<String>,
}

fn view(memory: Memory, related: Vec<String>) -> RecallResponse {
    RecallResponse {
        memory_id: memory.id,
        content: MemoryContent {
            kind: memory.kind,
            data: memory.data,
            context: memory.context,
            extra: Default::default(),
        },
        metadata: MemoryMetadata {
            created_at: memory.created_at,
            updated_at: memory.updated_at,
            access_count: memory.access_count,
            last_accessed: memory.last_accessed,
            drift_score: memory.drift_score,
            importance: memory.importance,
            helix_id: memory.helix_id,
            tags: memory.tags,
        },
        related_memories: related,
    }
}

/// Stores a memory: embedded, placed in a helix, drift 0.
#[utoipa::path(
    post, path = "/memory/store", tag = "memory",
    security(("bearer" = []), ("api_key" = [])),
    request_body = StoreRequest,
    responses(
        (status = 200, description = "Stored", body = StoreResponse),
        (status = 400, description = "Invalid content", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks memory:write, or the account holds its maximum of memories", body = LukhasError),
        (status = 429, description = "More than 100 memory requests in a minute", body = LukhasError),
    )
)]
pub async fn store(
    State(state): State<AppState>,
    _: MemoryBudget,
    Authed { 0: principal, .. }: Principal,
    Body { 0: body, .. }: Body<StoreRequest>,
) -> Result<Json<StoreResponse>, Error> {
    let (kind, data, context) = body.content.context_with_extra();
    let memory = state
        .memory
        .store(
            &principal,
            NewMemory {
                kind,
                data,
                context,
                tags: body.tags,
                importance: body.importance,
                helix: Helix::Nearest,
            },
        )
        .await?;
    Ok(Json(StoreResponse {
        memory_id: memory.id,
        helix_id: memory.helix_id,
        drift_score: memory.drift_score,
        storage_confirmed: true,
    }))
}

/// Recalls a memory (counting the access) with its related memories.
#[utoipa::path(
    get, path = "/memory/recall/{memory_id}", tag = "memory",
    security(("bearer" = []), ("api_key" = [])),
    params(("memory_id" = String, Path, description = "The memory's id (`mem_…`)")),
    responses(
        (status = 200, description = "The memory", body = RecallResponse),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 404, description = "No memory of yours has this id", body = LukhasError),
        (status = 422, description = "The memory drifted past the limit: repair it first", body = LukhasError),
        (status = 429, description = "More than 100 memory requests in a minute", body = LukhasError),
    )
)]
pub async fn recall(
    State(state): State<AppState>,
    _: MemoryBudget,
    Authed { 0: principal, .. }: Principal,
    PathParams { 0: id, .. }: MemoryId,
) -> Result<Json<RecallResponse>, Error> {
    let (memory, related) = state.memory.recall(&principal, &id).await?;
    Ok(Json(view(memory, related)))
}

#[derive(Deserialize, ToSchema)]
pub struct DateRange {
    /// A date (`2026-01-01`, from its start) or an RFC 3339 time.
    #[schema(example = "2026-01-01")]
    start: Option<String>,
    /// A date (`2026-01-15`, to its end) or an RFC 3339 time.
    #[schema(example = "2026-12-31")]
    end: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct SearchFiltersBody {
    /// Memory types to include.
    #[serde(rename = "type", default)]
    #[schema(example = json!(["episodic", "semantic"]))]
    kinds: Vec<String>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    date_range: Option<DateRange>,
    #[schema(example = 0.5, minimum = 0, maximum = 1)]
    min_importance: Option<f64>,
}

#[derive(Deserialize, ToSchema)]
#[schema(as = MemorySearchRequest)]
pub struct SearchRequest {
    #[schema(example = "quantum physics explanations", min_length = 1)]
    query: String,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    filters: Option<SearchFiltersBody>,
    /// 1 to 100 (default 10).
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<u32>, example = 10, minimum = 1, maximum = 100)]
    limit: Option<i64>,
    /// Include each memory's context (default true).
    include_context: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchHit {
    #[schema(example = "mem_2026_12_01_01m8rhpgxvccwgfbvbzxbh2e2")]
    memory_id: String,
    /// Cosine similarity of the query and the memory (0 to 1).
    #[schema(example = 0.91)]
    relevance_score: f64,
    content: SearchHitContent,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    context: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchHitContent {
    #[serde(rename = "type")]
    #[schema(example = "episodic")]
    kind: String,
    #[schema(example = "User learned about quantum entanglement")]
    data: String,
}

#[derive(Serialize, ToSchema)]
#[schema(as = MemorySearchResponse)]
pub struct SearchResponse {
    results: Vec<SearchHit>,
    /// How many of your memories passed the filters (each was compared with the query).
    #[schema(example = 23)]
    total_matches: usize,
    /// Measured in the server: embedding the query and searching.
    #[schema(example = 1.7)]
    search_time_ms: f64,
}

fn parse_bound(raw: &str, end: bool, field: &str) -> Result<DateTime<Utc>, DomainError> {
    if let Ok(time) = DateTime::parse_from_rfc3339(raw) {
        return Ok(time.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| {
        DomainError::invalid(
            field,
            format!("'{raw}' is neither a date (2026-01-15) nor an RFC 3339 time"),
        )
    })?;
    let time = if end {
        date.and_hms_milli_opt(23, 59, 59, 999)
    } else {
        date.and_hms_opt(0, 0, 0)
    };
    Ok(time.expect("valid clock time").and_utc())
}

/// Searches your memories by meaning, with filters.
#[utoipa::path(
    post, path = "/memory/search", tag = "memory",
    security(("bearer" = []), ("api_key" = [])),
    request_body = SearchRequest,
    responses(
        (status = 200, description = "The best matches, best first", body = SearchResponse),
        (status = 400, description = "Invalid query or filters", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 429, description = "More than 100 memory requests in a minute", body = LukhasError),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    _: MemoryBudget,
    Authed { 0: principal, .. }: Principal,
    Body { 0: body, .. }: Body<SearchRequest>,
) -> Result<Json<SearchResponse>, Error> {
    let mut filters = SearchFilters::default();
    if let Some(given) = body.filters {
        filters.kinds = given.kinds;
        filters.min_importance = given.min_importance;
        if let Some(range) = given.date_range {
            filters.from = range
                .start
                .as_deref()
                .map(|s| parse_bound(s, false, "filters.date_range.start"))
                .transpose()?;
            filters.to = range
                .end
                .as_deref()
                .map(|s| parse_bound(s, true, "filters.date_range.end"))
                .transpose()?;
        }
    }
    let limit = match body.limit {
        None => 10,
        Some(n) if (1..=MAX_SEARCH_LIMIT as i64).contains(&n) => n as usize,
        Some(_) => {
            return Err(DomainError::invalid(
                "limit",
                format!("limit must be between 1 and {MAX_SEARCH_LIMIT}"),
            )
            .into())
        }
    };
    let include_context = body.include_context.unwrap_or(true);
    let outcome = state
        .memory
        .search(&principal, &body.query, filters, limit)
        .await?;
    Ok(Json(SearchResponse {
        results: outcome
            .results
            .into_iter()
            .map(|found| SearchHit {
                memory_id: found.memory.id,
                relevance_score: (found.relevance * 1e4).round() / 1e4,
                content: SearchHitContent {
                    kind: found.memory.kind,
                    data: found.memory.data,
                },
                context: include_context.then_some(found.memory.context),
            })
            .collect(),
        total_matches: outcome.total_matches,
        search_time_ms: (outcome.search_time_ms * 1000.0).round() / 1000.0,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct ContentChange {
    #[serde(rename = "type")]
    #[schema(example = "semantic", pattern = "^[a-z][a-z0-9_]{0,31}$")]
    kind: Option<String>,
    /// New text: re-embedded, and its drift from the stored original measured.
    #[schema(
        example = "User explained quantum entanglement to a friend",
        min_length = 1,
        max_length = 32768
    )]
    data: Option<String>,
    #[schema(value_type = Option<Object>)]
    context: Option<Value>,
}

#[derive(Deserialize, ToSchema)]
pub struct UpdateRequest {
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    content: Option<ContentChange>,
    #[schema(schema_with = tags_schema)]
    tags: Option<Vec<String>>,
    #[schema(example = 0.9, minimum = 0, maximum = 1)]
    importance: Option<f64>,
}

/// Changes a memory (beyond the document); new data is re-embedded and drift measured.
#[utoipa::path(
    put, path = "/memory/{memory_id}", tag = "memory",
    security(("bearer" = []), ("api_key" = [])),
    params(("memory_id" = String, Path, description = "The memory's id (`mem_…`)")),
    request_body = UpdateRequest,
    responses(
        (status = 200, description = "The memory as it is now", body = RecallResponse),
        (status = 400, description = "Invalid change", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 404, description = "No memory of yours has this id", body = LukhasError),
        (status = 422, description = "The memory drifted past the limit: repair it first", body = LukhasError),
        (status = 429, description = "More than 100 memory requests in a minute", body = LukhasError),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    _: MemoryBudget,
    Authed { 0: principal, .. }: Principal,
    PathParams { 0: id, .. }: MemoryId,
    Body { 0: body, .. }: Body<UpdateRequest>,
) -> Result<Json<RecallResponse>, Error> {
    let content = body.content;
    let change = MemoryChange {
        kind: content.as_ref().and_then(|c| c.kind.clone()),
        data: content.as_ref().and_then(|c| c.data.clone()),
        context: content.and_then(|c| c.context),
        tags: body.tags,
        importance: body.importance,
    };
    let memory = state.memory.update(&principal, &id, change).await?;
    Ok(Json(view(memory, vec![])))
}

string_enum!(
    /// How to repair a drifted memory.
    RepairMethodName {
        PartialHeal = "partial_heal",
        FullRestore = "full_restore",
        Rebaseline = "rebaseline",
    }
);

#[derive(Deserialize, ToSchema)]
pub struct RepairRequest {
    /// `partial_heal` pulls the embedding halfway back to the original; `full_restore`
    /// restores the original content; `rebaseline` accepts the current content as the new
    /// original. Default `partial_heal`.
    #[schema(value_type = Option<RepairMethodName>, example = "partial_heal")]
    method: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RepairResponse {
    #[schema(example = "mem_2026_12_01_01m8rhpgxvccwgfbvbzxbh2e2")]
    memory_id: String,
    #[schema(value_type = RepairMethodName, example = "partial_heal")]
    method: &'static str,
    #[schema(example = 0.42)]
    drift_before: f64,
    #[schema(example = 0.11)]
    drift_after: f64,
    repaired: bool,
}

/// Repairs a drifted memory.
#[utoipa::path(
    post, path = "/memory/repair/{memory_id}", tag = "memory",
    security(("bearer" = []), ("api_key" = [])),
    params(("memory_id" = String, Path, description = "The memory's id (`mem_…`)")),
    request_body(content = Option<RepairRequest>, description = "The method (default partial_heal)"),
    responses(
        (status = 200, description = "Repaired", body = RepairResponse),
        (status = 400, description = "Unknown method", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 404, description = "No memory of yours has this id", body = LukhasError),
        (status = 429, description = "More than 100 memory requests in a minute", body = LukhasError),
    )
)]
pub async fn repair(
    State(state): State<AppState>,
    _: MemoryBudget,
    Authed { 0: principal, .. }: Principal,
    PathParams { 0: id, .. }: MemoryId,
    body: Option<Body<RepairRequest>>,
) -> Result<Json<RepairResponse>, Error> {
    let method = match body.and_then(|b| b.0.method) {
        Some(name) => RepairMethod::parse(&name)?,
        None => RepairMethod::PartialHeal,
    };
    let repaired = state.memory.repair(&principal, &id, method).await?;
    Ok(Json(RepairResponse {
        memory_id: repaired.memory.id,
        method: method.as_str(),
        drift_before: repaired.drift_before,
        drift_after: repaired.memory.drift_score,
        repaired: true,
    }))
}

/// Deletes a memory (beyond the document).
#[utoipa::path(
    delete, path = "/memory/{memory_id}", tag = "memory",
    security(("bearer" = []), ("api_key" = [])),
    params(("memory_id" = String, Path, description = "The memory's id (`mem_…`)")),
    responses(
        (status = 200, description = "Deleted", body = DeleteResponse),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 404, description = "No memory of yours has this id", body = LukhasError),
        (status = 429, description = "More than 100 memory requests in a minute", body = LukhasError),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    _: MemoryBudget,
    Authed { 0: principal, .. }: Principal,
    PathParams { 0: id, .. }: MemoryId,
) -> Result<Json<DeleteResponse>, Error> {
    state.memory.delete(&principal, &id).await?;
    Ok(Json(DeleteResponse {
        memory_id: id,
        deleted: true,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct DeleteResponse {
    #[schema(example = "mem_2026_12_01_01m8rhpgxvccwgfbvbzxbh2e2")]
    memory_id: String,
    deleted: bool,
}
