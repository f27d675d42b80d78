//! GLYPH tokens (LUKHAS, behind `LUKHAS_GLYPHS_ENABLED`): symbolic messages from one
//! module to another in the document's token format, alive for their `ttl_seconds`. A token
//! that `requires_guardian` is validated first (a rejection refuses it); binding a token to
//! one of the caller's memories tags that memory with the symbol. Every token sent or bound
//! is published on the bus (GraphQL `glyphTraffic`), as are the glyphs the pipeline's own
//! modules exchange. Definitions in docs/DECISIONS.md ("GLYPHs").

use chrono::{DateTime, Duration, Utc};
use orrery_entities::glyph_token;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use serde_json::Value;

use super::guardian::{ProposedAction, Verdict};
use super::matriz::{Matriz, PipelineEvent, PipelineEventKind};
use crate::bus::Event;
use crate::domain::identity::{Principal, Scope};
use crate::domain::memory::MemoryChange;
use crate::error::{DomainError, DomainResult};

/// The document's eight symbols.
pub const SYMBOLS: [&str; 8] = [
    "TRUST", "LEARN", "ADAPT", "CREATE", "PROTECT", "REMEMBER", "REFLECT", "CONNECT",
];
pub const PRIORITIES: [&str; 4] = ["low", "normal", "high", "critical"];
pub const MAX_TTL_SECS: i64 = 86_400;
const DEFAULT_TTL_SECS: i64 = 300;
/// Live tokens one owner may hold.
pub const MAX_LIVE: u64 = 1_000;
const MAX_DATA_BYTES: usize = 16 * 1024;
pub const MAX_PAGE: u64 = 100;

pub struct NewGlyph {
    pub symbol: String,
    pub source_module: String,
    pub source_component: Option<String>,
    pub source_confidence: Option<f64>,
    pub target_module: String,
    pub target_component: Option<String>,
    pub session_id: Option<String>,
    pub interaction_id: Option<String>,
    pub action: String,
    pub data: Value,
    pub priority: Option<String>,
    pub ttl_seconds: Option<i64>,
    pub requires_guardian: bool,
}

#[derive(Clone, Debug)]
pub struct Glyph {
    pub id: String,
    pub owner: String,
    pub symbol: String,
    pub source_module: String,
    pub source_component: Option<String>,
    pub source_confidence: Option<f64>,
    pub target_module: String,
    pub target_component: Option<String>,
    pub session_id: Option<String>,
    pub interaction_id: Option<String>,
    pub action: String,
    pub data: Value,
    pub priority: String,
    pub ttl_seconds: i64,
    pub requires_guardian: bool,
    pub validation_id: Option<String>,
    pub bound_memories: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// A glyph on the bus: sent or bound through the API, or exchanged by the pipeline.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct GlyphEvent {
    pub owner: String,
    /// `sent`, `bound`, or `exchanged` (between the pipeline's modules; no stored token).
    #[serde(deserialize_with = "crate::bus::wire::interned")]
    pub kind: crate::bus::wire::StaticName,
    pub glyph_id: Option<String>,
    #[serde(deserialize_with = "crate::bus::wire::interned")]
    pub symbol: crate::bus::wire::StaticName,
    pub source_module: String,
    pub target_module: String,
    pub action: String,
    pub at: DateTime<Utc>,
}

#[derive(Default)]
pub struct GlyphFilter {
    pub symbol: Option<String>,
    pub target_module: Option<String>,
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

fn symbol(text: &str) -> Option<&'static str> {
    SYMBOLS
        .iter()
        .copied()
        .find(|s| s.eq_ignore_ascii_case(text.trim()))
}

fn module_name(field: &str, value: &str) -> DomainResult<()> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("{field} is 1 to 64 characters of a-z, 0-9 and _"),
        ))
    }
}

fn label(field: &str, value: &Option<String>) -> DomainResult<()> {
    match value {
        Some(v) if v.is_empty() || v.chars().count() > 128 || v.contains('\0') => Err(
            DomainError::invalid(field, format!("{field} is 1 to 128 characters")),
        ),
        _ => Ok(()),
    }
}

