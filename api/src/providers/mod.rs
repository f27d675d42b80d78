//! Model providers: everything that generates text or embeds it goes through
//! [`LanguageModel`] and [`Embedder`], held by name in the [`Providers`] registry. Transport-
//! free: the `/v1` surface, GraphQL and the domains above only see these traits.

mod builtin;
pub mod local;
mod openai;
pub mod registry;
pub mod structured;

use async_trait::async_trait;
use futures::stream::BoxStream;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

pub use builtin::hash_embedding as builtin_hash_embedding;
pub use builtin::key_terms as builtin_key_terms;
pub use registry::{ProviderInfo, Providers};

use crate::error::{DomainError, DomainResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatRole {
    System,
    User,
    Assistant,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: ChatRole,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: ChatRole, content: impl Into<String>) -> Self {
        Self {
            role,
            content: content.into(),
        }
    }
}

/// A JSON schema the output must validate against.
#[derive(Clone, Debug)]
pub struct JsonSchemaFormat {
    pub name: String,
    pub schema: serde_json::Value,
}

#[derive(Clone, Debug, Default)]
pub struct GenerationOptions {
    /// `Some(0.0)` means greedy decoding, never "the provider's default".
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub seed: Option<u64>,
    /// Ask for any JSON object (OpenAI's `json_object`).
    pub json_object: bool,
    pub json_schema: Option<JsonSchemaFormat>,
}

/// Token counts as the provider counted them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FinishReason {
    /// The model ended its answer or hit a stop sequence.
    Stop,
    /// `max_tokens` cut it off.
    Length,
}

impl FinishReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            Self::Length => "length",
        }
    }
}

/// One item of a token stream: text as it is produced, then exactly one `Finished`.
#[derive(Clone, Debug, PartialEq)]
pub enum StreamItem {
    Delta(String),
    Finished {
        reason: FinishReason,
        /// `None` when an upstream server did not report counts (nothing is estimated).
        usage: Option<Usage>,
    },
}

/// Generation as it happens. Dropping the stream stops the generation (the upstream
/// connection is closed, the local loop ends).
pub type TokenStream = BoxStream<'static, DomainResult<StreamItem>>;

/// A finished generation.
#[derive(Clone, Debug)]
pub struct Completion {
    pub text: String,
    pub reason: FinishReason,
    pub usage: Option<Usage>,
}

/// Collects a stream into its text, finish reason and usage.
pub async fn collect(mut stream: TokenStream) -> DomainResult<Completion> {
    let mut text = String::new();
    while let Some(item) = stream.next().await {
        match item? {
            StreamItem::Delta(delta) => text.push_str(&delta),
            StreamItem::Finished { reason, usage } => {
                return Ok(Completion {
                    text,
                    reason,
                    usage,
                })
            }
        }
    }
    Err(DomainError::Upstream(
        "the model's stream ended without finishing".into(),
    ))
}

#[async_trait]
pub trait LanguageModel: Send + Sync {
    /// The models this provider serves, the default first.
    fn models(&self) -> Vec<String>;
    /// Starts generating a reply to `messages` with `model` (one of [`Self::models`], or any
    /// name an upstream server accepts).
    async fn stream(
        &self,
        model: &str,
        messages: &[ChatMessage],
        options: &GenerationOptions,
    ) -> DomainResult<TokenStream>;
}

#[derive(Clone, Debug)]
pub struct Embeddings {
    pub vectors: Vec<Vec<f32>>,
    /// Input tokens as the provider counted them (`None` when an upstream did not say).
    pub input_tokens: Option<u32>,
}

/// A provider's own health check: a real round trip, cheap enough to run every few seconds.
#[async_trait]
pub trait Probe: Send + Sync {
    async fn probe(&self) -> DomainResult<()>;
}

#[async_trait]
pub trait Embedder: Send + Sync {
    /// The embedding models this provider serves, the default first.
    fn models(&self) -> Vec<String>;
    async fn embed(&self, model: &str, texts: &[String]) -> DomainResult<Embeddings>;
}
