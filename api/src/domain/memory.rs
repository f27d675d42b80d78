//! LUKHAS memories: stored with their embedding, searched through the vector index, grouped
//! into helixes, and watched for drift — how far a memory's current embedding has moved from
//! the one it was stored with.
//!
//! Drift: each update measures `raw = 1 − cos(original, current)` and smooths it,
//! `drift = ½·raw + ½·previous drift`, so one large edit shows at once but a memory that
//! keeps moving climbs further. Repair sets the drift to the freshly measured value.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use orrery_entities::memory;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::Value;

use crate::bus::{Event, EventBus};
use crate::config::MemoryConfig;
use crate::domain::ai::AiService;
use crate::domain::identity::{Actor, Principal, Scope};
use crate::domain::search::sync::{self, Collection, IndexNotifier, Synced};
use crate::domain::search::{self, Filter, Item, SearchPool, VectorIndex};
use crate::error::{DomainError, DomainResult};
use crate::group_insert::GroupInsert;

const MAX_DATA_CHARS: usize = 32_768;
const MAX_TAGS: usize = 32;
const MAX_TAG_CHARS: usize = 64;
const RELATED: usize = 3;
pub const MAX_SEARCH_LIMIT: usize = 100;

#[derive(Clone, Debug)]
pub struct Memory {
    pub id: String,
    pub kind: String,
    pub data: String,
    pub context: Value,
    pub tags: Vec<String>,
    pub importance: f64,
    pub helix_id: String,
    pub drift_score: f64,
    pub access_count: i64,
    pub last_accessed: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewMemory {
    pub kind: String,
    pub data: String,
    pub context: Value,
    pub tags: Vec<String>,
    pub importance: Option<f64>,
    pub helix: Helix,
}

/// How a new memory's helix is found.
#[derive(Clone, Debug, Default)]
pub enum Helix {
    /// The helix of the memory nearest to it, searched for.
    #[default]
    Nearest,
    /// The caller searched already, for a text the memory contains: the best memory it found
    /// (its helix and cosine), if any. Joined when as close as [`Helix::Nearest`] requires.
    Found(Option<(String, f64)>),
}

#[derive(Default)]
pub struct MemoryChange {
    pub kind: Option<String>,
    pub data: Option<String>,
    pub context: Option<Value>,
    pub tags: Option<Vec<String>>,
    pub importance: Option<f64>,
}

#[derive(Clone, Debug, Default)]
pub struct SearchFilters {
    pub kinds: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub min_importance: Option<f64>,
}

pub struct Found {
    pub memory: Memory,
    pub relevance: f64,
}

pub struct SearchOutcome {
    pub results: Vec<Found>,
    pub total_matches: usize,
    /// Measured inside the server: embedding the query and searching the index.
    pub search_time_ms: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RepairMethod {
    /// Pull the current embedding halfway back toward the original.
    PartialHeal,
    /// Restore the original content and embedding.
    FullRestore,
    /// Accept the current content as the new original.
    Rebaseline,
}

impl RepairMethod {
    pub fn parse(text: &str) -> DomainResult<Self> {
        match text {
            "partial_heal" => Ok(Self::PartialHeal),
            "full_restore" => Ok(Self::FullRestore),
            "rebaseline" => Ok(Self::Rebaseline),
            other => Err(DomainError::invalid(
                "method",
                format!("method must be partial_heal, full_restore or rebaseline, not '{other}'"),
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PartialHeal => "partial_heal",
            Self::FullRestore => "full_restore",
            Self::Rebaseline => "rebaseline",
        }
    }
}

pub struct Repaired {
    pub memory: Memory,
    pub drift_before: f64,
}

/// What the drift stream carries.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct DriftEvent {
    pub owner: String,
    pub memory_id: String,
    pub drift_level: f64,
    pub repair_recommended: bool,
    pub suggested_method: RepairMethod,
}

pub struct MemoryService {
    db: DatabaseConnection,
    index: Arc<dyn VectorIndex>,
    /// Searches of `index`, off the async workers.
    searches: SearchPool,
    notifier: IndexNotifier,
    ai: Arc<AiService>,
    bus: Arc<dyn EventBus>,
    config: MemoryConfig,
    inserts: GroupInsert<memory::Entity>,
}

fn to_memory(model: memory::Model) -> Memory {
    Memory {
        id: model.id,
        kind: model.kind,
        data: model.data,
        context: model.context,
        tags: serde_json::from_value(model.tags).unwrap_or_default(),
        importance: model.importance,
        helix_id: model.helix_id,
        drift_score: model.drift_score,
        access_count: model.access_count,
        last_accessed: model.last_accessed,
        created_at: model.created_at,
        updated_at: model.updated_at,
    }
}

fn item(model: &memory::Model) -> Item {
    Item {
        id: model.id.clone(),
        owner: model.user_id.clone(),
        kind: model.kind.clone(),
        created_at: model.created_at.timestamp_millis(),
        importance: model.importance as f32,
        vector: search::from_bytes(&model.embedding),
    }
}

fn check_kind(kind: &str) -> DomainResult<()> {
    let ok = (1..=32).contains(&kind.len())
        && kind.starts_with(|c: char| c.is_ascii_lowercase())
        && kind
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "content.type",
            "type must be 1 to 32 lowercase letters, digits or '_' (e.g. episodic, semantic)",
        ))
    }
}

