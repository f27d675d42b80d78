//! Maintenance mode in GraphQL: `maintenance` (anyone signed in) and `setMaintenance`
//! (administrators). While it is on, mutations other than logging in are refused with
//! `SERVICE_UNAVAILABLE` for everyone but administrators.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::core;
use super::errors::{to_gql, user_error, UserError};
use super::identity::require_user;
use super::scalars::DateTime;
use crate::domain::maintenance::MaintenanceState;

#[derive(SimpleObject)]
pub struct Maintenance {
    enabled: bool,
    /// What refused requests are told.
    message: Option<String>,
    changed_at: Option<DateTime>,
    /// The administrator's user id.
    changed_by: Option<String>,
}

impl From<MaintenanceState> for Maintenance {
    fn from(s: MaintenanceState) -> Self {
        Self {
            enabled: s.enabled,
            message: s.message,
            changed_at: s.changed_at.map(DateTime),
            changed_by: s.changed_by,
        }
    }
}

#[derive(InputObject)]
pub struct SetMaintenanceInput {
    enabled: bool,
    /// At most 500 characters.
    message: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct SetMaintenancePayload {
    maintenance: Option<Maintenance>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct MaintenanceQuery;

#[Object]
impl MaintenanceQuery {
    /// Whether the deployment is in maintenance.
    async fn maintenance(&self, ctx: &Context<'_>) -> async_graphql::Result<Maintenance> {
        let p = require_user(ctx)?;
        Ok(core(ctx).maintenance.read(p).map_err(to_gql)?.into())
    }
}

#[derive(Default)]
pub struct MaintenanceMutation;

#[Object]
impl MaintenanceMutation {
    /// Turns maintenance on or off for every instance (administrators only).
    async fn set_maintenance(
        &self,
        ctx: &Context<'_>,
        input: SetMaintenanceInput,
    ) -> async_graphql::Result<SetMaintenancePayload> {
        let p = require_user(ctx)?;
        let core = core(ctx);
        Ok(
            match core
                .maintenance
                .set(&core.db, &core.governance, p, input.enabled, input.message)
                .await
            {
                Ok(state) => SetMaintenancePayload {
                    maintenance: Some(state.into()),
                    user_errors: vec![],
                },
                Err(err) => SetMaintenancePayload {
                    maintenance: None,
                    user_errors: vec![user_error(err)?],
                },
            },
        )
    }
}
