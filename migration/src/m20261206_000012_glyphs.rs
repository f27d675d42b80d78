//! LUKHAS GLYPH tokens: symbolic messages between modules, each with a time to live, and
//! the memories they were bound to. Keys get the `glyphs` scope, as a new key does.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum GlyphTokens {
    Table,
    Id,
    UserId,
    Symbol,
    SourceModule,
    SourceComponent,
    SourceConfidence,
    TargetModule,
    TargetComponent,
    SessionId,
    InteractionId,
    Action,
    Data,
    Priority,
    TtlSeconds,
    RequiresGuardian,
    ValidationId,
    BoundMemories,
    CreatedAt,
    ExpiresAt,
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
                    .table(GlyphTokens::Table)
                    .col(string_len(GlyphTokens::Id, 64).primary_key())
                    .col(string_len(GlyphTokens::UserId, 36))
                    .col(string_len(GlyphTokens::Symbol, 16))
                    .col(string_len(GlyphTokens::SourceModule, 64))
                    .col(string_len_null(GlyphTokens::SourceComponent, 64))
                    .col(double_null(GlyphTokens::SourceConfidence))
                    .col(string_len(GlyphTokens::TargetModule, 64))
                    .col(string_len_null(GlyphTokens::TargetComponent, 64))
                    .col(string_len_null(GlyphTokens::SessionId, 128))
                    .col(string_len_null(GlyphTokens::InteractionId, 128))
                    .col(string_len(GlyphTokens::Action, 64))
                    .col(text(GlyphTokens::Data))
                    .col(string_len(GlyphTokens::Priority, 16))
                    .col(integer(GlyphTokens::TtlSeconds))
                    .col(boolean(GlyphTokens::RequiresGuardian))
                    .col(string_len_null(GlyphTokens::ValidationId, 64))
                    .col(text(GlyphTokens::BoundMemories))
                    .col(timestamp_with_time_zone(GlyphTokens::CreatedAt))
                    .col(timestamp_with_time_zone(GlyphTokens::ExpiresAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(GlyphTokens::Table, GlyphTokens::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("glyph_tokens_owner_expiry")
                    .table(GlyphTokens::Table)
                    .col(GlyphTokens::UserId)
                    .col(GlyphTokens::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        crate::grant_to_existing_keys(manager, &["glyphs"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(GlyphTokens::Table).to_owned())
            .await
    }
}
