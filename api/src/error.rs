//! The one error type of the domain layer. Transports map it to their own formats at the edge.

use std::time::Duration;

/// The state of the budget a refused request ran out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimitInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Until the budget is full again.
    pub reset_after: Duration,
    /// Until one more request of this cost would be allowed.
    pub retry_after: Duration,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DomainError {
    /// Input broke a rule; `field` names the offending field (dotted path) when there is one.
    #[error("{message}")]
    Invalid {
        field: Option<String>,
        message: String,
    },
    /// The request body could not be read at all (malformed JSON, wrong content type).
    #[error("{message}")]
    Malformed { message: String },
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("rate limit exceeded")]
    RateLimited(RateLimitInfo),
    #[error("{0}")]
    QuotaExceeded(String),
    /// The account's monthly executions are used up.
    #[error("monthly execution quota reached: {used} of {limit} on the {tier} tier")]
    ExecutionQuota { tier: String, used: u32, limit: u32 },
    /// The thing asked for belongs to a higher tier than the account's.
    #[error("{message}")]
    TierRequired { required: String, message: String },
    #[error("{0}")]
    Unavailable(String),
    /// A model provider failed or answered something unusable (502).
    #[error("{0}")]
    Upstream(String),
    /// The LUKHAS guardian rejected what a pipeline was about to do (403).
    #[error("the guardian rejected this ({decision}, risk {risk_score:.3}): {reason}")]
    GuardianRejection {
        validation_id: String,
        decision: String,
        risk_score: f64,
        reason: String,
    },
    /// A memory drifted past the configured limit: repair it first (422).
    #[error("memory {memory_id} has drifted {drift_score:.3} from what was stored (limit {limit}); repair it first")]
    MemoryDrift {
        memory_id: String,
        drift_score: f64,
        limit: f64,
    },
    /// The request is well-formed but what it asks cannot be produced (422): e.g. no output
    /// of the model validates against the schema it gave.
    #[error("{0}")]
    Unprocessable(String),
    /// A feature the operator switched off (503), e.g. LUKHAS dreams without
    /// `LUKHAS_DREAMS_ENABLED`; the message names the switch.
    #[error("{0}")]
    FeatureDisabled(String),
    /// The server cannot do this in its configuration (501), e.g. checkout without a payment
    /// provider.
    #[error("{0}")]
    NotImplemented(String),
    /// Details are logged with the request id, never returned to the client.
    #[error("internal error")]
    Internal(String),
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: Some(field.into()),
            message: message.into(),
        }
    }

    pub fn internal(err: impl std::fmt::Display) -> Self {
        Self::Internal(err.to_string())
    }

    /// Logs internal details (they never leave the server) and returns self.
    pub fn logged(self) -> Self {
        if let Self::Internal(detail) = &self {
            tracing::error!(request_id = %crate::http::request_id::current(), %detail, "internal error");
        }
        self
    }
}

impl From<sea_orm::DbErr> for DomainError {
    fn from(err: sea_orm::DbErr) -> Self {
        if database_unreachable(&err) {
            tracing::warn!(request_id = %crate::http::request_id::current(), %err, "database unreachable");
            return Self::Unavailable("the database is unavailable; retry shortly".into());
        }
        Self::Internal(format!("database: {err}"))
    }
}

/// No connection could be had (the pool's bounded wait ran out) or the one in use broke:
/// the database is away, which is a 503 to retry, not a bug.
fn database_unreachable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            matches!(
                e,
                sea_orm::sqlx::Error::Io(_)
                    | sea_orm::sqlx::Error::PoolTimedOut
                    | sea_orm::sqlx::Error::PoolClosed
                    | sea_orm::sqlx::Error::WorkerCrashed
            )
        }
        _ => false,
    }
}

impl From<sea_orm::TransactionError<DomainError>> for DomainError {
    fn from(err: sea_orm::TransactionError<DomainError>) -> Self {
        match err {
            sea_orm::TransactionError::Connection(db) => db.into(),
            sea_orm::TransactionError::Transaction(domain) => domain,
        }
    }
}

pub type DomainResult<T> = Result<T, DomainError>;
