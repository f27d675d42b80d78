//! `POST /matriz/stream`: the MATRIZ pipeline as server-sent events — each stage as it
//! finishes, then (once the guardian approved the answer) `metadata` and the answer in
//! `content` pieces, then `complete`; or one `error` in the document's envelope. The
//! answer is never shown before the guardian passed it. Leaving the stream cancels the run
//! (a fold being stored is still stored whole).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Serialize;
use tokio::sync::mpsc;
use utoipa::ToSchema;

use super::budget::Charged;
use super::matriz::{pipeline_request, MatrizRoutes, ProcessRequest};
use super::{error_body, Body, Error, Lukhas, LukhasError, LukhasErrorBody};
use crate::domain::cognition::matriz::{StageTrace, StreamUpdate};
use crate::domain::cognition::PipelineResult;
use crate::error::DomainResult;
use crate::http::dialect::Authed;
use crate::http::request_id;
use crate::state::AppState;

string_enum!(
    /// The `stage` event's name.
    PipelineStageType { Stage = "stage" }
);
string_enum!(
    /// The `metadata` event's name.
    PipelineMetadataType { Metadata = "metadata" }
);
string_enum!(
    /// The `content` event's name.
    PipelineContentType { Content = "content" }
);
string_enum!(
    /// The `complete` event's name.
    PipelineCompleteType { Complete = "complete" }
);
string_enum!(
    /// The `error` event's name.
    PipelineErrorType { Error = "error" }
);

/// `stage`: a stage finished (the same step the response's trace lists).
#[derive(Serialize, ToSchema)]
pub struct PipelineStageEvent {
    #[schema(value_type = PipelineStageType, example = "stage")]
    r#type: &'static str,
    #[schema(example = "interaction_01jew8q2v7g6y5t4r3e2w1q0pz")]
    interaction_id: String,
    #[schema(example = "attention")]
    stage: &'static str,
    #[schema(example = "Focused on consciousness, explain (2 terms)")]
    step: String,
    #[schema(example = 0.72)]
    confidence: f64,
    #[schema(example = 0.4)]
    processing_time_ms: f64,
}

/// `metadata`: the guardian approved the answer; what made it.
#[derive(Serialize, ToSchema)]
pub struct PipelineMetadataEvent {
    #[schema(value_type = PipelineMetadataType, example = "metadata")]
    r#type: &'static str,
    /// The stages that ran so far (the SDK example's `chunk.modules`).
    #[schema(example = json!(["memory", "attention", "thought", "risk"]))]
    modules: Vec<&'static str>,
    /// The memories the answer drew on.
    #[schema(example = json!(["mem_2026_12_06_01m95dp3xv6csc1ze0ejn3ft3"]))]
    memories_used: Vec<String>,
    #[schema(example = "builtin")]
    provider: String,
    #[schema(example = "builtin")]
    model: String,
}

/// `content`: a piece of the answer, in the pieces the model produced it in.
#[derive(Serialize, ToSchema)]
pub struct PipelineContentEvent {
    #[schema(value_type = PipelineContentType, example = "content")]
    r#type: &'static str,
    #[schema(example = "Consciousness is")]
    text: String,
}

/// `complete`: the answer is stored; the stream ends.
#[derive(Serialize, ToSchema)]
pub struct PipelineCompleteEvent {
    #[schema(value_type = PipelineCompleteType, example = "complete")]
    r#type: &'static str,
    #[schema(example = "interaction_01jew8q2v7g6y5t4r3e2w1q0pz")]
    interaction_id: String,
    /// Measured inside the server, all six stages.
    #[schema(example = 23.5)]
    processing_time_ms: f64,
    #[schema(example = 0.82)]
    confidence: f64,
    #[schema(example = "mem_2026_12_06_01m95dp3xvebwpjhjkga7zkym")]
    memory_fold_created: String,
    #[schema(example = json!(["memory", "attention", "thought", "risk", "intent", "action"]))]
    pipeline_stages_used: Vec<&'static str>,
}

/// `error`: the run stopped (`GUARDIAN_REJECTION`, a failing model); nothing was stored.
#[derive(Serialize, ToSchema)]
pub struct PipelineErrorEvent {
    #[schema(value_type = PipelineErrorType, example = "error")]
    r#type: &'static str,
    /// In the document's error shape.
    error: LukhasErrorBody,
}

/// One SSE event of a pipeline run (the `data:` JSON; `type` is the `event:` name).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum PipelineStreamEvent {
    Stage(PipelineStageEvent),
    Metadata(PipelineMetadataEvent),
    Content(PipelineContentEvent),
    Complete(PipelineCompleteEvent),
    Error(PipelineErrorEvent),
}

impl PipelineStreamEvent {
    fn name(&self) -> &'static str {
        match self {
            Self::Stage(_) => "stage",
            Self::Metadata(_) => "metadata",
            Self::Content(_) => "content",
            Self::Complete(_) => "complete",
            Self::Error(_) => "error",
        }
    }
}

