//! Tiers and subscriptions behind a [`BillingProvider`]. The `local` provider (self-hosting,
//! the default) has no payment processor: admins set tiers, which writes a local
//! subscription record that cancel acts on; checkout and portal say they are unavailable.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Months, Utc};
use orrery_entities::{billing_event, subscription};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

pub mod stripe;
pub mod webhook;

use crate::domain::agents::quota::Quotas;
use crate::domain::agents::Usage;
use crate::domain::identity::{AccountChange, IdentityService, Principal, Role, Scope, Tier};
use crate::error::{DomainError, DomainResult};

#[derive(Clone, Debug)]
pub struct Checkout {
    pub url: String,
    pub session_id: String,
}

/// Who is paying, as a provider needs to know them.
pub struct Customer<'a> {
    pub user_id: &'a str,
    pub email: &'a str,
    pub customer_id: Option<&'a str>,
}

#[async_trait]
pub trait BillingProvider: Send + Sync {
    fn name(&self) -> &'static str;
    /// A hosted payment page for `tier`.
    async fn checkout(&self, customer: &Customer<'_>, tier: Tier) -> DomainResult<Checkout>;
    /// A hosted page where the customer manages payment methods and invoices.
    async fn portal(&self, customer: &Customer<'_>) -> DomainResult<String>;
    /// Asks the provider to end the subscription at the end of its period.
    async fn cancel_at_period_end(&self, subscription: &subscription::Model) -> DomainResult<()>;
    /// The Stripe client, when this provider is Stripe (webhooks need it).
    fn as_stripe(&self) -> Option<&stripe::Stripe> {
        None
    }
}

/// Self-hosting: there is no payment processor to send anyone to.
pub struct LocalBilling;

#[async_trait]
impl BillingProvider for LocalBilling {
    fn name(&self) -> &'static str {
        "local"
    }

    async fn checkout(&self, _: &Customer<'_>, _: Tier) -> DomainResult<Checkout> {
        Err(DomainError::NotImplemented(
            "Checkout is not available: this server uses local billing (no payment provider is configured). An administrator sets tiers with `orrery user update --tier` or the GraphQL setTier mutation.".into(),
        ))
    }

    async fn portal(&self, _: &Customer<'_>) -> DomainResult<String> {
        Err(DomainError::NotImplemented(
            "The billing portal is not available: this server uses local billing (no payment provider is configured).".into(),
        ))
    }

    async fn cancel_at_period_end(&self, _: &subscription::Model) -> DomainResult<()> {
        Ok(())
    }
}

#[derive(Clone, Debug)]
pub struct SubscriptionView {
    pub tier: Tier,
    /// `active`, `past_due`, `canceled`, or `none` without a subscription.
    pub status: String,
    pub subscription: Option<subscription::Model>,
}

/// What a webhook delivery did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WebhookOutcome {
    Applied,
    /// The event was applied before (Stripe redelivers).
    Duplicate,
    /// Older than the state the record holds (events can arrive out of order).
    Stale,
    /// Not an event Orrery acts on, or about a subscription it does not know.
    Ignored,
}

/// Webhook verification settings.
pub struct WebhookSecret {
    pub secret: String,
    pub tolerance_secs: u64,
}

pub struct BillingService {
    db: DatabaseConnection,
    provider: Arc<dyn BillingProvider>,
    webhook: Option<WebhookSecret>,
}

/// The tier a Stripe subscription in `status` grants.
fn granted(status: &str, tier: Tier) -> Tier {
    match status {
        "active" | "trialing" | "past_due" => tier,
        _ => Tier::Free,
    }
}

impl BillingService {
    pub fn new(
        db: DatabaseConnection,
        provider: Arc<dyn BillingProvider>,
        webhook: Option<WebhookSecret>,
    ) -> Self {
        Self {
            db,
            provider,
            webhook,
        }
    }

