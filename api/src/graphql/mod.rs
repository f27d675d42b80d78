//! The GraphQL schema: one module per domain, merged. Resolvers parse, call one domain
//! function and map the result.

mod agents;
mod chat;
mod cognition;
mod cognition_events;
mod errors;
mod feedback;
mod glyphs;
mod governance;
mod guard;
mod identity;
mod incidents;
mod limits;
mod maintenance;
mod memory;
mod models;
mod node;
mod paging;
mod passkeys;
mod perf;
mod rag;
mod registry;
mod review;
mod scalars;
mod terminal;
mod tools;
pub mod transport;
mod writer_stats;
pub mod ws;

use std::sync::Arc;

use async_graphql::{Context, MergedObject, MergedSubscription, Schema};

pub use errors::ErrorCode;

use crate::domain::identity::Principal;
use crate::http::auth::ClientIp;
use crate::http::rate_limit::Quota;
use crate::state::Core;

#[derive(MergedObject, Default)]
pub struct Query(
    identity::IdentityQuery,
    agents::AgentsQuery,
    chat::ChatQuery,
    cognition::CognitionQuery,
    governance::GovernanceQuery,
    models::ModelsQuery,
    memory::MemoryQuery,
    rag::RagQuery,
    registry::RegistryQuery,
    glyphs::GlyphQuery,
    incidents::IncidentQuery,
    feedback::FeedbackQuery,
    tools::ToolQuery,
    passkeys::PasskeyQuery,
    maintenance::MaintenanceQuery,
    perf::PerfQuery,
    terminal::TerminalQuery,
    writer_stats::WriterStatsQuery,
);

#[derive(MergedObject, Default)]
pub struct Mutation(
    identity::IdentityMutation,
    agents::AgentsMutation,
    chat::ChatMutation,
    governance::GovernanceMutation,
    cognition::GuardianMutation,
    cognition::MatrizMutation,
    cognition::ReflectionMutation,
    cognition::ReasoningMutation,
    cognition::DreamMutation,
    models::ModelsMutation,
    memory::MemoryMutation,
    rag::RagMutation,
    registry::RegistryMutation,
    glyphs::GlyphMutation,
    incidents::IncidentMutation,
    feedback::FeedbackMutation,
    tools::ToolMutation,
    passkeys::PasskeyMutation,
    maintenance::MaintenanceMutation,
    review::ReviewMutation,
    terminal::TerminalMutation,
);

#[derive(MergedSubscription, Default)]
pub struct Subscription(
    identity::IdentitySubscription,
    agents::AgentsSubscription,
    governance::GovernanceSubscription,
    memory::MemorySubscription,
    terminal::TerminalSubscription,
    cognition_events::CognitionSubscription,
    cognition_events::GlyphSubscription,
    incidents::IncidentSubscription,
);

pub type OrrerySchema = Schema<Query, Mutation, Subscription>;

/// The schema without server state, for exporting the SDL.
pub fn schema_builder() -> async_graphql::SchemaBuilder<Query, Mutation, Subscription> {
    Schema::build(
        Query::default(),
        Mutation::default(),
        Subscription::default(),
    )
    .register_output_type::<node::Node>()
}

pub fn build_schema(core: Arc<Core>) -> OrrerySchema {
    let mut builder = schema_builder()
        .limit_recursive_depth(64)
        .limit_directives(20)
        .extension(guard::Guard);
    if !core.config.introspection_enabled() {
        builder = builder.disable_introspection();
    }
    builder.data(core).finish()
}

/// The SDL, with types sorted so the committed file diffs cleanly.
pub fn sdl() -> String {
    schema_builder().finish().sdl_with_options(
        async_graphql::SDLExportOptions::new()
            .sorted_fields()
            .sorted_enum_items(),
    )
}

pub(crate) fn core<'a>(ctx: &Context<'a>) -> &'a Arc<Core> {
    ctx.data_unchecked::<Arc<Core>>()
}

pub(crate) fn principal<'a>(ctx: &Context<'a>) -> &'a Principal {
    ctx.data_opt::<Principal>().unwrap_or(&Principal::Anonymous)
}

/// The per-IP budget of credential mutations (signUp, logIn, refreshToken).
pub(crate) async fn credential_gate(ctx: &Context<'_>) -> async_graphql::Result<()> {
    let core = core(ctx);
    let ip = ctx
        .data_opt::<ClientIp>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let quota = Quota::per_minute(core.config.rate_limit.credentials_per_ip);
    let decision = core
        .limiter
        .check(&format!("cred:{ip}"), quota, 1)
        .await
        .map_err(errors::to_gql)?;
    if decision.allowed {
        Ok(())
    } else {
        Err(errors::to_gql(crate::error::DomainError::RateLimited(
            decision.info,
        )))
    }
}
