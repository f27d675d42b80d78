//! `/ops` (the core API's operations): take a verified backup, list the backups.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use super::{Error, Lukhas, LukhasError};
use crate::domain::ops::Backup;
use crate::http::dialect::Authed;
use crate::state::AppState;

#[derive(Serialize, ToSchema)]
pub struct BackupFile {
    /// The file's name in `<data_dir>/backups`.
    #[schema(example = "orrery-20261207T001502Z-7K2M9Q.db")]
    name: String,
    #[schema(example = 1_843_200)]
    bytes: u64,
    #[schema(example = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08")]
    sha256: String,
    created_at: DateTime<Utc>,
}

impl From<Backup> for BackupFile {
    fn from(b: Backup) -> Self {
        Self {
            name: b.name,
            bytes: b.bytes,
            sha256: b.sha256,
            created_at: b.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct BackupLedger {
    /// The copy's ledger verifies from the genesis with this node's key.
    #[schema(example = true)]
    valid: bool,
    #[schema(example = 1204)]
    entries_checked: u64,
    #[schema(example = 1203)]
    head_seq: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct BackupResult {
    backup: BackupFile,
    ledger: BackupLedger,
    #[schema(example = 412.7)]
    duration_ms: f64,
}

/// Take a backup
///
/// Copies the SQLite database now, consistent while the server writes (SQLite's `VACUUM
/// INTO`), into `<data_dir>/backups` (the newest 20 are kept), then verifies the copy's
/// ledger before answering. Restore one with `orrery restore FILE --node-from DATA_DIR`.
/// On PostgreSQL: 422 (use pg_dump). One at a time (409 while one runs). Administrators only.
#[utoipa::path(
    post, path = "/ops/backup", tag = "operations", operation_id = "take_backup",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 201, description = "The backup and its verified ledger", body = BackupResult),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator", body = LukhasError),
        (status = 409, description = "A backup is being taken", body = LukhasError),
        (status = 422, description = "The database is PostgreSQL", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn backup(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
) -> Result<(StatusCode, Json<BackupResult>), Error> {
    let taken = state.ops.backup(&state, &principal).await?;
    Ok((
        StatusCode::CREATED,
        Json(BackupResult {
            backup: taken.backup.into(),
            ledger: BackupLedger {
                valid: taken.ledger.valid,
                entries_checked: taken.ledger.entries_checked,
                head_seq: taken.ledger.head_seq,
            },
            duration_ms: taken.duration_ms,
        }),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct BackupList {
    /// Newest first.
    backups: Vec<BackupFile>,
}

/// List backups
///
/// The backups in `<data_dir>/backups`, newest first, with their sizes and SHA-256.
/// Administrators only.
#[utoipa::path(
    get, path = "/ops/backups", tag = "operations", operation_id = "list_backups",
    security(("bearer" = []), ("api_key" = [])),
    responses(
        (status = 200, description = "The backups", body = BackupList),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "Not an administrator", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn backups(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
) -> Result<Json<BackupList>, Error> {
    let found = state.ops.backups(&state, &principal).await?;
    Ok(Json(BackupList {
        backups: found.into_iter().map(Into::into).collect(),
    }))
}
