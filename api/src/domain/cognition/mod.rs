//! LUKHAS cognition: the guardian that validates actions (its content rules and policy),
//! the MATRIZ pipeline that runs on it, and causal inference.

pub mod analysis;
pub mod awareness;
pub mod causal;
pub mod consciousness;
pub mod content;
pub mod dreams;
pub mod glyphs;
pub mod guardian;
pub mod matriz;
pub mod reflection;

pub use guardian::{Guardian, ProposedAction, Validation, Verdict};

/// Scores, weights and times are shown to three decimals: more would be noise from the
/// products and sums they come from.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// A model's answer that the AI service already validated against the JSON schema it asked
/// for (`what` names it in the error, which would be ours).
pub(crate) fn validated_json(
    text: &str,
    what: &str,
) -> crate::error::DomainResult<serde_json::Value> {
    serde_json::from_str(text.trim()).map_err(|e| {
        crate::error::DomainError::Internal(format!("validated {what} is not JSON: {e}"))
    })
}

/// The system message that gives a model the caller's memories (none without memories).
pub(crate) fn memory_context<'a>(
    memories: impl IntoIterator<Item = &'a str>,
) -> Option<crate::providers::ChatMessage> {
    let listed: Vec<String> = memories.into_iter().map(|m| format!("- {m}")).collect();
    (!listed.is_empty()).then(|| {
        crate::providers::ChatMessage::new(
            crate::providers::ChatRole::System,
            format!("What the user's memories say:\n{}", listed.join("\n")),
        )
    })
}
pub use matriz::{Matriz, PipelineRequest, PipelineResult};