fn check_data(data: &str) -> DomainResult<()> {
    if data.is_empty() {
        return Err(DomainError::invalid("content.data", "data cannot be empty"));
    }
    if data.chars().count() > MAX_DATA_CHARS {
        return Err(DomainError::invalid(
            "content.data",
            format!("data may have at most {MAX_DATA_CHARS} characters"),
        ));
    }
    Ok(())
}

fn check_tags(tags: &[String]) -> DomainResult<()> {
    if tags.len() > MAX_TAGS {
        return Err(DomainError::invalid(
            "tags",
            format!("at most {MAX_TAGS} tags"),
        ));
    }
    if let Some(bad) = tags
        .iter()
        .find(|t| t.is_empty() || t.chars().count() > MAX_TAG_CHARS)
    {
        return Err(DomainError::invalid(
            "tags",
            format!("tags must be 1 to {MAX_TAG_CHARS} characters ('{bad}' is not)"),
        ));
    }
    Ok(())
}

fn check_importance(importance: f64) -> DomainResult<()> {
    if (0.0..=1.0).contains(&importance) {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "importance",
            "importance must be between 0 and 1",
        ))
    }
}

fn check_context(context: &Value) -> DomainResult<()> {
    if context.is_object() || context.is_null() {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "content.context",
            "context must be an object",
        ))
    }
}

/// `mem_2026_12_07_01jf…`: the date the document's ids show, then a ULID, whose leading
/// timestamp makes new ids sort after older ones, so a store appends to the id index
/// instead of rewriting a random page of it. The ULID's last character is left out so the
/// id fits the column's 40 (48 bits of time and 75 random remain).
fn new_id(prefix: &str, at: DateTime<Utc>) -> String {
    let ulid = ulid::Ulid::new().to_string().to_ascii_lowercase();
    format!("{prefix}_{}_{}", at.format("%Y_%m_%d"), &ulid[..25])
}

/// The embedding the memory had when stored. It is written apart only once the memory
/// changes (empty means "the current one"): a memory that never drifts, which is most of
/// them, writes one embedding instead of two identical copies.
fn original_embedding(model: &memory::Model) -> &[u8] {
    if model.original_embedding.is_empty() {
        &model.embedding
    } else {
        &model.original_embedding
    }
}

/// Sets a new current embedding, first writing the original apart if it was still shared.
fn replace_embedding(model: &memory::Model, active: &mut memory::ActiveModel, bytes: Vec<u8>) {
    if model.original_embedding.is_empty() {
        active.original_embedding = Set(model.embedding.clone());
    }
    active.embedding = Set(bytes);
}

fn raw_drift(original: &[f32], current: &[f32]) -> f64 {
    if original.len() != current.len() {
        return 1.0;
    }
    (1.0 - f64::from(search::dot(original, current))).clamp(0.0, 2.0)
}

impl MemoryService {
    pub fn new(
        db: DatabaseConnection,
        index: Arc<dyn VectorIndex>,
        notifier: IndexNotifier,
        ai: Arc<AiService>,
        bus: Arc<dyn EventBus>,
        config: MemoryConfig,
    ) -> Self {
        Self {
            inserts: GroupInsert::start(db.clone()),
            searches: SearchPool::start(index.clone()),
            db,
            index,
            notifier,
            ai,
            bus,
            config,
        }
    }

