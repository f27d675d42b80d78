//! The providers configured for this server, by name, and the defaults for generation and
//! embeddings. Domain code asks for "the default generator" or for the one a request names.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use super::builtin::{self, Builtin};
use super::local::{self, Local};
use super::openai::{self, OpenAiCompatible};
use super::{Embedder, LanguageModel, Probe};
use crate::config::{AiConfig, ProviderConfig, ProviderKind};
use crate::error::{DomainError, DomainResult};

struct Entry {
    kind: ProviderKind,
    probe: Arc<dyn Probe>,
    generator: Option<Arc<dyn LanguageModel>>,
    embedder: Option<Arc<dyn Embedder>>,
}

pub struct Providers {
    entries: BTreeMap<String, Entry>,
    default_generator: String,
    default_embedder: String,
}

/// A provider and model chosen for one call.
pub struct Chosen<T: ?Sized> {
    pub provider: String,
    pub model: String,
    pub handle: Arc<T>,
}

/// What `/v1/models`, GraphQL and the health report show of a provider.
#[derive(Clone, Debug, Serialize)]
pub struct ProviderInfo {
    pub name: String,
    pub kind: &'static str,
    pub chat_models: Vec<String>,
    pub embedding_models: Vec<String>,
    pub default_generator: bool,
    pub default_embedder: bool,
}

