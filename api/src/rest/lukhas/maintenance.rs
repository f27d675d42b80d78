//! `/ops/maintenance` (the core API's operations): read and switch maintenance mode.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::maintenance::MaintenanceState;
use crate::http::dialect::Authed;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct MaintenanceStatus {
    /// While true, every request that is not a read (and every GraphQL mutation) from
    /// anyone but an administrator is refused with 503; logging in stays open.
    #[schema(example = true)]
    enabled: bool,
    /// What refused requests are told.
    #[schema(example = "Moving the database to new disks; back by 14:00 UTC.")]
    message: Option<String>,
    changed_at: Option<DateTime<Utc>>,
    /// The administrator's user id.
    #[schema(example = "0b7e2f4a-9c1d-4e8f-a2b3-c4d5e6f7a8b9")]
    changed_by: Option<String>,
}

impl From<MaintenanceState> for MaintenanceStatus {
    fn from(s: MaintenanceState) -> Self {
        Self {
            enabled: s.enabled,
            message: s.message,
            changed_at: s.changed_at,
            changed_by: s.changed_by,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct SetMaintenance {
    #[schema(example = true)]
    enabled: bool,
    #[schema(
        example = "Moving the database to new disks; back by 14:00 UTC.",
        max_length = 500,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*$"
    )]
    message: Option<String>,
}

/// Read maintenance mode
///
/// Whether the deployment is in maintenance, why, and since when (anyone signed in).
#[utoipa::path(
    get, path = "/ops/maintenance", tag = "operations", operation_id = "get_maintenance",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The maintenance state", body = MaintenanceStatus),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
) -> Result<Json<MaintenanceStatus>, Error> {
    Ok(Json(state.maintenance.read(&principal)?.into()))
}

/// Switch maintenance mode
///
/// Turns maintenance on or off for every instance of the deployment (within a second);
/// administrators only, and signed into the ledger (`ops.maintenance_on` / `_off`).
#[utoipa::path(
    put, path = "/ops/maintenance", tag = "operations", operation_id = "set_maintenance",
    security(("bearer" = []), ("api_key" = [])),
    request_body = SetMaintenance,
    responses(
        (status = 200, description = "The new state", body = MaintenanceStatus),
        (status = 400, description = "A message too long or with control characters", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn set(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<SetMaintenance>,
) -> Result<Json<MaintenanceStatus>, Error> {
    let changed = state
        .maintenance
        .set(
            &state.db,
            &state.governance,
            &principal,
            body.enabled,
            body.message,
        )
        .await?;
    Ok(Json(changed.into()))
}
