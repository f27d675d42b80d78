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
pub use matriz::{Matriz, PipelineRequest, PipelineResult};
