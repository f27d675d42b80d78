//! Model use on a principal's behalf: generation (streamed, or validated structured output)
//! and embeddings through the provider registry, with limits, the `models:use` scope and
//! usage metered per principal from the providers' own counts.

use std::sync::Arc;

use chrono::Utc;
use futures::StreamExt;
use orrery_entities::ai_usage;
use sea_orm::{DatabaseConnection, EntityTrait, Set, TransactionTrait};
use serde_json::Value;

use crate::config::AiConfig;
use crate::domain::identity::{Actor, Credential, Principal, Scope};
use crate::error::{DomainError, DomainResult};
use crate::providers::registry::Chosen;
use crate::providers::{
    self, structured, ChatMessage, ChatRole, Completion, Embeddings, GenerationOptions, Providers,
    StreamItem, TokenStream, Usage,
};

const MAX_MESSAGES: usize = 512;
const MAX_STOP: usize = 4;
const MAX_OUTPUT_TOKENS: u32 = 32_768;

pub struct AiService {
    providers: Arc<Providers>,
    db: DatabaseConnection,
    limits: AiConfig,
    /// Usage rows waiting for [`AiService::flush_usage`]: one write per batch, not per call.
    pending: Arc<std::sync::Mutex<Vec<ai_usage::ActiveModel>>>,
}

/// Past this many waiting rows a flush starts at once rather than at the next tick.
const FLUSH_AT: usize = 1000;

/// One generation request.
pub struct ChatCall {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub messages: Vec<ChatMessage>,
    pub options: GenerationOptions,
}

/// A generation under way, and who serves it.
pub struct ChatStream {
    pub provider: String,
    pub model: String,
    pub stream: TokenStream,
}

pub struct EmbeddingResult {
    pub provider: String,
    pub model: String,
    pub embeddings: Embeddings,
}

impl AiService {
    pub fn new(providers: Arc<Providers>, db: DatabaseConnection, limits: AiConfig) -> Self {
        Self {
            providers,
            db,
            limits,
            pending: Default::default(),
        }
    }

    /// Writes the waiting usage rows in one transaction; returns how many.
    pub async fn flush_usage(&self) -> DomainResult<usize> {
        let rows: Vec<ai_usage::ActiveModel> =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if rows.is_empty() {
            return Ok(0);
        }
        let count = rows.len();
        write_usage(&self.db, rows).await?;
        Ok(count)
    }

    /// Most texts one embeddings call may carry.
    pub fn max_inputs(&self) -> usize {
        self.limits.max_embedding_inputs.max(1)
    }

    pub fn providers(&self) -> &Providers {
        &self.providers
    }

    /// Starts a generation. With a JSON schema the whole answer is produced and validated
    /// first (repaired once if it does not validate) and then streamed: a client never sees
    /// output that did not pass.
    pub async fn chat(&self, principal: &Principal, call: ChatCall) -> DomainResult<ChatStream> {
        self.chat_as(user_of(principal)?, call).await
    }

    /// Generates on `actor`'s behalf without asking for `models:use`: for domains that
    /// generate as part of their own work (agent runs), under their own scopes. Metered.
    pub async fn chat_as(&self, actor: &Actor, call: ChatCall) -> DomainResult<ChatStream> {
        check_call(&call)?;
        let chosen = self
            .providers
            .generator(call.provider.as_deref(), call.model.as_deref())?;
        if let Some(format) = &call.options.json_schema {
            structured::check_supported(&format.schema)
                .map_err(|e| DomainError::invalid("response_format.json_schema.schema", e))?;
            if let Some(target) = structured::unresolved_reference(&format.schema) {
                return Err(DomainError::Unprocessable(format!(
                    "response_format.json_schema.schema: {target} names no schema in this document"
                )));
            }
            let completion = self
                .structured(&chosen, &call.messages, &call.options)
                .await;
            let meter = Meter::new(self, actor, &chosen, "chat");
            let completion = match completion {
                Ok((completion, usage)) => {
                    meter.record(usage);
                    completion
                }
                Err(err) => return Err(err),
            };
            let items = [
                Ok(StreamItem::Delta(completion.text)),
                Ok(StreamItem::Finished {
                    reason: completion.reason,
                    usage: completion.usage,
                }),
            ];
            return Ok(ChatStream {
                provider: chosen.provider,
                model: chosen.model,
                stream: Box::pin(futures::stream::iter(items)),
            });
        }
        let stream = chosen
            .handle
            .stream(&chosen.model, &call.messages, &call.options)
            .await?;
        let meter = Meter::new(self, actor, &chosen, "chat");
        let stream = stream.inspect(move |item| {
            if let Ok(StreamItem::Finished { usage, .. }) = item {
                meter.record(*usage);
            }
        });
        Ok(ChatStream {
            provider: chosen.provider,
            model: chosen.model,
            stream: Box::pin(stream),
        })
    }