    /// Loads every memory's current embedding into the index; returns how many.
    pub async fn rebuild_index(&self) -> DomainResult<usize> {
        Ok(self.load_index().await?.len())
    }

    /// Upserts every stored memory into the index; returns the ids it saw.
    async fn load_index(&self) -> DomainResult<HashSet<String>> {
        use futures::TryStreamExt;
        use memory::Column as C;
        // One streamed query of just what the index keeps (not pages: OFFSET is quadratic).
        let mut rows = memory::Entity::find()
            .select_only()
            .columns([
                C::Id,
                C::UserId,
                C::Kind,
                C::CreatedAt,
                C::Importance,
                C::Embedding,
            ])
            .into_tuple::<(String, String, String, DateTime<Utc>, f64, Vec<u8>)>()
            .stream(&self.db)
            .await?;
        let mut seen = HashSet::new();
        while let Some((id, owner, kind, created_at, importance, embedding)) =
            rows.try_next().await?
        {
            seen.insert(id.clone());
            self.index.upsert(Item {
                id,
                owner,
                kind,
                created_at: created_at.timestamp_millis(),
                importance: importance as f32,
                vector: search::from_bytes(&embedding),
            });
        }
        Ok(seen)
    }

    /// Puts a committed row into this instance's index and tells the others.
    async fn indexed(&self, model: &memory::Model) {
        self.index.upsert(item(model));
        self.notifier
            .changed(Collection::Memory, std::slice::from_ref(&model.id))
            .await;
    }

    /// Drops a deleted row from this instance's index and tells the others.
    async fn unindexed(&self, id: &str) {
        self.index.remove(id);
        self.notifier
            .changed(Collection::Memory, &[id.to_string()])
            .await;
    }

    async fn embed(&self, actor: &Actor, text: &str) -> DomainResult<(String, Vec<f32>)> {
        let result = self
            .ai
            .embed_as(actor, None, None, &[text.to_string()])
            .await?;
        let vector = result
            .embeddings
            .vectors
            .into_iter()
            .next()
            .unwrap_or_default();
        Ok((
            format!("{}/{}", result.provider, result.model),
            search::normalized(vector),
        ))
    }

    async fn owned(&self, actor: &Actor, id: &str) -> DomainResult<memory::Model> {
        memory::Entity::find_by_id(id)
            .filter(memory::Column::UserId.eq(&actor.user_id))
            .one(&self.db)
            .await?
            .ok_or_else(|| DomainError::NotFound("memory".into()))
    }

    fn refuse_drifted(&self, model: &memory::Model) -> DomainResult<()> {
        if model.drift_score > self.config.drift_limit {
            return Err(DomainError::MemoryDrift {
                memory_id: model.id.clone(),
                drift_score: model.drift_score,
                limit: self.config.drift_limit,
            });
        }
        Ok(())
    }

    /// Whether a new memory this close (cosine) to another joins its helix.
    fn joins_helix(&self, cosine: f64) -> bool {
        cosine >= self.config.helix_similarity
    }

    /// The helix of the owner's memory nearest to `vector`, when close enough.
    async fn nearest_helix(&self, actor: &Actor, vector: &[f32]) -> DomainResult<Option<String>> {
        let nearest = self
            .searches
            .search(
                Filter {
                    owner: actor.user_id.clone(),
                    ..Default::default()
                },
                vector.to_vec(),
                1,
            )
            .await?;
        Ok(match nearest.hits.first() {
            Some(hit) if self.joins_helix(f64::from(hit.score)) => {
                memory::Entity::find_by_id(&hit.id)
                    .select_only()
                    .column(memory::Column::HelixId)
                    .into_tuple()
                    .one(&self.db)
                    .await?
            }
            _ => None,
        })
    }

