use axum::extract::State;
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::{Authed, Body, Error, OpenAiError};
use crate::domain::identity::Principal;
use crate::error::DomainError;
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct EmbeddingRequest {
    #[schema(schema_with = input_schema)]
    input: Input,
    /// `provider/model`, a provider's name, or a model one provider serves.
    #[schema(example = "builtin")]
    model: String,
    #[schema(value_type = Option<EncodingFormat>, example = "float")]
    encoding_format: Option<String>,
    /// Keep at most the first N components (re-normalised); shorter vectors come whole.
    #[serde(default, deserialize_with = "crate::http::json_int::optional_integer")]
    #[schema(value_type = Option<i64>, example = 128, minimum = 1)]
    dimensions: Option<i64>,
    /// Orrery: the provider, when `model` does not name it.
    #[schema(example = "builtin")]
    provider: Option<String>,
}

string_enum!(
    /// `float` (the default) or `base64` (little-endian f32).
    EncodingFormat { Float = "float", Base64 = "base64" }
);

fn embedding_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(json!({
        "description": "Floats, or with `encoding_format: base64` a base64 string of little-endian f32.",
        "oneOf": [
            {"type": "array", "items": {"type": "number"}},
            {"type": "string", "format": "byte"}
        ],
        "example": [0.0132, -0.0871, 0.0405]
    }))
}

/// The defaults of `ai.max_embedding_inputs` and `ai.max_embedding_chars`.
fn input_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    let text = json!({"type": "string", "minLength": 1, "maxLength": 32768});
    crate::rest::shared::schema_from_json(json!({
        "description": "A text, or up to 256 texts; each non-empty and at most 32 768 characters.",
        "oneOf": [text, {"type": "array", "minItems": 1, "maxItems": 256, "items": text}],
        "example": ["The ledger verifies its hash chain.", "Capability tokens are signed."]
    }))
}

#[derive(Deserialize)]
#[serde(untagged)]
pub enum Input {
    One(String),
    Many(Vec<String>),
    /// Token arrays are refused: token ids differ per model.
    Tokens(serde::de::IgnoredAny),
}

#[derive(Serialize, ToSchema)]
pub struct EmbeddingList {
    #[schema(example = "list")]
    object: &'static str,
    data: Vec<EmbeddingItem>,
    #[schema(example = "builtin")]
    model: String,
    /// Orrery: the provider that embedded.
    #[schema(example = "builtin")]
    provider: String,
    usage: EmbeddingUsage,
}

#[derive(Serialize, ToSchema)]
pub struct EmbeddingItem {
    #[schema(example = "embedding")]
    object: &'static str,
    index: usize,
    #[schema(schema_with = embedding_schema)]
    embedding: Value,
}

#[derive(Serialize, ToSchema)]
pub struct EmbeddingUsage {
    /// The provider's count (0 when an upstream did not report it).
    #[schema(example = 14)]
    prompt_tokens: u32,
    #[schema(example = 14)]
    total_tokens: u32,
}

/// Embeds texts (also served at `/lukhas/v1/embeddings`).
#[utoipa::path(
    post, path = "/embeddings", tag = "embeddings",
    security(("bearer" = []), ("api_key" = [])),
    request_body = EmbeddingRequest,
    responses(
        (status = 200, description = "One vector per input, in order", body = EmbeddingList),
        (status = 400, description = "Invalid request", body = OpenAiError),
        (status = 401, description = "Missing or invalid credential", body = OpenAiError),
        (status = 403, description = "The key lacks the models:use scope", body = OpenAiError),
        (status = 404, description = "Unknown model or provider", body = OpenAiError),
        (status = 502, description = "The provider failed", body = OpenAiError),
    )
)]
pub async fn create_embedding(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    Body { 0: body, .. }: Body<EmbeddingRequest>,
) -> Result<Json<EmbeddingList>, Error> {
    Ok(Json(answer(&state, &principal, body).await?))
}

/// The OpenAI-shaped answer, for every dialect that serves embeddings (`/v1`, LUKHAS).
pub async fn answer(
    state: &AppState,
    principal: &Principal,
    body: EmbeddingRequest,
) -> Result<EmbeddingList, DomainError> {
    let texts = match body.input {
        Input::One(text) => vec![text],
        Input::Many(texts) => texts,
        Input::Tokens(_) => {
            return Err(DomainError::invalid(
                "input",
                "input must be a string or a list of strings (token arrays are not supported)",
            ))
        }
    };
    let base64 = match body.encoding_format.as_deref() {
        None | Some("float") => false,
        Some("base64") => true,
        Some(other) => {
            return Err(DomainError::invalid(
                "encoding_format",
                format!("encoding_format must be 'float' or 'base64', not '{other}'"),
            ))
        }
    };
    let (provider, model) = match body.provider {
        Some(provider) => (provider, body.model),
        None => state.ai.providers().split_model_id(&body.model, true)?,
    };
    let result = state
        .ai
        .embed(principal, Some(&provider), Some(&model), &texts)
        .await?;
    let mut data = Vec::with_capacity(texts.len());
    for (index, vector) in result.embeddings.vectors.into_iter().enumerate() {
        let vector = match body.dimensions {
            Some(n) if n < 1 => {
                return Err(DomainError::invalid(
                    "dimensions",
                    "dimensions must be at least 1",
                ))
            }
            Some(n) if (n as usize) < vector.len() => shortened(&vector, n as usize),
            _ => vector,
        };
        let embedding = if base64 {
            let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            Value::from(base64::engine::general_purpose::STANDARD.encode(bytes))
        } else {
            Value::from(vector)
        };
        data.push(EmbeddingItem {
            object: "embedding",
            index,
            embedding,
        });
    }
    let tokens = result.embeddings.input_tokens.unwrap_or(0);
    Ok(EmbeddingList {
        object: "list",
        data,
        model: result.model,
        provider: result.provider,
        usage: EmbeddingUsage {
            prompt_tokens: tokens,
            total_tokens: tokens,
        },
    })
}

/// The first `n` components, re-normalised to unit length.
fn shortened(vector: &[f32], n: usize) -> Vec<f32> {
    let mut out = vector[..n].to_vec();
    let norm = out.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        out.iter_mut().for_each(|x| *x /= norm);
    }
    out
}
