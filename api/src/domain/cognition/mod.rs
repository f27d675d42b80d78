//! LUKHAS cognition: the guardian that validates actions (its content rules and policy),
//! the MATRIZ pipeline that runs on it, and causal inference.

pub mod causal;
pub mod consciousness;
pub mod content;
pub mod guardian;
pub mod matriz;
pub mod reflection;

pub use guardian::{Guardian, ProposedAction, Validation, Verdict};
pub use matriz::{Matriz, PipelineRequest, PipelineResult};
