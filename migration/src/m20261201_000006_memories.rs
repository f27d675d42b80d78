//! LUKHAS memories (and the `memory:read`/`memory:write` scopes for keys made before them): content, the embedding it had when stored and the one it has now (both
//! f32 little-endian blobs: the database is the source of truth, the search index is rebuilt
//! from it), drift, helix, access counts.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Memories {
    Table,
    Id,
    UserId,
    Kind,
    Data,
    Context,
    OriginalData,
    Tags,
    Importance,
    HelixId,
    EmbeddingModel,
    Embedding,
    OriginalEmbedding,
    DriftScore,
    AccessCount,
    LastAccessed,
    CreatedAt,
    UpdatedAt,
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
                    .table(Memories::Table)
                    .col(string_len(Memories::Id, 40).primary_key())
                    .col(string_len(Memories::UserId, 36))
                    .col(string_len(Memories::Kind, 32))
                    .col(text(Memories::Data))
                    .col(json(Memories::Context))
                    .col(text(Memories::OriginalData))
                    .col(json(Memories::Tags))
                    .col(double(Memories::Importance))
                    .col(string_len(Memories::HelixId, 96))
                    .col(string_len(Memories::EmbeddingModel, 200))
                    .col(blob(Memories::Embedding))
                    .col(blob(Memories::OriginalEmbedding))
                    .col(double(Memories::DriftScore))
                    .col(big_integer(Memories::AccessCount))
                    .col(timestamp_with_time_zone_null(Memories::LastAccessed))
                    .col(timestamp_with_time_zone(Memories::CreatedAt))
                    .col(timestamp_with_time_zone(Memories::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Memories::Table, Memories::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("memories_user_created")
                    .table(Memories::Table)
                    .col(Memories::UserId)
                    .col(Memories::CreatedAt)
                    .to_owned(),
            )
            .await?;
        crate::grant_to_existing_keys(manager, &["memory:read", "memory:write"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Memories::Table).to_owned())
            .await
    }
}
