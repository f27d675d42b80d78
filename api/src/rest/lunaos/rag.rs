//! `/rag/*`: index files into a repository and search them (hybrid: meaning and terms),
//! plus listing and deleting repositories (beyond the document).

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Authed, Body, Data, Error, LunaError, PathParams};
use crate::domain::rag::{self, File};
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct IndexedFile {
    #[schema(example = "src/auth/tokens.rs", min_length = 1, max_length = 1024)]
    path: String,
    /// At most 500 000 characters.
    #[schema(
        example = "pub fn verify_token(token: &str) -> Result<Claims, Error> {\n    decode(token)\n}\n",
        max_length = 500000
    )]
    content: String,
}

#[derive(Deserialize, ToSchema)]
pub struct IndexRequest {
    #[schema(min_items = 1, max_items = 100)]
    files: Vec<IndexedFile>,
    /// Default `default`; letters, digits, `.`, `_`, `-`, `/`.
    #[schema(example = "orrery", pattern = "^[A-Za-z0-9._/-]{1,100}$")]
    repository: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct IndexResponse {
    /// Files indexed (each replaces what that path had).
    #[schema(example = 2)]
    indexed: usize,
    /// Chunks stored, one vector each.
    #[schema(example = 7)]
    vectors: usize,
    #[schema(example = "orrery")]
    repository: String,
    #[schema(example = "Indexed 2 files (7 chunks) into orrery")]
    message: String,
}

/// Index files (1–100) into one of your repositories; re-indexing a path replaces it.
#[utoipa::path(
    post, path = "/rag/index", tag = "rag",
    security(("bearer" = []), ("api_key" = [])),
    request_body = IndexRequest,
    responses(
        (status = 200, description = "Indexed", body = Data<IndexResponse>),
        (status = 400, description = "Invalid files or repository", body = LunaError),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 403, description = "The key lacks rag:write, or the account's chunk quota is used up", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn index(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    Body { 0: body, .. }: Body<IndexRequest>,
) -> Result<Json<Data<IndexResponse>>, Error> {
    let files = body
        .files
        .into_iter()
        .map(|f| File {
            path: f.path,
            content: f.content,
        })
        .collect();
    let indexed = state.rag.index(&principal, body.repository, files).await?;
    Ok(Data::json(IndexResponse {
        message: format!(
            "Indexed {} files ({} chunks) into {}",
            indexed.files, indexed.chunks, indexed.repository
        ),
        indexed: indexed.files,
        vectors: indexed.chunks,
        repository: indexed.repository,
    }))
}

#[derive(Deserialize, ToSchema)]
#[schema(as = CodeSearchRequest)]
pub struct SearchRequest {
    #[schema(example = "where are access tokens verified", min_length = 1)]
    query: String,
    /// Search one repository (default: all of yours).
    #[schema(example = "orrery", pattern = "^[A-Za-z0-9._/-]{1,100}$")]
    repository: Option<String>,
    /// 1 to 20 (default 5).
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<u32>, example = 5, minimum = 1, maximum = 20)]
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SearchResult {
    #[schema(example = "src/auth/tokens.rs")]
    path: String,
    #[schema(example = "pub fn verify_token(token: &str) -> Result<Claims, Error> {")]
    content: String,
    /// Reciprocal rank fusion of the meaning and the term rankings; 1.0 = first in both.
    #[schema(example = 0.98)]
    score: f64,
    /// The chunk's position in its file (0-based).
    #[schema(example = 0)]
    chunk: usize,
    #[schema(example = 1)]
    start_line: usize,
    #[schema(example = 3)]
    end_line: usize,
}

#[derive(Serialize, ToSchema)]
#[schema(as = CodeSearchResponse)]
pub struct SearchResponse {
    results: Vec<SearchResult>,
    #[schema(example = "where are access tokens verified")]
    query: String,
    /// How many results are returned.
    #[schema(example = 1)]
    total: usize,
}

/// Search your indexed code by meaning and by identifiers.
#[utoipa::path(
    post, path = "/rag/search", tag = "rag",
    security(("bearer" = []), ("api_key" = [])),
    request_body = SearchRequest,
    responses(
        (status = 200, description = "The best chunks, best first", body = Data<SearchResponse>),
        (status = 400, description = "Invalid query", body = LunaError),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    Body { 0: body, .. }: Body<SearchRequest>,
) -> Result<Json<Data<SearchResponse>>, Error> {
    let limit = match body.limit {
        None => 5,
        Some(n) if (1..=rag::MAX_SEARCH_LIMIT as i64).contains(&n) => n as usize,
        Some(_) => {
            return Err(DomainError::invalid(
                "limit",
                format!("limit must be between 1 and {}", rag::MAX_SEARCH_LIMIT),
            )
            .into())
        }
    };
    let hits = state
        .rag
        .search(&principal, &body.query, body.repository.as_deref(), limit)
        .await?;
    let results: Vec<SearchResult> = hits
        .into_iter()
        .map(|hit| SearchResult {
            path: hit.path,
            content: hit.content,
            score: (hit.score * 1e4).round() / 1e4,
            chunk: hit.chunk,
            start_line: hit.start_line,
            end_line: hit.end_line,
        })
        .collect();
    Ok(Data::json(SearchResponse {
        total: results.len(),
        results,
        query: body.query,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RepositoryView {
    #[schema(example = "orrery")]
    name: String,
    #[schema(example = 2)]
    files: usize,
    #[schema(example = 7)]
    chunks: usize,
    updated_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct RepositoryList {
    repositories: Vec<RepositoryView>,
    #[schema(example = 1)]
    total: usize,
}

/// Your repositories (beyond the document).
#[utoipa::path(
    get, path = "/rag/repositories", tag = "rag",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Your repositories", body = Data<RepositoryList>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn repositories(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
) -> Result<Json<Data<RepositoryList>>, Error> {
    let repositories: Vec<RepositoryView> = state
        .rag
        .repositories(&principal)
        .await?
        .into_iter()
        .map(|r| RepositoryView {
            name: r.name,
            files: r.files,
            chunks: r.chunks,
            updated_at: r.updated_at,
        })
        .collect();
    Ok(Data::json(RepositoryList {
        total: repositories.len(),
        repositories,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RepositoryDeleted {
    #[schema(example = "Repository deleted")]
    message: String,
    #[schema(example = "orrery")]
    name: String,
    #[schema(example = 7)]
    chunks: usize,
}

/// Delete one of your repositories (beyond the document).
#[utoipa::path(
    delete, path = "/rag/repositories/{name}", tag = "rag",
    security(("bearer" = []), ("api_key" = [])),
    params(("name" = String, Path, description = "The repository's name")),
    responses(
        (status = 200, description = "Deleted", body = Data<RepositoryDeleted>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 404, description = "You have no repository of that name", body = LunaError),
        (status = 429, description = "Rate limit exceeded", body = LunaError),
    )
)]
pub async fn delete_repository(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    PathParams { 0: name, .. }: PathParams<String>,
) -> Result<Json<Data<RepositoryDeleted>>, Error> {
    let chunks = state.rag.delete_repository(&principal, &name).await?;
    Ok(Data::json(RepositoryDeleted {
        message: "Repository deleted".into(),
        name,
        chunks,
    }))
}
