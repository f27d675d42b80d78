//! Stripe as the billing provider: a small client for the four calls Orrery makes
//! (Checkout Session, Billing Portal session, cancel at period end, read a subscription),
//! form-encoded as Stripe's API expects.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use orrery_entities::subscription;
use serde_json::Value;

use super::{BillingProvider, Checkout, Customer};
use crate::domain::identity::Tier;
use crate::error::{DomainError, DomainResult};

pub struct Settings {
    pub secret_key: String,
    pub api_base: String,
    pub price_pro: Option<String>,
    pub price_team: Option<String>,
    pub success_url: String,
    pub cancel_url: String,
    pub portal_return_url: String,
}

pub struct Stripe {
    settings: Settings,
    client: reqwest::Client,
}

/// A subscription as Stripe reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct StripeSubscription {
    pub id: String,
    pub customer: Option<String>,
    pub status: String,
    pub cancel_at_period_end: bool,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    pub price: Option<String>,
    pub metadata_user: Option<String>,
    pub metadata_tier: Option<String>,
}

fn time(value: &Value) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(value.as_i64()?, 0).single()
}

impl StripeSubscription {
    /// Reads a subscription object (from the API or a webhook event). The period sits on
    /// the subscription in older API versions and on its first item in newer ones.
    pub fn from_json(object: &Value) -> DomainResult<Self> {
        let id = object["id"]
            .as_str()
            .ok_or_else(|| DomainError::invalid("data.object.id", "a subscription has an id"))?;
        let item = &object["items"]["data"][0];
        let period = |field: &str| time(&object[field]).or_else(|| time(&item[field]));
        Ok(Self {
            id: id.to_string(),
            customer: object["customer"].as_str().map(str::to_string),
            status: object["status"].as_str().unwrap_or("active").to_string(),
            cancel_at_period_end: object["cancel_at_period_end"].as_bool().unwrap_or(false),
            current_period_start: period("current_period_start"),
            current_period_end: period("current_period_end"),
            price: item["price"]["id"].as_str().map(str::to_string),
            metadata_user: object["metadata"]["user_id"].as_str().map(str::to_string),
            metadata_tier: object["metadata"]["tier"].as_str().map(str::to_string),
        })
    }
}

impl Stripe {
    pub fn new(settings: Settings) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()?;
        Ok(Self { settings, client })
    }

    fn price(&self, tier: Tier) -> DomainResult<&str> {
        let price = match tier {
            Tier::Pro => self.settings.price_pro.as_deref(),
            Tier::Team => self.settings.price_team.as_deref(),
            Tier::Free => None,
        };
        price.ok_or_else(|| {
            DomainError::Unavailable(format!(
                "no Stripe price is configured for the {tier} tier (billing.stripe_price_{tier})"
            ))
        })
    }

    /// The tier a Stripe price buys.
    pub fn tier_of_price(&self, price: &str) -> Option<Tier> {
        if self.settings.price_pro.as_deref() == Some(price) {
            Some(Tier::Pro)
        } else if self.settings.price_team.as_deref() == Some(price) {
            Some(Tier::Team)
        } else {
            None
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &[(&str, String)],
    ) -> DomainResult<Value> {
        let url = format!("{}/v1/{path}", self.settings.api_base.trim_end_matches('/'));
        let mut request = self
            .client
            .request(method.clone(), &url)
            .bearer_auth(&self.settings.secret_key);
        if method != reqwest::Method::GET {
            request = request
                .header("idempotency-key", uuid::Uuid::new_v4().to_string())
                .form(form);
        }
        let response = request
            .send()
            .await
            .map_err(|e| DomainError::Upstream(format!("Stripe: {e}")))?;
        let status = response.status();
        let body: Value = response.json().await.map_err(|e| {
            DomainError::Upstream(format!("Stripe answered {status} without JSON: {e}"))
        })?;
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no message");
            return Err(DomainError::Upstream(format!(
                "Stripe answered {status}: {message}"
            )));
        }
        Ok(body)
    }

    pub async fn subscription(&self, id: &str) -> DomainResult<StripeSubscription> {
        let body = self
            .call(reqwest::Method::GET, &format!("subscriptions/{id}"), &[])
            .await?;
        StripeSubscription::from_json(&body)
    }
}

#[async_trait]
impl BillingProvider for Stripe {
    fn name(&self) -> &'static str {
        "stripe"
    }

    async fn checkout(&self, customer: &Customer<'_>, tier: Tier) -> DomainResult<Checkout> {
        let price = self.price(tier)?;
        let mut form = vec![
            ("mode", "subscription".to_string()),
            ("line_items[0][price]", price.to_string()),
            ("line_items[0][quantity]", "1".to_string()),
            ("success_url", self.settings.success_url.clone()),
            ("cancel_url", self.settings.cancel_url.clone()),
            ("client_reference_id", customer.user_id.to_string()),
            ("metadata[user_id]", customer.user_id.to_string()),
            ("metadata[tier]", tier.as_str().to_string()),
            (
                "subscription_data[metadata][user_id]",
                customer.user_id.to_string(),
            ),
            (
                "subscription_data[metadata][tier]",
                tier.as_str().to_string(),
            ),
        ];
        match customer.customer_id {
            Some(id) => form.push(("customer", id.to_string())),
            None => form.push(("customer_email", customer.email.to_string())),
        }
        let session = self
            .call(reqwest::Method::POST, "checkout/sessions", &form)
            .await?;
        match (session["id"].as_str(), session["url"].as_str()) {
            (Some(id), Some(url)) => Ok(Checkout {
                url: url.to_string(),
                session_id: id.to_string(),
            }),
            _ => Err(DomainError::Upstream(
                "Stripe's checkout session has no id or url".into(),
            )),
        }
    }

    async fn portal(&self, customer: &Customer<'_>) -> DomainResult<String> {
        let id = customer
            .customer_id
            .ok_or_else(|| DomainError::NotFound("billing customer (subscribe first)".into()))?;
        let session = self
            .call(
                reqwest::Method::POST,
                "billing_portal/sessions",
                &[
                    ("customer", id.to_string()),
                    ("return_url", self.settings.portal_return_url.clone()),
                ],
            )
            .await?;
        session["url"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| DomainError::Upstream("Stripe's portal session has no url".into()))
    }

    async fn cancel_at_period_end(&self, record: &subscription::Model) -> DomainResult<()> {
        let id = record
            .external_id
            .as_deref()
            .ok_or_else(|| DomainError::NotFound("active subscription".into()))?;
        self.call(
            reqwest::Method::POST,
            &format!("subscriptions/{id}"),
            &[("cancel_at_period_end", "true".to_string())],
        )
        .await?;
        Ok(())
    }

    fn as_stripe(&self) -> Option<&Stripe> {
        Some(self)
    }
}
