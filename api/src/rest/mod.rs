//! REST compatibility layer: one module per dialect, each owning only translation (paths,
//! JSON shapes, envelope, error format). Every route is registered with utoipa, so each
//! dialect's OpenAPI document lists exactly what it serves.

/// A closed set of strings, as an OpenAPI `enum` (so SDKs type it as a literal union and
/// mock mode answers a real value). The wire fields stay `String`; these types exist for
/// `#[schema(value_type = …)]`.
macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $wire:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(serde::Serialize, utoipa::ToSchema)]
        #[allow(dead_code)]
        pub enum $name {
            $(#[serde(rename = $wire)] $variant),+
        }
    };
}

mod examples;
pub mod lexecon;
pub mod lukhas;
pub mod lumen;
pub mod lunaos;
pub mod openai;
pub(crate) mod shared;

pub use shared::{dialect_router, Dialects};
