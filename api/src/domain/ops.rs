//! Operations (the LUKHAS core API's `/ops`): backups of the SQLite database taken while the
//! server runs (SQLite's `VACUUM INTO`, a consistent copy), each verified by walking the
//! copy's ledger before it is reported; the list of backups; and restoring one into a fresh
//! data directory (the CLI's `orrery restore`). PostgreSQL deployments back up with their
//! own tools. Definitions in docs/DECISIONS.md ("Operations: backups").

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection};
use sha2::{Digest, Sha256};
use tokio::sync::Mutex;

use crate::domain::governance::verify::{self, Report};
use crate::domain::identity::{Principal, Role};
use crate::error::{DomainError, DomainResult};
use crate::state::Core;

/// Backups kept in `<data_dir>/backups` at most; the oldest go first.
pub const MAX_BACKUPS: usize = 20;

#[derive(Clone, Debug)]
pub struct Backup {
    /// The file's name in `<data_dir>/backups`.
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct VerifiedBackup {
    pub backup: Backup,
    /// The copy's ledger, walked from the genesis with this node's key.
    pub ledger: Report,
    pub duration_ms: f64,
}

/// Copies the SQLite database at `db` into `target` (a new file), consistent while the
/// server writes: SQLite's `VACUUM INTO`.
pub async fn sqlite_copy(db: &DatabaseConnection, target: &Path) -> DomainResult<()> {
    if target.exists() {
        return Err(DomainError::Conflict(format!(
            "{} exists already",
            target.display()
        )));
    }
    let quoted = target.to_string_lossy().replace('\'', "''");
    db.execute_unprepared(&format!("VACUUM INTO '{quoted}'"))
        .await?;
    Ok(())
}

fn sha256_file(path: &Path) -> std::io::Result<(u64, String)> {
    use std::io::Read;
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 16];
    let mut bytes = 0u64;
    loop {
        let n = file.read(&mut buffer)?;
        if n == 0 {
            break;
        }
        bytes += n as u64;
        hasher.update(&buffer[..n]);
    }
    Ok((
        bytes,
        crate::domain::identity::tokens::hex(&hasher.finalize()),
    ))
}

async fn describe(path: &Path) -> DomainResult<Backup> {
    let owned = path.to_path_buf();
    let (bytes, sha256) = tokio::task::spawn_blocking(move || sha256_file(&owned))
        .await
        .map_err(DomainError::internal)?
        .map_err(DomainError::internal)?;
    let created_at = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .map(DateTime::<Utc>::from)
        .map_err(DomainError::internal)?;
    Ok(Backup {
        name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        bytes,
        sha256,
        created_at,
    })
}

/// Walks the ledger of the SQLite file at `path` with `key`.
pub async fn verify_copy(path: &Path, key: ed25519_dalek::VerifyingKey) -> DomainResult<Report> {
    let url = format!("sqlite://{}", path.display());
    let copy = crate::db::connect(&url)
        .await
        .map_err(|e| DomainError::internal(format!("opening the backup: {e}")))?;
    let report = verify::verify_chain(&copy, key, |_| {}).await;
    copy.close().await.ok();
    report
}

pub struct Ops {
    /// One backup at a time.
    running: Mutex<()>,
}

impl Default for Ops {
    fn default() -> Self {
        Self {
            running: Mutex::new(()),
        }
    }
}

fn admin_only(principal: &Principal) -> DomainResult<()> {
    if principal.actor()?.has_role(Role::Admin) {
        Ok(())
    } else {
        Err(DomainError::Forbidden(
            "only administrators run operations".into(),
        ))
    }
}

fn backups_dir(core: &Core) -> PathBuf {
    core.config.data_dir.join("backups")
}

impl Ops {
    /// Takes a backup now and verifies its ledger (administrators only).
    pub async fn backup(&self, core: &Core, principal: &Principal) -> DomainResult<VerifiedBackup> {
        admin_only(principal)?;
        if !core.config.database_url().starts_with("sqlite:") {
            return Err(DomainError::Unprocessable(
                "this server's database is PostgreSQL: back it up with pg_dump (docs/DEPLOY.md); backups through the API copy SQLite databases".into(),
            ));
        }
        let Ok(_one) = self.running.try_lock() else {
            return Err(DomainError::Conflict(
                "a backup is being taken; try again when it is done".into(),
            ));
        };
        let started = std::time::Instant::now();
        let dir = backups_dir(core);
        std::fs::create_dir_all(&dir).map_err(DomainError::internal)?;
        let now = Utc::now();
        let name = format!(
            "orrery-{}-{}.db",
            now.format("%Y%m%dT%H%M%SZ"),
            &ulid::Ulid::new().to_string()[20..]
        );
        let path = dir.join(&name);
        sqlite_copy(&core.db, &path).await?;
        let ledger = verify_copy(&path, core.governance.node().public_key()).await?;
        let backup = describe(&path).await?;
        prune(&dir);
        Ok(VerifiedBackup {
            backup,
            ledger,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// The backups in `<data_dir>/backups`, newest first (administrators only).
    pub async fn backups(&self, core: &Core, principal: &Principal) -> DomainResult<Vec<Backup>> {
        admin_only(principal)?;
        let mut found = Vec::new();
        for path in backup_files(&backups_dir(core)) {
            found.push(describe(&path).await?);
        }
        found.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then_with(|| b.name.cmp(&a.name))
        });
        Ok(found)
    }
}

fn backup_files(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("orrery-") && n.ends_with(".db"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Keeps the newest `MAX_BACKUPS` (names sort by time).
fn prune(dir: &Path) {
    let mut files = backup_files(dir);
    files.sort();
    let excess = files.len().saturating_sub(MAX_BACKUPS);
    for old in files.into_iter().take(excess) {
        if let Err(err) = std::fs::remove_file(&old) {
            tracing::warn!(%err, file = %old.display(), "could not remove an old backup");
        }
    }
}

/// Restores the backup at `from` as the database of `data_dir`, which must not have one,
/// with the node key of `node_dir` (the original data directory: the ledger is signed with
/// it) unless `data_dir` has its own; then walks the restored ledger with that key.
pub async fn restore(from: &Path, data_dir: &Path, node_dir: &Path) -> DomainResult<Report> {
    use crate::domain::governance::node::{NodeKey, FILE};
    let target = data_dir.join("orrery.db");
    if target.exists() {
        return Err(DomainError::Conflict(format!(
            "{} exists already: restore into a fresh data directory",
            target.display()
        )));
    }
    if !from.is_file() {
        return Err(DomainError::NotFound(format!(
            "{} is not a file",
            from.display()
        )));
    }
    std::fs::create_dir_all(data_dir).map_err(DomainError::internal)?;
    let node = data_dir.join(FILE);
    if !node.exists() {
        let original = node_dir.join(FILE);
        if !original.exists() {
            return Err(DomainError::NotFound(format!(
                "{} has no node key ({FILE}): the ledger cannot be verified without the key that signed it",
                node_dir.display()
            )));
        }
        std::fs::copy(&original, &node).map_err(DomainError::internal)?;
    }
    std::fs::copy(from, &target).map_err(DomainError::internal)?;
    let key = NodeKey::load_or_create(data_dir)?.public_key();
    verify_copy(&target, key).await
}
