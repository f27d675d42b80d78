//! Keeping the in-memory vector indexes of several instances on one PostgreSQL database in
//! step. The database stays the source of truth: a change notification carries only ids, and
//! each instance that hears it reads those rows again (upserting what exists, dropping what
//! does not), so notifications that arrive late, twice or out of order still end in the
//! database's state. An instance that lost its listening connection may have missed some, so
//! it resynchronises in full (`Synced::resync`). On SQLite there is one instance per file and
//! nothing to tell.

use std::collections::HashSet;
use std::sync::Arc;

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement};
use serde::{Deserialize, Serialize};

use super::{Item, VectorIndex};
use crate::error::DomainResult;

/// The PostgreSQL notification channel.
pub const CHANNEL: &str = "orrery_index";
/// PostgreSQL refuses payloads from 8 000 bytes; ids are packed into notifications below that.
const MAX_PAYLOAD: usize = 7_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Collection {
    Memory,
    Code,
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// The instance that made the change: it has applied it already.
    pub origin: String,
    pub collection: Collection,
    pub ids: Vec<String>,
}

/// What a service with an index does when told of changes.
#[async_trait]
pub trait Synced: Send + Sync {
    /// Reads the rows of `ids` again: present ones are upserted, missing ones removed.
    async fn refresh(&self, ids: &[String]) -> DomainResult<()>;
    /// Reloads every row and drops items whose rows are gone; returns how many are indexed.
    async fn resync(&self) -> DomainResult<usize>;
}

/// Applies the rows of `ids` read again: those found are upserted, the rest removed.
pub fn apply(index: &dyn VectorIndex, ids: &[String], found: Vec<Item>) {
    let present: HashSet<&str> = found.iter().map(|item| item.id.as_str()).collect();
    for id in ids.iter().filter(|id| !present.contains(id.as_str())) {
        index.remove(id);
    }
    for item in found {
        index.upsert(item);
    }
}

/// The items a full scan did not see: deleted since, or stored after the scan began.
pub fn unseen(index: &dyn VectorIndex, seen: &HashSet<String>) -> Vec<String> {
    index
        .ids()
        .into_iter()
        .filter(|id| !seen.contains(id))
        .collect()
}

/// Tells the other instances which items of an index changed, after the change committed.
#[derive(Clone)]
pub struct IndexNotifier {
    db: Option<DatabaseConnection>,
    origin: Arc<str>,
}

impl IndexNotifier {
    /// Notifies through `db` when it is PostgreSQL; otherwise does nothing.
    pub fn new(db: &DatabaseConnection, origin: &str) -> Self {
        let shared = db.get_database_backend() == DatabaseBackend::Postgres;
        Self {
            db: shared.then(|| db.clone()),
            origin: origin.into(),
        }
    }

    /// Best effort: the change is committed already, so a failure to notify is logged, not
    /// returned (the other instances catch up at their next resynchronisation).
    pub async fn changed(&self, collection: Collection, ids: &[String]) {
        let Some(db) = &self.db else {
            return;
        };
        for payload in payloads(&self.origin, collection, ids) {
            let sent = db
                .execute(Statement::from_sql_and_values(
                    DatabaseBackend::Postgres,
                    "SELECT pg_notify($1, $2)",
                    [CHANNEL.into(), payload.into()],
                ))
                .await;
            if let Err(err) = sent {
                tracing::warn!(%err, ?collection, "could not notify other instances of an index change");
            }
        }
    }
}

/// `ids` as JSON notifications, each under [`MAX_PAYLOAD`] bytes.
pub fn payloads(origin: &str, collection: Collection, ids: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    let mut batch: Vec<String> = Vec::new();
    let mut size = 0;
    let flush = |batch: &mut Vec<String>, out: &mut Vec<String>| {
        if !batch.is_empty() {
            let change = Change {
                origin: origin.to_string(),
                collection,
                ids: std::mem::take(batch),
            };
            out.push(serde_json::to_string(&change).expect("a change serialises"));
        }
    };
    for id in ids {
        // An id's JSON size bounds its share of the payload (quotes, comma, escapes).
        let cost = serde_json::to_string(id).map_or(id.len() * 6 + 3, |s| s.len() + 1);
        if size + cost > MAX_PAYLOAD - 200 - origin.len() {
            flush(&mut batch, &mut out);
            size = 0;
        }
        batch.push(id.clone());
        size += cost;
    }
    flush(&mut batch, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_stay_under_postgres_limit_and_keep_every_id() {
        let ids: Vec<String> = (0..2_000).map(|i| format!("mem_{i:032}")).collect();
        let packed = payloads("instance-a", Collection::Memory, &ids);
        assert!(packed.len() > 1);
        let mut seen = Vec::new();
        for p in &packed {
            assert!(p.len() < MAX_PAYLOAD, "{} bytes", p.len());
            let change: Change = serde_json::from_str(p).unwrap();
            assert_eq!(change.origin, "instance-a");
            assert_eq!(change.collection, Collection::Memory);
            seen.extend(change.ids);
        }
        assert_eq!(seen, ids);
        assert!(payloads("a", Collection::Code, &[]).is_empty());
    }
}
