//! The lexical side of code search: SQLite FTS5 with `bm25()`, or PostgreSQL's generated
//! `tsvector` with `ts_rank`, over the chunks' terms (see [`super::terms`]).

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, Statement, Value};

use crate::error::DomainResult;

#[async_trait]
pub trait LexicalIndex: Send + Sync {
    /// Up to `k` chunk ids of `owner` (in `repository` when given) matching any of `terms`,
    /// best first.
    async fn search(
        &self,
        owner: &str,
        repository: Option<&str>,
        terms: &[String],
        k: usize,
    ) -> DomainResult<Vec<String>>;
}

/// The database's own full-text index over `rag_chunks.terms`.
pub struct SqlLexicalIndex {
    db: DatabaseConnection,
}

impl SqlLexicalIndex {
    pub fn new(db: DatabaseConnection) -> Self {
        Self { db }
    }
}

#[async_trait]
impl LexicalIndex for SqlLexicalIndex {
    async fn search(
        &self,
        owner: &str,
        repository: Option<&str>,
        terms: &[String],
        k: usize,
    ) -> DomainResult<Vec<String>> {
        // Terms are lowercase alphanumerics only (terms_of), safe to quote.
        let terms: Vec<&String> = terms
            .iter()
            .filter(|t| t.chars().all(|c| c.is_alphanumeric()))
            .take(64)
            .collect();
        if terms.is_empty() {
            return Ok(vec![]);
        }
        let backend = self.db.get_database_backend();
        let (sql, query) = match backend {
            DatabaseBackend::Postgres => (
                "SELECT c.id FROM rag_chunks c, to_tsquery('simple', $1) q \
                 WHERE c.terms_tsv @@ q AND c.user_id = $2 AND ($3::text IS NULL OR c.repository = $3) \
                 ORDER BY ts_rank(c.terms_tsv, q) DESC, c.id LIMIT $4",
                terms.iter().map(|t| t.as_str()).collect::<Vec<_>>().join(" | "),
            ),
            _ => {
                // Owner and repository are terms of the index: the MATCH filters by them and
                // FTS5 ranks only the survivors, keeping its own top k (`ORDER BY rank LIMIT`).
                let any: Vec<String> = terms.iter().map(|t| format!("\"{t}\"")).collect();
                let mut query = format!("\"{}\" AND ({})", super::terms::owner_term(owner), any.join(" OR "));
                if let Some(name) = repository {
                    query = format!("\"{}\" AND {query}", super::terms::repository_term(name));
                }
                (
                    "SELECT c.id FROM (SELECT rowid, rank FROM rag_chunks_fts WHERE rag_chunks_fts MATCH ? \
                     ORDER BY rank LIMIT ?) f JOIN rag_chunks c ON c.rowid = f.rowid \
                     WHERE c.user_id = ? ORDER BY f.rank, c.id",
                    query,
                )
            }
        };
        let repository = repository.map(str::to_string);
        let values: Vec<Value> = match backend {
            DatabaseBackend::Postgres => vec![
                query.into(),
                owner.into(),
                repository.into(),
                (k as i64).into(),
            ],
            _ => vec![query.into(), (k as i64).into(), owner.into()],
        };
        let rows = self
            .db
            .query_all(Statement::from_sql_and_values(backend, sql, values))
            .await?;
        rows.iter()
            .map(|row| row.try_get::<String>("", "id").map_err(Into::into))
            .collect()
    }
}
