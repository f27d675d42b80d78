//! LunaOS code RAG: files are cut into line-range chunks at cheap code-aware boundaries,
//! embedded and indexed twice — by meaning (the vector index) and by terms (the database's
//! full-text index, identifiers split into sub-words) — and searched by fusing both rankings.
//! Repositories are per owner; re-indexing a path replaces its chunks.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use orrery_entities::rag_chunk;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QuerySelect, Set,
    TransactionTrait,
};

use crate::domain::ai::AiService;
use crate::domain::identity::{Principal, Scope};
use crate::domain::search::sync::{self, Collection, IndexNotifier, Synced};
use crate::domain::search::{
    self, terms::terms_of, Filter, Item, LexicalIndex, SearchPool, VectorIndex,
};
use crate::error::{DomainError, DomainResult};

pub const MAX_FILES: usize = 100;
pub const MAX_FILE_CHARS: usize = 500_000;
pub const MAX_PATH_CHARS: usize = 1024;
pub const MAX_SEARCH_LIMIT: usize = 20;
/// A chunk closes at a boundary once it has this many lines…
const MIN_LINES: usize = 12;
/// …and anyway at this many lines or characters.
const MAX_LINES: usize = 60;
const MAX_CHARS: usize = 3000;
/// Candidates each ranking contributes to the fusion.
const CANDIDATES: usize = 50;
const DEFAULT_REPOSITORY: &str = "default";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub index: usize,
    /// 1-based, inclusive.
    pub start_line: usize,
    pub end_line: usize,
    pub text: String,
}

/// A line that starts something at the top level (a definition, a section).
fn starts_top_level(line: &str) -> bool {
    let trimmed = line.trim();
    !trimmed.is_empty()
        && !line.starts_with(char::is_whitespace)
        && !trimmed.starts_with('}')
        && !trimmed.starts_with(')')
        && !trimmed.starts_with(']')
}

/// Cuts `content` into line ranges: once a chunk has [`MIN_LINES`] it ends after a blank
/// line or before a top-level line, and at [`MAX_LINES`] or [`MAX_CHARS`] regardless; blank
/// lines never start a chunk. A single line longer
/// than [`MAX_CHARS`] is split across chunks that share its line number.
pub fn chunk(content: &str) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut lines: Vec<&str> = Vec::new();
    let mut start = 1;
    let mut chars = 0;
    let flush = |chunks: &mut Vec<Chunk>, lines: &mut Vec<&str>, start: usize| {
        if lines.iter().any(|l| !l.trim().is_empty()) {
            chunks.push(Chunk {
                index: chunks.len(),
                start_line: start,
                end_line: start + lines.len() - 1,
                text: lines.join("\n"),
            });
        }
        lines.clear();
    };
    for (i, line) in content.lines().enumerate() {
        let number = i + 1;
        if line.chars().count() > MAX_CHARS {
            flush(&mut chunks, &mut lines, start);
            let pieces: Vec<char> = line.chars().collect();
            for piece in pieces.chunks(MAX_CHARS) {
                chunks.push(Chunk {
                    index: chunks.len(),
                    start_line: number,
                    end_line: number,
                    text: piece.iter().collect(),
                });
            }
            start = number + 1;
            chars = 0;
            continue;
        }
        let full = lines.len() >= MAX_LINES || chars + line.len() > MAX_CHARS;
        if !lines.is_empty() && (full || (lines.len() >= MIN_LINES && starts_top_level(line))) {
            flush(&mut chunks, &mut lines, start);
            chars = 0;
        }
        if lines.is_empty() {
            if line.trim().is_empty() {
                continue;
            }
            start = number;
        }
        lines.push(line);
        chars += line.len() + 1;
        if line.trim().is_empty() && lines.len() >= MIN_LINES {
            flush(&mut chunks, &mut lines, start);
            chars = 0;
        }
    }
    flush(&mut chunks, &mut lines, start);
    chunks
}

