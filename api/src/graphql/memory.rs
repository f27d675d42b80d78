//! LUKHAS memories in GraphQL: a connection with filters and search by meaning, the
//! mutations, and the drift subscription.

use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, InputObject, Json, Object, SimpleObject, Subscription, ID};
use futures::{Stream, StreamExt};
use serde_json::Value;

use super::errors::{coded, to_gql, user_error, ErrorCode, UserError};
use super::identity::{require_user, ConnectionTotal};
use super::node;
use super::scalars::DateTime;
use super::{core, principal};
use crate::bus::Event;
use crate::bus::Topic;
use crate::domain::memory::{self, Helix, MemoryChange, NewMemory, RepairMethod, SearchFilters};

/// A memory: what was remembered, how it is grouped, how far it drifted.
pub struct Memory(pub memory::Memory);

#[Object]
impl Memory {
    pub async fn id(&self) -> ID {
        node::encode("Memory", &self.0.id)
    }
    /// The id the LUKHAS REST API uses (`mem_…`).
    async fn memory_id(&self) -> &str {
        &self.0.id
    }
    /// `episodic`, `semantic`, …
    async fn kind(&self) -> &str {
        &self.0.kind
    }
    async fn data(&self) -> &str {
        &self.0.data
    }
    async fn context(&self) -> Json<Value> {
        Json(self.0.context.clone())
    }
    async fn tags(&self) -> &[String] {
        &self.0.tags
    }
    async fn importance(&self) -> f64 {
        self.0.importance
    }
    async fn helix_id(&self) -> &str {
        &self.0.helix_id
    }
    /// 1 − cosine between the stored and the current embedding, smoothed.
    async fn drift_score(&self) -> f64 {
        self.0.drift_score
    }
    /// Recalls through the REST API (reading here does not count).
    async fn access_count(&self) -> i64 {
        self.0.access_count
    }
    async fn last_accessed(&self) -> Option<DateTime> {
        self.0.last_accessed.map(Into::into)
    }
    async fn created_at(&self) -> DateTime {
        self.0.created_at.into()
    }
    async fn updated_at(&self) -> DateTime {
        self.0.updated_at.into()
    }
}

#[derive(SimpleObject)]
pub struct MemoryEdgeFields {
    /// With `search`: the cosine of the query and the memory (0 to 1).
    relevance: Option<f64>,
}

pub type MemoryConnection = Connection<String, Memory, ConnectionTotal, MemoryEdgeFields>;

#[derive(InputObject, Default)]
pub struct MemoryFilter {
    /// Memory types to include.
    types: Option<Vec<String>>,
    created_from: Option<DateTime>,
    created_to: Option<DateTime>,
    min_importance: Option<f64>,
}

#[derive(Default)]
pub struct MemoryQuery;

#[Object]
impl MemoryQuery {
    /// Your memories: newest first, or with `search` (non-empty) the best matches by
    /// meaning first, paging through the best 100 (then `totalCount` is how many passed the
    /// filter, at most 100). `first`: 1 to 100.
    #[graphql(complexity = "first.unwrap_or(10).clamp(1, 100) as usize * child_complexity")]
    async fn memories(
        &self,
        ctx: &Context<'_>,
        filter: Option<MemoryFilter>,
        search: Option<String>,
        first: Option<i32>,
        after: Option<String>,
    ) -> async_graphql::Result<MemoryConnection> {
        let first = first.unwrap_or(10);
        if !(1..=100).contains(&first) {
            return Err(coded(
                "`first` must be between 1 and 100",
                ErrorCode::BadUserInput,
            ));
        }
        let offset = match after {
            Some(cursor) => cursor
                .parse::<usize>()
                .map(|c| c + 1)
                .map_err(|_| coded("invalid cursor", ErrorCode::BadUserInput))?,
            None => 0,
        };
        let filter = filter.unwrap_or_default();
        let filters = SearchFilters {
            kinds: filter.types.unwrap_or_default(),
            from: filter.created_from.map(|t| t.0),
            to: filter.created_to.map(|t| t.0),
            min_importance: filter.min_importance,
        };
        let service = &core(ctx).memory;
        let (items, total): (Vec<(memory::Memory, Option<f64>)>, usize) = match search {
            Some(query) => {
                let wanted = offset + first as usize;
                if wanted > memory::MAX_SEARCH_LIMIT {
                    return Err(coded(
                        "a search pages through its best 100 matches",
                        ErrorCode::BadUserInput,
                    ));
                }
                let outcome = service
                    .search(principal(ctx), &query, filters, wanted)
                    .await
                    .map_err(to_gql)?;
                let items = outcome
                    .results
                    .into_iter()
                    .skip(offset)
                    .map(|found| (found.memory, Some(found.relevance)))
                    .collect();
                (items, outcome.total_matches.min(memory::MAX_SEARCH_LIMIT))
            }
            None => {
                let (memories, total) = service
                    .list(principal(ctx), &filters, first as u64, offset as u64)
                    .await
                    .map_err(to_gql)?;
                (
                    memories.into_iter().map(|m| (m, None)).collect(),
                    total as usize,
                )
            }
        };
        let end = offset + items.len();
        let mut connection = Connection::with_additional_fields(
            offset > 0,
            end < total,
            ConnectionTotal { total_count: total },
        );
        connection
            .edges
            .extend(items.into_iter().enumerate().map(|(i, (m, relevance))| {
                Edge::with_additional_fields(
                    (offset + i).to_string(),
                    Memory(m),
                    MemoryEdgeFields { relevance },
                )
            }));
        Ok(connection)
    }

