//! The `local` provider: models from files, run in this process (candle, CPU). A GGUF
//! instruct model answers chats and a sentence-transformers model embeds; see
//! [`files`] for how they are installed.

pub mod files;
mod worker;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot};

use super::{
    ChatMessage, ChatRole, Embedder, Embeddings, GenerationOptions, LanguageModel, Probe,
    TokenStream,
};
use crate::error::{DomainError, DomainResult};
use files::ModelKind;
use orrery_inference::{ChatModel, Role, SamplingOptions, SentenceModel};
use worker::{Job, Worker};

/// Sampling when a request gives no temperature (OpenAI's default is 1, which a 135M model
/// turns into noise).
const DEFAULT_TEMPERATURE: f64 = 0.7;
const TOP_P: f64 = 0.9;
/// Tokens generated when a request sets no `max_tokens`.
const DEFAULT_MAX_TOKENS: usize = 512;

/// Sizes the compute pools for the local models: candle reads `CANDLE_NUM_THREADS` and
/// `RAYON_NUM_THREADS` once, when its pools start, and without them it counts the physical
/// cores by parsing `/proc/cpuinfo` on every f32 matmul. Call this before any other thread
/// exists (setting the environment of a multi-threaded process races with readers).
pub fn size_compute_pools(providers: &BTreeMap<String, crate::config::ProviderConfig>) {
    let Some(local) = providers
        .values()
        .find(|p| p.kind == crate::config::ProviderKind::Local)
    else {
        return;
    };
    let threads = local
        .threads
        .unwrap_or_else(default_threads)
        .max(1)
        .to_string();
    // candle's pool spins 25 000 times before it sleeps, taking a core from the matmul
    // threads between element-wise ops: 100 spins embed 215 → 280 sentences/s on 2 cores
    // (bench/local_models.sh).
    for (var, value) in [
        ("CANDLE_NUM_THREADS", threads.as_str()),
        ("RAYON_NUM_THREADS", threads.as_str()),
        ("CANDLE_BARRIER_POOL_SPIN_LIMIT", "100"),
    ] {
        if std::env::var_os(var).is_none() {
            std::env::set_var(var, value);
        }
    }
}

/// Compute threads when the config names none: every core up to four (decoding is bound by
/// memory bandwidth beyond that).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

pub struct Settings {
    pub name: String,
    pub model_dir: PathBuf,
    /// Models to load; empty: every installed one.
    pub chat_models: Vec<String>,
    pub embedding_models: Vec<String>,
    pub threads: usize,
    pub max_streams: usize,
    pub queue: usize,
}

pub struct Local {
    chat: BTreeMap<String, Arc<ChatModel>>,
    chat_order: Vec<String>,
    embed: BTreeMap<String, Arc<SentenceModel>>,
    embed_order: Vec<String>,
    worker: Worker,
}

impl Local {
    pub fn load(settings: Settings) -> anyhow::Result<Self> {
        let name = &settings.name;
        let installed = files::installed(&settings.model_dir);
        let pick = |wanted: &[String], kind: ModelKind| -> anyhow::Result<Vec<files::Installed>> {
            if wanted.is_empty() {
                return Ok(installed
                    .iter()
                    .filter(|m| m.kind == kind)
                    .cloned()
                    .collect());
            }
            wanted
                .iter()
                .map(|id| {
                    installed
                        .iter()
                        .find(|m| m.id == *id && m.kind == kind)
                        .cloned()
                        .ok_or_else(|| anyhow::anyhow!(
                            "provider {name}: model {id:?} is not installed in {} (run `orrery models install`, or `orrery models import FILE`)",
                            settings.model_dir.display()
                        ))
                })
                .collect()
        };
        let chat_models = pick(&settings.chat_models, ModelKind::Chat)?;
        let embedding_models = pick(&settings.embedding_models, ModelKind::Embedding)?;
        if chat_models.is_empty() && embedding_models.is_empty() {
            anyhow::bail!(
                "provider {name}: no models in {}; run `orrery models install` (or `orrery models import FILE`)",
                settings.model_dir.display()
            );
        }
        let mut chat = BTreeMap::new();
        let mut chat_order = Vec::new();
        for model in chat_models {
            let loaded = ChatModel::load(&model.dir.join(files::CHAT_FILE))
                .map_err(|e| anyhow::anyhow!("provider {name}: model {}: {e:#}", model.id))?;
            chat_order.push(model.id.clone());
            chat.insert(model.id, Arc::new(loaded));
        }
        let mut embed = BTreeMap::new();
        let mut embed_order = Vec::new();
        for model in embedding_models {
            let loaded = SentenceModel::load(&model.dir)
                .map_err(|e| anyhow::anyhow!("provider {name}: model {}: {e:#}", model.id))?;
            embed_order.push(model.id.clone());
            embed.insert(model.id, Arc::new(loaded));
        }
        let worker = Worker::start(settings.threads, settings.queue, settings.max_streams)?;
        Ok(Self {
            chat,
            chat_order,
            embed,
            embed_order,
            worker,
        })
    }

