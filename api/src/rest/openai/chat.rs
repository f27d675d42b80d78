use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{Authed, Body, Error, OpenAiError};
use crate::domain::ai::ChatCall;
use crate::error::DomainError;
use crate::providers::{ChatMessage, ChatRole, GenerationOptions, JsonSchemaFormat, StreamItem};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct ChatCompletionRequest {
    /// `provider/model`, a provider's name, or a model one provider serves.
    #[schema(example = "builtin")]
    model: String,
    #[schema(min_items = 1, max_items = 512)]
    messages: Vec<RequestMessage>,
    /// 0 is greedy decoding; up to 2.
    #[schema(example = 0.2, minimum = 0, maximum = 2)]
    temperature: Option<f32>,
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<u32>, example = 256, minimum = 1, maximum = 32768)]
    max_tokens: Option<i64>,
    /// The newer name of `max_tokens`; wins when both are sent.
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<u32>, example = 256, minimum = 1, maximum = 32768)]
    max_completion_tokens: Option<i64>,
    #[schema(schema_with = stop_schema)]
    stop: Option<Stop>,
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<i64>, example = 7, minimum = 0)]
    seed: Option<i64>,
    /// Answer as server-sent events (`data: {chunk}` … `data: [DONE]`).
    #[serde(default)]
    stream: bool,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    stream_options: Option<StreamOptions>,
    response_format: Option<ResponseFormat>,
    /// Only 1 is supported.
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<u32>, example = 1, minimum = 1, maximum = 1)]
    n: Option<i64>,
    /// Tool calling is not supported: only an empty list is accepted.
    #[schema(value_type = Option<Vec<Object>>, max_items = 0)]
    tools: Option<Vec<Value>>,
    /// Orrery: the provider, when `model` does not name it.
    #[schema(example = "builtin")]
    provider: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

fn stop_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(json!({
        "description": "One stop sequence, or up to four.",
        "oneOf": [
            {"type": "null"},
            {"type": "string", "example": "\n\n"},
            {"type": "array", "maxItems": 4, "items": {"type": "string"}, "example": ["\n\n", "END"]}
        ]
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct StreamOptions {
    /// Send a last chunk with the usage (`choices: []`).
    #[serde(default)]
    include_usage: bool,
}

#[derive(Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaSpec },
}

#[derive(Deserialize, ToSchema)]
pub struct JsonSchemaSpec {
    #[schema(example = "verdict")]
    name: String,
    /// A JSON schema using only the keywords Orrery checks (listed here); output is
    /// validated against it. Nested schemas follow the same rules.
    #[schema(schema_with = supported_json_schema)]
    schema: Value,
    /// Always enforced: output that does not validate is never returned.
    strict: Option<bool>,
}

string_enum!(
    /// Who speaks: `developer` is read as `system`.
    MessageRole { System = "system", Developer = "developer", User = "user", Assistant = "assistant" }
);

string_enum!(
    /// The only content part kind supported.
    PartKind { Text = "text" }
);

#[derive(Deserialize, ToSchema)]
pub struct RequestMessage {
    #[schema(value_type = MessageRole, example = "user")]
    role: String,
    content: Option<Content>,
}

/// Text, or a list of text parts.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Content {
    #[schema(example = "Summarise the ledger's last hour in one line.")]
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize, ToSchema)]
pub struct Part {
    #[serde(rename = "type")]
    #[schema(value_type = PartKind, example = "text")]
    kind: String,
    #[schema(example = "Summarise the ledger's last hour in one line.")]
    text: String,
}