impl Providers {
    /// Builds every configured provider; `builtin` always exists. Configuration mistakes
    /// (an unknown default, a provider without models, a missing key variable) stop the
    /// start with a message naming the provider.
    pub fn from_config(
        ai: &AiConfig,
        configured: &BTreeMap<String, ProviderConfig>,
        data_dir: &Path,
    ) -> anyhow::Result<Self> {
        let mut entries = BTreeMap::new();
        let builtin = Arc::new(Builtin {
            dimensions: ai.builtin_dimensions,
            piece_delay: Duration::from_millis(ai.builtin_piece_delay_ms),
        });
        entries.insert(
            builtin::MODEL.to_string(),
            Entry {
                kind: ProviderKind::Builtin,
                probe: builtin.clone(),
                generator: Some(builtin.clone()),
                embedder: Some(builtin),
            },
        );
        for (name, config) in configured {
            if !is_provider_name(name) {
                anyhow::bail!("provider name {name:?}: use 1 to 32 letters, digits, '-' or '_'");
            }
            let entry = build(name, config, data_dir)?;
            entries.insert(name.clone(), entry);
        }
        let providers = Self {
            entries,
            default_generator: ai.default_generator.clone(),
            default_embedder: ai.default_embedder.clone(),
        };
        for (what, name, has) in [
            (
                "ai.default_generator",
                &providers.default_generator,
                providers
                    .entries
                    .get(&providers.default_generator)
                    .is_some_and(|e| e.generator.is_some()),
            ),
            (
                "ai.default_embedder",
                &providers.default_embedder,
                providers
                    .entries
                    .get(&providers.default_embedder)
                    .is_some_and(|e| e.embedder.is_some()),
            ),
        ] {
            if !has {
                anyhow::bail!(
                    "{what} = {name:?}: no provider of that name serves it (configured: {})",
                    providers
                        .entries
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
        }
        Ok(providers)
    }

    /// Every provider's probe, timed: `(name, healthy, latency)`.
    pub async fn check(&self, timeout: Duration) -> Vec<(String, bool, Duration)> {
        let checks = self.entries.iter().map(|(name, entry)| async move {
            let started = std::time::Instant::now();
            let healthy = matches!(
                tokio::time::timeout(timeout, entry.probe.probe()).await,
                Ok(Ok(()))
            );
            (name.clone(), healthy, started.elapsed())
        });
        futures::future::join_all(checks).await
    }

    pub fn list(&self) -> Vec<ProviderInfo> {
        self.entries
            .iter()
            .map(|(name, entry)| ProviderInfo {
                name: name.clone(),
                kind: entry.kind.as_str(),
                chat_models: entry
                    .generator
                    .as_ref()
                    .map(|g| g.models())
                    .unwrap_or_default(),
                embedding_models: entry
                    .embedder
                    .as_ref()
                    .map(|e| e.models())
                    .unwrap_or_default(),
                default_generator: *name == self.default_generator,
                default_embedder: *name == self.default_embedder,
            })
            .collect()
    }

    /// Whether `provider` is a model that reads what it is given (every kind but the
    /// builtin, whose replies are templates): work that only a reader can do — classifying,
    /// summarizing — is not asked of the others.
    pub fn understands_language(&self, provider: &str) -> bool {
        self.entries
            .get(provider)
            .is_some_and(|e| e.kind != ProviderKind::Builtin)
    }

    /// Whether `provider` can be asked for structured output as part of other work. The
    /// builtin provider answers with a schema's simplest instance and an OpenAI-compatible
    /// server is trusted to follow `response_format`; the local provider's small models
    /// decode without constraints and rarely write JSON at all (SmolLM2-135M: no valid
    /// answer in our tests), so domains ask them for plain text instead of paying for
    /// generations that are thrown away.
    pub fn writes_structured(&self, provider: &str) -> bool {
        self.entries
            .get(provider)
            .is_some_and(|e| e.kind != ProviderKind::Local)
    }

    /// The generator `provider` names (the default when `None`) with `model` (its default
    /// model when `None`).
    pub fn generator(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> DomainResult<Chosen<dyn LanguageModel>> {
        let name = provider.unwrap_or(&self.default_generator);
        let handle = self
            .entry(name)?
            .generator
            .clone()
            .ok_or_else(|| not_served(name, "text generation"))?;
        let model = pick_model(name, handle.models(), model)?;
        Ok(Chosen {
            provider: name.to_string(),
            model,
            handle,
        })
    }

    pub fn embedder(
        &self,
        provider: Option<&str>,
        model: Option<&str>,
    ) -> DomainResult<Chosen<dyn Embedder>> {
        let name = provider.unwrap_or(&self.default_embedder);
        let handle = self
            .entry(name)?
            .embedder
            .clone()
            .ok_or_else(|| not_served(name, "embeddings"))?;
        let model = pick_model(name, handle.models(), model)?;
        Ok(Chosen {
            provider: name.to_string(),
            model,
            handle,
        })
    }

    /// Splits an OpenAI-style model id: `provider/model`, a provider's name (its default
    /// model), or a model one provider serves (the default provider first).
    pub fn split_model_id(&self, id: &str, embeddings: bool) -> DomainResult<(String, String)> {
        if let Some((provider, model)) = id.split_once('/') {
            if self.entries.contains_key(provider) {
                return Ok((provider.to_string(), model.to_string()));
            }
        }
        let models = |entry: &Entry| {
            if embeddings {
                entry.embedder.as_ref().map(|e| e.models())
            } else {
                entry.generator.as_ref().map(|g| g.models())
            }
        };
        if let Some(entry) = self.entries.get(id) {
            if let Some(first) = models(entry).and_then(|m| m.into_iter().next()) {
                return Ok((id.to_string(), first));
            }
        }
        let default = if embeddings {
            &self.default_embedder
        } else {
            &self.default_generator
        };
        let ordered = self
            .entries
            .iter()
            .filter(|(name, _)| *name == default)
            .chain(self.entries.iter().filter(|(name, _)| *name != default));
        for (name, entry) in ordered {
            if models(entry).is_some_and(|m| m.iter().any(|m| m == id)) {
                return Ok((name.clone(), id.to_string()));
            }
        }
        Err(DomainError::NotFound(format!("model '{id}'")))
    }

    fn entry(&self, name: &str) -> DomainResult<&Entry> {
        self.entries
            .get(name)
            .ok_or_else(|| DomainError::NotFound(format!("provider '{name}'")))
    }
}

fn not_served(provider: &str, what: &str) -> DomainError {
    DomainError::invalid(
        "provider",
        format!("provider '{provider}' does not serve {what}"),
    )
}

fn pick_model(provider: &str, models: Vec<String>, wanted: Option<&str>) -> DomainResult<String> {
    match wanted {
        None => models.into_iter().next().ok_or_else(|| {
            DomainError::Unavailable(format!("provider '{provider}' lists no models"))
        }),
        Some(model) if models.iter().any(|m| m == model) => Ok(model.to_string()),
        Some(model) => Err(DomainError::NotFound(format!(
            "model '{model}' of provider '{provider}' (it serves: {})",
            models.join(", ")
        ))),
    }
}

fn is_provider_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn build(name: &str, config: &ProviderConfig, data_dir: &Path) -> anyhow::Result<Entry> {
    match config.kind {
        ProviderKind::Builtin => {
            anyhow::bail!("provider {name}: `builtin` is always present; configure another name")
        }
        ProviderKind::Local => {
            let provider = Arc::new(Local::load(local::Settings {
                name: name.to_string(),
                model_dir: config
                    .model_dir
                    .clone()
                    .unwrap_or_else(|| data_dir.join("models")),
                chat_models: config.models.clone(),
                embedding_models: config.embedding_models.clone(),
                threads: config.threads.unwrap_or_else(local::default_threads),
                max_streams: config.max_streams.unwrap_or(8),
                queue: 64,
            })?);
            Ok(Entry {
                kind: ProviderKind::Local,
                probe: provider.clone(),
                generator: provider
                    .serves_chat()
                    .then(|| provider.clone() as Arc<dyn LanguageModel>),
                embedder: provider
                    .serves_embeddings()
                    .then_some(provider as Arc<dyn Embedder>),
            })
        }
        ProviderKind::Openai => {
            let base_url = config.base_url.clone().ok_or_else(|| {
                anyhow::anyhow!(
                    "provider {name}: base_url is required (e.g. http://127.0.0.1:11434/v1)"
                )
            })?;
            if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
                anyhow::bail!("provider {name}: base_url must start with http:// or https://");
            }
            let api_key = match &config.api_key_env {
                Some(var) => Some(std::env::var(var).map_err(|_| {
                    anyhow::anyhow!("provider {name}: api_key_env names {var}, which is not set")
                })?),
                None => None,
            };
            if config.models.is_empty() && config.embedding_models.is_empty() {
                anyhow::bail!("provider {name}: list its models (models = [...] for chat, embedding_models = [...] for embeddings)");
            }
            let provider = Arc::new(OpenAiCompatible::new(openai::Settings {
                name: name.to_string(),
                base_url,
                api_key,
                chat_models: config.models.clone(),
                embedding_models: config.embedding_models.clone(),
                timeout: Duration::from_secs(config.timeout_secs.max(1)),
                max_retries: config.max_retries,
            })?);
            Ok(Entry {
                kind: ProviderKind::Openai,
                probe: provider.clone(),
                generator: (!config.models.is_empty())
                    .then(|| provider.clone() as Arc<dyn LanguageModel>),
                embedder: (!config.embedding_models.is_empty())
                    .then_some(provider as Arc<dyn Embedder>),
            })
        }
    }
}