pub struct File {
    pub path: String,
    pub content: String,
}

pub struct Indexed {
    pub files: usize,
    pub chunks: usize,
    pub repository: String,
}

#[derive(Clone, Debug)]
pub struct CodeHit {
    pub path: String,
    pub content: String,
    /// Reciprocal rank fusion of the two rankings, 1.0 = first in both.
    pub score: f64,
    pub chunk: usize,
    pub start_line: usize,
    pub end_line: usize,
    pub repository: String,
}

#[derive(Clone, Debug)]
pub struct Repository {
    pub name: String,
    pub files: usize,
    pub chunks: usize,
    pub updated_at: DateTime<Utc>,
}

pub struct RagService {
    db: DatabaseConnection,
    vectors: Arc<dyn VectorIndex>,
    /// Searches of `vectors`, off the async workers.
    searches: SearchPool,
    lexical: Arc<dyn LexicalIndex>,
    notifier: IndexNotifier,
    ai: Arc<AiService>,
    max_chunks: u64,
}

fn check_repository(name: &str) -> DomainResult<()> {
    let ok = (1..=100).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            "repository",
            "repository must be 1 to 100 characters: letters, digits, '.', '_', '-' or '/'",
        ))
    }
}

fn item(model: &rag_chunk::Model) -> Item {
    Item {
        id: model.id.clone(),
        owner: model.user_id.clone(),
        kind: model.repository.clone(),
        created_at: model.created_at.timestamp_millis(),
        importance: 0.0,
        vector: search::from_bytes(&model.embedding),
    }
}

impl RagService {
    pub fn new(
        db: DatabaseConnection,
        vectors: Arc<dyn VectorIndex>,
        lexical: Arc<dyn LexicalIndex>,
        notifier: IndexNotifier,
        ai: Arc<AiService>,
        max_chunks: u64,
    ) -> Self {
        Self {
            db,
            searches: SearchPool::start(vectors.clone()),
            vectors,
            lexical,
            notifier,
            ai,
            max_chunks,
        }
    }

    pub async fn rebuild_index(&self) -> DomainResult<usize> {
        Ok(self.load_index().await?.len())
    }

    /// Upserts every stored chunk into the vector index; returns the ids it saw.
    async fn load_index(&self) -> DomainResult<HashSet<String>> {
        use futures::TryStreamExt;
        use rag_chunk::Column as C;
        let mut rows = rag_chunk::Entity::find()
            .select_only()
            .columns([C::Id, C::UserId, C::Repository, C::CreatedAt, C::Embedding])
            .into_tuple::<(String, String, String, DateTime<Utc>, Vec<u8>)>()
            .stream(&self.db)
            .await?;
        let mut seen = HashSet::new();
        while let Some((id, owner, kind, created_at, embedding)) = rows.try_next().await? {
            seen.insert(id.clone());
            self.vectors.upsert(Item {
                id,
                owner,
                kind,
                created_at: created_at.timestamp_millis(),
                importance: 0.0,
                vector: search::from_bytes(&embedding),
            });
        }
        Ok(seen)
    }