/// The document's description of [`JsonSchemaSpec::schema`]: the supported keywords with
/// the values each takes (nested schemas are objects following the same rules).
fn supported_json_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let types = json!(["string", "number", "integer", "boolean", "object", "array", "null"]);
    let schema = json!({"type": "object"});
    let schemas = json!({"type": "object", "additionalProperties": schema});
    let count = json!({"type": "integer", "minimum": 0});
    let text = json!({"type": "string"});
    crate::rest::shared::schema_from_json(json!({
        "type": "object",
        "propertyNames": {"type": "string", "enum": crate::providers::structured::keywords()},
        "properties": {
            "type": {"oneOf": [{"type": "string", "enum": types}, {"type": "array", "items": {"type": "string", "enum": types}}]},
            "properties": schemas, "$defs": schemas, "definitions": schemas,
            "required": {"type": "array", "items": text},
            "additionalProperties": {"oneOf": [{"type": "boolean"}, schema]},
            "items": schema,
            "anyOf": {"type": "array", "items": schema},
            "enum": {"type": "array"},
            "minItems": count, "maxItems": count, "minLength": count, "maxLength": count,
            "minimum": {"type": "number"}, "maximum": {"type": "number"},
            "$ref": {"type": "string", "pattern": "^#/(\\$defs|definitions)/"},
            "title": text, "description": text, "$schema": text, "$id": text,
            "examples": {"type": "array"}
        },
        "example": {"type": "object", "required": ["verdict"], "properties": {"verdict": {"type": "string", "enum": ["allow", "deny"]}}}
    }))
}

fn to_messages(messages: Vec<RequestMessage>) -> Result<Vec<ChatMessage>, DomainError> {
    messages
        .into_iter()
        .enumerate()
        .map(|(i, message)| {
            let role = match message.role.as_str() {
                "system" | "developer" => ChatRole::System,
                "user" => ChatRole::User,
                "assistant" => ChatRole::Assistant,
                other => {
                    return Err(DomainError::invalid(
                        format!("messages[{i}].role"),
                        format!(
                            "role '{other}' is not supported (system, developer, user, assistant)"
                        ),
                    ))
                }
            };
            let content = match message.content {
                None => String::new(),
                Some(Content::Text(text)) => text,
                Some(Content::Parts(parts)) => {
                    let mut text = String::new();
                    for part in parts {
                        match part.kind.as_str() {
                            "text" => text.push_str(&part.text),
                            kind => {
                                return Err(DomainError::invalid(
                                    format!("messages[{i}].content"),
                                    format!(
                                    "content parts of type '{kind}' are not supported (text only)"
                                ),
                                ))
                            }
                        }
                    }
                    text
                }
            };
            Ok(ChatMessage::new(role, content))
        })
        .collect()
}

fn to_call(state: &AppState, body: ChatCompletionRequest) -> Result<(ChatCall, bool), DomainError> {
    if body.n.is_some_and(|n| n != 1) {
        return Err(DomainError::invalid("n", "only n = 1 is supported"));
    }
    if body.tools.as_ref().is_some_and(|t| !t.is_empty()) {
        return Err(DomainError::invalid(
            "tools",
            "tool calling is not supported",
        ));
    }
    let (provider, model) = match body.provider {
        Some(provider) => (provider, body.model),
        None => state.ai.providers().split_model_id(&body.model, false)?,
    };
    for (field, value) in [
        ("max_tokens", body.max_tokens),
        ("max_completion_tokens", body.max_completion_tokens),
    ] {
        if value.is_some_and(|n| !(1..=32_768).contains(&n)) {
            return Err(DomainError::invalid(
                field,
                format!("{field} must be between 1 and 32768"),
            ));
        }
    }
    let mut options = GenerationOptions {
        temperature: body.temperature,
        // Out of range becomes 0, which the domain refuses with the allowed range.
        max_tokens: body
            .max_completion_tokens
            .or(body.max_tokens)
            .map(|n| u32::try_from(n).unwrap_or(0)),
        stop: match body.stop {
            None => vec![],
            Some(Stop::One(s)) => vec![s],
            Some(Stop::Many(v)) => v,
        },
        seed: match body.seed {
            Some(seed) if seed < 0 => {
                return Err(DomainError::invalid("seed", "seed must not be negative"))
            }
            seed => seed.map(|s| s as u64),
        },
        ..Default::default()
    };
    match body.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => options.json_object = true,
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let _ = json_schema.strict;
            options.json_schema = Some(JsonSchemaFormat {
                name: json_schema.name,
                schema: json_schema.schema,
            });
        }
    }
    let include_usage = body.stream_options.is_some_and(|o| o.include_usage);
    Ok((
        ChatCall {
            provider: Some(provider),
            model: Some(model),
            messages: to_messages(body.messages)?,
            options,
        },
        include_usage,
    ))
}

