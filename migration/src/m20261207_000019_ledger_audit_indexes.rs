//! The audit trail filters the ledger by event type (or a family: a range of types) and by
//! actor, newest first: indexes that end in `seq` answer both in index order, so a page over
//! millions of entries reads only the page. `(actor, seq)` replaces the index on `actor`.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum GovLedger {
    Table,
    EventType,
    Actor,
    Seq,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_gov_ledger_event_type")
                    .table(GovLedger::Table)
                    .col(GovLedger::EventType)
                    .col(GovLedger::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_gov_ledger_actor_seq")
                    .table(GovLedger::Table)
                    .col(GovLedger::Actor)
                    .col(GovLedger::Seq)
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("idx_gov_ledger_actor")
                    .table(GovLedger::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .name("idx_gov_ledger_actor")
                    .table(GovLedger::Table)
                    .col(GovLedger::Actor)
                    .to_owned(),
            )
            .await?;
        for name in ["idx_gov_ledger_actor_seq", "idx_gov_ledger_event_type"] {
            manager
                .drop_index(Index::drop().name(name).table(GovLedger::Table).to_owned())
                .await?;
        }
        Ok(())
    }
}