    /// Verifies and applies one Stripe webhook delivery. Each event applies once: its id is
    /// claimed first and released again if applying it fails (so Stripe's retry can).
    pub async fn webhook(
        &self,
        identity: &IdentityService,
        payload: &[u8],
        signature: Option<&str>,
    ) -> DomainResult<WebhookOutcome> {
        // A request without its signature is malformed whatever this server's billing is.
        let signature = signature.ok_or_else(|| {
            DomainError::invalid("Stripe-Signature", "the Stripe-Signature header is missing")
        })?;
        let (Some(stripe), Some(secret)) = (self.provider.as_stripe(), &self.webhook) else {
            return Err(DomainError::NotImplemented(
                "Stripe webhooks are not configured on this server (local billing, or no webhook secret)".into(),
            ));
        };
        webhook::verify(
            payload,
            signature,
            &secret.secret,
            secret.tolerance_secs,
            Utc::now(),
        )?;
        let event = webhook::parse(payload)?;
        let claimed = billing_event::Entity::insert(billing_event::ActiveModel {
            id: Set(event.id.clone()),
            kind: Set(event.kind.chars().take(64).collect()),
            received_at: Set(Utc::now()),
        })
        .on_conflict(
            OnConflict::column(billing_event::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(&self.db)
        .await?;
        if claimed == 0 {
            return Ok(WebhookOutcome::Duplicate);
        }
        let applied = self.apply_event(identity, stripe, &event).await;
        if applied.is_err() {
            billing_event::Entity::delete_by_id(event.id.clone())
                .exec(&self.db)
                .await?;
        }
        applied
    }

    async fn apply_event(
        &self,
        identity: &IdentityService,
        stripe: &stripe::Stripe,
        event: &webhook::Event,
    ) -> DomainResult<WebhookOutcome> {
        let (subscription, user_hint) = match webhook::change_of(event)? {
            webhook::Change::Ignored => return Ok(WebhookOutcome::Ignored),
            webhook::Change::CheckoutCompleted {
                user_id,
                subscription_id,
            } => (stripe.subscription(&subscription_id).await?, user_id),
            webhook::Change::Subscription(subscription) => (subscription, None),
            webhook::Change::PaymentFailed { subscription_id } => {
                let Some(record) = self.by_external(&subscription_id).await? else {
                    return Ok(WebhookOutcome::Ignored);
                };
                if record.source_updated_at > event.created {
                    return Ok(WebhookOutcome::Stale);
                }
                subscription::Entity::update_many()
                    .col_expr(subscription::Column::Status, Expr::value("past_due"))
                    .col_expr(
                        subscription::Column::SourceUpdatedAt,
                        Expr::value(event.created),
                    )
                    .col_expr(subscription::Column::UpdatedAt, Expr::value(Utc::now()))
                    .filter(subscription::Column::UserId.eq(record.user_id.as_str()))
                    .exec(&self.db)
                    .await?;
                return Ok(WebhookOutcome::Applied);
            }
        };
        let existing = self.by_external(&subscription.id).await?;
        let user_id = existing
            .as_ref()
            .map(|r| r.user_id.clone())
            .or(user_hint)
            .or_else(|| subscription.metadata_user.clone());
        let Some(user_id) = user_id else {
            return Ok(WebhookOutcome::Ignored);
        };
        if identity.user_by_id(&user_id).await?.is_none() {
            return Ok(WebhookOutcome::Ignored);
        }
        let current = self.record(&user_id).await?;
        if let Some(record) = &current {
            if record.source_updated_at > event.created {
                return Ok(WebhookOutcome::Stale);
            }
        }
        let tier = subscription
            .price
            .as_deref()
            .and_then(|p| stripe.tier_of_price(p))
            .or_else(|| {
                subscription
                    .metadata_tier
                    .as_deref()
                    .and_then(|t| t.parse().ok())
            })
            .or_else(|| current.as_ref().and_then(|r| r.tier.parse().ok()))
            .unwrap_or(Tier::Pro);
        let now = Utc::now();
        let start = subscription.current_period_start.unwrap_or(event.created);
        let record = subscription::ActiveModel {
            user_id: Set(user_id.clone()),
            provider: Set("stripe".into()),
            tier: Set(tier.as_str().into()),
            status: Set(subscription.status.chars().take(24).collect()),
            external_id: Set(Some(subscription.id.clone())),
            customer_id: Set(subscription.customer.clone()),
            current_period_start: Set(start),
            current_period_end: Set(subscription
                .current_period_end
                .unwrap_or_else(|| start.checked_add_months(Months::new(1)).unwrap_or(start))),
            cancel_at_period_end: Set(subscription.cancel_at_period_end),
            source_updated_at: Set(event.created),
            created_at: Set(current.as_ref().map_or(now, |r| r.created_at)),
            updated_at: Set(now),
        };
        subscription::Entity::insert(record)
            .on_conflict(
                OnConflict::column(subscription::Column::UserId)
                    .update_columns([
                        subscription::Column::Provider,
                        subscription::Column::Tier,
                        subscription::Column::Status,
                        subscription::Column::ExternalId,
                        subscription::Column::CustomerId,
                        subscription::Column::CurrentPeriodStart,
                        subscription::Column::CurrentPeriodEnd,
                        subscription::Column::CancelAtPeriodEnd,
                        subscription::Column::SourceUpdatedAt,
                        subscription::Column::UpdatedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&self.db)
            .await?;
        let wanted = granted(&subscription.status, tier);
        let user = identity
            .user_by_id(&user_id)
            .await?
            .ok_or_else(|| DomainError::NotFound("user".into()))?;
        if user.tier != wanted {
            identity
                .apply_user_update(
                    &user_id,
                    AccountChange {
                        roles: None,
                        groups: None,
                        tier: Some(wanted),
                    },
                    "stripe",
                )
                .await?;
        }
        Ok(WebhookOutcome::Applied)
    }

    async fn by_external(&self, id: &str) -> DomainResult<Option<subscription::Model>> {
        Ok(subscription::Entity::find()
            .filter(subscription::Column::ExternalId.eq(id))
            .one(&self.db)
            .await?)
    }

    pub fn provider_name(&self) -> &'static str {
        self.provider.name()
    }

    async fn record(&self, user_id: &str) -> DomainResult<Option<subscription::Model>> {
        Ok(subscription::Entity::find_by_id(user_id.to_string())
            .one(&self.db)
            .await?)
    }

    pub async fn subscription(&self, principal: &Principal) -> DomainResult<SubscriptionView> {
        let actor = principal.actor()?;
        actor.require(Scope::AccountRead)?;
        let record = self.record(&actor.user_id).await?;
        Ok(SubscriptionView {
            tier: actor.tier,
            status: record
                .as_ref()
                .map_or_else(|| "none".to_string(), |r| r.status.clone()),
            subscription: record,
        })
    }

    pub async fn usage(&self, principal: &Principal, quotas: &Quotas) -> DomainResult<Usage> {
        let actor = principal.actor()?;
        actor.require(Scope::AccountRead)?;
        quotas.usage(&actor.user_id, actor.tier).await
    }

    pub async fn checkout(
        &self,
        principal: &Principal,
        identity: &IdentityService,
        tier: Tier,
    ) -> DomainResult<Checkout> {
        let actor = principal.actor()?;
        actor.require(Scope::AccountWrite)?;
        if tier == Tier::Free {
            return Err(DomainError::invalid("tier", "checkout is for pro or team"));
        }
        let user = identity.user(principal, &actor.user_id).await?;
        let record = self.record(&actor.user_id).await?;
        self.provider
            .checkout(
                &Customer {
                    user_id: &actor.user_id,
                    email: &user.email,
                    customer_id: record.as_ref().and_then(|r| r.customer_id.as_deref()),
                },
                tier,
            )
            .await
    }

    pub async fn portal(
        &self,
        principal: &Principal,
        identity: &IdentityService,
    ) -> DomainResult<String> {
        let actor = principal.actor()?;
        actor.require(Scope::AccountWrite)?;
        let user = identity.user(principal, &actor.user_id).await?;
        let record = self.record(&actor.user_id).await?;
        self.provider
            .portal(&Customer {
                user_id: &actor.user_id,
                email: &user.email,
                customer_id: record.as_ref().and_then(|r| r.customer_id.as_deref()),
            })
            .await
    }

    /// Ends the caller's subscription at the end of its period.
    pub async fn cancel(&self, principal: &Principal) -> DomainResult<subscription::Model> {
        let actor = principal.actor()?;
        actor.require(Scope::AccountWrite)?;
        let record = self
            .record(&actor.user_id)
            .await?
            .filter(|r| r.status != "canceled" && !r.cancel_at_period_end)
            .ok_or_else(|| DomainError::NotFound("active subscription".into()))?;
        self.provider.cancel_at_period_end(&record).await?;
        let now = Utc::now();
        subscription::Entity::update_many()
            .col_expr(subscription::Column::CancelAtPeriodEnd, Expr::value(true))
            .col_expr(subscription::Column::UpdatedAt, Expr::value(now))
            .filter(subscription::Column::UserId.eq(actor.user_id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(subscription::Model {
            cancel_at_period_end: true,
            updated_at: now,
            ..record
        })
    }

    /// An admin sets a user's tier (local billing): the account changes (an audit-ledger
    /// entry, like every account change) and a local subscription record starts a month,
    /// or is removed for `free`.
    pub async fn set_tier(
        &self,
        principal: &Principal,
        identity: &IdentityService,
        user_id: &str,
        tier: Tier,
    ) -> DomainResult<crate::domain::identity::User> {
        let actor = principal.actor()?;
        if !actor.has_role(Role::Admin) {
            return Err(DomainError::Forbidden("only admins can set tiers".into()));
        }
        self.apply_tier(identity, user_id, tier, &actor.user_id)
            .await
    }

    /// [`Self::set_tier`] without the principal check, for the operator's CLI.
    pub async fn apply_tier(
        &self,
        identity: &IdentityService,
        user_id: &str,
        tier: Tier,
        by: &str,
    ) -> DomainResult<crate::domain::identity::User> {
        let user = identity
            .apply_user_update(
                user_id,
                AccountChange {
                    roles: None,
                    groups: None,
                    tier: Some(tier),
                },
                by,
            )
            .await?;
        if tier == Tier::Free {
            subscription::Entity::delete_many()
                .filter(subscription::Column::UserId.eq(user_id))
                .exec(&self.db)
                .await?;
        } else {
            let now = Utc::now();
            subscription::Entity::insert(local_record(user_id, tier, now))
                .on_conflict(
                    OnConflict::column(subscription::Column::UserId)
                        .update_columns([
                            subscription::Column::Provider,
                            subscription::Column::Tier,
                            subscription::Column::Status,
                            subscription::Column::CurrentPeriodStart,
                            subscription::Column::CurrentPeriodEnd,
                            subscription::Column::CancelAtPeriodEnd,
                            subscription::Column::SourceUpdatedAt,
                            subscription::Column::UpdatedAt,
                        ])
                        .to_owned(),
                )
                .exec_without_returning(&self.db)
                .await?;
        }
        Ok(user)
    }

    /// Subscriptions cancelled at period end whose period is over: their accounts return to
    /// `free` and the record goes. Returns how many.
    pub async fn expire_ended(&self, identity: &IdentityService) -> DomainResult<usize> {
        let ended = subscription::Entity::find()
            .filter(subscription::Column::CancelAtPeriodEnd.eq(true))
            .filter(subscription::Column::CurrentPeriodEnd.lt(Utc::now()))
            .all(&self.db)
            .await?;
        for record in &ended {
            self.apply_tier(identity, &record.user_id, Tier::Free, "billing")
                .await?;
        }
        Ok(ended.len())
    }
}

fn local_record(user_id: &str, tier: Tier, now: DateTime<Utc>) -> subscription::ActiveModel {
    subscription::ActiveModel {
        user_id: Set(user_id.to_string()),
        provider: Set("local".into()),
        tier: Set(tier.as_str().into()),
        status: Set("active".into()),
        external_id: Set(Some(format!(
            "local_{}",
            ulid::Ulid::new().to_string().to_lowercase()
        ))),
        customer_id: Set(None),
        current_period_start: Set(now),
        current_period_end: Set(now.checked_add_months(Months::new(1)).unwrap_or(now)),
        cancel_at_period_end: Set(false),
        source_updated_at: Set(now),
        created_at: Set(now),
        updated_at: Set(now),
    }
}
