//! Maintenance mode: while it is on, the deployment refuses changes (every request that is
//! not a read, and GraphQL mutations) from everyone but administrators, with 503 and the
//! operator's message; reads keep working, and administrators keep full access to run the
//! maintenance and to turn it off. The switch is a shared setting every instance follows
//! within a second; each change is signed into the ledger.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::domain::governance::GovernanceService;
use crate::domain::identity::{Principal, Role};
use crate::domain::settings;
use crate::error::{DomainError, DomainResult};

const KEY: &str = "maintenance";
const MESSAGE_MAX: usize = 500;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MaintenanceState {
    pub enabled: bool,
    /// What refused requests are told.
    pub message: Option<String>,
    /// When it was last switched, and by which administrator.
    pub changed_at: Option<DateTime<Utc>>,
    pub changed_by: Option<String>,
}

#[derive(Default)]
pub struct Maintenance {
    /// The fast path every request reads.
    enabled: AtomicBool,
    state: RwLock<MaintenanceState>,
}

fn check_message(message: Option<String>) -> DomainResult<Option<String>> {
    let Some(message) = message.map(|m| m.trim().to_string()) else {
        return Ok(None);
    };
    if message.chars().count() > MESSAGE_MAX {
        return Err(DomainError::invalid(
            "message",
            format!("message must be at most {MESSAGE_MAX} characters"),
        ));
    }
    if message.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "message",
            "message must not contain control characters",
        ));
    }
    Ok((!message.is_empty()).then_some(message))
}

impl Maintenance {
    pub fn is_on(&self) -> bool {
        self.enabled.load(Ordering::Acquire)
    }

    pub fn current(&self) -> MaintenanceState {
        self.state.read().expect("maintenance lock").clone()
    }

    fn apply(&self, state: MaintenanceState) {
        let enabled = state.enabled;
        *self.state.write().expect("maintenance lock") = state;
        self.enabled.store(enabled, Ordering::Release);
    }

    /// The state, for anyone signed in.
    pub fn read(&self, principal: &Principal) -> DomainResult<MaintenanceState> {
        principal.actor()?;
        Ok(self.current())
    }

    /// Refuses a change by `principal` while maintenance is on (administrators pass).
    pub fn admits(&self, principal: &Principal) -> DomainResult<()> {
        if !self.is_on() {
            return Ok(());
        }
        if let Principal::User(actor) = principal {
            if actor.has_role(Role::Admin) {
                return Ok(());
            }
        }
        let state = self.current();
        Err(DomainError::Unavailable(format!(
            "the service is in maintenance and accepts no changes right now{}",
            state.message.map(|m| format!(": {m}")).unwrap_or_default()
        )))
    }

    /// Switches maintenance (administrators only), for every instance.
    pub async fn set(
        &self,
        db: &DatabaseConnection,
        governance: &GovernanceService,
        principal: &Principal,
        enabled: bool,
        message: Option<String>,
    ) -> DomainResult<MaintenanceState> {
        let actor = principal.actor()?;
        if !actor.has_role(Role::Admin) {
            return Err(DomainError::Forbidden(
                "only administrators switch maintenance mode".into(),
            ));
        }
        let state = MaintenanceState {
            enabled,
            message: check_message(message)?,
            changed_at: Some(Utc::now()),
            changed_by: Some(actor.user_id.clone()),
        };
        let value = serde_json::to_string(&state).map_err(DomainError::internal)?;
        settings::write(db, KEY, value).await?;
        self.apply(state.clone());
        governance.announce(crate::bus::Invalidation::Settings);
        governance
            .record_as(
                if enabled {
                    "ops.maintenance_on"
                } else {
                    "ops.maintenance_off"
                },
                &actor.user_id,
                &actor.user_id,
                json!({ "message": state.message }),
            )
            .await?;
        Ok(state)
    }

    /// Follows the shared setting (another instance, or this one's restart).
    pub async fn sync(&self, db: &DatabaseConnection) -> DomainResult<()> {
        let state = match settings::read(db, KEY).await? {
            Some(value) => serde_json::from_str(&value).map_err(DomainError::internal)?,
            None => MaintenanceState::default(),
        };
        if state != self.current() {
            self.apply(state);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::identity::{Actor, Credential, Scopes, Tier};

    fn user(roles: Vec<Role>) -> Principal {
        Principal::User(Actor {
            user_id: "u".into(),
            tier: Tier::Free,
            roles,
            credential: Credential::ApiKey { key_id: "k".into() },
            scopes: Scopes::all(),
            groups: vec![],
        })
    }

    #[test]
    fn only_administrators_pass_while_on() {
        let maintenance = Maintenance::default();
        assert!(maintenance.admits(&Principal::Anonymous).is_ok());
        maintenance.apply(MaintenanceState {
            enabled: true,
            message: Some("moving to new disks".into()),
            ..Default::default()
        });
        let refused = maintenance.admits(&user(vec![Role::User])).unwrap_err();
        assert!(
            refused.to_string().contains("moving to new disks"),
            "{refused}"
        );
        assert!(maintenance.admits(&Principal::Anonymous).is_err());
        assert!(maintenance
            .admits(&user(vec![Role::User, Role::Admin]))
            .is_ok());
    }

    #[test]
    fn messages_are_bounded_and_printable() {
        assert_eq!(check_message(Some("  ".into())).unwrap(), None);
        assert!(check_message(Some("a\u{0}b".into())).is_err());
        assert!(check_message(Some("x".repeat(501))).is_err());
    }
}
