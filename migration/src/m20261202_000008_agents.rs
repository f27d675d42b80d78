//! LunaOS agents and chains: every run stored with its events (for listing and replay), the
//! monthly execution counters quotas are charged against, billing subscriptions, and the
//! billing provider's events already processed (each is applied once). Keys made before
//! `agents:run` existed get it, as a new key does.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AgentRuns {
    Table,
    Id,
    UserId,
    Kind,
    Name,
    Provider,
    Model,
    Input,
    Output,
    Events,
    InputTokens,
    OutputTokens,
    Cost,
    DurationMs,
    Status,
    Error,
    ErrorCode,
    CreatedAt,
    FinishedAt,
}

#[derive(DeriveIden)]
enum UsageCounters {
    Table,
    UserId,
    Period,
    AgentExecutions,
    ChainExecutions,
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    UserId,
    Provider,
    Tier,
    Status,
    ExternalId,
    CustomerId,
    CurrentPeriodStart,
    CurrentPeriodEnd,
    CancelAtPeriodEnd,
    SourceUpdatedAt,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum BillingEvents {
    Table,
    Id,
    Kind,
    ReceivedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

fn owned_by(
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AgentRuns::Table)
                    .col(string_len(AgentRuns::Id, 40).primary_key())
                    .col(string_len(AgentRuns::UserId, 36))
                    .col(string_len(AgentRuns::Kind, 8))
                    .col(string_len(AgentRuns::Name, 100))
                    .col(string_len(AgentRuns::Provider, 64))
                    .col(string_len(AgentRuns::Model, 128))
                    .col(text(AgentRuns::Input))
                    .col(text(AgentRuns::Output))
                    .col(text(AgentRuns::Events))
                    .col(integer_null(AgentRuns::InputTokens))
                    .col(integer_null(AgentRuns::OutputTokens))
                    .col(double(AgentRuns::Cost))
                    .col(big_integer_null(AgentRuns::DurationMs))
                    .col(string_len(AgentRuns::Status, 16))
                    .col(text_null(AgentRuns::Error))
                    .col(string_len_null(AgentRuns::ErrorCode, 32))
                    .col(timestamp_with_time_zone(AgentRuns::CreatedAt))
                    .col(timestamp_with_time_zone_null(AgentRuns::FinishedAt))
                    .foreign_key(&mut owned_by(AgentRuns::Table, AgentRuns::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("agent_runs_user_time")
                    .table(AgentRuns::Table)
                    .col(AgentRuns::UserId)
                    .col(AgentRuns::CreatedAt)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UsageCounters::Table)
                    .col(string_len(UsageCounters::UserId, 36))
                    .col(string_len(UsageCounters::Period, 7))
                    .col(integer(UsageCounters::AgentExecutions).default(0))
                    .col(integer(UsageCounters::ChainExecutions).default(0))
                    .primary_key(
                        Index::create()
                            .col(UsageCounters::UserId)
                            .col(UsageCounters::Period),
                    )
                    .foreign_key(&mut owned_by(UsageCounters::Table, UsageCounters::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Subscriptions::Table)
                    .col(string_len(Subscriptions::UserId, 36).primary_key())
                    .col(string_len(Subscriptions::Provider, 16))
                    .col(string_len(Subscriptions::Tier, 8))
                    .col(string_len(Subscriptions::Status, 24))
                    .col(string_len_null(Subscriptions::ExternalId, 255))
                    .col(string_len_null(Subscriptions::CustomerId, 255))
                    .col(timestamp_with_time_zone(Subscriptions::CurrentPeriodStart))
                    .col(timestamp_with_time_zone(Subscriptions::CurrentPeriodEnd))
                    .col(boolean(Subscriptions::CancelAtPeriodEnd))
                    .col(timestamp_with_time_zone(Subscriptions::SourceUpdatedAt))
                    .col(timestamp_with_time_zone(Subscriptions::CreatedAt))
                    .col(timestamp_with_time_zone(Subscriptions::UpdatedAt))
                    .foreign_key(&mut owned_by(Subscriptions::Table, Subscriptions::UserId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("subscriptions_external")
                    .table(Subscriptions::Table)
                    .col(Subscriptions::ExternalId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(BillingEvents::Table)
                    .col(string_len(BillingEvents::Id, 255).primary_key())
                    .col(string_len(BillingEvents::Kind, 64))
                    .col(timestamp_with_time_zone(BillingEvents::ReceivedAt))
                    .to_owned(),
            )
            .await?;
        crate::grant_to_existing_keys(manager, &["agents:run"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            BillingEvents::Table.into_iden(),
            Subscriptions::Table.into_iden(),
            UsageCounters::Table.into_iden(),
            AgentRuns::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