fn checked(glyph: &NewGlyph) -> DomainResult<(&'static str, String, i64)> {
    let Some(symbol) = symbol(&glyph.symbol) else {
        return Err(DomainError::invalid(
            "symbol",
            format!("symbol is one of {}", SYMBOLS.join(", ")),
        ));
    };
    module_name("source.module", &glyph.source_module)?;
    module_name("target.module", &glyph.target_module)?;
    module_name("payload.action", &glyph.action)?;
    if let Some(c) = &glyph.source_component {
        module_name("source.component", c)?;
    }
    if let Some(c) = &glyph.target_component {
        module_name("target.component", c)?;
    }
    label("context.session_id", &glyph.session_id)?;
    label("context.interaction_id", &glyph.interaction_id)?;
    if glyph
        .source_confidence
        .is_some_and(|c| !(0.0..=1.0).contains(&c))
    {
        return Err(DomainError::invalid(
            "source.confidence",
            "confidence is between 0 and 1",
        ));
    }
    let priority = glyph.priority.clone().unwrap_or_else(|| "normal".into());
    if !PRIORITIES.contains(&priority.as_str()) {
        return Err(DomainError::invalid(
            "metadata.priority",
            format!("priority is one of {}", PRIORITIES.join(", ")),
        ));
    }
    let ttl = glyph.ttl_seconds.unwrap_or(DEFAULT_TTL_SECS);
    if !(1..=MAX_TTL_SECS).contains(&ttl) {
        return Err(DomainError::invalid(
            "metadata.ttl_seconds",
            format!("ttl_seconds is 1 to {MAX_TTL_SECS}"),
        ));
    }
    if !glyph.data.is_object() && !glyph.data.is_null() {
        return Err(DomainError::invalid(
            "payload.data",
            "payload.data is an object",
        ));
    }
    if glyph.data.to_string().len() > MAX_DATA_BYTES {
        return Err(DomainError::invalid(
            "payload.data",
            format!("payload.data is at most {MAX_DATA_BYTES} bytes of JSON"),
        ));
    }
    Ok((symbol, priority, ttl))
}

fn view(row: glyph_token::Model) -> Glyph {
    Glyph {
        id: row.id,
        owner: row.user_id,
        symbol: row.symbol,
        source_module: row.source_module,
        source_component: row.source_component,
        source_confidence: row.source_confidence,
        target_module: row.target_module,
        target_component: row.target_component,
        session_id: row.session_id,
        interaction_id: row.interaction_id,
        action: row.action,
        data: serde_json::from_str(&row.data).unwrap_or(Value::Null),
        priority: row.priority,
        ttl_seconds: i64::from(row.ttl_seconds),
        requires_guardian: row.requires_guardian,
        validation_id: row.validation_id,
        bound_memories: serde_json::from_str(&row.bound_memories).unwrap_or_default(),
        created_at: row.created_at,
        expires_at: row.expires_at,
    }
}

/// The glyphs the pipeline's modules exchange, read from its events: the guardian's risk
/// check (PROTECT, guardian → consciousness), the identity check (TRUST, identity →
/// guardian) and the stored fold (REMEMBER, consciousness → memory).
pub fn exchanged(event: &PipelineEvent) -> Option<GlyphEvent> {
    let (symbol, source, target, action) = match &event.kind {
        PipelineEventKind::Stage { trace, .. } => match trace.stage {
            "risk" => ("PROTECT", "guardian", "consciousness", "validate_response"),
            "intent" => ("TRUST", "identity", "guardian", "verify_identity"),
            _ => return None,
        },
        PipelineEventKind::Completed { .. } => {
            ("REMEMBER", "consciousness", "memory", "store_memory_fold")
        }
        _ => return None,
    };
    Some(GlyphEvent {
        owner: event.owner.clone(),
        kind: "exchanged",
        glyph_id: None,
        symbol,
        source_module: source.into(),
        target_module: target.into(),
        action: action.into(),
        at: event.at,
    })
}

impl Matriz {
    fn glyphs_on(&self) -> DomainResult<()> {
        if self.lukhas.glyphs_enabled {
            Ok(())
        } else {
            Err(DomainError::FeatureDisabled(
                "GLYPHs are off on this server (LUKHAS_GLYPHS_ENABLED)".into(),
            ))
        }
    }

