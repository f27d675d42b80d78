//! REST compatibility layer: one module per dialect, each owning only translation (paths,
//! JSON shapes, envelope, error format). Every route is registered with utoipa, so each
//! dialect's OpenAPI document lists exactly what it serves.

pub mod lexecon;
pub mod lukhas;
pub mod lumen;
pub mod lunaos;
pub(crate) mod shared;

pub use shared::{dialect_router, Dialects};
