//! The ledger: append-only, hash-chained, every entry signed by the node key.
//!
//! One writer task per process serializes appends and commits them in batches (group
//! commit): whatever queued while the previous batch was committing goes in the next
//! transaction. On PostgreSQL the transaction also takes an advisory lock and re-reads the
//! head, so several server instances on one database never fork the chain.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use orrery_entities::{gov_decision, gov_ledger, gov_policy, gov_revocation, memory};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseConnection,
    DatabaseTransaction, DbBackend, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::batch_insert::{self, Inserted};
use super::canonical::{self, canonical, tagged_hash, LEDGER_ENTRY_TAG};
use super::node::NodeKey;
use super::writer_stats::WriterStats;
use crate::bus::{Event, EventBus};
use crate::error::{DomainError, DomainResult};

pub const GENESIS_PREV: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000000";
const MAX_BATCH: usize = 512;
/// Arbitrary but fixed: the advisory lock every instance takes to append.
const APPEND_LOCK: i64 = 0x0ed6_e12c;

/// What a caller asks to append.
#[derive(Clone, Debug, Default)]
pub struct NewEntry {
    pub event_type: String,
    pub decision_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub decision: Option<String>,
    pub policy_version: Option<String>,
    pub data: Value,
    /// Whose decision this records (for visibility).
    pub owner_id: Option<String>,
}

/// The canonical (RFC 8785) JSON of an entry's hashed fields, written directly: the field
/// names are fixed (here in JCS order) and `data` is stored canonical, so verifying an entry
/// parses and sorts nothing. A test holds it equal to the generic JCS serialization.
fn hashed_json(entry: &gov_ledger::Model) -> String {
    fn string(out: &mut String, value: &str) {
        // serde_json escapes exactly as JCS (ECMAScript JSON.stringify) does.
        out.push_str(&serde_json::to_string(value).unwrap_or_default());
    }
    fn optional(out: &mut String, value: &Option<String>) {
        match value {
            Some(value) => string(out, value),
            None => out.push_str("null"),
        }
    }
    let mut out = String::with_capacity(400 + entry.data.len());
    out.push_str("{\"action\":");
    optional(&mut out, &entry.action);
    out.push_str(",\"actor\":");
    optional(&mut out, &entry.actor);
    out.push_str(",\"data\":");
    out.push_str(&entry.data);
    out.push_str(",\"decision\":");
    optional(&mut out, &entry.decision);
    out.push_str(",\"decision_id\":");
    optional(&mut out, &entry.decision_id);
    out.push_str(",\"entry_id\":");
    string(&mut out, &entry.entry_id);
    out.push_str(",\"event_type\":");
    string(&mut out, &entry.event_type);
    out.push_str(",\"policy_version\":");
    optional(&mut out, &entry.policy_version);
    out.push_str(",\"prev_hash\":");
    string(&mut out, &entry.prev_hash);
    out.push_str(",\"seq\":");
    out.push_str(&entry.seq.to_string());
    out.push_str(",\"timestamp\":");
    string(&mut out, &entry.timestamp);
    out.push('}');
    out
}

/// The hash an entry must have.
pub fn entry_hash(entry: &gov_ledger::Model) -> String {
    tagged_hash(LEDGER_ENTRY_TAG, hashed_json(entry).as_bytes())
}

fn seal(
    node: &NodeKey,
    seq: i64,
    prev_hash: &str,
    new: NewEntry,
) -> DomainResult<gov_ledger::Model> {
    let data = canonical(&new.data)?;
    let mut entry = gov_ledger::Model {
        seq,
        entry_id: format!("ent_{}", ulid::Ulid::new()),
        timestamp: canonical::timestamp(Utc::now()),
        event_type: new.event_type,
        decision_id: new.decision_id,
        actor: new.actor,
        action: new.action,
        decision: new.decision,
        policy_version: new.policy_version,
        data,
        prev_hash: prev_hash.to_string(),
        entry_hash: String::new(),
        signature: String::new(),
        owner_id: new.owner_id,
    };
    entry.entry_hash = entry_hash(&entry);
    entry.signature = canonical::signature_text(&node.sign(entry.entry_hash.as_bytes()));
    Ok(entry)
}