#[derive(Serialize, ToSchema)]
pub struct ChatCompletion {
    #[schema(example = "chatcmpl-5d2c1a9e7b3f4e6a8c0d2f4b6a8c0e1f")]
    id: String,
    #[schema(example = "chat.completion")]
    object: &'static str,
    #[schema(example = 1764600000)]
    created: i64,
    /// The model that answered (`builtin` for the builtin provider).
    #[schema(example = "builtin")]
    model: String,
    /// Orrery: the provider that answered.
    #[schema(example = "builtin")]
    provider: String,
    choices: Vec<Choice>,
    /// The provider's own counts; absent when an upstream server did not report them.
    usage: Option<CompletionUsage>,
}

#[derive(Serialize, ToSchema)]
pub struct Choice {
    index: u32,
    message: AssistantMessage,
    /// `stop` or `length`.
    #[schema(example = "stop")]
    finish_reason: &'static str,
    #[schema(value_type = Option<Object>)]
    logprobs: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct AssistantMessage {
    #[schema(example = "assistant")]
    role: &'static str,
    #[schema(
        example = "[builtin] No language model is configured, so this reply is a template, not an answer."
    )]
    content: String,
}

/// One server-sent event of a streamed completion.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ChatStreamEvent {
    #[schema(schema_with = event_data)]
    data: String,
    /// Absent (a plain `message` event).
    #[schema(example = "message")]
    event: Option<String>,
}

fn event_data() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(json!({
        "type": "string",
        "description": "JSON: a `chat.completion.chunk`, or an error that happened after the stream began; then the text `[DONE]`.",
        "contentMediaType": "application/json",
        "contentSchema": {"$ref": "#/components/schemas/ChunkEvent"},
        "example": "{\"id\":\"chatcmpl-5d2c\",\"object\":\"chat.completion.chunk\",\"created\":1764600000,\"model\":\"builtin\",\"provider\":\"builtin\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" chain\"},\"finish_reason\":null}]}"
    }))
}

/// The `data` of one streamed event: a chunk, the closing `[DONE]`, or an error that
/// happened after the stream began.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
pub enum ChunkEvent {
    Chunk(ChatCompletionChunk),
    #[schema(value_type = DoneMarker)]
    Done(String),
    Error(OpenAiError),
}

