//! LUKHAS cognition: the guardian that validates actions (its content rules and policy).
//! The MATRIZ pipeline, consciousness, reasoning and dreams build on it.

pub mod content;
pub mod guardian;

pub use guardian::{Guardian, ProposedAction, Validation, Verdict};
