//! Transport-free services, one module per bounded context. Nothing here knows HTTP,
//! GraphQL or any dialect's JSON shapes.

pub mod agents;
pub mod ai;
pub mod billing;
pub mod chat;
pub mod cognition;
pub mod compliance;
pub mod constellation;
pub mod feedback;
pub mod governance;
pub mod identity;
pub mod incidents;
pub mod maintenance;
pub mod memory;
pub mod operations;
pub mod ops;
pub mod perf;
pub mod process_stats;
pub mod rag;
pub mod refresh_ahead;
pub mod registry;
pub mod review;
pub mod search;
pub mod settings;
pub mod terminal;

/// Where the platform's security events are recorded (the governance ledger).
#[async_trait::async_trait]
pub trait AuditSink: Send + Sync {
    async fn record(&self, event: &crate::bus::AccountEvent);
}

/// A page's `(limit, offset)` from what a caller asked for: `limit` 1 to `max` (default
/// `default`), `offset` 0 or more.
pub fn page(
    limit: Option<i64>,
    offset: Option<i64>,
    default: u64,
    max: u64,
) -> crate::error::DomainResult<(u64, u64)> {
    use crate::error::DomainError;
    let limit = limit.unwrap_or(default as i64);
    if !(1..=max as i64).contains(&limit) {
        return Err(DomainError::invalid(
            "limit",
            format!("limit is 1 to {max}"),
        ));
    }
    let offset = offset.unwrap_or(0);
    if offset < 0 {
        return Err(DomainError::invalid("offset", "offset is 0 or more"));
    }
    Ok((limit as u64, offset as u64))
}