string_enum!(
    /// The last event of a stream.
    DoneMarker { Done = "[DONE]" }
);

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ChatCompletionChunk {
    #[schema(example = "chatcmpl-5d2c1a9e7b3f4e6a8c0d2f4b6a8c0e1f")]
    id: String,
    #[schema(example = "chat.completion.chunk")]
    object: String,
    #[schema(example = 1764600000)]
    created: i64,
    #[schema(example = "builtin")]
    model: String,
    #[schema(example = "builtin")]
    provider: String,
    /// Empty in the usage chunk.
    choices: Vec<ChunkChoice>,
    /// With `stream_options.include_usage`: `null` on every chunk but the last.
    usage: Option<CompletionUsage>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ChunkChoice {
    index: u32,
    delta: ChunkDelta,
    /// `stop` or `length` on the last content chunk, else `null`.
    #[schema(example = "stop")]
    finish_reason: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ChunkDelta {
    /// `assistant`, on the first chunk only.
    #[schema(example = "assistant")]
    role: Option<String>,
    #[schema(example = " chain")]
    content: Option<String>,
}

#[derive(Serialize, ToSchema, Clone, Copy)]
pub struct CompletionUsage {
    #[schema(example = 12)]
    prompt_tokens: u32,
    #[schema(example = 24)]
    completion_tokens: u32,
    #[schema(example = 36)]
    total_tokens: u32,
}

impl From<crate::providers::Usage> for CompletionUsage {
    fn from(usage: crate::providers::Usage) -> Self {
        Self {
            prompt_tokens: usage.input_tokens,
            completion_tokens: usage.output_tokens,
            total_tokens: usage.input_tokens + usage.output_tokens,
        }
    }
}

/// Generates a reply. With `stream: true` the answer is a `text/event-stream` of
/// `chat.completion.chunk` objects ending in `data: [DONE]`; closing the connection stops
/// the generation.
#[utoipa::path(
    post, path = "/chat/completions", tag = "chat",
    security(("bearer" = []), ("api_key" = [])),
    request_body(content = ChatCompletionRequest, example = json!({
        "model": "builtin",
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "Summarise the ledger's last hour in one line."}
        ],
        "temperature": 0,
        "max_tokens": 64
    })),
    responses(
        (status = 200, description = "The completion (or, with `stream: true`, server-sent `chat.completion.chunk` events ending in `data: [DONE]`)", content(
            (ChatCompletion = "application/json"),
            (ChatStreamEvent = "text/event-stream", example = "data: {\"id\":\"chatcmpl-5d2c\",\"object\":\"chat.completion.chunk\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello\"},\"finish_reason\":null}]}\n\ndata: [DONE]\n\n"),
        )),
        (status = 400, description = "Invalid request", body = OpenAiError),
        (status = 401, description = "Missing or invalid credential", body = OpenAiError),
        (status = 403, description = "The key lacks the models:use scope", body = OpenAiError),
        (status = 404, description = "Unknown model or provider", body = OpenAiError),
        (status = 422, description = "No output of the model validated against the schema, after one repair", body = OpenAiError),
        (status = 502, description = "The provider failed", body = OpenAiError),
    )
)]
pub async fn create_chat_completion(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    Body { 0: body, .. }: Body<ChatCompletionRequest>,
) -> Result<Response, Error> {
    let stream_requested = body.stream;
    let (call, include_usage) = to_call(&state, body)?;
    let run = state.ai.chat(&principal, call).await?;
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = chrono::Utc::now().timestamp();
    if !stream_requested {
        let completion = crate::providers::collect(run.stream).await?;
        return Ok(Json(ChatCompletion {
            id,
            object: "chat.completion",
            created,
            model: run.model,
            provider: run.provider,
            choices: vec![Choice {
                index: 0,
                message: AssistantMessage {
                    role: "assistant",
                    content: completion.text,
                },
                finish_reason: completion.reason.as_str(),
                logprobs: None,
            }],
            usage: completion.usage.map(Into::into),
        })
        .into_response());
    }
    let chunk = move |choices: Value, usage: Option<Value>| {
        let mut chunk = json!({
            "id": id, "object": "chat.completion.chunk", "created": created,
            "model": run.model, "provider": run.provider, "choices": choices,
        });
        if include_usage {
            chunk["usage"] = usage.unwrap_or(Value::Null);
        }
        Event::default().data(chunk.to_string())
    };
    let first = chunk(
        json!([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]),
        None,
    );
    let mut finished = false;
    let events = run.stream.flat_map(move |item| {
        let events: Vec<Event> = match item {
            _ if finished => vec![],
            Ok(StreamItem::Delta(text)) => vec![chunk(
                json!([{"index": 0, "delta": {"content": text}, "finish_reason": null}]),
                None,
            )],
            Ok(StreamItem::Finished { reason, usage }) => {
                finished = true;
                let mut events = vec![chunk(
                    json!([{"index": 0, "delta": {}, "finish_reason": reason.as_str()}]),
                    None,
                )];
                if include_usage {
                    let usage = usage.map(|u| json!(CompletionUsage::from(u)));
                    events.push(chunk(json!([]), usage));
                }
                events.push(Event::default().data("[DONE]"));
                events
            }
            Err(err) => {
                finished = true;
                // The status line has gone out already: the error travels as an event.
                let body = serde_json::to_string(&OpenAiError::of(&err.logged()))
                    .expect("error bodies serialize");
                vec![Event::default().data(body)]
            }
        };
        futures::stream::iter(events.into_iter().map(Ok::<_, Infallible>))
    });
    let events = futures::stream::once(async move { Ok(first) }).chain(events);
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
