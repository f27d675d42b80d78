//! Per-endpoint budgets the LUKHAS document sets (requests a minute per principal), spent
//! before any work.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::Lukhas;
use crate::http::dialect::ApiError;
use crate::http::rate_limit::Quota;
use crate::state::AppState;

pub trait Budget {
    /// The counter's name (shared by every route of the budget).
    const NAME: &'static str;
    fn per_minute(state: &AppState) -> u32;
}

pub struct Charged<B>(PhantomData<B>);

impl<B: Budget> FromRequestParts<AppState> for Charged<B> {
    type Rejection = ApiError<Lukhas>;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let principal = parts
            .extensions
            .get::<crate::domain::identity::Principal>()
            .and_then(|p| p.rate_key());
        let Some(key) = principal else {
            return Ok(Self(PhantomData)); // anonymous calls are refused by `Authed` next
        };
        let quota = Quota::per_minute(B::per_minute(state));
        crate::http::auth::charge(state, &format!("{}:{key}", B::NAME), quota).await?;
        Ok(Self(PhantomData))
    }
}
