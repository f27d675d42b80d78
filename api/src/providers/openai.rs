//! The `openai` provider: any server speaking OpenAI's `/v1/chat/completions` (streamed over
//! SSE) and `/v1/embeddings` — Ollama, vLLM, llama.cpp's server, OpenAI, another Orrery.
//! Responses are read leniently (servers deviate: `finish_reason: ""`, no usage, no
//! `[DONE]`), 429 and 5xx are retried with backoff before the stream starts, and a stalled
//! stream times out.

use std::time::Duration;

use async_trait::async_trait;
use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{
    ChatMessage, Embedder, Embeddings, FinishReason, GenerationOptions, LanguageModel, StreamItem,
    TokenStream, Usage,
};
use crate::error::{DomainError, DomainResult};

pub struct OpenAiCompatible {
    pub name: String,
    base_url: String,
    api_key: Option<String>,
    chat_models: Vec<String>,
    embedding_models: Vec<String>,
    max_retries: u32,
    client: reqwest::Client,
}

pub struct Settings {
    pub name: String,
    pub base_url: String,
    pub api_key: Option<String>,
    pub chat_models: Vec<String>,
    pub embedding_models: Vec<String>,
    /// Longest wait for a response to begin, and between two pieces of a stream.
    pub timeout: Duration,
    pub max_retries: u32,
}

impl OpenAiCompatible {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10).min(settings.timeout))
            .read_timeout(settings.timeout)
            .build()?;
        Ok(Self {
            name: settings.name,
            base_url: settings.base_url.trim_end_matches('/').to_string(),
            api_key: settings.api_key,
            chat_models: settings.chat_models,
            embedding_models: settings.embedding_models,
            max_retries: settings.max_retries,
            client,
        })
    }

    fn upstream(&self, message: impl std::fmt::Display) -> DomainError {
        DomainError::Upstream(format!("provider {}: {message}", self.name))
    }

    /// POSTs `body`, retrying 429/5xx and connection failures with exponential backoff (or
    /// the server's `Retry-After`).
    async fn post(&self, path: &str, body: &Value) -> DomainResult<reqwest::Response> {
        let url = format!("{}{path}", self.base_url);
        let mut attempt = 0;
        loop {
            let mut request = self.client.post(&url).json(body);
            if let Some(key) = &self.api_key {
                request = request.bearer_auth(key);
            }
            let outcome = request.send().await;
            let retry_after = match &outcome {
                Ok(response) if response.status().is_success() => {
                    return Ok(outcome.expect("matched Ok"))
                }
                Ok(response) if response.status() == 429 || response.status().is_server_error() => {
                    Some(
                        response
                            .headers()
                            .get("retry-after")
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.trim().parse::<f64>().ok())
                            .map(|s| Duration::from_secs_f64(s.clamp(0.0, 30.0))),
                    )
                }
                Ok(_) => None,
                Err(err) if err.is_connect() || err.is_timeout() => Some(None),
                Err(_) => None,
            };
            match retry_after {
                Some(wait) if attempt < self.max_retries => {
                    let backoff = Duration::from_millis(250 << attempt.min(6));
                    let jitter = Duration::from_millis(rand::random::<u64>() % 100);
                    tokio::time::sleep(wait.unwrap_or(backoff + jitter)).await;
                    attempt += 1;
                }
                _ => {
                    return Err(match outcome {
                        Ok(response) => {
                            let status = response.status();
                            let text = response.text().await.unwrap_or_default();
                            self.upstream(format!(
                                "{url} answered {status}: {}",
                                error_message(&text)
                            ))
                        }
                        Err(err) => {
                            self.upstream(format!("cannot reach {url}: {}", root_cause(&err)))
                        }
                    })
                }
            }
        }
    }
}

/// The `error.message` of an OpenAI-style error body, else the start of the body.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            v["error"]["message"]
                .as_str()
                .or(v["error"].as_str())
                .or(v["message"].as_str())
                .map(str::to_string)
        })
        .unwrap_or_else(|| body.chars().take(200).collect())
}

fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Chunk {
    choices: Vec<ChunkChoice>,
    usage: Option<ChunkUsage>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct ChunkChoice {
    delta: Option<Delta>,
    /// Some servers send `""` until the end.
    finish_reason: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Delta {
    content: Option<String>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(default)]
struct ChunkUsage {
    prompt_tokens: u32,
    completion_tokens: u32,
}

struct StreamState<S> {
    events: S,
    finish: Option<FinishReason>,
    usage: Option<Usage>,
    done: bool,
}

fn finish_reason(raw: &str) -> Option<FinishReason> {
    match raw {
        "" => None,
        "length" => Some(FinishReason::Length),
        _ => Some(FinishReason::Stop),
    }
}

/// Turns the server's SSE into stream items: deltas as they arrive, then one `Finished`
/// with the reported usage when `[DONE]` (or the end of a stream that said it finished)
/// arrives.
fn items<S, E>(events: S, name: String) -> impl Stream<Item = DomainResult<StreamItem>>
where
    S: Stream<Item = Result<eventsource_stream::Event, E>> + Unpin + Send,
    E: std::fmt::Display,
{
    let state = StreamState {
        events,
        finish: None,
        usage: None,
        done: false,
    };
    futures::stream::unfold(state, move |mut state| {
        let name = name.clone();
        async move {
            loop {
                if state.done {
                    return None;
                }
                let finished = |state: &mut StreamState<S>| {
                    state.done = true;
                    Some(StreamItem::Finished {
                        reason: state.finish.unwrap_or(FinishReason::Stop),
                        usage: state.usage,
                    })
                };
                let event = match state.events.next().await {
                    Some(Ok(event)) => event,
                    Some(Err(err)) => {
                        state.done = true;
                        return Some((
                            Err(DomainError::Upstream(format!(
                                "provider {name}: stream broke: {err}"
                            ))),
                            state,
                        ));
                    }
                    None if state.finish.is_some() => {
                        let item = finished(&mut state)?;
                        return Some((Ok(item), state));
                    }
                    None => {
                        state.done = true;
                        return Some((
                            Err(DomainError::Upstream(format!(
                                "provider {name}: the stream ended before the answer finished"
                            ))),
                            state,
                        ));
                    }
                };
                let data = event.data.trim();
                if data == "[DONE]" {
                    let item = finished(&mut state)?;
                    return Some((Ok(item), state));
                }
                if data.is_empty() {
                    continue;
                }
                let Ok(chunk) = serde_json::from_str::<Chunk>(data) else {
                    continue;
                };
                if let Some(usage) = chunk.usage {
                    state.usage = Some(Usage {
                        input_tokens: usage.prompt_tokens,
                        output_tokens: usage.completion_tokens,
                    });
                }
                let mut text = String::new();
                for choice in chunk.choices {
                    if let Some(reason) = choice.finish_reason.as_deref().and_then(finish_reason) {
                        state.finish = Some(reason);
                    }
                    if let Some(content) = choice.delta.and_then(|d| d.content) {
                        text.push_str(&content);
                    }
                }
                if !text.is_empty() {
                    return Some((Ok(StreamItem::Delta(text)), state));
                }
            }
        }
    })
}

#[async_trait]
impl LanguageModel for OpenAiCompatible {
    fn models(&self) -> Vec<String> {
        self.chat_models.clone()
    }

    async fn stream(
        &self,
        model: &str,
        messages: &[ChatMessage],
        options: &GenerationOptions,
    ) -> DomainResult<TokenStream> {
        let mut body = json!({
            "model": model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if let Some(t) = options.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(max) = options.max_tokens {
            body["max_tokens"] = json!(max);
        }
        if !options.stop.is_empty() {
            body["stop"] = json!(options.stop);
        }
        if let Some(seed) = options.seed {
            body["seed"] = json!(seed);
        }
        if let Some(format) = &options.json_schema {
            body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": format.name, "schema": format.schema, "strict": true}});
        } else if options.json_object {
            body["response_format"] = json!({"type": "json_object"});
        }
        let response = self.post("/chat/completions", &body).await?;
        let events = response.bytes_stream().eventsource();
        Ok(Box::pin(items(events, self.name.clone())))
    }
}

#[derive(Deserialize)]
struct EmbeddingResponse {
    data: Vec<EmbeddingItem>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: usize,
    embedding: Vec<f32>,
}

#[async_trait]
impl Embedder for OpenAiCompatible {
    fn models(&self) -> Vec<String> {
        self.embedding_models.clone()
    }

    async fn embed(&self, model: &str, texts: &[String]) -> DomainResult<Embeddings> {
        let body = json!({"model": model, "input": texts, "encoding_format": "float"});
        let response = self.post("/embeddings", &body).await?;
        let parsed: EmbeddingResponse = response
            .json()
            .await
            .map_err(|e| self.upstream(format!("unreadable embeddings: {e}")))?;
        let mut data = parsed.data;
        data.sort_by_key(|item| item.index);
        if data.len() != texts.len() {
            return Err(self.upstream(format!(
                "asked for {} embeddings, got {}",
                texts.len(),
                data.len()
            )));
        }
        Ok(Embeddings {
            vectors: data.into_iter().map(|item| item.embedding).collect(),
            input_tokens: parsed.usage.map(|u| u.prompt_tokens),
        })
    }
}

#[async_trait]
impl super::Probe for OpenAiCompatible {
    /// `GET /models`: reachable, authorised, answering.
    async fn probe(&self) -> DomainResult<()> {
        let url = format!("{}/models", self.base_url);
        let mut request = self.client.get(&url);
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let response = request
            .send()
            .await
            .map_err(|e| self.upstream(format!("cannot reach {url}: {}", root_cause(&e))))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(self.upstream(format!("{url} answered {}", response.status())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(data: &str) -> Result<eventsource_stream::Event, std::convert::Infallible> {
        Ok(eventsource_stream::Event {
            data: data.into(),
            ..Default::default()
        })
    }

    #[tokio::test]
    async fn lenient_chunks_become_deltas_then_one_finish() {
        let events = futures::stream::iter(vec![
            event(r#"{"choices":[{"delta":{"role":"assistant"},"finish_reason":""}]}"#),
            event(r#"{"choices":[{"delta":{"content":"Hel"},"finish_reason":null}]}"#),
            event(r#"{"choices":[{"delta":{"content":"lo"},"finish_reason":"length"}]}"#),
            event("not json at all"),
            event(r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}"#),
            event("[DONE]"),
            event(r#"{"choices":[{"delta":{"content":"after done"}}]}"#),
        ]);
        let got: Vec<_> = items(events, "t".into())
            .map(Result::unwrap)
            .collect()
            .await;
        assert_eq!(
            got,
            vec![
                StreamItem::Delta("Hel".into()),
                StreamItem::Delta("lo".into()),
                StreamItem::Finished {
                    reason: FinishReason::Length,
                    usage: Some(Usage {
                        input_tokens: 5,
                        output_tokens: 2
                    })
                },
            ]
        );
    }

    #[tokio::test]
    async fn a_stream_cut_short_is_an_error() {
        let events =
            futures::stream::iter(vec![event(r#"{"choices":[{"delta":{"content":"Hel"}}]}"#)]);
        let got: Vec<_> = items(events, "t".into()).collect().await;
        assert!(matches!(got.last(), Some(Err(DomainError::Upstream(_)))));
    }
}