    fn publish_glyph(&self, glyph: &Glyph, kind: &'static str) {
        self.publish(Event::Glyph(Box::new(GlyphEvent {
            owner: glyph.owner.clone(),
            kind,
            glyph_id: Some(glyph.id.clone()),
            symbol: symbol(&glyph.symbol).unwrap_or("CONNECT"),
            source_module: glyph.source_module.clone(),
            target_module: glyph.target_module.clone(),
            action: glyph.action.clone(),
            at: Utc::now(),
        })));
    }

    /// Sends a glyph (needs `glyphs`; with `requires_guardian` also `governance:decide`).
    pub async fn send_glyph(&self, principal: &Principal, glyph: NewGlyph) -> DomainResult<Glyph> {
        self.glyphs_on()?;
        let actor = principal.actor()?;
        actor.require(Scope::Glyphs)?;
        let (symbol, priority, ttl) = checked(&glyph)?;
        let db = self.memory.db();
        let now = Utc::now();
        // Expired tokens are gone: the owner's are cleared as they send more.
        glyph_token::Entity::delete_many()
            .filter(glyph_token::Column::UserId.eq(&actor.user_id))
            .filter(glyph_token::Column::ExpiresAt.lte(now))
            .exec(db)
            .await?;
        let live = glyph_token::Entity::find()
            .filter(glyph_token::Column::UserId.eq(&actor.user_id))
            .count(db)
            .await?;
        if live >= MAX_LIVE {
            return Err(DomainError::QuotaExceeded(format!(
                "at most {MAX_LIVE} live glyphs per account"
            )));
        }
        let validation_id = if glyph.requires_guardian {
            let validation = self
                .guardian
                .validate(
                    principal,
                    ProposedAction {
                        kind: format!("glyph.{}", symbol.to_lowercase()),
                        content: format!("{} {}", glyph.action.replace('_', " "), glyph.data),
                        target_user: None,
                        context: Some(format!("{} → {}", glyph.source_module, glyph.target_module)),
                    },
                    None,
                )
                .await?;
            if validation.verdict != Verdict::Approved {
                return Err(DomainError::GuardianRejection {
                    validation_id: validation.id,
                    decision: validation.verdict.as_str().into(),
                    risk_score: validation.risk,
                    reason: validation.key_factors.join("; "),
                });
            }
            Some(validation.id)
        } else {
            None
        };
        let id = format!(
            "glyph_{}_{}",
            now.format("%Y_%m_%d"),
            ulid::Ulid::new().to_string().to_lowercase()
        );
        let row = glyph_token::ActiveModel {
            id: Set(id),
            user_id: Set(actor.user_id.clone()),
            symbol: Set(symbol.into()),
            source_module: Set(glyph.source_module),
            source_component: Set(glyph.source_component),
            source_confidence: Set(glyph.source_confidence),
            target_module: Set(glyph.target_module),
            target_component: Set(glyph.target_component),
            session_id: Set(glyph.session_id),
            interaction_id: Set(glyph.interaction_id),
            action: Set(glyph.action),
            data: Set(if glyph.data.is_null() {
                "{}".into()
            } else {
                glyph.data.to_string()
            }),
            priority: Set(priority),
            ttl_seconds: Set(ttl as i32),
            requires_guardian: Set(glyph.requires_guardian),
            validation_id: Set(validation_id),
            bound_memories: Set("[]".into()),
            created_at: Set(now),
            expires_at: Set(now + Duration::seconds(ttl)),
        }
        .insert(db)
        .await?;
        let glyph = view(row);
        self.publish_glyph(&glyph, "sent");
        Ok(glyph)
    }

    async fn live_glyph(
        &self,
        principal: &Principal,
        id: &str,
    ) -> DomainResult<glyph_token::Model> {
        self.glyphs_on()?;
        let actor = principal.actor()?;
        actor.require(Scope::Glyphs)?;
        let row = glyph_token::Entity::find_by_id(id.to_string())
            .filter(glyph_token::Column::UserId.eq(&actor.user_id))
            .one(self.memory.db())
            .await?
            .ok_or_else(|| DomainError::NotFound(format!("glyph {id}")))?;
        if row.expires_at <= Utc::now() {
            return Err(DomainError::NotFound(format!(
                "glyph {id} (it expired at {})",
                row.expires_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )));
        }
        Ok(row)
    }

