//! Monthly executions per account: one row per account and calendar month (UTC), charged by
//! a single conditional `UPDATE … RETURNING`, so concurrent executes can never push the count
//! past the limit and each learns the count its own charge produced.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use orrery_entities::usage_counter;
use sea_orm::sea_query::OnConflict;
use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, EntityTrait, Set, Statement, Value,
};

use crate::config::AgentsConfig;
use crate::domain::identity::Tier;
use crate::error::{DomainError, DomainResult};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Charge {
    Agent,
    Chain,
}

/// The month's count after a charge, or as it stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Usage {
    pub tier: Tier,
    pub agent_executions: u32,
    pub chain_executions: u32,
    pub limit: u32,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
}

impl Usage {
    pub fn used(&self) -> u32 {
        self.agent_executions + self.chain_executions
    }

    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used())
    }
}

pub fn limit_for(config: &AgentsConfig, tier: Tier) -> u32 {
    match tier {
        Tier::Free => config.quota_free,
        Tier::Pro => config.quota_pro,
        Tier::Team => config.quota_team,
    }
}

/// The calendar month (UTC) holding `at`: its key and bounds.
pub fn period(at: DateTime<Utc>) -> (String, DateTime<Utc>, DateTime<Utc>) {
    let start = Utc
        .with_ymd_and_hms(at.year(), at.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists");
    let (year, month) = if at.month() == 12 {
        (at.year() + 1, 1)
    } else {
        (at.year(), at.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(year, month, 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists");
    (format!("{:04}-{:02}", at.year(), at.month()), start, end)
}

#[derive(Clone)]
pub struct Quotas {
    db: DatabaseConnection,
    config: AgentsConfig,
}

impl Quotas {
    pub fn new(db: DatabaseConnection, config: AgentsConfig) -> Self {
        Self { db, config }
    }

    /// Charges one execution on `db` (a transaction the caller commits with what the
    /// execution writes), or refuses with the count as it stands when the month's
    /// executions are used up.
    pub async fn charge<C: ConnectionTrait>(
        &self,
        db: &C,
        user_id: &str,
        tier: Tier,
        charge: Charge,
    ) -> DomainResult<Usage> {
        let now = Utc::now();
        let (key, start, end) = period(now);
        let limit = limit_for(&self.config, tier);
        usage_counter::Entity::insert(usage_counter::ActiveModel {
            user_id: Set(user_id.to_string()),
            period: Set(key.clone()),
            agent_executions: Set(0),
            chain_executions: Set(0),
        })
        .on_conflict(
            OnConflict::columns([usage_counter::Column::UserId, usage_counter::Column::Period])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(db)
        .await?;
        let column = match charge {
            Charge::Agent => "agent_executions",
            Charge::Chain => "chain_executions",
        };
        let backend = db.get_database_backend();
        let (a, b, c) = match backend {
            DatabaseBackend::Postgres => ("$1", "$2", "$3"),
            _ => ("?", "?", "?"),
        };
        let sql = format!(
            "UPDATE usage_counters SET {column} = {column} + 1 \
             WHERE user_id = {a} AND period = {b} AND agent_executions + chain_executions < {c} \
             RETURNING agent_executions, chain_executions"
        );
        let row = db
            .query_one(Statement::from_sql_and_values(
                backend,
                sql,
                [
                    Value::from(user_id),
                    Value::from(key.as_str()),
                    Value::from(limit as i64),
                ],
            ))
            .await?;
        let counts = match row {
            Some(row) => (
                row.try_get::<i32>("", "agent_executions")?,
                row.try_get::<i32>("", "chain_executions")?,
            ),
            None => {
                let current = current_counts(db, user_id, &key).await?;
                return Err(DomainError::ExecutionQuota {
                    tier: tier.as_str().into(),
                    used: current.0 + current.1,
                    limit,
                });
            }
        };
        Ok(Usage {
            tier,
            agent_executions: counts.0.max(0) as u32,
            chain_executions: counts.1.max(0) as u32,
            limit,
            period_start: start,
            period_end: end,
        })
    }

    /// This month's usage.
    pub async fn usage(&self, user_id: &str, tier: Tier) -> DomainResult<Usage> {
        let (key, start, end) = period(Utc::now());
        let (agent, chain) = current_counts(&self.db, user_id, &key).await?;
        Ok(Usage {
            tier,
            agent_executions: agent,
            chain_executions: chain,
            limit: limit_for(&self.config, tier),
            period_start: start,
            period_end: end,
        })
    }
}

async fn current_counts<C: ConnectionTrait>(
    db: &C,
    user_id: &str,
    key: &str,
) -> DomainResult<(u32, u32)> {
    let row = usage_counter::Entity::find_by_id((user_id.to_string(), key.to_string()))
        .one(db)
        .await?;
    Ok(row.map_or((0, 0), |r| {
        (
            r.agent_executions.max(0) as u32,
            r.chain_executions.max(0) as u32,
        )
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_calendar_months_in_utc() {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        let (key, start, end) = period(at);
        assert_eq!(key, "2026-12");
        assert_eq!(start.to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(end.to_rfc3339(), "2027-01-01T00:00:00+00:00");
        let (key, _, end) = period(Utc.with_ymd_and_hms(2027, 2, 3, 0, 0, 0).unwrap());
        assert_eq!(key, "2027-02");
        assert_eq!(end.to_rfc3339(), "2027-03-01T00:00:00+00:00");
    }
}
