//! Run events as LunaOS frames them over SSE: an `event:` name and a JSON `data:` carrying
//! the same name in `type`; usage headers on the response; heartbeat comments while quiet.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::StreamExt;
use serde_json::{json, Value};

use crate::domain::agents::{RunEvent, Started, Tokens};

fn tokens(t: Tokens) -> Value {
    json!({ "input": t.input, "output": t.output })
}

/// The event's SSE name and its JSON (`type` repeats the name).
pub fn frame(event: &RunEvent) -> (&'static str, Value) {
    match event {
        RunEvent::Start {
            execution_id,
            agent,
            provider,
            model,
            sources,
        } => (
            "start",
            json!({
                "type": "start", "executionId": execution_id, "agent": agent,
                "provider": provider, "model": model,
                "sources": sources.iter().map(|s| json!({
                    "repository": s.repository, "path": s.path,
                    "startLine": s.start_line, "endLine": s.end_line, "score": s.score,
                })).collect::<Vec<_>>(),
            }),
        ),
        RunEvent::ChainStart {
            execution_id,
            chain,
            provider,
            model,
            steps,
        } => (
            "chain_start",
            json!({
                "type": "chain_start", "executionId": execution_id, "chain": chain,
                "provider": provider, "model": model,
                "steps": steps.iter().map(|s| json!({
                    "step": s.step, "node": s.node, "agent": s.agent, "after": s.after,
                })).collect::<Vec<_>>(),
            }),
        ),
        RunEvent::StepStart { step, node, agent } => (
            "step_start",
            json!({ "type": "step_start", "step": step, "node": node, "agent": agent }),
        ),
        RunEvent::Chunk {
            step: None,
            content,
        } => ("chunk", json!({ "type": "chunk", "content": content })),
        RunEvent::Chunk {
            step: Some(step),
            content,
        } => (
            "chunk",
            json!({ "type": "chunk", "step": step, "content": content }),
        ),
        RunEvent::StepDone {
            step,
            node,
            agent,
            output,
            tokens: t,
            duration_ms,
        } => (
            "step_done",
            json!({
                "type": "step_done", "step": step, "node": node, "agent": agent,
                "output": output, "tokens": tokens(*t), "durationMs": duration_ms,
            }),
        ),
        RunEvent::Done {
            execution_id,
            tokens: t,
            cost,
            duration_ms,
        } => (
            "done",
            json!({
                "type": "done", "executionId": execution_id, "tokens": tokens(*t),
                "cost": cost, "duration": duration_ms,
            }),
        ),
        RunEvent::ChainDone {
            execution_id,
            status,
            steps,
            tokens: t,
            cost,
            total_duration_ms,
        } => (
            "chain_done",
            json!({
                "type": "chain_done", "executionId": execution_id, "status": status,
                "steps": steps, "tokens": tokens(*t), "cost": cost,
                "totalDurationMs": total_duration_ms,
            }),
        ),
        RunEvent::Error {
            message,
            code,
            step,
        } => {
            let mut body = json!({ "type": "error", "error": message, "code": code });
            if let Some(step) = step {
                body["step"] = json!(step);
            }
            ("error", body)
        }
    }
}

/// Each event with its position as the SSE `id`, so a client resumes with `Last-Event-ID`.
fn sse(
    events: BoxStream<'static, (usize, RunEvent)>,
    heartbeat: Duration,
) -> Sse<impl futures::Stream<Item = Result<Event, std::convert::Infallible>>> {
    let events = events.map(|(seq, event)| {
        let (name, data) = frame(&event);
        Ok(Event::default()
            .event(name)
            .data(data.to_string())
            .id(seq.to_string()))
    });
    Sse::new(events).keep_alive(
        KeepAlive::new()
            .interval(heartbeat.max(Duration::from_secs(1)))
            .text("heartbeat"),
    )
}

fn stream_headers(headers: &mut HeaderMap) {
    headers.insert("cache-control", HeaderValue::from_static("no-cache"));
    // Proxies such as nginx would otherwise buffer the stream.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
}

/// The SSE response for following a run (from position `start`); leaving does not stop it.
pub fn follow(events: BoxStream<'static, (usize, RunEvent)>, heartbeat: Duration) -> Response {
    let mut headers = HeaderMap::new();
    stream_headers(&mut headers);
    (headers, sse(events, heartbeat)).into_response()
}

/// The SSE response for a run that has started; the client leaving cancels the run.
pub fn respond(started: Started, heartbeat: Duration) -> Response {
    let events = started.events_cancelling();
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("x-usage-used", started.usage.used()),
        ("x-usage-limit", started.usage.limit),
        ("x-usage-remaining", started.usage.remaining()),
    ] {
        headers.insert(name, HeaderValue::from(value));
    }
    headers.insert(
        "x-execution-id",
        HeaderValue::from_str(&started.id).expect("ids are ASCII"),
    );
    stream_headers(&mut headers);
    (headers, sse(events, heartbeat)).into_response()
}
