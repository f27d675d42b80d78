//! LUKHAS GLYPH tokens in GraphQL: `glyphs`, `sendGlyph`, `bindGlyph` (traffic:
//! `glyphTraffic` in `cognition_events`).

use async_graphql::{Context, InputObject, Json, Object, SimpleObject};
use serde_json::Value;

use super::errors::{to_gql, user_error, UserError};
use super::identity::require_user;
use super::scalars::DateTime;
use super::{core, principal};
use crate::domain::cognition::glyphs::{Glyph as DomainGlyph, GlyphFilter, NewGlyph};

#[derive(SimpleObject)]
pub struct Glyph {
    id: String,
    symbol: String,
    source_module: String,
    source_component: Option<String>,
    source_confidence: Option<f64>,
    target_module: String,
    target_component: Option<String>,
    session_id: Option<String>,
    interaction_id: Option<String>,
    action: String,
    data: Json<Value>,
    priority: String,
    ttl_seconds: i64,
    requires_guardian: bool,
    guardian_validation_id: Option<String>,
    bound_memories: Vec<String>,
    created_at: DateTime,
    expires_at: DateTime,
}

impl From<DomainGlyph> for Glyph {
    fn from(g: DomainGlyph) -> Self {
        Self {
            id: g.id,
            symbol: g.symbol,
            source_module: g.source_module,
            source_component: g.source_component,
            source_confidence: g.source_confidence,
            target_module: g.target_module,
            target_component: g.target_component,
            session_id: g.session_id,
            interaction_id: g.interaction_id,
            action: g.action,
            data: Json(g.data),
            priority: g.priority,
            ttl_seconds: g.ttl_seconds,
            requires_guardian: g.requires_guardian,
            guardian_validation_id: g.validation_id,
            bound_memories: g.bound_memories,
            created_at: DateTime(g.created_at),
            expires_at: DateTime(g.expires_at),
        }
    }
}

#[derive(SimpleObject)]
pub struct GlyphPage {
    glyphs: Vec<Glyph>,
    total: u64,
}

#[derive(Default)]
pub struct GlyphQuery;

#[Object]
impl GlyphQuery {
    /// Your live glyphs, newest first (needs `glyphs`; off unless `LUKHAS_GLYPHS_ENABLED`).
    async fn glyphs(
        &self,
        ctx: &Context<'_>,
        symbol: Option<String>,
        target_module: Option<String>,
        #[graphql(default = 20)] first: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> async_graphql::Result<GlyphPage> {
        require_user(ctx)?;
        let (glyphs, total) = core(ctx)
            .matriz
            .glyphs(
                principal(ctx),
                GlyphFilter {
                    symbol,
                    target_module,
                    limit: Some(i64::from(first)),
                    offset: Some(i64::from(offset)),
                },
            )
            .await
            .map_err(to_gql)?;
        Ok(GlyphPage {
            glyphs: glyphs.into_iter().map(Into::into).collect(),
            total,
        })
    }
}

#[derive(InputObject)]
pub struct SendGlyphInput {
    /// TRUST, LEARN, ADAPT, CREATE, PROTECT, REMEMBER, REFLECT or CONNECT.
    symbol: String,
    source_module: String,
    source_component: Option<String>,
    source_confidence: Option<f64>,
    target_module: String,
    target_component: Option<String>,
    session_id: Option<String>,
    interaction_id: Option<String>,
    action: String,
    data: Option<Json<Value>>,
    /// low, normal (default), high or critical.
    priority: Option<String>,
    /// 1 to 86 400 (default 300).
    ttl_seconds: Option<i32>,
    requires_guardian: Option<bool>,
}

#[derive(SimpleObject, Default)]
pub struct GlyphPayload {
    glyph: Option<Glyph>,
    user_errors: Vec<UserError>,
}

fn payload(result: crate::error::DomainResult<DomainGlyph>) -> async_graphql::Result<GlyphPayload> {
    Ok(match result {
        Ok(glyph) => GlyphPayload {
            glyph: Some(glyph.into()),
            user_errors: vec![],
        },
        Err(err) => GlyphPayload {
            glyph: None,
            user_errors: vec![user_error(err)?],
        },
    })
}

#[derive(Default)]
pub struct GlyphMutation;

#[Object]
impl GlyphMutation {
    /// Sends a glyph (a guardian rejection is a `GUARDIAN_REJECTION` user error).
    async fn send_glyph(
        &self,
        ctx: &Context<'_>,
        input: SendGlyphInput,
    ) -> async_graphql::Result<GlyphPayload> {
        require_user(ctx)?;
        payload(
            core(ctx)
                .matriz
                .send_glyph(
                    principal(ctx),
                    NewGlyph {
                        symbol: input.symbol,
                        source_module: input.source_module,
                        source_component: input.source_component,
                        source_confidence: input.source_confidence,
                        target_module: input.target_module,
                        target_component: input.target_component,
                        session_id: input.session_id,
                        interaction_id: input.interaction_id,
                        action: input.action,
                        data: input.data.map_or(Value::Null, |d| d.0),
                        priority: input.priority,
                        ttl_seconds: input.ttl_seconds.map(i64::from),
                        requires_guardian: input.requires_guardian.unwrap_or(false),
                    },
                )
                .await,
        )
    }

    /// Binds a live glyph to one of your memories (tagged `glyph:<symbol>`).
    async fn bind_glyph(
        &self,
        ctx: &Context<'_>,
        glyph_id: String,
        memory_id: String,
    ) -> async_graphql::Result<GlyphPayload> {
        require_user(ctx)?;
        payload(
            core(ctx)
                .matriz
                .bind_glyph(principal(ctx), &glyph_id, &memory_id)
                .await,
        )
    }
}
