//! Ledger verification: every hash, link and signature is recomputed and the first bad
//! entry is named. Signed checkpoints (seq, head hash, time) exported elsewhere make
//! truncation detectable.

use chrono::{DateTime, Utc};
use ed25519_dalek::VerifyingKey;
use orrery_entities::gov_ledger;
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};

use super::canonical::{self, canonical, parse_signature, CHECKPOINT_TAG};
use super::ledger::{entry_hash, GENESIS_PREV};
use super::node::NodeKey;
use crate::error::{DomainError, DomainResult};

const PAGE: u64 = 4096;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BadEntry {
    pub seq: i64,
    pub entry_id: Option<String>,
    pub problem: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Report {
    pub valid: bool,
    pub entries_checked: u64,
    pub head_seq: Option<i64>,
    pub head_hash: Option<String>,
    pub first_bad: Option<BadEntry>,
}

fn bad(entry: &gov_ledger::Model, problem: impl Into<String>) -> BadEntry {
    BadEntry {
        seq: entry.seq,
        entry_id: Some(entry.entry_id.clone()),
        problem: problem.into(),
    }
}

/// What is wrong with one entry on its own (its hash, its signature), if anything; its
/// links to its neighbours are the chain's to check.
pub fn entry_problem(key: &VerifyingKey, entry: &gov_ledger::Model) -> Option<String> {
    check_entry(key, entry).map(|bad| bad.problem)
}

/// The CPU-heavy checks of one entry: its hash and its signature.
fn check_entry(key: &VerifyingKey, entry: &gov_ledger::Model) -> Option<BadEntry> {
    if entry_hash(entry) != entry.entry_hash {
        return Some(bad(entry, "entry_hash does not match the entry's contents"));
    }
    let Some(signature) = parse_signature(&entry.signature) else {
        return Some(bad(entry, "signature is malformed"));
    };
    use ed25519_dalek::Verifier;
    key.verify(entry.entry_hash.as_bytes(), &signature)
        .err()
        .map(|_| bad(entry, "signature is not the node key's"))
}

/// Checks a page on every core; batch signature verification first, one by one only to
/// find the first bad entry when the batch fails.
fn check_page(key: &VerifyingKey, entries: &[gov_ledger::Model]) -> Option<BadEntry> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .max(1);
    let chunk = entries.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = entries
            .chunks(chunk)
            .map(|part| scope.spawn(move || check_chunk(key, part)))
            .collect();
        handles
            .into_iter()
            .filter_map(|h| h.join().ok().flatten())
            .min_by_key(|b| b.seq)
    })
}

fn check_chunk(key: &VerifyingKey, entries: &[gov_ledger::Model]) -> Option<BadEntry> {
    let mut messages = Vec::with_capacity(entries.len());
    let mut signatures = Vec::with_capacity(entries.len());
    for entry in entries {
        let hash_ok = entry_hash(entry) == entry.entry_hash;
        let signature = parse_signature(&entry.signature);
        match (hash_ok, signature) {
            (true, Some(signature)) => {
                messages.push(entry.entry_hash.as_bytes());
                signatures.push(signature);
            }
            _ => return entries.iter().find_map(|e| check_entry(key, e)),
        }
    }
    let keys = vec![*key; signatures.len()];
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        None
    } else {
        entries.iter().find_map(|e| check_entry(key, e))
    }
}

async fn fetch_page(db: DatabaseConnection, from_seq: i64) -> DomainResult<Vec<gov_ledger::Model>> {
    Ok(gov_ledger::Entity::find()
        .filter(gov_ledger::Column::Seq.gte(from_seq))
        .order_by_asc(gov_ledger::Column::Seq)
        .limit(PAGE)
        .all(&db)
        .await?)
}

/// Verifies the whole chain; `progress` is told how many entries are done.
pub async fn verify_chain(
    db: &DatabaseConnection,
    key: VerifyingKey,
    progress: impl FnMut(u64),
) -> DomainResult<Report> {
    verify_from(db, key, None, progress).await
}