    /// One of your memories (reading it does not count as a recall).
    async fn memory(&self, ctx: &Context<'_>, id: ID) -> async_graphql::Result<Option<Memory>> {
        let Some(raw) = raw_id(&id) else {
            return Ok(None);
        };
        match core(ctx).memory.get(principal(ctx), &raw).await {
            Ok(m) => Ok(Some(Memory(m))),
            Err(crate::error::DomainError::NotFound(_)) => Ok(None),
            Err(err) => Err(to_gql(err)),
        }
    }
}

/// The raw memory id of a global id, or of a `mem_…` id as the REST API shows it.
fn raw_id(id: &ID) -> Option<String> {
    match node::decode(id) {
        Some((kind, raw)) if kind == "Memory" => Some(raw),
        Some(_) => None,
        None => id.starts_with("mem_").then(|| id.to_string()),
    }
}

#[derive(InputObject)]
pub struct StoreMemoryInput {
    /// 1 to 32 lowercase letters, digits or `_` (`episodic`, `semantic`, …).
    kind: String,
    /// 1 to 32 768 characters; embedded.
    data: String,
    context: Option<Json<Value>>,
    tags: Option<Vec<String>>,
    /// 0 to 1 (default 0.5).
    importance: Option<f64>,
}

#[derive(InputObject)]
pub struct UpdateMemoryInput {
    id: ID,
    kind: Option<String>,
    /// New text: re-embedded, and its drift from the stored original measured.
    data: Option<String>,
    context: Option<Json<Value>>,
    tags: Option<Vec<String>>,
    importance: Option<f64>,
}

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::memory::RepairMethod")]
pub enum MemoryRepairMethod {
    /// Pull the current embedding halfway back toward the original.
    PartialHeal,
    /// Restore the original content and embedding.
    FullRestore,
    /// Accept the current content as the new original.
    Rebaseline,
}

#[derive(InputObject)]
pub struct RepairMemoryInput {
    id: ID,
    /// Default `PARTIAL_HEAL`.
    method: Option<MemoryRepairMethod>,
}

#[derive(InputObject)]
pub struct DeleteMemoryInput {
    id: ID,
}

#[derive(SimpleObject, Default)]
pub struct MemoryPayload {
    memory: Option<Memory>,
    user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct RepairMemoryPayload {
    memory: Option<Memory>,
    drift_before: Option<f64>,
    user_errors: Vec<UserError>,
}

#[derive(SimpleObject, Default)]
pub struct DeleteMemoryPayload {
    deleted_id: Option<ID>,
    user_errors: Vec<UserError>,
}

fn not_found() -> UserError {
    UserError {
        field: Some("id".into()),
        code: ErrorCode::NotFound,
        message: "memory not found".into(),
    }
}

fn payload(
    result: crate::error::DomainResult<memory::Memory>,
) -> async_graphql::Result<MemoryPayload> {
    Ok(match result {
        Ok(m) => MemoryPayload {
            memory: Some(Memory(m)),
            user_errors: vec![],
        },
        Err(err) => MemoryPayload {
            memory: None,
            user_errors: vec![user_error(err)?],
        },
    })
}

#[derive(Default)]
pub struct MemoryMutation;

#[Object]
impl MemoryMutation {
    /// Stores a memory: embedded, placed in a helix, drift 0.
    async fn store_memory(
        &self,
        ctx: &Context<'_>,
        input: StoreMemoryInput,
    ) -> async_graphql::Result<MemoryPayload> {
        require_user(ctx)?;
        let stored = core(ctx)
            .memory
            .store(
                principal(ctx),
                NewMemory {
                    kind: input.kind,
                    data: input.data,
                    context: input.context.map_or(Value::Null, |c| c.0),
                    tags: input.tags.unwrap_or_default(),
                    importance: input.importance,
                    helix: Helix::Nearest,
                },
            )
            .await;
        payload(stored)
    }