    pub async fn index(
        &self,
        principal: &Principal,
        repository: Option<String>,
        files: Vec<File>,
    ) -> DomainResult<Indexed> {
        let actor = principal.actor()?;
        actor.require(Scope::RagWrite)?;
        let repository = repository.unwrap_or_else(|| DEFAULT_REPOSITORY.into());
        check_repository(&repository)?;
        if files.is_empty() || files.len() > MAX_FILES {
            return Err(DomainError::invalid(
                "files",
                format!("send 1 to {MAX_FILES} files"),
            ));
        }
        // A path sent twice: the last copy wins, as if indexed one after the other.
        let mut files = files;
        let mut seen = std::collections::HashSet::new();
        files.reverse();
        files.retain(|f| seen.insert(f.path.clone()));
        files.reverse();
        for (i, file) in files.iter().enumerate() {
            if file.path.is_empty() || file.path.chars().count() > MAX_PATH_CHARS {
                return Err(DomainError::invalid(
                    format!("files[{i}].path"),
                    format!("a path has 1 to {MAX_PATH_CHARS} characters"),
                ));
            }
            if file.content.chars().count() > MAX_FILE_CHARS {
                return Err(DomainError::invalid(
                    format!("files[{i}].content"),
                    format!("a file may have at most {MAX_FILE_CHARS} characters"),
                ));
            }
        }
        let chunked: Vec<(usize, Chunk)> = files
            .iter()
            .enumerate()
            .flat_map(|(f, file)| chunk(&file.content).into_iter().map(move |c| (f, c)))
            .collect();
        let held = self.vectors.count(&actor.user_id) as u64;
        if held + chunked.len() as u64 > self.max_chunks {
            return Err(DomainError::QuotaExceeded(format!(
                "an account holds at most {} indexed chunks ({held} now)",
                self.max_chunks
            )));
        }
        // The path goes into what is embedded and matched: files are often found by name.
        let texts: Vec<String> = chunked
            .iter()
            .map(|(f, c)| format!("{}\n{}", files[*f].path, c.text))
            .collect();
        let mut vectors = Vec::with_capacity(texts.len());
        let mut model_name = String::new();
        for batch in texts.chunks(self.ai.max_inputs()) {
            let result = self.ai.embed_as(actor, None, None, batch).await?;
            model_name = format!("{}/{}", result.provider, result.model);
            vectors.extend(
                result
                    .embeddings
                    .vectors
                    .into_iter()
                    .map(search::normalized),
            );
        }
        let now = Utc::now();
        let txn = self.db.begin().await?;
        let paths: Vec<String> = files.iter().map(|f| f.path.clone()).collect();
        let same_paths = || {
            sea_orm::Condition::all()
                .add(rag_chunk::Column::UserId.eq(&actor.user_id))
                .add(rag_chunk::Column::Repository.eq(&repository))
                .add(rag_chunk::Column::Path.is_in(paths.clone()))
        };
        // A write first: a SQLite transaction that reads before it writes cannot take the
        // write lock once another connection has committed (SQLITE_BUSY_SNAPSHOT); a write
        // statement takes it at once, waiting out other writers.
        rag_chunk::Entity::update_many()
            .col_expr(
                rag_chunk::Column::Path,
                Expr::col(rag_chunk::Column::Path).into(),
            )
            .filter(same_paths())
            .exec(&txn)
            .await?;
        let replaced: Vec<String> = rag_chunk::Entity::find()
            .select_only()
            .column(rag_chunk::Column::Id)
            .filter(same_paths())
            .into_tuple()
            .all(&txn)
            .await?;
        rag_chunk::Entity::delete_many()
            .filter(same_paths())
            .exec(&txn)
            .await?;
        let mut stored = Vec::with_capacity(chunked.len());
        for ((f, c), vector) in chunked.iter().zip(vectors) {
            let path = &files[*f].path;
            let model = rag_chunk::ActiveModel {
                id: Set(format!("chk_{}", uuid::Uuid::new_v4().simple())),
                user_id: Set(actor.user_id.clone()),
                repository: Set(repository.clone()),
                path: Set(path.clone()),
                chunk_index: Set(c.index as i32),
                start_line: Set(c.start_line as i32),
                end_line: Set(c.end_line as i32),
                content: Set(c.text.clone()),
                terms: Set({
                    let mut terms = terms_of(&format!("{path}\n{}", c.text));
                    terms.push(search::terms::owner_term(&actor.user_id));
                    terms.push(search::terms::repository_term(&repository));
                    terms.join(" ")
                }),
                embedding_model: Set(model_name.clone()),
                embedding: Set(search::to_bytes(&vector)),
                created_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await?;
            stored.push(model);
        }
        txn.commit().await?;
        for id in &replaced {
            self.vectors.remove(id);
        }
        for model in &stored {
            self.vectors.upsert(item(model));
        }
        let changed: Vec<String> = replaced
            .iter()
            .cloned()
            .chain(stored.iter().map(|m| m.id.clone()))
            .collect();
        self.notifier.changed(Collection::Code, &changed).await;
        Ok(Indexed {
            files: files.len(),
            chunks: stored.len(),
            repository,
        })
    }

    pub async fn search(
        &self,
        principal: &Principal,
        query: &str,
        repository: Option<&str>,
        limit: usize,
    ) -> DomainResult<Vec<CodeHit>> {
        let actor = principal.actor()?;
        actor.require(Scope::RagRead)?;
        if query.is_empty() {
            return Err(DomainError::invalid("query", "query cannot be empty"));
        }
        if !(1..=MAX_SEARCH_LIMIT).contains(&limit) {
            return Err(DomainError::invalid(
                "limit",
                format!("limit must be between 1 and {MAX_SEARCH_LIMIT}"),
            ));
        }
        if let Some(name) = repository {
            check_repository(name)?;
        }
        let embedded = self
            .ai
            .embed_as(actor, None, None, &[query.to_string()])
            .await?;
        let vector = search::normalized(
            embedded
                .embeddings
                .vectors
                .into_iter()
                .next()
                .unwrap_or_default(),
        );
        let by_meaning: Vec<String> = self
            .searches
            .search(
                Filter {
                    owner: actor.user_id.clone(),
                    kinds: repository.map(|r| vec![r.to_string()]).unwrap_or_default(),
                    ..Default::default()
                },
                vector,
                CANDIDATES,
            )
            .await?
            .hits
            .into_iter()
            .map(|h| h.id)
            .collect();
        let by_terms = self
            .lexical
            .search(&actor.user_id, repository, &terms_of(query), CANDIDATES)
            .await?;
        let fused: Vec<(String, f64)> = search::fuse(&[by_meaning, by_terms])
            .into_iter()
            .take(limit)
            .collect();
        let ids: Vec<String> = fused.iter().map(|(id, _)| id.clone()).collect();
        // By key alone (see MemoryService::search); ownership is checked on the rows.
        let models: BTreeMap<String, rag_chunk::Model> = rag_chunk::Entity::find()
            .filter(rag_chunk::Column::Id.is_in(ids))
            .all(&self.db)
            .await?
            .into_iter()
            .filter(|m| m.user_id == actor.user_id)
            .map(|m| (m.id.clone(), m))
            .collect();
        Ok(fused
            .into_iter()
            .filter_map(|(id, score)| {
                let m = models.get(&id)?;
                Some(CodeHit {
                    path: m.path.clone(),
                    content: m.content.clone(),
                    score,
                    chunk: m.chunk_index as usize,
                    start_line: m.start_line as usize,
                    end_line: m.end_line as usize,
                    repository: m.repository.clone(),
                })
            })
            .collect())
    }

    pub async fn repositories(&self, principal: &Principal) -> DomainResult<Vec<Repository>> {
        let actor = principal.actor()?;
        actor.require(Scope::RagRead)?;
        let rows: Vec<(String, String, DateTime<Utc>)> = rag_chunk::Entity::find()
            .select_only()
            .column(rag_chunk::Column::Repository)
            .column(rag_chunk::Column::Path)
            .column(rag_chunk::Column::CreatedAt)
            .filter(rag_chunk::Column::UserId.eq(&actor.user_id))
            .into_tuple()
            .all(&self.db)
            .await?;
        let mut repositories: BTreeMap<
            String,
            (std::collections::BTreeSet<String>, usize, DateTime<Utc>),
        > = BTreeMap::new();
        for (name, path, at) in rows {
            let entry = repositories
                .entry(name)
                .or_insert_with(|| (Default::default(), 0, at));
            entry.0.insert(path);
            entry.1 += 1;
            entry.2 = entry.2.max(at);
        }
        Ok(repositories
            .into_iter()
            .map(|(name, (paths, chunks, updated_at))| Repository {
                name,
                files: paths.len(),
                chunks,
                updated_at,
            })
            .collect())
    }

    /// Deletes a repository's chunks; returns how many.
    pub async fn delete_repository(
        &self,
        principal: &Principal,
        name: &str,
    ) -> DomainResult<usize> {
        let actor = principal.actor()?;
        actor.require(Scope::RagWrite)?;
        // No repository can have an invalid name: nothing to delete.
        check_repository(name).map_err(|_| DomainError::NotFound("repository".into()))?;
        let ids: Vec<String> = rag_chunk::Entity::find()
            .select_only()
            .column(rag_chunk::Column::Id)
            .filter(rag_chunk::Column::UserId.eq(&actor.user_id))
            .filter(rag_chunk::Column::Repository.eq(name))
            .into_tuple()
            .all(&self.db)
            .await?;
        if ids.is_empty() {
            return Err(DomainError::NotFound("repository".into()));
        }
        rag_chunk::Entity::delete_many()
            .filter(rag_chunk::Column::UserId.eq(&actor.user_id))
            .filter(rag_chunk::Column::Repository.eq(name))
            .exec(&self.db)
            .await?;
        for id in &ids {
            self.vectors.remove(id);
        }
        self.notifier.changed(Collection::Code, &ids).await;
        Ok(ids.len())
    }
}

#[async_trait::async_trait]
impl Synced for RagService {
    async fn refresh(&self, ids: &[String]) -> DomainResult<()> {
        for ids in ids.chunks(500) {
            let rows = rag_chunk::Entity::find()
                .filter(rag_chunk::Column::Id.is_in(ids.iter().cloned()))
                .all(&self.db)
                .await?;
            sync::apply(&*self.vectors, ids, rows.iter().map(item).collect());
        }
        Ok(())
    }