/// Verifies the chain after `verified` (the `(seq, entry_hash)` of an entry an earlier
/// verification reached), or from the genesis when `None`: the entry at `verified` must
/// still hold that hash (and its own hash and signature), and everything after it must
/// link to it. `head_*` is the last entry checked (`verified` itself when nothing is new).
pub async fn verify_from(
    db: &DatabaseConnection,
    key: VerifyingKey,
    verified: Option<(i64, String)>,
    mut progress: impl FnMut(u64),
) -> DomainResult<Report> {
    let mut checked = 0u64;
    let mut expected_seq = 0i64;
    let mut prev_hash = GENESIS_PREV.to_string();
    let mut head: Option<(i64, String)> = None;
    if let Some((seq, hash)) = verified {
        let anchor = gov_ledger::Entity::find()
            .filter(gov_ledger::Column::Seq.eq(seq))
            .one(db)
            .await?;
        let problem = match &anchor {
            None => Some(BadEntry {
                seq,
                entry_id: None,
                problem: format!("entry {seq}, verified before, is missing"),
            }),
            Some(entry) if entry.entry_hash != hash => {
                Some(bad(entry, "entry_hash changed since it was verified"))
            }
            Some(entry) => check_entry(&key, entry),
        };
        if let Some(problem) = problem {
            return Ok(Report {
                valid: false,
                entries_checked: 0,
                head_seq: None,
                head_hash: None,
                first_bad: Some(problem),
            });
        }
        expected_seq = seq + 1;
        prev_hash = hash.clone();
        head = Some((seq, hash));
    }
    // The next page is read while the current one is checked.
    let mut next = tokio::spawn(fetch_page(db.clone(), expected_seq));
    loop {
        let page = next.await.map_err(DomainError::internal)??;
        if page.is_empty() {
            break;
        }
        let after = page.last().map(|e| e.seq + 1).unwrap_or(i64::MAX);
        next = tokio::spawn(fetch_page(db.clone(), after));
        // Order and links are cheap and sequential.
        let mut first_bad = None;
        let start_seq = expected_seq;
        for entry in &page {
            if entry.seq != expected_seq {
                first_bad = Some(BadEntry {
                    seq: expected_seq,
                    entry_id: None,
                    problem: format!(
                        "entry {expected_seq} is missing (the next entry present is {})",
                        entry.seq
                    ),
                });
                break;
            }
            if entry.prev_hash != prev_hash {
                first_bad = Some(bad(entry, "prev_hash does not link to the previous entry"));
                break;
            }
            prev_hash = entry.entry_hash.clone();
            expected_seq += 1;
        }
        let linked = (expected_seq - start_seq) as usize;
        let last = page
            .get(linked.saturating_sub(1))
            .map(|e| (e.seq, e.entry_hash.clone()));
        let mut page = page;
        page.truncate(linked);
        let cpu_bad = tokio::task::spawn_blocking(move || check_page(&key, &page))
            .await
            .map_err(DomainError::internal)?;
        let bad = match (cpu_bad, first_bad) {
            (Some(a), Some(b)) => Some(if a.seq <= b.seq { a } else { b }),
            (a, b) => a.or(b),
        };
        if let Some(bad) = bad {
            next.abort();
            let checked_before = checked + (bad.seq - start_seq).max(0) as u64;
            return Ok(Report {
                valid: false,
                entries_checked: checked_before,
                head_seq: None,
                head_hash: None,
                first_bad: Some(bad),
            });
        }
        checked += linked as u64;
        if last.is_some() {
            head = last;
        }
        progress(checked);
    }
    Ok(Report {
        valid: true,
        entries_checked: checked,
        head_seq: head.as_ref().map(|h| h.0),
        head_hash: head.map(|h| h.1),
        first_bad: None,
    })
}

/// A signed statement of the ledger's head, kept outside the database.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub node_id: String,
    pub seq: i64,
    pub head_hash: String,
    pub timestamp: String,
    pub signature: String,
}

#[derive(Serialize)]
struct CheckpointBody<'a> {
    node_id: &'a str,
    seq: i64,
    head_hash: &'a str,
    timestamp: &'a str,
}

fn checkpoint_message(
    node_id: &str,
    seq: i64,
    head_hash: &str,
    timestamp: &str,
) -> DomainResult<Vec<u8>> {
    let body = canonical(&CheckpointBody {
        node_id,
        seq,
        head_hash,
        timestamp,
    })?;
    Ok([CHECKPOINT_TAG, body.as_bytes()].concat())
}

pub fn sign_checkpoint(
    node: &NodeKey,
    seq: i64,
    head_hash: &str,
    at: DateTime<Utc>,
) -> DomainResult<Checkpoint> {
    let timestamp = canonical::timestamp(at);
    let message = checkpoint_message(&node.node_id, seq, head_hash, &timestamp)?;
    Ok(Checkpoint {
        node_id: node.node_id.clone(),
        seq,
        head_hash: head_hash.to_string(),
        timestamp,
        signature: canonical::signature_text(&node.sign(&message)),
    })
}

/// Checks a checkpoint against the ledger: its signature, and that the entry it names is
/// still there with the same hash.
pub async fn check_checkpoint(
    db: &DatabaseConnection,
    key: &VerifyingKey,
    checkpoint: &Checkpoint,
) -> DomainResult<Option<BadEntry>> {
    if chrono::DateTime::parse_from_rfc3339(&checkpoint.timestamp).is_err() {
        return Err(DomainError::invalid(
            "timestamp",
            "timestamp must be an RFC 3339 time, as the checkpoint was issued",
        ));
    }
    let message = checkpoint_message(
        &checkpoint.node_id,
        checkpoint.seq,
        &checkpoint.head_hash,
        &checkpoint.timestamp,
    )?;
    let signature_ok = parse_signature(&checkpoint.signature).is_some_and(|s| {
        use ed25519_dalek::Verifier;
        key.verify(&message, &s).is_ok()
    });
    // A forged or altered checkpoint is an answer ("not valid"), not a malformed request.
    if !signature_ok {
        return Ok(Some(BadEntry {
            seq: checkpoint.seq,
            entry_id: None,
            problem:
                "the checkpoint's signature is not the node key's (not issued here, or altered)"
                    .into(),
        }));
    }
    let at = gov_ledger::Entity::find_by_id(checkpoint.seq)
        .one(db)
        .await?;
    Ok(match at {
        Some(entry) if entry.entry_hash == checkpoint.head_hash => None,
        Some(entry) => Some(bad(
            &entry,
            "entry_hash differs from the checkpoint's head hash",
        )),
        None => {
            let last: Option<i64> = gov_ledger::Entity::find()
                .select_only()
                .column(gov_ledger::Column::Seq)
                .order_by_desc(gov_ledger::Column::Seq)
                .into_tuple()
                .one(db)
                .await?;
            Some(BadEntry {
                seq: checkpoint.seq,
                entry_id: None,
                problem: match last {
                    Some(last) => format!("ledger truncated: the checkpoint names entry {} but the ledger ends at {last}", checkpoint.seq),
                    None => "ledger truncated: the ledger is empty".into(),
                },
            })
        }
    })
}
