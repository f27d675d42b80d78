//! `POST /matriz/batch` (the SDK's `batch_process`): several inputs through the pipeline,
//! each answered on its own — in the document's example, `batch_response.responses[i].summary`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::budget::{charge_more, Charged};
use super::matriz::{
    asks_t4, pipeline_request, view, MatrizRoutes, PipelineContext, PipelineOptions,
    ProcessResponse,
};
use super::{error_body, Body, Error, Lukhas, LukhasError, LukhasErrorBody};
use crate::domain::cognition::matriz::MAX_BATCH;
use crate::domain::cognition::{PipelineRequest, PipelineResult};
use crate::error::DomainError;
use crate::http::dialect::Authed;
use crate::state::AppState;

/// A summary is the answer's first sentence, cut to this many characters.
const SUMMARY_CHARS: usize = 200;

fn queries_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(serde_json::json!({
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_BATCH,
        "items": {"type": "string", "maxLength": 8000, "pattern": "\\S"},
        "example": ["What is consciousness?", "How does memory work?", "Explain neuroplasticity"]
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct BatchRequest {
    /// 1 to 20 inputs; each is charged to the 60-a-minute pipeline budget.
    #[schema(schema_with = queries_schema)]
    queries: Vec<String>,
    /// The context every query runs with.
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    common_context: Option<PipelineContext>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    pipeline_options: Option<PipelineOptions>,
    /// Run up to four queries at once (default: one after another).
    #[serde(default)]
    #[schema(example = true)]
    parallel: bool,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    #[schema(value_type = Option<Object>, example = json!({"t4_compliance": true}))]
    constellation_config: Option<Value>,
}

string_enum!(
    /// How one query of a batch ended.
    BatchItemStatus { Completed = "completed", Failed = "failed" }
);

#[derive(Serialize, ToSchema)]
pub struct BatchItem {
    /// The query's position in `queries`.
    #[schema(example = 0)]
    index: usize,
    #[schema(example = "What is consciousness?")]
    query: String,
    #[schema(value_type = BatchItemStatus, example = "completed")]
    status: &'static str,
    /// The answer's first sentence (at most 200 characters), or the error's message.
    #[schema(example = "Consciousness is awareness of oneself and one's surroundings.")]
    summary: String,
    /// The whole answer, as `/matriz/process` gives it (null when the query failed).
    response: Option<ProcessResponse>,
    /// Why the query failed, in the document's error shape (null when it completed).
    error: Option<LukhasErrorBody>,
}

#[derive(Serialize, ToSchema)]
pub struct BatchResponse {
    #[schema(example = "batch_01jew8q2v7g6y5t4r3e2w1q0pz")]
    batch_id: String,
    /// One per query, in the queries' order.
    responses: Vec<BatchItem>,
    #[schema(example = 3)]
    completed: usize,
    #[schema(example = 0)]
    failed: usize,
    /// Queries that ran at once.
    #[schema(example = 3)]
    concurrency: usize,
    /// The whole batch, measured inside the server.
    #[schema(example = 61.2)]
    total_processing_time_ms: f64,
}

/// The first sentence of `text`, at most [`SUMMARY_CHARS`] characters (cut at a word).
fn summary(text: &str) -> String {
    let text = text.trim();
    let sentence = text
        .char_indices()
        .find(|&(i, c)| {
            matches!(c, '.' | '!' | '?')
                && text[i + c.len_utf8()..]
                    .chars()
                    .next()
                    .is_none_or(char::is_whitespace)
        })
        .map_or(text, |(i, c)| &text[..i + c.len_utf8()]);
    if sentence.chars().count() <= SUMMARY_CHARS {
        return sentence.to_string();
    }
    let cut: String = sentence.chars().take(SUMMARY_CHARS - 1).collect();
    let cut = cut.rsplit_once(' ').map_or(cut.as_str(), |(head, _)| head);
    format!("{}…", cut.trim_end())
}

fn item(
    index: usize,
    query: String,
    result: Result<PipelineResult, DomainError>,
    audited: bool,
) -> BatchItem {
    match result {
        Ok(done) => BatchItem {
            index,
            query,
            status: "completed",
            summary: summary(&done.response),
            response: Some(view(done, audited)),
            error: None,
        },
        Err(err) => {
            let LukhasError { error } = error_body(&err);
            BatchItem {
                index,
                query,
                status: "failed",
                summary: error.message.clone(),
                response: None,
                error: Some(error),
            }
        }
    }
}

/// Process several inputs through the MATRIZ pipeline
///
/// Each query runs the whole pipeline with the common context and options, and is charged
/// to the 60-a-minute pipeline budget. Every query is checked before any runs; after that,
/// one query's failure (e.g. `GUARDIAN_REJECTION`) is its own result, not the batch's.
/// `parallel` runs up to four at once. Same scopes as `/matriz/process`.
#[utoipa::path(
    post, path = "/matriz/batch", tag = "matriz", operation_id = "batch_process",
    security(("bearer" = []), ("api_key" = [])),
    request_body = BatchRequest,
    responses(
        (status = 200, description = "Each query's answer or error, in order", body = BatchResponse),
        (status = 400, description = "No query, more than 20, or a field out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks a scope the stages need", body = LukhasError),
        (status = 429, description = "The queries would exceed 60 pipeline requests in a minute", body = LukhasError),
    )
)]
pub async fn batch(
    State(state): State<AppState>,
    _: Charged<MatrizRoutes>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<BatchRequest>,
) -> Result<Json<BatchResponse>, Error> {
    let audited = asks_t4(&body.constellation_config);
    let common = pipeline_request(String::new(), body.common_context, body.pipeline_options);
    let requests: Vec<PipelineRequest> = body
        .queries
        .iter()
        .map(|query| PipelineRequest {
            input: query.clone(),
            ..common.clone()
        })
        .collect();
    if (1..=MAX_BATCH).contains(&requests.len()) {
        // The first query was charged with the request.
        charge_more::<MatrizRoutes>(&state, &principal, requests.len() as u32 - 1).await?;
    }
    let outcome = state
        .matriz
        .process_batch(&principal, requests, body.parallel)
        .await?;
    let responses: Vec<BatchItem> = body
        .queries
        .into_iter()
        .zip(outcome.results)
        .enumerate()
        .map(|(index, (query, result))| item(index, query, result, audited))
        .collect();
    let completed = responses.iter().filter(|r| r.status == "completed").count();
    Ok(Json(BatchResponse {
        batch_id: outcome.batch_id,
        failed: responses.len() - completed,
        completed,
        concurrency: outcome.concurrency,
        total_processing_time_ms: outcome.duration_ms,
        responses,
    }))
}

#[cfg(test)]
mod tests {
    use super::summary;

    #[test]
    fn a_summary_is_the_first_sentence_cut_at_a_word() {
        assert_eq!(
            summary("Memory stores traces. Recall rebuilds them."),
            "Memory stores traces."
        );
        assert_eq!(summary("Version 1.5 is out"), "Version 1.5 is out");
        let long = format!("{} end.", "word ".repeat(60));
        let cut = summary(&long);
        assert!(
            cut.chars().count() <= 200 && cut.ends_with("word…"),
            "{cut}"
        );
    }
}