    async fn resync(&self) -> DomainResult<usize> {
        let seen = self.load_index().await?;
        self.refresh(&sync::unseen(&*self.vectors, &seen)).await?;
        Ok(self.vectors.len())
    }
}

#[cfg(test)]
mod tests {
    use super::chunk;

    #[test]
    fn chunks_cover_every_line_and_cut_at_top_level_definitions() {
        let mut source = String::new();
        for f in 0..5 {
            source.push_str(&format!("fn function_{f}() {{\n"));
            for l in 0..15 {
                source.push_str(&format!("    let x{l} = {l};\n"));
            }
            source.push_str("}\n\n");
        }
        let chunks = chunk(&source);
        // Through the last line with text (a blank line may close a chunk).
        let lines: Vec<&str> = source.lines().collect();
        let last_text = lines.iter().rposition(|l| !l.trim().is_empty()).unwrap() + 1;
        assert_eq!(chunks.first().unwrap().start_line, 1);
        let end = chunks.last().unwrap().end_line;
        assert!(end >= last_text && end <= lines.len(), "{end}");
        for pair in chunks.windows(2) {
            assert!(pair[1].start_line > pair[0].end_line);
        }
        // Each function starts a chunk (a top-level line after at least MIN_LINES).
        assert!(
            chunks
                .iter()
                .filter(|c| c.text.starts_with("fn function_"))
                .count()
                >= 4,
            "{chunks:#?}"
        );
    }

    #[test]
    fn long_lines_and_long_files_are_bounded() {
        let long = "x".repeat(7000);
        let chunks = chunk(&format!("a\n{long}\nb"));
        assert!(chunks.iter().all(|c| c.text.chars().count() <= 3000));
        assert_eq!(chunks.iter().filter(|c| c.start_line == 2).count(), 3);
        let many: String = (0..500).map(|i| format!("    line {i}\n")).collect();
        let chunks = chunk(&many);
        assert!(chunks.iter().all(|c| c.end_line - c.start_line < 60));
        assert!(chunk("").is_empty() && chunk("\n\n  \n").is_empty());
    }
}
