//! A running run's heartbeat: the instance running it writes its events so far and the time
//! every second, so another instance can replay them to a reconnecting client and tell a run
//! whose instance went away from one that is still going.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AgentRuns {
    Table,
    HeartbeatAt,
    Status,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AgentRuns::Table)
                    .add_column(timestamp_with_time_zone_null(AgentRuns::HeartbeatAt))
                    .to_owned(),
            )
            .await?;
        // The sweep for runs whose instance went away reads the running ones only.
        manager
            .create_index(
                Index::create()
                    .name("idx_agent_runs_status_heartbeat")
                    .table(AgentRuns::Table)
                    .col(AgentRuns::Status)
                    .col(AgentRuns::HeartbeatAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .name("idx_agent_runs_status_heartbeat")
                    .table(AgentRuns::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AgentRuns::Table)
                    .drop_column(AgentRuns::HeartbeatAt)
                    .to_owned(),
            )
            .await
    }
}