/// An append's result.
pub enum Appended {
    Entry(Box<gov_ledger::Model>),
    /// The decision's `(owner, request_id)` was already recorded: this is its id.
    Duplicate(String),
    /// The state change the entry records no longer applies (e.g. a review already resolved).
    Stale,
}

/// A state change committed in the same transaction as the entry that records it.
#[derive(Clone)]
pub enum Write {
    /// A new decision; its `chain_hash` is filled in from the entry.
    Decision(gov_decision::Model),
    /// Resolves a pending review (only if it is still pending).
    ResolveReview(gov_decision::Model),
    Revoke(gov_revocation::Model),
    Policy(gov_policy::Model),
    /// A memory the entry approved (a MATRIZ interaction's fold and the guardian's approval
    /// of it): stored if and only if its approval is on the ledger.
    Memory(Box<memory::Model>),
}

struct Job {
    entry: NewEntry,
    write: Option<Write>,
    reply: oneshot::Sender<DomainResult<Appended>>,
    queued: Instant,
}

#[derive(Clone)]
pub struct Ledger {
    db: DatabaseConnection,
    node: Arc<NodeKey>,
    jobs: mpsc::Sender<Job>,
    stats: Arc<WriterStats>,
}

impl Ledger {
    pub fn start(db: DatabaseConnection, node: Arc<NodeKey>, bus: Arc<dyn EventBus>) -> Self {
        let (jobs, rx) = mpsc::channel(4096);
        let stats = Arc::new(WriterStats::default());
        tokio::spawn(writer(db.clone(), node.clone(), bus, rx, stats.clone()));
        Self {
            db,
            node,
            jobs,
            stats,
        }
    }

    /// The writer's batch timings since the process started.
    pub fn stats(&self) -> &WriterStats {
        &self.stats
    }

