//! Code RAG in GraphQL: repositories, indexing files and searching code.

use async_graphql::{Context, InputObject, Object, SimpleObject};

use super::errors::{to_gql, user_error, UserError};
use super::identity::require_user;
use super::scalars::DateTime;
use super::{core, principal};
use crate::domain::rag::{self, File};

#[derive(Default)]
pub struct RagQuery;

#[derive(Default)]
pub struct RagMutation;

/// One of your indexed code repositories.
#[derive(SimpleObject)]
pub struct CodeRepository {
    name: String,
    files: i32,
    chunks: i32,
    updated_at: DateTime,
}

/// A chunk of indexed code that matched.
#[derive(SimpleObject)]
pub struct CodeMatch {
    repository: String,
    path: String,
    content: String,
    /// Reciprocal rank fusion of the meaning and the term rankings; 1.0 = first in both.
    score: f64,
    /// The chunk's position in its file (0-based).
    chunk: i32,
    start_line: i32,
    end_line: i32,
}

#[Object]
impl RagQuery {
    /// Your indexed code repositories.
    async fn repositories(&self, ctx: &Context<'_>) -> async_graphql::Result<Vec<CodeRepository>> {
        require_user(ctx)?;
        let list = core(ctx)
            .rag
            .repositories(principal(ctx))
            .await
            .map_err(to_gql)?;
        Ok(list
            .into_iter()
            .map(|r| CodeRepository {
                name: r.name,
                files: r.files as i32,
                chunks: r.chunks as i32,
                updated_at: r.updated_at.into(),
            })
            .collect())
    }

    /// Searches your indexed code by meaning and by identifiers (`limit` 1 to 20).
    async fn search_code(
        &self,
        ctx: &Context<'_>,
        query: String,
        repository: Option<String>,
        #[graphql(default = 5)] limit: i32,
    ) -> async_graphql::Result<Vec<CodeMatch>> {
        require_user(ctx)?;
        let limit = usize::try_from(limit).unwrap_or(0);
        let hits = core(ctx)
            .rag
            .search(principal(ctx), &query, repository.as_deref(), limit)
            .await
            .map_err(to_gql)?;
        Ok(hits
            .into_iter()
            .map(|h| CodeMatch {
                repository: h.repository,
                path: h.path,
                content: h.content,
                score: h.score,
                chunk: h.chunk as i32,
                start_line: h.start_line as i32,
                end_line: h.end_line as i32,
            })
            .collect())
    }
}

#[derive(InputObject)]
pub struct FileInput {
    /// 1 to 1024 characters.
    path: String,
    /// At most 500 000 characters.
    content: String,
}

#[derive(InputObject)]
pub struct IndexFilesInput {
    /// 1 to 100 files; each replaces what its path had.
    files: Vec<FileInput>,
    /// Default `default`.
    repository: Option<String>,
}

#[derive(SimpleObject, Default)]
pub struct IndexFilesPayload {
    repository: Option<String>,
    files: Option<i32>,
    chunks: Option<i32>,
    user_errors: Vec<UserError>,
}

#[Object]
impl RagMutation {
    /// Indexes files into one of your repositories.
    async fn index_files(
        &self,
        ctx: &Context<'_>,
        input: IndexFilesInput,
    ) -> async_graphql::Result<IndexFilesPayload> {
        require_user(ctx)?;
        if input.files.len() > rag::MAX_FILES {
            return Ok(IndexFilesPayload {
                user_errors: vec![user_error(crate::error::DomainError::invalid(
                    "files",
                    format!("send 1 to {} files", rag::MAX_FILES),
                ))?],
                ..Default::default()
            });
        }
        let files = input
            .files
            .into_iter()
            .map(|f| File {
                path: f.path,
                content: f.content,
            })
            .collect();
        Ok(
            match core(ctx)
                .rag
                .index(principal(ctx), input.repository, files)
                .await
            {
                Ok(indexed) => IndexFilesPayload {
                    repository: Some(indexed.repository),
                    files: Some(indexed.files as i32),
                    chunks: Some(indexed.chunks as i32),
                    user_errors: vec![],
                },
                Err(err) => IndexFilesPayload {
                    user_errors: vec![user_error(err)?],
                    ..Default::default()
                },
            },
        )
    }
}
