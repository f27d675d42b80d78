//! Transport-free services, one module per bounded context. Nothing here knows HTTP,
//! GraphQL or any dialect's JSON shapes.

pub mod identity;
pub mod operations;