    /// The helix of the nearest memory when it is close enough, else a new one named after
    /// the memory's key terms.
    fn helix_for(data: &str, nearest: Option<String>) -> String {
        if let Some(helix_id) = nearest {
            return helix_id;
        }
        let terms = crate::providers::builtin_key_terms(data, 2);
        let name = if terms.is_empty() {
            "memory".to_string()
        } else {
            terms.join("_")
        };
        let name: String = name
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '_' })
            .take(64)
            .collect();
        format!(
            "helix_{name}_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..6]
        )
    }

    pub async fn store(&self, principal: &Principal, input: NewMemory) -> DomainResult<Memory> {
        let model = self.prepare(principal, input).await?;
        // Group commit: concurrent stores share one transaction (and one sync).
        self.inserts.insert(model.clone().into()).await?;
        self.indexed(&model).await;
        Ok(to_memory(model))
    }

    /// [`Self::store`], the row written by `commit` (with whatever must be written in the
    /// same transaction); indexed once `commit` succeeds.
    pub async fn store_with<F, Fut>(
        &self,
        principal: &Principal,
        input: NewMemory,
        commit: F,
    ) -> DomainResult<Memory>
    where
        F: FnOnce(memory::Model) -> Fut,
        Fut: std::future::Future<Output = DomainResult<()>>,
    {
        let model = self.prepare(principal, input).await?;
        commit(model.clone()).await?;
        self.indexed(&model).await;
        Ok(to_memory(model))
    }

    /// The row a store writes: checked, within the account's quota, embedded and placed in
    /// its helix.
    async fn prepare(
        &self,
        principal: &Principal,
        input: NewMemory,
    ) -> DomainResult<memory::Model> {
        let actor = principal.actor()?;
        actor.require(Scope::MemoryWrite)?;
        check_kind(&input.kind)?;
        check_data(&input.data)?;
        check_context(&input.context)?;
        check_tags(&input.tags)?;
        let importance = input.importance.unwrap_or(0.5);
        check_importance(importance)?;
        // The index mirrors the table: counting there keeps a store O(1) at any size.
        let held = self.index.count(&actor.user_id) as u64;
        if held >= self.config.max_per_user {
            return Err(DomainError::QuotaExceeded(format!(
                "an account holds at most {} memories",
                self.config.max_per_user
            )));
        }
        let (model_name, vector) = self.embed(actor, &input.data).await?;
        let nearest = match input.helix {
            Helix::Nearest => self.nearest_helix(actor, &vector).await?,
            Helix::Found(found) => found
                .filter(|(_, cosine)| self.joins_helix(*cosine))
                .map(|(helix_id, _)| helix_id),
        };
        let helix_id = Self::helix_for(&input.data, nearest);
        let now = Utc::now();
        let bytes = search::to_bytes(&vector);
        let model = memory::Model {
            id: new_id("mem", now),
            user_id: actor.user_id.clone(),
            kind: input.kind,
            data: input.data.clone(),
            context: if input.context.is_null() {
                Value::Object(Default::default())
            } else {
                input.context
            },
            original_data: input.data,
            tags: Value::from(input.tags),
            importance,
            helix_id,
            embedding_model: model_name,
            embedding: bytes,
            original_embedding: Vec::new(),
            drift_score: 0.0,
            access_count: 0,
            last_accessed: None,
            created_at: now,
            updated_at: now,
        };
        Ok(model)
    }

    /// The memory, without counting an access (GraphQL's `memory(id)` and `node`).
    /// The database the memories live in (for stores that keep rows beside them).
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub async fn get(&self, principal: &Principal, id: &str) -> DomainResult<Memory> {
        let actor = principal.actor()?;
        actor.require(Scope::MemoryRead)?;
        Ok(to_memory(self.owned(actor, id).await?))
    }

    /// The caller's memories passing `filters`, newest first, and how many there are.
    pub async fn list(
        &self,
        principal: &Principal,
        filters: &SearchFilters,
        limit: u64,
        offset: u64,
    ) -> DomainResult<(Vec<Memory>, u64)> {
        let actor = principal.actor()?;
        actor.require(Scope::MemoryRead)?;
        let mut query = memory::Entity::find().filter(memory::Column::UserId.eq(&actor.user_id));
        if !filters.kinds.is_empty() {
            query = query.filter(memory::Column::Kind.is_in(filters.kinds.clone()));
        }
        if let Some(from) = filters.from {
            query = query.filter(memory::Column::CreatedAt.gte(from));
        }
        if let Some(to) = filters.to {
            query = query.filter(memory::Column::CreatedAt.lte(to));
        }
        if let Some(min) = filters.min_importance {
            query = query.filter(memory::Column::Importance.gte(min));
        }
        let total = query.clone().count(&self.db).await?;
        let models = query
            .order_by_desc(memory::Column::CreatedAt)
            .order_by_desc(memory::Column::Id)
            .offset(offset)
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok((models.into_iter().map(to_memory).collect(), total))
    }

    /// Counts the access and returns the memory with up to three related ones (by
    /// similarity, most similar first).
    pub async fn recall(
        &self,
        principal: &Principal,
        id: &str,
    ) -> DomainResult<(Memory, Vec<String>)> {
        let actor = principal.actor()?;
        actor.require(Scope::MemoryRead)?;
        let model = self.owned(actor, id).await?;
        self.refuse_drifted(&model)?;
        let now = Utc::now();
        memory::Entity::update_many()
            .col_expr(
                memory::Column::AccessCount,
                Expr::col(memory::Column::AccessCount).add(1),
            )
            .col_expr(memory::Column::LastAccessed, Expr::value(now))
            .filter(memory::Column::Id.eq(id))
            .exec(&self.db)
            .await?;
        let model = self.owned(actor, id).await?;
        let related = self
            .index
            .search(
                &Filter {
                    owner: actor.user_id.clone(),
                    exclude: Some(model.id.clone()),
                    ..Default::default()
                },
                &search::from_bytes(&model.embedding),
                RELATED,
            )
            .hits
            .into_iter()
            .map(|hit| hit.id)
            .collect();
        Ok((to_memory(model), related))
    }

    pub async fn search(
        &self,
        principal: &Principal,
        query: &str,
        filters: SearchFilters,
        limit: usize,
    ) -> DomainResult<SearchOutcome> {
        let actor = principal.actor()?;
        actor.require(Scope::MemoryRead)?;
        if query.is_empty() {
            return Err(DomainError::invalid("query", "query cannot be empty"));
        }
        if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
            return Err(DomainError::invalid(
                "limit",
                format!("limit must be between 1 and {MAX_SEARCH_LIMIT}"),
            ));
        }
        if let Some(min) = filters.min_importance {
            check_importance(min).map_err(|_| {
                DomainError::invalid(
                    "filters.min_importance",
                    "min_importance must be between 0 and 1",
                )
            })?;
        }
        let started = Instant::now();
        let (_, vector) = self.embed(actor, query).await?;
        let found = self
            .searches
            .search(
                Filter {
                    owner: actor.user_id.clone(),
                    kinds: filters.kinds,
                    created_from: filters.from.map(|t| t.timestamp_millis()),
                    created_to: filters.to.map(|t| t.timestamp_millis()),
                    min_importance: filters.min_importance.map(|m| m as f32),
                    exclude: None,
                },
                vector,
                limit,
            )
            .await?;
        let search_time_ms = started.elapsed().as_secs_f64() * 1000.0;
        let ids: Vec<String> = found.hits.iter().map(|h| h.id.clone()).collect();
        // By primary key alone: with the owner in the WHERE clause SQLite walks the owner's
        // index instead (every one of their memories). Ownership is checked on the rows.
        let models: Vec<memory::Model> = memory::Entity::find()
            .filter(memory::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .filter(|m| m.user_id == actor.user_id)
            .collect();
        let results = found
            .hits
            .iter()
            .filter_map(|hit| {
                let model = models.iter().find(|m| m.id == hit.id)?.clone();
                Some(Found {
                    memory: to_memory(model),
                    relevance: f64::from(hit.score).clamp(0.0, 1.0),
                })
            })
            .collect();
        Ok(SearchOutcome {
            results,
            total_matches: found.candidates,
            search_time_ms,
        })
    }

    /// Changes a memory; new content is re-embedded and its drift measured.
    pub async fn update(
        &self,
        principal: &Principal,
        id: &str,
        change: MemoryChange,
    ) -> DomainResult<Memory> {
        let actor = principal.actor()?;
        actor.require(Scope::MemoryWrite)?;
        let model = self.owned(actor, id).await?;
        self.refuse_drifted(&model)?;
        if let Some(kind) = &change.kind {
            check_kind(kind)?;
        }
        if let Some(data) = &change.data {
            check_data(data)?;
        }
        if let Some(context) = &change.context {
            check_context(context)?;
        }
        if let Some(tags) = &change.tags {
            check_tags(tags)?;
        }
        if let Some(importance) = change.importance {
            check_importance(importance)?;
        }
        let mut active: memory::ActiveModel = model.clone().into();
        let mut drift = model.drift_score;
        if let Some(data) = change.data.filter(|d| *d != model.data) {
            let (model_name, vector) = self.embed(actor, &data).await?;
            let raw = raw_drift(&search::from_bytes(original_embedding(&model)), &vector);
            drift = 0.5 * raw + 0.5 * model.drift_score;
            active.data = Set(data);
            replace_embedding(&model, &mut active, search::to_bytes(&vector));
            active.embedding_model = Set(model_name);
            active.drift_score = Set(drift);
        }
        if let Some(kind) = change.kind {
            active.kind = Set(kind);
        }
        if let Some(context) = change.context {
            active.context = Set(context);
        }
        if let Some(tags) = change.tags {
            active.tags = Set(Value::from(tags));
        }
        if let Some(importance) = change.importance {
            active.importance = Set(importance);
        }
        active.updated_at = Set(Utc::now());
        let model = active.update(&self.db).await?;
        self.indexed(&model).await;
        if drift > self.config.drift_alert {
            self.publish_drift(&model);
        }
        Ok(to_memory(model))
    }

    fn publish_drift(&self, model: &memory::Model) {
        let suggested = if model.drift_score > self.config.drift_limit {
            RepairMethod::FullRestore
        } else {
            RepairMethod::PartialHeal
        };
        self.bus.publish(Event::MemoryDrift(Box::new(DriftEvent {
            owner: model.user_id.clone(),
            memory_id: model.id.clone(),
            drift_level: model.drift_score,
            repair_recommended: model.drift_score > self.config.drift_alert,
            suggested_method: suggested,
        })));
    }

    pub async fn repair(
        &self,
        principal: &Principal,
        id: &str,
        method: RepairMethod,
    ) -> DomainResult<Repaired> {
        let actor = principal.actor()?;
        actor.require(Scope::MemoryWrite)?;
        let model = self.owned(actor, id).await?;
        let drift_before = model.drift_score;
        let original = search::from_bytes(original_embedding(&model));
        let current = search::from_bytes(&model.embedding);
        let mut active: memory::ActiveModel = model.clone().into();
        match method {
            RepairMethod::PartialHeal => {
                let healed: Vec<f32> = if original.len() == current.len() {
                    search::normalized(original.iter().zip(&current).map(|(o, c)| o + c).collect())
                } else {
                    original.clone()
                };
                active.drift_score = Set(raw_drift(&original, &healed));
                replace_embedding(&model, &mut active, search::to_bytes(&healed));
            }
            RepairMethod::FullRestore => {
                active.data = Set(model.original_data.clone());
                active.embedding = Set(original_embedding(&model).to_vec());
                active.drift_score = Set(0.0);
            }
            RepairMethod::Rebaseline => {
                active.original_data = Set(model.data.clone());
                active.original_embedding = Set(Vec::new());
                active.drift_score = Set(0.0);
            }
        }
        active.updated_at = Set(Utc::now());
        let model = active.update(&self.db).await?;
        self.indexed(&model).await;
        Ok(Repaired {
            memory: to_memory(model),
            drift_before,
        })
    }

    pub async fn delete(&self, principal: &Principal, id: &str) -> DomainResult<()> {
        let actor = principal.actor()?;
        actor.require(Scope::MemoryWrite)?;
        let model = self.owned(actor, id).await?;
        memory::Entity::delete_by_id(&model.id)
            .exec(&self.db)
            .await?;
        self.unindexed(&model.id).await;
        Ok(())
    }
}

#[async_trait::async_trait]
impl Synced for MemoryService {
    async fn refresh(&self, ids: &[String]) -> DomainResult<()> {
        for ids in ids.chunks(500) {
            let rows = memory::Entity::find()
                .filter(memory::Column::Id.is_in(ids.iter().cloned()))
                .all(&self.db)
                .await?;
            sync::apply(&*self.index, ids, rows.iter().map(item).collect());
        }
        Ok(())
    }

    async fn resync(&self) -> DomainResult<usize> {
        let seen = self.load_index().await?;
        self.refresh(&sync::unseen(&*self.index, &seen)).await?;
        Ok(self.index.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_fit_their_column_and_sort_by_time() {
        let at = Utc::now();
        let first = new_id("mem", at);
        std::thread::sleep(std::time::Duration::from_millis(2));
        let second = new_id("mem", at);
        // `memories.id` is 40 wide (PostgreSQL refuses longer; SQLite would not say).
        assert_eq!(first.len(), 40, "{first}");
        assert!(first.starts_with(&format!("mem_{}_", at.format("%Y_%m_%d"))));
        assert!(first < second, "{first} then {second}");
    }
}
