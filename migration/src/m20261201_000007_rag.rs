//! LunaOS code RAG: line-range chunks of indexed files with their embeddings, and a lexical
//! index over their terms (identifiers split into sub-words): SQLite FTS5 (external content,
//! kept in sync by triggers) or a generated `tsvector` with a GIN index on PostgreSQL.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RagChunks {
    Table,
    Id,
    Rowid,
    UserId,
    Repository,
    Path,
    ChunkIndex,
    StartLine,
    EndLine,
    Content,
    Terms,
    EmbeddingModel,
    Embedding,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RagChunks::Table)
                    // An integer key: FTS5's external content links rows by it.
                    .col(big_integer(RagChunks::Rowid).auto_increment().primary_key())
                    .col(string_len_uniq(RagChunks::Id, 40))
                    .col(string_len(RagChunks::UserId, 36))
                    .col(string_len(RagChunks::Repository, 100))
                    .col(string_len(RagChunks::Path, 1024))
                    .col(integer(RagChunks::ChunkIndex))
                    .col(integer(RagChunks::StartLine))
                    .col(integer(RagChunks::EndLine))
                    .col(text(RagChunks::Content))
                    .col(text(RagChunks::Terms))
                    .col(string_len(RagChunks::EmbeddingModel, 200))
                    .col(blob(RagChunks::Embedding))
                    .col(timestamp_with_time_zone(RagChunks::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RagChunks::Table, RagChunks::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("rag_chunks_owner_repo_path")
                    .table(RagChunks::Table)
                    .col(RagChunks::UserId)
                    .col(RagChunks::Repository)
                    .col(RagChunks::Path)
                    .to_owned(),
            )
            .await?;
        crate::grant_to_existing_keys(manager, &["rag:read", "rag:write"]).await?;
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "ALTER TABLE rag_chunks ADD COLUMN terms_tsv tsvector \
                     GENERATED ALWAYS AS (to_tsvector('simple', terms)) STORED",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE INDEX rag_chunks_terms ON rag_chunks USING GIN (terms_tsv)",
                )
                .await?;
            }
            _ => {
                db.execute_unprepared(
                    "CREATE VIRTUAL TABLE rag_chunks_fts USING fts5(terms, content='rag_chunks', \
                     content_rowid='rowid', tokenize='unicode61')",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER rag_chunks_ai AFTER INSERT ON rag_chunks BEGIN \
                     INSERT INTO rag_chunks_fts(rowid, terms) VALUES (new.rowid, new.terms); END",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE TRIGGER rag_chunks_ad AFTER DELETE ON rag_chunks BEGIN \
                     INSERT INTO rag_chunks_fts(rag_chunks_fts, rowid, terms) \
                     VALUES ('delete', old.rowid, old.terms); END",
                )
                .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DatabaseBackend::Postgres {
            manager
                .get_connection()
                .execute_unprepared("DROP TABLE IF EXISTS rag_chunks_fts")
                .await?;
        }
        manager
            .drop_table(Table::drop().table(RagChunks::Table).to_owned())
            .await
    }
}