    pub fn serves_chat(&self) -> bool {
        !self.chat.is_empty()
    }

    pub fn serves_embeddings(&self) -> bool {
        !self.embed.is_empty()
    }

    async fn embed_on_worker(
        &self,
        model: &str,
        texts: Vec<String>,
    ) -> DomainResult<(Vec<Vec<f32>>, usize)> {
        let model = self
            .embed
            .get(model)
            .cloned()
            .ok_or_else(|| DomainError::NotFound(format!("model '{model}'")))?;
        let (reply, answer) = oneshot::channel();
        self.worker.submit(Job::Embed {
            model,
            texts,
            reply,
        })?;
        answer
            .await
            .map_err(|_| DomainError::Internal("the local model thread has stopped".into()))?
    }
}

/// A small model follows a schema only when it sees it; the answer is validated (and
/// repaired once) by the caller either way.
fn with_format_instructions(
    messages: &[ChatMessage],
    options: &GenerationOptions,
) -> Vec<ChatMessage> {
    let instruction = match (&options.json_schema, options.json_object) {
        (Some(format), _) => Some(format!(
            "Reply with only one JSON value, no prose and no code fence, that validates against this JSON schema: {}",
            format.schema
        )),
        (None, true) => Some("Reply with only one JSON object, no prose and no code fence.".to_string()),
        (None, false) => None,
    };
    let mut messages = messages.to_vec();
    if let Some(instruction) = instruction {
        match messages.iter_mut().find(|m| m.role == ChatRole::System) {
            Some(system) => {
                system.content.push_str("\n\n");
                system.content.push_str(&instruction);
            }
            None => messages.insert(0, ChatMessage::new(ChatRole::System, instruction)),
        }
    }
    messages
}

#[async_trait]
impl LanguageModel for Local {
    fn models(&self) -> Vec<String> {
        self.chat_order.clone()
    }

    async fn stream(
        &self,
        model: &str,
        messages: &[ChatMessage],
        options: &GenerationOptions,
    ) -> DomainResult<TokenStream> {
        let chat = self
            .chat
            .get(model)
            .ok_or_else(|| DomainError::NotFound(format!("model '{model}'")))?;
        let messages = with_format_instructions(messages, options);
        let turns: Vec<(Role, &str)> = messages
            .iter()
            .map(|m| {
                let role = match m.role {
                    ChatRole::System => Role::System,
                    ChatRole::User => Role::User,
                    ChatRole::Assistant => Role::Assistant,
                };
                (role, m.content.as_str())
            })
            .collect();
        let prompt = chat
            .prompt(&turns)
            .map_err(|e| DomainError::Internal(format!("tokenizing the prompt failed: {e:#}")))?;
        let context = chat.context();
        let room = context.saturating_sub(prompt.len());
        if room == 0 {
            return Err(DomainError::invalid(
                "messages",
                format!(
                    "the conversation is {} tokens; model '{model}' reads at most {context}",
                    prompt.len()
                ),
            ));
        }
        let max_tokens = options
            .max_tokens
            .map_or(DEFAULT_MAX_TOKENS, |n| n as usize)
            .min(room);
        let sequence = chat.sequence(
            prompt,
            SamplingOptions {
                temperature: Some(options.temperature.map_or(DEFAULT_TEMPERATURE, f64::from)),
                top_p: TOP_P,
                seed: options.seed.unwrap_or_else(rand::random),
                max_tokens,
                stop: options.stop.clone(),
            },
        );
        let (out, items) = mpsc::unbounded_channel();
        self.worker.submit(Job::Generate {
            sequence: Box::new(sequence),
            out,
        })?;
        Ok(Box::pin(futures::stream::unfold(
            items,
            |mut items| async move { items.recv().await.map(|item| (item, items)) },
        )))
    }
}

#[async_trait]
impl Embedder for Local {
    fn models(&self) -> Vec<String> {
        self.embed_order.clone()
    }

    async fn embed(&self, model: &str, texts: &[String]) -> DomainResult<Embeddings> {
        let (vectors, tokens) = self.embed_on_worker(model, texts.to_vec()).await?;
        Ok(Embeddings {
            vectors,
            input_tokens: Some(tokens as u32),
        })
    }
}

#[async_trait]
impl Probe for Local {
    /// A real forward pass through the worker: a stuck or dead model thread fails it.
    async fn probe(&self) -> DomainResult<()> {
        if let Some(model) = self.embed_order.first() {
            self.embed_on_worker(model, vec!["ok".into()]).await?;
            return Ok(());
        }
        let model = self.chat_order.first().cloned().unwrap_or_default();
        let options = GenerationOptions {
            temperature: Some(0.0),
            max_tokens: Some(1),
            ..Default::default()
        };
        let stream = self
            .stream(&model, &[ChatMessage::new(ChatRole::User, "ok")], &options)
            .await?;
        super::collect(stream).await.map(|_| ())
    }
}