    async fn submit(&self, entry: NewEntry, write: Option<Write>) -> DomainResult<Appended> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .send(Job {
                entry,
                write,
                reply,
                queued: Instant::now(),
            })
            .await
            .map_err(|_| DomainError::Unavailable("the ledger writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| DomainError::Unavailable("the ledger writer has stopped".into()))?
    }

    /// Appends one entry and waits until it is committed.
    pub async fn append(&self, entry: NewEntry) -> DomainResult<gov_ledger::Model> {
        match self.submit(entry, None).await? {
            Appended::Entry(entry) => Ok(*entry),
            _ => Err(DomainError::internal(
                "a plain append cannot be a duplicate",
            )),
        }
    }

    /// Appends an entry and the state change it records in one transaction.
    pub async fn append_with(&self, entry: NewEntry, write: Write) -> DomainResult<Appended> {
        self.submit(entry, Some(write)).await
    }

    pub fn node(&self) -> &NodeKey {
        &self.node
    }

    pub async fn count(&self) -> DomainResult<u64> {
        Self::count_in(&self.db).await
    }

    pub async fn count_in(db: &DatabaseConnection) -> DomainResult<u64> {
        Ok(gov_ledger::Entity::find().count(db).await?)
    }

    /// Entries matching `filter`, newest first.
    pub async fn page(
        &self,
        filter: Condition,
        limit: u64,
        offset: u64,
    ) -> DomainResult<(u64, Vec<gov_ledger::Model>)> {
        let query = gov_ledger::Entity::find().filter(filter);
        let total = query.clone().count(&self.db).await?;
        let entries = query
            .order_by_desc(gov_ledger::Column::Seq)
            .limit(limit)
            .offset(offset)
            .all(&self.db)
            .await?;
        Ok((total, entries))
    }

    /// A page, newest first, and how many entries match counted only up to `cap + 1` (a
    /// count stops early instead of walking millions of rows).
    pub async fn page_counted_to(
        &self,
        filter: Condition,
        limit: u64,
        offset: u64,
        cap: u64,
    ) -> DomainResult<(u64, Vec<gov_ledger::Model>)> {
        use sea_orm::sea_query::{Alias, Expr, Query};
        use sea_orm::StatementBuilder;
        let matching = Query::select()
            .expr(Expr::val(1))
            .from(gov_ledger::Entity)
            .cond_where(filter.clone())
            .limit(cap + 1)
            .to_owned();
        let count = Query::select()
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .from_subquery(matching, Alias::new("m"))
            .to_owned();
        let backend = self.db.get_database_backend();
        let matched: i64 = self
            .db
            .query_one(StatementBuilder::build(&count, &backend))
            .await?
            .map(|row| row.try_get("", "n"))
            .transpose()?
            .unwrap_or(0);
        let entries = gov_ledger::Entity::find()
            .filter(filter)
            .order_by_desc(gov_ledger::Column::Seq)
            .limit(limit)
            .offset(offset)
            .all(&self.db)
            .await?;
        Ok((matched.max(0) as u64, entries))
    }

    /// The distinct event types starting with `prefix`, in order, at most `max`: one seek
    /// of the event-type index each (no scan of the entries).
    pub async fn event_types_with_prefix(
        &self,
        prefix: &str,
        max: usize,
    ) -> DomainResult<Vec<String>> {
        let mut kinds: Vec<String> = Vec::new();
        while kinds.len() < max {
            let mut query = gov_ledger::Entity::find()
                .select_only()
                .column_as(gov_ledger::Column::EventType.min(), "kind");
            query = match kinds.last() {
                Some(last) => query.filter(gov_ledger::Column::EventType.gt(last.as_str())),
                None => query.filter(gov_ledger::Column::EventType.gte(prefix)),
            };
            let next: Option<Option<String>> = query.into_tuple().one(&self.db).await?;
            match next.flatten() {
                Some(kind) if kind.starts_with(prefix) => kinds.push(kind),
                _ => break,
            }
        }
        Ok(kinds)
    }

    /// The first entry stamped at or after `timestamp` (canonical form), by the time index.
    pub async fn first_seq_since(&self, timestamp: &str) -> DomainResult<Option<i64>> {
        Ok(gov_ledger::Entity::find()
            .select_only()
            .column(gov_ledger::Column::Seq)
            .filter(gov_ledger::Column::Timestamp.gte(timestamp))
            .order_by_asc(gov_ledger::Column::Timestamp)
            .into_tuple()
            .one(&self.db)
            .await?)
    }

    /// The last entry stamped at or before `timestamp` (canonical form), by the time index.
    pub async fn last_seq_until(&self, timestamp: &str) -> DomainResult<Option<i64>> {
        Ok(gov_ledger::Entity::find()
            .select_only()
            .column(gov_ledger::Column::Seq)
            .filter(gov_ledger::Column::Timestamp.lte(timestamp))
            .order_by_desc(gov_ledger::Column::Timestamp)
            .into_tuple()
            .one(&self.db)
            .await?)
    }

    pub async fn head(&self) -> DomainResult<Option<gov_ledger::Model>> {
        Ok(gov_ledger::Entity::find()
            .order_by_desc(gov_ledger::Column::Seq)
            .one(&self.db)
            .await?)
    }

    pub async fn at(&self, seq: i64) -> DomainResult<Option<gov_ledger::Model>> {
        Ok(gov_ledger::Entity::find_by_id(seq).one(&self.db).await?)
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }
}

/// The last committed entry as the writer knows it, `(seq, entry_hash)`; `None` for an
/// empty ledger.
type Head = Option<(i64, String)>;

async fn writer(
    db: DatabaseConnection,
    node: Arc<NodeKey>,
    bus: Arc<dyn EventBus>,
    mut rx: mpsc::Receiver<Job>,
    stats: Arc<WriterStats>,
) {
    // Kept between batches so a batch needs no head read; the insert checks it still holds.
    let mut known: Option<Head> = None;
    while let Some(first) = rx.recv().await {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        stats.queue_wait.record_time(jobs[0].queued.elapsed());
        stats.batch_entries.record(jobs.len() as f64);
        match commit(&db, &node, &jobs, &stats, &mut known).await {
            Ok(results) => deliver(&bus, jobs, results),
            // One bad entry must not fail the others queued with it: nothing of the batch
            // was written, so each job is committed on its own and only the bad one fails.
            Err(DomainError::Internal(_)) if jobs.len() > 1 => {
                stats
                    .failed_batches
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                for job in jobs {
                    let job = [job];
                    match commit(&db, &node, &job, &stats, &mut known).await {
                        Ok(results) => deliver(&bus, job, results),
                        Err(err) => fail(job, &err),
                    }
                }
            }
            Err(err) => fail(jobs, &err),
        }
    }
}

/// Writes one batch, retrying a unique-key race with another instance, a busy database or a
/// head that moved since the writer last saw it.
async fn commit(
    db: &DatabaseConnection,
    node: &NodeKey,
    jobs: &[Job],
    stats: &WriterStats,
    known: &mut Option<Head>,
) -> DomainResult<Vec<Appended>> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        // Taken: after any failure the head is read again.
        match write_batch(db, node, jobs, stats, known.take()).await {
            Ok(Some((results, head))) => {
                *known = Some(head);
                return Ok(results);
            }
            Ok(None) if attempt < 3 => continue,
            Ok(None) => {
                return Err(DomainError::Unavailable(
                    "the ledger head kept moving while appending; try again".into(),
                ))
            }
            Err(err) if attempt < 3 && is_conflict(&err) => continue,
            Err(err) => return Err(err),
        }
    }
}

