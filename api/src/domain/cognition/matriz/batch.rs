//! Several inputs through the pipeline in one request (LUKHAS `/matriz/batch`, the SDK's
//! `batch_process`): every request is checked before any runs, then each runs on its own —
//! one input's rejection or failure is its own result, not the batch's.

use std::time::Instant;

use futures::StreamExt;

use super::{checked, ms, required, Matriz, PipelineRequest, PipelineResult};
use crate::domain::identity::Principal;
use crate::error::{DomainError, DomainResult};

/// Inputs in one batch at most (a third of the pipeline's minute budget).
pub const MAX_BATCH: usize = 20;
/// Runs at once when the batch asks for `parallel`: enough to overlap the model's waits
/// without one caller taking every generation slot.
pub const PARALLEL_RUNS: usize = 4;

pub struct BatchOutcome {
    pub batch_id: String,
    /// In the requests' order.
    pub results: Vec<DomainResult<PipelineResult>>,
    /// Runs at once.
    pub concurrency: usize,
    /// The whole batch, measured inside the server.
    pub duration_ms: f64,
}

impl Matriz {
    /// Each request's pipeline; with `parallel` up to [`PARALLEL_RUNS`] at once, otherwise
    /// one after another.
    pub async fn process_batch(
        &self,
        principal: &Principal,
        requests: Vec<PipelineRequest>,
        parallel: bool,
    ) -> DomainResult<BatchOutcome> {
        required(principal)?;
        if requests.is_empty() || requests.len() > MAX_BATCH {
            return Err(DomainError::invalid(
                "queries",
                format!("a batch holds 1 to {MAX_BATCH} queries"),
            ));
        }
        for (i, request) in requests.iter().enumerate() {
            checked(request).map_err(|err| match err {
                DomainError::Invalid { field, message } if field.as_deref() == Some("input") => {
                    DomainError::invalid(
                        format!("queries[{i}]"),
                        format!("queries[{i}]: {message}"),
                    )
                }
                other => other,
            })?;
        }
        let started = Instant::now();
        let concurrency = if parallel {
            PARALLEL_RUNS.min(requests.len())
        } else {
            1
        };
        let results = futures::stream::iter(requests)
            .map(|request| self.process(principal, request))
            .buffered(concurrency)
            .collect()
            .await;
        Ok(BatchOutcome {
            batch_id: format!("batch_{}", ulid::Ulid::new().to_string().to_lowercase()),
            results,
            concurrency,
            duration_ms: ms(started),
        })
    }
}