    /// One of the caller's live glyphs.
    pub async fn glyph(&self, principal: &Principal, id: &str) -> DomainResult<Glyph> {
        Ok(view(self.live_glyph(principal, id).await?))
    }

    /// The caller's live glyphs, newest first, with the total.
    pub async fn glyphs(
        &self,
        principal: &Principal,
        filter: GlyphFilter,
    ) -> DomainResult<(Vec<Glyph>, u64)> {
        self.glyphs_on()?;
        let actor = principal.actor()?;
        actor.require(Scope::Glyphs)?;
        let (limit, offset) = crate::domain::page(filter.limit, filter.offset, 20, MAX_PAGE)?;
        let mut query = glyph_token::Entity::find()
            .filter(glyph_token::Column::UserId.eq(&actor.user_id))
            .filter(glyph_token::Column::ExpiresAt.gt(Utc::now()));
        if let Some(text) = &filter.symbol {
            let found = symbol(text).ok_or_else(|| {
                DomainError::invalid("symbol", format!("symbol is one of {}", SYMBOLS.join(", ")))
            })?;
            query = query.filter(glyph_token::Column::Symbol.eq(found));
        }
        if let Some(module) = &filter.target_module {
            module_name("target_module", module)?;
            query = query.filter(glyph_token::Column::TargetModule.eq(module));
        }
        let total = query.clone().count(self.memory.db()).await?;
        let rows = query
            .order_by_desc(glyph_token::Column::CreatedAt)
            .order_by_desc(glyph_token::Column::Id)
            .limit(limit)
            .offset(offset)
            .all(self.memory.db())
            .await?;
        Ok((rows.into_iter().map(view).collect(), total))
    }

    /// Binds a live glyph to one of the caller's memories: the memory is tagged
    /// `glyph:<symbol>` and the glyph lists the memory (needs `memory:write` too).
    pub async fn bind_glyph(
        &self,
        principal: &Principal,
        id: &str,
        memory_id: &str,
    ) -> DomainResult<Glyph> {
        let row = self.live_glyph(principal, id).await?;
        let memory = self.memory.get(principal, memory_id).await?;
        let tag = format!("glyph:{}", row.symbol.to_lowercase());
        if !memory.tags.contains(&tag) {
            let mut tags = memory.tags.clone();
            tags.push(tag);
            self.memory
                .update(
                    principal,
                    memory_id,
                    MemoryChange {
                        tags: Some(tags),
                        ..Default::default()
                    },
                )
                .await?;
        }
        let mut bound: Vec<String> = serde_json::from_str(&row.bound_memories).unwrap_or_default();
        if !bound.iter().any(|m| m == memory_id) {
            bound.push(memory_id.to_string());
        }
        let mut active = row.into_active_model();
        active.bound_memories = Set(serde_json::to_string(&bound).expect("strings serialize"));
        let glyph = view(active.update(self.memory.db()).await?);
        self.publish_glyph(&glyph, "bound");
        Ok(glyph)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(symbol: &str) -> NewGlyph {
        NewGlyph {
            symbol: symbol.into(),
            source_module: "consciousness".into(),
            source_component: Some("awareness_engine".into()),
            source_confidence: Some(0.92),
            target_module: "memory".into(),
            target_component: Some("episodic_storage".into()),
            session_id: None,
            interaction_id: None,
            action: "store_learning_event".into(),
            data: serde_json::json!({"concept": "quantum_entanglement"}),
            priority: None,
            ttl_seconds: None,
            requires_guardian: false,
        }
    }

    #[test]
    fn tokens_are_checked() {
        let (symbol, priority, ttl) = checked(&new("learn")).unwrap();
        assert_eq!((symbol, priority.as_str(), ttl), ("LEARN", "normal", 300));
        assert!(checked(&new("TELEPATHY")).is_err());
        let mut long = new("LEARN");
        long.ttl_seconds = Some(MAX_TTL_SECS + 1);
        assert!(checked(&long).is_err());
        let mut list = new("LEARN");
        list.data = serde_json::json!([1, 2]);
        assert!(checked(&list).is_err());
    }
}