    /// Generates, parses and validates; on failure asks once more with the reason.
    async fn structured(
        &self,
        chosen: &Chosen<dyn providers::LanguageModel>,
        messages: &[ChatMessage],
        options: &GenerationOptions,
    ) -> DomainResult<(Completion, Option<Usage>)> {
        let format = options.json_schema.as_ref().expect("called with a schema");
        let mut messages = messages.to_vec();
        let mut total: Option<Usage> = Some(Usage::default());
        let mut problem = String::new();
        for attempt in 0..2 {
            let completion = providers::collect(
                chosen
                    .handle
                    .stream(&chosen.model, &messages, options)
                    .await?,
            )
            .await?;
            total = match (total, completion.usage) {
                (Some(t), Some(u)) => Some(Usage {
                    input_tokens: t.input_tokens + u.input_tokens,
                    output_tokens: t.output_tokens + u.output_tokens,
                }),
                _ => None,
            };
            let checked = serde_json::from_str::<Value>(completion.text.trim())
                .map_err(|e| format!("not JSON: {e}"))
                .and_then(|value| structured::validate(&format.schema, &value));
            match checked {
                Ok(()) => {
                    return Ok((
                        Completion {
                            usage: total,
                            ..completion
                        },
                        total,
                    ))
                }
                Err(reason) if attempt == 0 => {
                    problem = reason.clone();
                    messages.push(ChatMessage::new(ChatRole::Assistant, completion.text));
                    messages.push(ChatMessage::new(
                        ChatRole::User,
                        format!("That output is invalid ({reason}). Reply with only JSON that validates against the schema `{}`.", format.name),
                    ));
                }
                Err(reason) => problem = reason,
            }
        }
        Err(DomainError::Unprocessable(format!(
            "the model's output does not validate against the schema `{}` after one repair: {problem}",
            format.name
        )))
    }

    pub async fn embed(
        &self,
        principal: &Principal,
        provider: Option<&str>,
        model: Option<&str>,
        texts: &[String],
    ) -> DomainResult<EmbeddingResult> {
        self.embed_as(user_of(principal)?, provider, model, texts)
            .await
    }

    /// Embeds on `actor`'s behalf without asking for `models:use`: for domains that embed
    /// as part of their own work (memories), under their own scopes. Usage is metered.
    pub async fn embed_as(
        &self,
        actor: &Actor,
        provider: Option<&str>,
        model: Option<&str>,
        texts: &[String],
    ) -> DomainResult<EmbeddingResult> {
        let limits = &self.limits;
        if texts.is_empty() {
            return Err(DomainError::invalid(
                "input",
                "input must hold at least one text",
            ));
        }
        if texts.len() > limits.max_embedding_inputs {
            return Err(DomainError::invalid(
                "input",
                format!("at most {} texts per call", limits.max_embedding_inputs),
            ));
        }
        for (i, text) in texts.iter().enumerate() {
            if text.is_empty() {
                return Err(DomainError::invalid(
                    format!("input[{i}]"),
                    "a text to embed cannot be empty",
                ));
            }
            if text.chars().count() > limits.max_embedding_chars {
                return Err(DomainError::invalid(
                    format!("input[{i}]"),
                    format!(
                        "a text to embed may have at most {} characters",
                        limits.max_embedding_chars
                    ),
                ));
            }
        }
        let chosen = self.providers.embedder(provider, model)?;
        let embeddings = chosen.handle.embed(&chosen.model, texts).await?;
        Meter::new(self, actor, &chosen, "embeddings").record(embeddings.input_tokens.map(
            |input| Usage {
                input_tokens: input,
                output_tokens: 0,
            },
        ));
        Ok(EmbeddingResult {
            provider: chosen.provider,
            model: chosen.model,
            embeddings,
        })
    }
}

