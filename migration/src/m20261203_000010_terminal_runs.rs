//! Terminal commands that wait for approval, and what became of them once resolved.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum TerminalRuns {
    Table,
    Id,
    UserId,
    Session,
    Command,
    Cwd,
    Reasons,
    Status,
    ResolvedBy,
    Result,
    CreatedAt,
    ResolvedAt,
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
                    .table(TerminalRuns::Table)
                    .col(string_len(TerminalRuns::Id, 48).primary_key())
                    .col(string_len(TerminalRuns::UserId, 36))
                    .col(string_len_null(TerminalRuns::Session, 128))
                    .col(text(TerminalRuns::Command))
                    .col(text_null(TerminalRuns::Cwd))
                    .col(text(TerminalRuns::Reasons))
                    .col(string_len(TerminalRuns::Status, 24))
                    .col(string_len_null(TerminalRuns::ResolvedBy, 36))
                    .col(text_null(TerminalRuns::Result))
                    .col(timestamp_with_time_zone(TerminalRuns::CreatedAt))
                    .col(timestamp_with_time_zone_null(TerminalRuns::ResolvedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(TerminalRuns::Table, TerminalRuns::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("terminal_runs_owner_time")
                    .table(TerminalRuns::Table)
                    .col(TerminalRuns::UserId)
                    .col(TerminalRuns::CreatedAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(TerminalRuns::Table).to_owned())
            .await
    }
}