    /// Changes a memory; new data is re-embedded and its drift measured.
    async fn update_memory(
        &self,
        ctx: &Context<'_>,
        input: UpdateMemoryInput,
    ) -> async_graphql::Result<MemoryPayload> {
        require_user(ctx)?;
        let Some(raw) = raw_id(&input.id) else {
            return Ok(MemoryPayload {
                memory: None,
                user_errors: vec![not_found()],
            });
        };
        let change = MemoryChange {
            kind: input.kind,
            data: input.data,
            context: input.context.map(|c| c.0),
            tags: input.tags,
            importance: input.importance,
        };
        payload(core(ctx).memory.update(principal(ctx), &raw, change).await)
    }

    /// Repairs a drifted memory.
    async fn repair_memory(
        &self,
        ctx: &Context<'_>,
        input: RepairMemoryInput,
    ) -> async_graphql::Result<RepairMemoryPayload> {
        require_user(ctx)?;
        let Some(raw) = raw_id(&input.id) else {
            return Ok(RepairMemoryPayload {
                user_errors: vec![not_found()],
                ..Default::default()
            });
        };
        let method = input.method.map_or(RepairMethod::PartialHeal, Into::into);
        Ok(
            match core(ctx).memory.repair(principal(ctx), &raw, method).await {
                Ok(repaired) => RepairMemoryPayload {
                    memory: Some(Memory(repaired.memory)),
                    drift_before: Some(repaired.drift_before),
                    user_errors: vec![],
                },
                Err(err) => RepairMemoryPayload {
                    user_errors: vec![user_error(err)?],
                    ..Default::default()
                },
            },
        )
    }

    async fn delete_memory(
        &self,
        ctx: &Context<'_>,
        input: DeleteMemoryInput,
    ) -> async_graphql::Result<DeleteMemoryPayload> {
        require_user(ctx)?;
        let Some(raw) = raw_id(&input.id) else {
            return Ok(DeleteMemoryPayload {
                deleted_id: None,
                user_errors: vec![not_found()],
            });
        };
        Ok(match core(ctx).memory.delete(principal(ctx), &raw).await {
            Ok(()) => DeleteMemoryPayload {
                deleted_id: Some(node::encode("Memory", &raw)),
                user_errors: vec![],
            },
            Err(err) => DeleteMemoryPayload {
                deleted_id: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}

/// A memory drifted past the alert level.
#[derive(SimpleObject)]
pub struct MemoryDrift {
    /// The memory's global id.
    id: ID,
    memory_id: String,
    drift_level: f64,
    repair_recommended: bool,
    suggested_method: MemoryRepairMethod,
}

#[derive(Default)]
pub struct MemorySubscription;

#[Subscription]
impl MemorySubscription {
    /// Your memories as their drift passes the alert level (`memory.drift_alert`).
    async fn memory_drift(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<impl Stream<Item = MemoryDrift>> {
        let user_id = principal(ctx).actor().map_err(to_gql)?.user_id.clone();
        Ok(core(ctx)
            .bus
            .subscribe_to(Topic::MemoryDrift)
            .filter_map(move |event| {
                let item = match event {
                    Event::MemoryDrift(drift) if drift.owner == user_id => Some(MemoryDrift {
                        id: node::encode("Memory", &drift.memory_id),
                        memory_id: drift.memory_id,
                        drift_level: drift.drift_level,
                        repair_recommended: drift.repair_recommended,
                        suggested_method: drift.suggested_method.into(),
                    }),
                    _ => None,
                };
                async move { item }
            }))
    }
}
