//! `/billing/*`: subscription, usage, checkout, portal and cancel through the configured
//! billing provider.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Authed, Body, Data, Error, LunaError};
use crate::error::DomainError;
use crate::rest::shared::AccountTier;
use crate::state::AppState;

string_enum!(
    /// A paid tier.
    PaidTier { Pro = "pro", Team = "team" }
);

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    #[schema(value_type = PaidTier, example = "pro")]
    tier: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutResponse {
    #[schema(example = "https://checkout.stripe.com/c/pay/cs_test_a1b2c3")]
    checkout_url: String,
    #[schema(example = "cs_test_a1b2c3")]
    session_id: String,
}

/// Start paying for a tier: a hosted checkout page (501 with local billing).
#[utoipa::path(
    post, path = "/billing/checkout", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    request_body = CheckoutRequest,
    responses(
        (status = 200, description = "Where to send the customer", body = Data<CheckoutResponse>),
        (status = 400, description = "Not a paid tier", body = LunaError),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 501, description = "This server uses local billing: an admin sets tiers", body = LunaError),
    )
)]
pub async fn checkout(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
    Body { 0: body, .. }: Body<CheckoutRequest>,
) -> Result<Json<Data<CheckoutResponse>>, Error> {
    let tier = match body.tier.as_str() {
        "pro" | "team" => body.tier.parse()?,
        _ => return Err(DomainError::invalid("tier", "tier is pro or team").into()),
    };
    let checkout = state
        .billing
        .checkout(&principal, &state.identity, tier)
        .await?;
    Ok(Data::json(CheckoutResponse {
        checkout_url: checkout.url,
        session_id: checkout.session_id,
    }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionRecord {
    #[schema(example = "sub_1QabcDEF")]
    id: String,
    #[schema(example = "2026-12-01T00:00:00Z")]
    current_period_start: DateTime<Utc>,
    #[schema(example = "2027-01-01T00:00:00Z")]
    current_period_end: DateTime<Utc>,
    #[schema(example = false)]
    cancel_at_period_end: bool,
    #[schema(example = "2026-12-01T00:00:00Z")]
    created_at: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
pub struct SubscriptionResponse {
    #[schema(value_type = AccountTier, example = "pro")]
    tier: &'static str,
    /// `active`, `past_due`, `canceled`, or `none`.
    #[schema(example = "active")]
    status: String,
    subscription: Option<SubscriptionRecord>,
}

/// Your tier and subscription.
#[utoipa::path(
    get, path = "/billing/subscription", tag = "billing", operation_id = "get_subscription",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The subscription", body = Data<SubscriptionResponse>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
    )
)]
pub async fn subscription(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
) -> Result<Json<Data<SubscriptionResponse>>, Error> {
    let view = state.billing.subscription(&principal).await?;
    Ok(Data::json(SubscriptionResponse {
        tier: view.tier.as_str(),
        status: view.status,
        subscription: view.subscription.map(|s| SubscriptionRecord {
            id: s.external_id.unwrap_or_default(),
            current_period_start: s.current_period_start,
            current_period_end: s.current_period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            created_at: s.created_at,
        }),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Period {
    #[schema(example = "2026-12-01T00:00:00Z")]
    start: DateTime<Utc>,
    #[schema(example = "2027-01-01T00:00:00Z")]
    end: DateTime<Utc>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Breakdown {
    #[schema(example = 12)]
    agent_executions: u32,
    #[schema(example = 3)]
    chain_executions: u32,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageResponse {
    #[schema(value_type = AccountTier, example = "free")]
    tier: &'static str,
    #[schema(example = 15)]
    used: u32,
    #[schema(example = 100)]
    limit: u32,
    #[schema(example = 85)]
    remaining: u32,
    #[schema(example = 15.0)]
    percent_used: f64,
    /// The calendar month (UTC) being counted.
    period: Period,
    breakdown: Breakdown,
}

/// This month's executions against your tier's limit.
#[utoipa::path(
    get, path = "/billing/usage", tag = "billing", operation_id = "get_usage",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Usage", body = Data<UsageResponse>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
    )
)]
pub async fn usage(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
) -> Result<Json<Data<UsageResponse>>, Error> {
    let usage = state
        .billing
        .usage(&principal, state.agents.quotas())
        .await?;
    let percent = if usage.limit == 0 {
        100.0
    } else {
        (f64::from(usage.used()) * 10_000.0 / f64::from(usage.limit)).round() / 100.0
    };
    Ok(Data::json(UsageResponse {
        tier: usage.tier.as_str(),
        used: usage.used(),
        limit: usage.limit,
        remaining: usage.remaining(),
        percent_used: percent,
        period: Period {
            start: usage.period_start,
            end: usage.period_end,
        },
        breakdown: Breakdown {
            agent_executions: usage.agent_executions,
            chain_executions: usage.chain_executions,
        },
    }))
}

#[derive(Serialize, ToSchema)]
pub struct Message {
    #[schema(example = "Your subscription will end on 2027-01-01T00:00:00Z")]
    message: String,
}

/// End your subscription at the end of its period.
#[utoipa::path(
    post, path = "/billing/cancel", tag = "billing", operation_id = "cancel_subscription",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Cancelled at period end", body = Data<Message>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 404, description = "No active subscription", body = LunaError),
    )
)]
pub async fn cancel(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
) -> Result<Json<Data<Message>>, Error> {
    let record = state.billing.cancel(&principal).await?;
    Ok(Data::json(Message {
        message: format!(
            "Your subscription will end on {}",
            record
                .current_period_end
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        ),
    }))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalResponse {
    #[schema(example = "https://billing.stripe.com/p/session/test_YWNjdF8x")]
    portal_url: String,
}

/// A hosted page for payment methods and invoices (501 with local billing).
#[utoipa::path(
    post, path = "/billing/portal", tag = "billing",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "Where to send the customer", body = Data<PortalResponse>),
        (status = 401, description = "Missing or invalid credential", body = LunaError),
        (status = 501, description = "This server uses local billing", body = LunaError),
    )
)]
pub async fn portal(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed,
) -> Result<Json<Data<PortalResponse>>, Error> {
    let url = state.billing.portal(&principal, &state.identity).await?;
    Ok(Data::json(PortalResponse { portal_url: url }))
}

