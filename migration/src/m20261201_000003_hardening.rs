//! Revocations that every instance sees, and what decision idempotency and reviews need.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuthRevocations {
    Table,
    Seq,
    Kind,
    Subject,
    CreatedAt,
}

#[derive(DeriveIden)]
enum GovDecisions {
    Table,
    RequestHash,
    InitialDecision,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuthRevocations::Table)
                    .col(integer(AuthRevocations::Seq).primary_key().auto_increment())
                    .col(string_len(AuthRevocations::Kind, 16))
                    .col(string_len(AuthRevocations::Subject, 128))
                    .col(timestamp_with_time_zone(AuthRevocations::CreatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_auth_revocations_created")
                    .table(AuthRevocations::Table)
                    .col(AuthRevocations::CreatedAt)
                    .to_owned(),
            )
            .await?;
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(GovDecisions::Table)
                    .add_column(string_len_null(GovDecisions::RequestHash, 80))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(GovDecisions::Table)
                    .add_column(string_len_null(GovDecisions::InitialDecision, 16))
                    .to_owned(),
            )
            .await?;
        // Idempotency keys expire, so one key may name several decisions over time; the
        // ledger writer keeps them unique within the window under its lock.
        manager
            .drop_index(
                Index::drop()
                    .name("uq_gov_decisions_request")
                    .table(GovDecisions::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_gov_decisions_request")
                    .table(GovDecisions::Table)
                    .col(Alias::new("owner_id"))
                    .col(Alias::new("request_id"))
                    .col(Alias::new("timestamp"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(AuthRevocations::Table).to_owned())
            .await
    }
}
