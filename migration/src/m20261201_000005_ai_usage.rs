//! Model usage per principal (one row per provider call, with the provider's own token
//! counts), and the `models:use` scope for keys made before it existed (what a new key gets
//! by default).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AiUsage {
    Table,
    Id,
    UserId,
    KeyId,
    Provider,
    Model,
    Operation,
    InputTokens,
    OutputTokens,
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
                    .table(AiUsage::Table)
                    .col(string_len(AiUsage::Id, 36).primary_key())
                    .col(string_len(AiUsage::UserId, 36))
                    .col(string_len_null(AiUsage::KeyId, 36))
                    .col(string_len(AiUsage::Provider, 64))
                    .col(string_len(AiUsage::Model, 128))
                    .col(string_len(AiUsage::Operation, 16))
                    .col(integer_null(AiUsage::InputTokens))
                    .col(integer_null(AiUsage::OutputTokens))
                    .col(timestamp_with_time_zone(AiUsage::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(AiUsage::Table, AiUsage::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ai_usage_user_time")
                    .table(AiUsage::Table)
                    .col(AiUsage::UserId)
                    .col(AiUsage::CreatedAt)
                    .to_owned(),
            )
            .await?;
        crate::grant_to_existing_keys(manager, &["models:use"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AiUsage::Table).to_owned())
            .await
    }
}