fn deliver(bus: &Arc<dyn EventBus>, jobs: impl IntoIterator<Item = Job>, results: Vec<Appended>) {
    for (job, result) in jobs.into_iter().zip(results) {
        if let Appended::Entry(entry) = &result {
            bus.publish(Event::LedgerAppended(entry.clone()));
        }
        let _ = job.reply.send(Ok(result));
    }
}

fn fail(jobs: impl IntoIterator<Item = Job>, err: &DomainError) {
    tracing::error!(error = ?err, "ledger append failed");
    for job in jobs {
        let answer = match err {
            DomainError::Internal(detail) => {
                DomainError::Internal(format!("ledger append failed: {detail}"))
            }
            other => other.clone(),
        };
        let _ = job.reply.send(Err(answer));
    }
}

/// A unique-key race with another instance, or a busy database: worth another try.
fn is_conflict(err: &DomainError) -> bool {
    matches!(err, DomainError::Internal(m)
        if m.contains("UNIQUE") || m.contains("unique") || m.contains("duplicate key")
            || m.contains("database is locked") || m.contains("busy"))
}

/// Serializes appenders: on PostgreSQL across instances (advisory lock); on SQLite by taking
/// the write lock before anything is read: a transaction that reads first and writes later
/// fails at once with SQLITE_BUSY (no busy wait) when another connection commits in between.
async fn lock(txn: &DatabaseTransaction) -> DomainResult<()> {
    let sql = match txn.get_database_backend() {
        DbBackend::Postgres => format!("SELECT pg_advisory_xact_lock({APPEND_LOCK})"),
        _ => "UPDATE gov_ledger SET seq = seq WHERE seq < 0".to_string(),
    };
    txn.execute_unprepared(&sql).await?;
    Ok(())
}

async fn read_head(txn: &DatabaseTransaction) -> DomainResult<Head> {
    Ok(gov_ledger::Entity::find()
        .select_only()
        .columns([gov_ledger::Column::Seq, gov_ledger::Column::EntryHash])
        .order_by_desc(gov_ledger::Column::Seq)
        .into_tuple::<(i64, String)>()
        .one(txn)
        .await?)
}

/// The decisions already recorded under the batch's fresh idempotency keys, by
/// `(owner, request_id)` (the newest when a key was reused after it expired): one query.
async fn recorded_requests(
    txn: &DatabaseTransaction,
    jobs: &[Job],
) -> DomainResult<HashMap<(String, String), String>> {
    let (owners, keys): (Vec<&str>, Vec<&str>) = jobs
        .iter()
        .filter_map(|job| match &job.write {
            Some(Write::Decision(decision)) => decision
                .request_id
                .as_deref()
                .map(|key| (decision.owner_id.as_str(), key)),
            _ => None,
        })
        .unzip();
    let mut found = HashMap::new();
    if keys.is_empty() {
        return Ok(found);
    }
    let rows: Vec<(String, String, Option<String>)> = gov_decision::Entity::find()
        .select_only()
        .columns([
            gov_decision::Column::DecisionId,
            gov_decision::Column::OwnerId,
            gov_decision::Column::RequestId,
        ])
        // Both lists, so the lookup uses the (owner, request, timestamp) index; pairs that
        // were not asked for are filtered out by the map's key.
        .filter(gov_decision::Column::OwnerId.is_in(owners))
        .filter(gov_decision::Column::RequestId.is_in(keys))
        .filter(gov_decision::Column::Timestamp.gte(super::service::idempotency_cutoff(Utc::now())))
        .order_by_asc(gov_decision::Column::Timestamp)
        .into_tuple()
        .all(txn)
        .await?;
    for (decision_id, owner, request_id) in rows {
        if let Some(request_id) = request_id {
            // Ascending: the newest of a key's decisions is inserted last and wins.
            found.insert((owner, request_id), decision_id);
        }
    }
    Ok(found)
}