fn user_of(principal: &Principal) -> DomainResult<&Actor> {
    let actor = principal.actor()?;
    actor.require(Scope::ModelsUse)?;
    Ok(actor)
}

fn check_call(call: &ChatCall) -> DomainResult<()> {
    if call.messages.is_empty() {
        return Err(DomainError::invalid(
            "messages",
            "messages must hold at least one message",
        ));
    }
    if call.messages.len() > MAX_MESSAGES {
        return Err(DomainError::invalid(
            "messages",
            format!("at most {MAX_MESSAGES} messages"),
        ));
    }
    let options = &call.options;
    if let Some(t) = options.temperature {
        if !(0.0..=2.0).contains(&t) {
            return Err(DomainError::invalid(
                "temperature",
                "temperature must be between 0 and 2",
            ));
        }
    }
    if let Some(max) = options.max_tokens {
        if max == 0 || max > MAX_OUTPUT_TOKENS {
            return Err(DomainError::invalid(
                "max_tokens",
                format!("max_tokens must be between 1 and {MAX_OUTPUT_TOKENS}"),
            ));
        }
    }
    if options.stop.len() > MAX_STOP {
        return Err(DomainError::invalid(
            "stop",
            format!("at most {MAX_STOP} stop sequences"),
        ));
    }
    Ok(())
}

/// Writes usage rows in one transaction, in multi-row inserts.
async fn write_usage(
    db: &DatabaseConnection,
    rows: Vec<ai_usage::ActiveModel>,
) -> DomainResult<()> {
    let txn = db.begin().await?;
    for batch in rows.chunks(200) {
        ai_usage::Entity::insert_many(batch.to_vec())
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Records one call's usage: queued for the next batch write, so metering never delays or
/// fails an answer (a failed write is logged).
struct Meter {
    pending: Arc<std::sync::Mutex<Vec<ai_usage::ActiveModel>>>,
    db: DatabaseConnection,
    user_id: String,
    key_id: Option<String>,
    provider: String,
    model: String,
    operation: &'static str,
}

impl Meter {
    fn new<T: ?Sized>(
        service: &AiService,
        actor: &Actor,
        chosen: &Chosen<T>,
        operation: &'static str,
    ) -> Self {
        Self {
            pending: service.pending.clone(),
            db: service.db.clone(),
            user_id: actor.user_id.clone(),
            key_id: match &actor.credential {
                Credential::ApiKey { key_id } => Some(key_id.clone()),
                Credential::AccessToken { .. } => None,
            },
            provider: chosen.provider.clone(),
            model: chosen.model.clone(),
            operation,
        }
    }

    fn record(&self, usage: Option<Usage>) {
        let row = ai_usage::ActiveModel {
            // Time-ordered: a flush appends to the id index instead of rewriting a random
            // page of it for each row.
            id: Set(ulid::Ulid::new().to_string()),
            user_id: Set(self.user_id.clone()),
            key_id: Set(self.key_id.clone()),
            provider: Set(self.provider.clone()),
            model: Set(self.model.clone()),
            operation: Set(self.operation.into()),
            input_tokens: Set(usage.map(|u| u.input_tokens as i32)),
            output_tokens: Set(usage.map(|u| u.output_tokens as i32)),
            created_at: Set(Utc::now()),
        };
        let full = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.push(row);
            pending.len() >= FLUSH_AT
        };
        if full {
            let rows = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
            let db = self.db.clone();
            tokio::spawn(async move {
                if let Err(err) = write_usage(&db, rows).await {
                    tracing::warn!(error = %err, "could not record model usage");
                }
            });
        }
    }
}