/// Process input through the MATRIZ pipeline, streamed
///
/// The same pipeline as `/matriz/process`, as server-sent events: `stage` as each stage
/// finishes; once the guardian approved the answer, `metadata` and the answer in `content`
/// pieces; then `complete` — or one `error` (e.g. `GUARDIAN_REJECTION`), after which
/// nothing was stored. The answer is never sent before the guardian passed it. Closing the
/// connection cancels the run. Same scopes and 60/min budget as `/matriz/process`.
#[utoipa::path(
    post, path = "/matriz/stream", tag = "matriz", operation_id = "process_stream",
    security(("bearer" = []), ("api_key" = [])),
    request_body = ProcessRequest,
    responses(
        (status = 200, description = "The run's events", content_type = "text/event-stream", body = PipelineStreamEvent),
        (status = 400, description = "A field is missing or out of range", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks a scope the stages need", body = LukhasError),
        (status = 429, description = "More than 60 pipeline requests in a minute", body = LukhasError),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    _: Charged<MatrizRoutes>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<ProcessRequest>,
) -> Result<Response, Error> {
    let request = pipeline_request(body.input, body.context, body.pipeline_options);
    state.matriz.admit(&principal, &request)?;
    let (sender, updates) = mpsc::unbounded_channel();
    let run: Run = Box::pin(async move {
        state
            .matriz
            .process_observed(&principal, request, Some(sender))
            .await
    });
    let trace_id = request_id::current();
    let events = frames(updates, run, trace_id).map(|event| {
        let data = serde_json::to_string(&event).expect("events serialize");
        Ok::<_, Infallible>(Event::default().event(event.name()).data(data))
    });
    let mut response = Sse::new(events)
        .keep_alive(
            KeepAlive::new()
                .interval(Duration::from_secs(15))
                .text("heartbeat"),
        )
        .into_response();
    let headers = response.headers_mut();
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    // Proxies such as nginx would otherwise buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

type Run = Pin<Box<dyn Future<Output = DomainResult<PipelineResult>> + Send>>;

enum Phase {
    Running(Run),
    Ended(Box<DomainResult<PipelineResult>>),
    Done,
}

/// The run's updates as they come, then its end. The run reports before it returns, so its
/// updates are drained before the final event: `complete` or `error` is always last.
fn frames(
    updates: mpsc::UnboundedReceiver<StreamUpdate>,
    run: Run,
    trace_id: String,
) -> impl Stream<Item = PipelineStreamEvent> + Send {
    let state = (updates, Phase::Running(run), Vec::<&'static str>::new());
    futures::stream::unfold(state, move |(mut updates, mut phase, mut ran)| {
        let trace_id = trace_id.clone();
        async move {
            loop {
                phase = match phase {
                    Phase::Running(mut run) => tokio::select! {
                        biased;
                        update = updates.recv() => match update {
                            Some(update) => {
                                let events = translate(update, &mut ran);
                                return Some((events, (updates, Phase::Running(run), ran)));
                            }
                            // Every sender is gone: the run is returning.
                            None => Phase::Ended(Box::new(run.await)),
                        },
                        result = &mut run => Phase::Ended(Box::new(result)),
                    },
                    Phase::Ended(result) => match updates.recv().await {
                        Some(update) => {
                            let events = translate(update, &mut ran);
                            return Some((events, (updates, Phase::Ended(result), ran)));
                        }
                        None => {
                            let last = finish(*result, &trace_id);
                            return Some((vec![last], (updates, Phase::Done, ran)));
                        }
                    },
                    Phase::Done => return None,
                }
            }
        }
    })
    .flat_map(futures::stream::iter)
}

fn stage_event(trace: StageTrace, interaction_id: String) -> PipelineStageEvent {
    PipelineStageEvent {
        r#type: "stage",
        interaction_id,
        stage: trace.stage,
        step: trace.step,
        confidence: trace.confidence,
        processing_time_ms: trace.duration_ms,
    }
}

fn translate(update: StreamUpdate, ran: &mut Vec<&'static str>) -> Vec<PipelineStreamEvent> {
    match update {
        StreamUpdate::Stage {
            trace,
            interaction_id,
        } => {
            ran.push(trace.stage);
            vec![PipelineStreamEvent::Stage(stage_event(
                trace,
                interaction_id,
            ))]
        }
        StreamUpdate::Approved {
            pieces,
            memories_used,
            provider,
            model,
        } => {
            let mut events = vec![PipelineStreamEvent::Metadata(PipelineMetadataEvent {
                r#type: "metadata",
                modules: ran.clone(),
                memories_used,
                provider,
                model,
            })];
            events.extend(pieces.into_iter().map(|text| {
                PipelineStreamEvent::Content(PipelineContentEvent {
                    r#type: "content",
                    text,
                })
            }));
            events
        }
    }
}

fn finish(result: DomainResult<PipelineResult>, trace_id: &str) -> PipelineStreamEvent {
    match result {
        Ok(done) => PipelineStreamEvent::Complete(PipelineCompleteEvent {
            r#type: "complete",
            pipeline_stages_used: done.trace.iter().map(|t| t.stage).collect(),
            interaction_id: done.interaction_id,
            processing_time_ms: done.duration_ms,
            confidence: done.confidence,
            memory_fold_created: done.memory_fold,
        }),
        Err(err) => PipelineStreamEvent::Error(PipelineErrorEvent {
            r#type: "error",
            error: request_id::as_request(trace_id, || error_body(&err).error),
        }),
    }
}
