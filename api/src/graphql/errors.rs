//! GraphQL error mapping: every error carries `extensions.code` from the documented
//! `ErrorCode` enum; expected failures of a mutation become `userErrors`.

use async_graphql::{Enum, ErrorExtensions, SimpleObject};

use crate::error::DomainError;

/// The values of `extensions.code` on GraphQL errors and of `UserError.code`.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// No credential, or one that is invalid, expired or revoked.
    Unauthenticated,
    /// Authenticated, but not allowed.
    Forbidden,
    /// The object does not exist or is not yours.
    NotFound,
    /// An input value broke a rule; `field` names it.
    BadUserInput,
    /// The request conflicts with existing state (e.g. email already registered).
    Conflict,
    /// Email and password do not match an account.
    InvalidCredentials,
    /// The rate limit of the caller's tier was exceeded; see `extensions.retryAfter`.
    RateLimited,
    /// A usage quota was exhausted.
    QuotaExceeded,
    /// What was asked for needs a higher tier than the account's.
    TierRequired,
    /// This server cannot do that in its configuration (e.g. checkout with local billing).
    NotImplemented,
    /// The query's cost is above the limit.
    QueryTooComplex,
    /// The query nests deeper than allowed (fields, or brackets of any kind).
    QueryTooDeep,
    /// The query text is longer than allowed.
    QueryTooLarge,
    /// The query uses more aliases than allowed.
    TooManyAliases,
    /// A batch holds more operations than allowed.
    BatchTooLarge,
    /// A WebSocket already runs as many subscriptions as one socket may.
    TooManySubscriptions,
    /// The query could not be parsed.
    GraphqlParseFailed,
    /// The query failed validation against the schema.
    GraphqlValidationFailed,
    /// A dependency is temporarily unavailable.
    ServiceUnavailable,
    /// A feature the server's operator switched off (e.g. LUKHAS dreams).
    FeatureDisabled,
    /// A model provider failed or answered something unusable.
    UpstreamError,
    /// The memory drifted past the limit; repair it first.
    MemoryDriftExcessive,
    /// The LUKHAS guardian rejected what the pipeline would have answered.
    GuardianRejection,
    /// Something failed inside the server; the request id is in `extensions.requestId`.
    InternalServerError,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::RateLimited => "RATE_LIMITED",
            Self::QuotaExceeded => "QUOTA_EXCEEDED",
            Self::TierRequired => "TIER_REQUIRED",
            Self::NotImplemented => "NOT_IMPLEMENTED",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::QueryTooDeep => "QUERY_TOO_DEEP",
            Self::QueryTooLarge => "QUERY_TOO_LARGE",
            Self::TooManyAliases => "TOO_MANY_ALIASES",
            Self::BatchTooLarge => "BATCH_TOO_LARGE",
            Self::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            Self::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Self::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Self::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            Self::FeatureDisabled => "FEATURE_DISABLED",
            Self::UpstreamError => "UPSTREAM_ERROR",
            Self::MemoryDriftExcessive => "MEMORY_DRIFT_EXCESSIVE",
            Self::GuardianRejection => "GUARDIAN_REJECTION",
            Self::InternalServerError => "INTERNAL_SERVER_ERROR",
        }
    }

    pub fn of(err: &DomainError) -> Self {
        match err {
            DomainError::Invalid { .. }
            | DomainError::Malformed { .. }
            | DomainError::PayloadTooLarge => Self::BadUserInput,
            DomainError::Unauthenticated(_) => Self::Unauthenticated,
            DomainError::Forbidden(_) => Self::Forbidden,
            DomainError::GuardianRejection { .. } => Self::GuardianRejection,
            DomainError::NotFound(_) => Self::NotFound,
            DomainError::Conflict(_) => Self::Conflict,
            DomainError::RateLimited(_) => Self::RateLimited,
            DomainError::QuotaExceeded(_) | DomainError::ExecutionQuota { .. } => {
                Self::QuotaExceeded
            }
            DomainError::TierRequired { .. } => Self::TierRequired,
            DomainError::NotImplemented(_) => Self::NotImplemented,
            DomainError::Unavailable(_) => Self::ServiceUnavailable,
            DomainError::FeatureDisabled(_) => Self::FeatureDisabled,
            DomainError::Upstream(_) => Self::UpstreamError,
            DomainError::Unprocessable(_) => Self::BadUserInput,
            DomainError::MemoryDrift { .. } => Self::MemoryDriftExcessive,
            DomainError::Internal(_) => Self::InternalServerError,
        }
    }
}

/// A GraphQL error with the documented code.
pub fn coded(message: impl Into<String>, code: ErrorCode) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", code.as_str()))
}

/// A top-level GraphQL error for a domain error.
pub fn to_gql(err: DomainError) -> async_graphql::Error {
    let err = err.logged();
    let code = ErrorCode::of(&err);
    let message = crate::http::dialect::public_message(&err);
    async_graphql::Error::new(message).extend_with(|_, e| {
        e.set("code", code.as_str());
        match &err {
            DomainError::RateLimited(info) => {
                e.set("retryAfter", info.retry_after.as_secs().max(1))
            }
            DomainError::Internal(_) => e.set("requestId", crate::http::request_id::current()),
            DomainError::Invalid {
                field: Some(field), ..
            } => e.set("field", field.as_str()),
            _ => {}
        }
    })
}

/// A mutation's expected failure, returned in its payload.
#[derive(SimpleObject, Clone, Debug)]
pub struct UserError {
    /// The input field at fault (camelCase path), when there is one.
    pub field: Option<String>,
    pub code: ErrorCode,
    pub message: String,
}

/// Splits a domain result for a mutation payload: expected failures become `userErrors`,
/// the rest stay errors.
pub fn user_error(err: DomainError) -> async_graphql::Result<UserError> {
    let code = match &err {
        DomainError::Invalid { .. } => ErrorCode::BadUserInput,
        DomainError::Conflict(_) => ErrorCode::Conflict,
        DomainError::NotFound(_) => ErrorCode::NotFound,
        // A limit the account reached (nodes, live glyphs, unresolved reports) is an answer
        // about this account's state, not a failure of the request.
        DomainError::QuotaExceeded(_) => ErrorCode::QuotaExceeded,
        DomainError::MemoryDrift { .. } => ErrorCode::MemoryDriftExcessive,
        // A rejection is an answer about the input, not a failure of the request.
        DomainError::GuardianRejection { .. } => ErrorCode::GuardianRejection,
        DomainError::NotImplemented(_) => ErrorCode::NotImplemented,
        DomainError::FeatureDisabled(_) => ErrorCode::FeatureDisabled,
        _ => return Err(to_gql(err)),
    };
    let field = match &err {
        DomainError::Invalid { field, .. } => field.as_deref().map(camel_case),
        _ => None,
    };
    Ok(UserError {
        field,
        code,
        message: err.to_string(),
    })
}

pub fn camel_case(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn camel_cases_fields() {
        assert_eq!(super::camel_case("refresh_token"), "refreshToken");
        assert_eq!(super::camel_case("email"), "email");
    }
}
