//! Per-endpoint budgets the LUKHAS document sets (requests a minute per principal), spent
//! before any work.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::Lukhas;
use crate::http::auth::charge_budget;
use crate::http::dialect::ApiError;
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
        if let Some(principal) = parts.extensions.get::<crate::domain::identity::Principal>() {
            charge_budget(state, B::NAME, B::per_minute(state), principal, 1).await?;
        }
        Ok(Self(PhantomData))
    }
}

/// Spends `units` more from `B`'s budget, for a request that turned out to ask for several
/// units of work (a batch: one per input, the first spent by [`Charged`]).
pub async fn charge_more<B: Budget>(
    state: &AppState,
    principal: &crate::domain::identity::Principal,
    units: u32,
) -> Result<(), crate::error::DomainError> {
    charge_budget(state, B::NAME, B::per_minute(state), principal, units).await
}
