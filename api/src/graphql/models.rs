//! The model providers and embeddings in GraphQL (generation is on `/v1`, for OpenAI clients).

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::errors::{user_error, UserError};
use super::identity::require_user;
use super::{core, principal};

#[derive(Default)]
pub struct ModelsQuery;

#[derive(Default)]
pub struct ModelsMutation;

/// A configured model provider.
#[derive(SimpleObject)]
pub struct ModelProvider {
    /// What requests name it by (`provider` in `/v1` and here).
    name: String,
    /// `builtin` or `openai` (any OpenAI-compatible server).
    kind: String,
    /// Chat models, the default first.
    chat_models: Vec<String>,
    /// Embedding models, the default first.
    embedding_models: Vec<String>,
    /// Generates text when a request names no provider.
    default_generator: bool,
    /// Embeds text when a request names no provider.
    default_embedder: bool,
    /// Whether its probe (a real round trip: a builtin embedding, an upstream `GET /models`)
    /// succeeded, checked at most 5 s ago.
    healthy: bool,
    /// The probe's measured duration.
    latency_ms: f64,
}

#[Object]
impl ModelsQuery {
    /// The model providers this server uses; `builtin` is always among them.
    async fn model_providers(
        &self,
        ctx: &Context<'_>,
    ) -> async_graphql::Result<Vec<ModelProvider>> {
        require_user(ctx)?;
        let core = core(ctx);
        let checks = core.health.modules(core).await;
        Ok(core
            .ai
            .providers()
            .list()
            .into_iter()
            .map(|p| {
                let check = checks
                    .iter()
                    .find(|c| c.name == format!("model_provider.{}", p.name));
                ModelProvider {
                    healthy: check.is_some_and(|c| c.healthy),
                    latency_ms: check.map_or(0.0, |c| c.latency_ms()),
                    name: p.name,
                    kind: p.kind.to_string(),
                    chat_models: p.chat_models,
                    embedding_models: p.embedding_models,
                    default_generator: p.default_generator,
                    default_embedder: p.default_embedder,
                }
            })
            .collect())
    }
}

#[derive(InputObject)]
pub struct EmbedInput {
    /// 1 to 256 non-empty texts.
    texts: Vec<String>,
    /// The provider (default: the default embedder).
    provider: Option<String>,
    /// One of the provider's embedding models (default: its first).
    model: Option<String>,
}

/// One text's vector.
#[derive(SimpleObject)]
pub struct Embedding {
    /// The text's position in the input.
    index: i32,
    /// Unit length for the builtin provider; as the provider returns it otherwise.
    vector: Vec<f64>,
}

#[derive(SimpleObject, Default)]
pub struct EmbedPayload {
    embeddings: Vec<Embedding>,
    provider: Option<String>,
    model: Option<String>,
    /// The provider's own count; null when an upstream server did not report it.
    input_tokens: Option<i32>,
    user_errors: Vec<UserError>,
}

#[Object]
impl ModelsMutation {
    /// Embeds texts (usage is recorded against the caller). Needs `models:use` on a key.
    async fn embed(
        &self,
        ctx: &Context<'_>,
        input: EmbedInput,
    ) -> async_graphql::Result<EmbedPayload> {
        require_user(ctx)?;
        let result = core(ctx)
            .ai
            .embed(
                principal(ctx),
                input.provider.as_deref(),
                input.model.as_deref(),
                &input.texts,
            )
            .await;
        match result {
            Ok(result) => Ok(EmbedPayload {
                embeddings: result
                    .embeddings
                    .vectors
                    .into_iter()
                    .enumerate()
                    .map(|(index, vector)| Embedding {
                        index: index as i32,
                        vector: vector.into_iter().map(f64::from).collect(),
                    })
                    .collect(),
                provider: Some(result.provider),
                model: Some(result.model),
                input_tokens: result.embeddings.input_tokens.map(|n| n as i32),
                user_errors: vec![],
            }),
            Err(err) => Ok(EmbedPayload {
                user_errors: vec![user_error(err)?],
                ..Default::default()
            }),
        }
    }
}
