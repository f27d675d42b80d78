//! Transport-free services, one module per bounded context. Nothing here knows HTTP,
//! GraphQL or any dialect's JSON shapes.

pub mod agents;
pub mod ai;
pub mod billing;
pub mod chat;
pub mod cognition;
pub mod governance;
pub mod identity;
pub mod memory;
pub mod operations;
pub mod process_stats;
pub mod rag;
pub mod registry;
pub mod review;
pub mod search;
pub mod terminal;

/// Where the platform's security events are recorded (the governance ledger).
#[async_trait::async_trait]
pub trait AuditSink: Send + Sync {
    async fn record(&self, event: &crate::bus::AccountEvent);
}