/// One transaction for the batch. `known` is the head the writer last committed, if it
/// trusts it; `Ok(None)` when the ledger's head had moved (nothing was written).
async fn write_batch(
    db: &DatabaseConnection,
    node: &NodeKey,
    jobs: &[Job],
    stats: &WriterStats,
    known: Option<Head>,
) -> DomainResult<Option<(Vec<Appended>, Head)>> {
    let began = Instant::now();
    let mut sealing = Duration::ZERO;
    let txn = db.begin().await?;
    lock(&txn).await?;
    let head = match known {
        Some(head) => head,
        None => read_head(&txn).await?,
    };
    let before = head.as_ref().map(|(_, hash)| hash.clone());
    let mut entries = Vec::with_capacity(jobs.len() + 1);
    let (mut seq, mut prev) = match head {
        Some(head) => head,
        None => {
            let genesis = seal(
                node,
                0,
                GENESIS_PREV,
                NewEntry {
                    event_type: "genesis".into(),
                    data: serde_json::json!({
                        "node_id": node.node_id,
                        "public_key": node.public_key_hex(),
                    }),
                    ..NewEntry::default()
                },
            )?;
            let hash = genesis.entry_hash.clone();
            entries.push(genesis);
            (0, hash)
        }
    };
    let mut recorded = recorded_requests(&txn, jobs).await?;
    let mut results = Vec::with_capacity(jobs.len());
    let mut decisions = Vec::new();
    let mut memories = Vec::new();
    for job in jobs {
        if let Some(Write::Decision(decision)) = &job.write {
            if let Some(request_id) = &decision.request_id {
                let key = (decision.owner_id.clone(), request_id.clone());
                if let Some(id) = recorded.get(&key) {
                    results.push(Appended::Duplicate(id.clone()));
                    continue;
                }
                // A second use of the key within this batch replays the first.
                recorded.insert(key, decision.decision_id.clone());
            }
        }
        if let Some(Write::ResolveReview(decision)) = &job.write {
            let resolved = gov_decision::Entity::update_many()
                .set(decision.clone().into_active_model().reset_all())
                .filter(gov_decision::Column::DecisionId.eq(&decision.decision_id))
                .filter(gov_decision::Column::ReviewStatus.eq("pending"))
                .exec(&txn)
                .await?
                .rows_affected;
            if resolved != 1 {
                results.push(Appended::Stale);
                continue;
            }
        }
        seq += 1;
        let sealed = Instant::now();
        let entry = seal(node, seq, &prev, job.entry.clone())?;
        sealing += sealed.elapsed();
        prev = entry.entry_hash.clone();
        match &job.write {
            Some(Write::Decision(decision)) => {
                let mut decision = decision.clone();
                decision.chain_hash = entry.entry_hash.clone();
                decisions.push(decision);
            }
            Some(Write::Revoke(revocation)) => {
                gov_revocation::Entity::insert(revocation.clone().into_active_model())
                    .exec(&txn)
                    .await?;
            }
            Some(Write::Policy(policy)) => {
                let mut model = policy.clone().into_active_model();
                model.seq = sea_orm::ActiveValue::NotSet;
                gov_policy::Entity::insert(model).exec(&txn).await?;
            }
            Some(Write::Memory(row)) => memories.push(row.as_ref().clone().into_active_model()),
            Some(Write::ResolveReview(_)) | None => {}
        }
        results.push(Appended::Entry(Box::new(entry.clone())));
        entries.push(entry);
    }
    if batch_insert::insert(&txn, before.as_deref(), &entries, &decisions).await?
        == Inserted::HeadMoved
    {
        return Ok(None);
    }
    while !memories.is_empty() {
        let rest = memories.split_off(memories.len().min(crate::group_insert::ROWS_PER_STATEMENT));
        memory::Entity::insert_many(std::mem::replace(&mut memories, rest))
            .exec_without_returning(&txn)
            .await?;
    }
    stats.seal.record_time(sealing);
    stats
        .write
        .record_time(began.elapsed().saturating_sub(sealing));
    let committing = Instant::now();
    txn.commit().await?;
    stats.commit.record_time(committing.elapsed());
    Ok(Some((results, Some((seq, prev)))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    /// Exactly the fields the hash covers, for the generic serializer.
    #[derive(Serialize)]
    struct Hashed<'a> {
        entry_id: &'a str,
        seq: i64,
        timestamp: &'a str,
        event_type: &'a str,
        decision_id: &'a Option<String>,
        actor: &'a Option<String>,
        action: &'a Option<String>,
        decision: &'a Option<String>,
        policy_version: &'a Option<String>,
        data: &'a Value,
        prev_hash: &'a str,
    }

    #[test]
    fn direct_canonical_form_equals_generic_jcs() {
        let tricky = "quote \" backslash \\ tab \t nl \n ctl \u{1} del \u{7f} é 漢 🚀 </script>";
        let datas = [
            serde_json::json!({}),
            serde_json::json!({ "z": 1, "a": [1.5, -0.0, 1e21, "x"], "é": { "b": null, "a": true }, "text": tricky }),
        ];
        for data in datas {
            for optional in [None, Some(tricky.to_string())] {
                let entry = gov_ledger::Model {
                    seq: 42,
                    entry_id: "ent_01".into(),
                    timestamp: "2026-11-22T01:02:03.000004Z".into(),
                    event_type: tricky.into(),
                    decision_id: optional.clone(),
                    actor: optional.clone(),
                    action: Some("web_search".into()),
                    decision: optional.clone(),
                    policy_version: optional.clone(),
                    data: canonical(&data).unwrap(),
                    prev_hash: GENESIS_PREV.into(),
                    entry_hash: String::new(),
                    signature: String::new(),
                    owner_id: None,
                };
                let generic = canonical(&Hashed {
                    entry_id: &entry.entry_id,
                    seq: entry.seq,
                    timestamp: &entry.timestamp,
                    event_type: &entry.event_type,
                    decision_id: &entry.decision_id,
                    actor: &entry.actor,
                    action: &entry.action,
                    decision: &entry.decision,
                    policy_version: &entry.policy_version,
                    data: &data,
                    prev_hash: &entry.prev_hash,
                })
                .unwrap();
                assert_eq!(hashed_json(&entry), generic);
            }
        }
    }

    fn plain(n: usize) -> NewEntry {
        NewEntry {
            event_type: "test".into(),
            decision_id: None,
            actor: Some(format!("writer {n}")),
            action: None,
            decision: None,
            policy_version: None,
            data: serde_json::json!({ "n": n }),
            owner_id: None,
        }
    }

    /// Two writers on one database (two instances, or the server and the CLI) each keep the
    /// head they last committed: every append after the other's must notice the moved head
    /// and reseal, never fork the chain.
    #[tokio::test]
    async fn writers_sharing_a_database_reseal_on_a_moved_head() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("l.db").display());
        let db = crate::db::connect(&url).await.unwrap();
        crate::db::migrate(&db).await.unwrap();
        let node = Arc::new(NodeKey::load_or_create(dir.path()).unwrap());
        let bus: Arc<dyn EventBus> = Arc::new(crate::bus::InProcessBus::new(16));
        let a = Ledger::start(db.clone(), node.clone(), bus.clone());
        let b = Ledger::start(db.clone(), node.clone(), bus);
        // Strictly alternating: each append lands on a head the other writer moved.
        for n in 0..20 {
            let writer = if n % 2 == 0 { &a } else { &b };
            writer.append(plain(n)).await.unwrap();
        }
        // And concurrently.
        let both = (0..40).map(|n| {
            if n % 2 == 0 {
                a.append(plain(n))
            } else {
                b.append(plain(n))
            }
        });
        for appended in futures::future::join_all(both).await {
            appended.unwrap();
        }
        let report = super::super::verify::verify_chain(&db, node.public_key(), |_| {})
            .await
            .unwrap();
        assert!(
            report.valid,
            "{:?}",
            report.first_bad.map(|bad| bad.problem)
        );
        // The genesis entry and the 60 appends.
        assert_eq!(report.entries_checked, 61);
    }
}
