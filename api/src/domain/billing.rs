//! Tiers and subscriptions behind a [`BillingProvider`]. The `local` provider (self-hosting,
//! the default) has no payment processor: admins set tiers, which writes a local
//! subscription record that cancel acts on; checkout and portal say they are unavailable.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Months, Utc};
use orrery_entities::subscription;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, Set};

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

pub struct BillingService {
    db: DatabaseConnection,
    provider: Arc<dyn BillingProvider>,
}

impl BillingService {
    pub fn new(db: DatabaseConnection, provider: Arc<dyn BillingProvider>) -> Self {
        Self { db, provider }
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