#[derive(Serialize, ToSchema)]
pub struct WebhookReceipt {
    #[schema(example = true)]
    received: bool,
    /// `applied`, `duplicate` (applied before), `stale` (older than the state held) or
    /// `ignored` (not an event Orrery acts on).
    #[schema(example = "applied")]
    outcome: &'static str,
}

/// Stripe's webhook endpoint (public: the `Stripe-Signature` header authenticates it).
/// Handles `checkout.session.completed`, `customer.subscription.updated`,
/// `customer.subscription.deleted` and `invoice.payment_failed`; each event applies once.
#[utoipa::path(
    post, path = "/billing/webhook", tag = "billing", operation_id = "stripe_webhook",
    request_body(content = Object, content_type = "application/json", description = "A Stripe event, as Stripe sends it"),
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<HMAC-SHA256 hex>[,v1=…]")),
    responses(
        (status = 200, description = "Received", body = Data<WebhookReceipt>),
        (status = 400, description = "Missing, malformed, stale or wrong signature; not an event", body = LunaError),
        (status = 501, description = "Stripe webhooks are not configured here", body = LunaError),
    )
)]
pub async fn webhook(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
    payload: axum::body::Bytes,
) -> Result<Json<Data<WebhookReceipt>>, Error> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let outcome = state
        .billing
        .webhook(&state.identity, &payload, signature)
        .await?;
    use crate::domain::billing::WebhookOutcome;
    Ok(Data::json(WebhookReceipt {
        received: true,
        outcome: match outcome {
            WebhookOutcome::Applied => "applied",
            WebhookOutcome::Duplicate => "duplicate",
            WebhookOutcome::Stale => "stale",
            WebhookOutcome::Ignored => "ignored",
        },
    }))
}
