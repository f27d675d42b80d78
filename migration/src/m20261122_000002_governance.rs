use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum GovPolicies {
    Table,
    Seq,
    PolicyId,
    Version,
    Name,
    Body,
    LoadedAt,
    LoadedBy,
}

#[derive(DeriveIden)]
enum GovDecisions {
    Table,
    DecisionId,
    RequestId,
    OwnerId,
    Actor,
    ProposedAction,
    Tool,
    UserIntent,
    RiskLevel,
    Context,
    DataClasses,
    Decision,
    Reason,
    PolicyVersion,
    CapabilityToken,
    TokenId,
    ExpiresAt,
    Signature,
    ChainHash,
    Timestamp,
    ReviewStatus,
    ReviewRole,
    ReviewedBy,
    ReviewReason,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum GovLedger {
    Table,
    Seq,
    EntryId,
    Timestamp,
    EventType,
    DecisionId,
    Actor,
    Action,
    Decision,
    PolicyVersion,
    Data,
    PrevHash,
    EntryHash,
    Signature,
    OwnerId,
}

#[derive(DeriveIden)]
enum GovRevocations {
    Table,
    TokenId,
    DecisionId,
    RevokedAt,
    RevokedBy,
    Reason,
}

fn index(name: &str, table: impl IntoIden + 'static, columns: &[&str]) -> IndexCreateStatement {
    let mut index = Index::create();
    index.name(name).table(table);
    for column in columns {
        index.col(Alias::new(*column));
    }
    index.to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(GovPolicies::Table)
                    .col(big_integer(GovPolicies::Seq).primary_key().auto_increment())
                    .col(string_len(GovPolicies::PolicyId, 255))
                    .col(string_len(GovPolicies::Version, 64))
                    .col(string_len(GovPolicies::Name, 255))
                    .col(text(GovPolicies::Body))
                    .col(timestamp_with_time_zone(GovPolicies::LoadedAt))
                    .col(string_len_null(GovPolicies::LoadedBy, 36))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(GovDecisions::Table)
                    .col(string_len(GovDecisions::DecisionId, 40).primary_key())
                    .col(string_len_null(GovDecisions::RequestId, 255))
                    .col(string_len(GovDecisions::OwnerId, 36))
                    .col(string_len(GovDecisions::Actor, 255))
                    .col(text(GovDecisions::ProposedAction))
                    .col(string_len(GovDecisions::Tool, 255))
                    .col(text_null(GovDecisions::UserIntent))
                    .col(integer_null(GovDecisions::RiskLevel))
                    .col(text(GovDecisions::Context))
                    .col(text(GovDecisions::DataClasses))
                    .col(string_len(GovDecisions::Decision, 16))
                    .col(text(GovDecisions::Reason))
                    .col(string_len(GovDecisions::PolicyVersion, 64))
                    .col(text_null(GovDecisions::CapabilityToken))
                    .col(string_len_null(GovDecisions::TokenId, 40))
                    .col(string_len_null(GovDecisions::ExpiresAt, 40))
                    .col(string(GovDecisions::Signature))
                    .col(string(GovDecisions::ChainHash))
                    .col(string_len(GovDecisions::Timestamp, 40))
                    .col(string_len_null(GovDecisions::ReviewStatus, 16))
                    .col(string_len_null(GovDecisions::ReviewRole, 32))
                    .col(string_len_null(GovDecisions::ReviewedBy, 36))
                    .col(text_null(GovDecisions::ReviewReason))
                    .col(string_len_null(GovDecisions::ReviewedAt, 40))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                index(
                    "uq_gov_decisions_request",
                    GovDecisions::Table,
                    &["owner_id", "request_id"],
                )
                .unique()
                .to_owned(),
            )
            .await?;
        manager
            .create_index(index(
                "idx_gov_decisions_actor_tool",
                GovDecisions::Table,
                &["actor", "tool", "timestamp"],
            ))
            .await?;
        manager
            .create_index(index(
                "idx_gov_decisions_review",
                GovDecisions::Table,
                &["review_status"],
            ))
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(GovLedger::Table)
                    .col(big_integer(GovLedger::Seq).primary_key())
                    .col(string_len_uniq(GovLedger::EntryId, 40))
                    .col(string_len(GovLedger::Timestamp, 40))
                    .col(string_len(GovLedger::EventType, 64))
                    .col(string_len_null(GovLedger::DecisionId, 40))
                    .col(string_len_null(GovLedger::Actor, 255))
                    .col(text_null(GovLedger::Action))
                    .col(string_len_null(GovLedger::Decision, 16))
                    .col(string_len_null(GovLedger::PolicyVersion, 64))
                    .col(text(GovLedger::Data))
                    .col(string_len(GovLedger::PrevHash, 80))
                    .col(string_len(GovLedger::EntryHash, 80))
                    .col(string(GovLedger::Signature))
                    .col(string_len_null(GovLedger::OwnerId, 36))
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            ("idx_gov_ledger_decision", &["decision_id"][..]),
            ("idx_gov_ledger_actor", &["actor"][..]),
            ("idx_gov_ledger_timestamp", &["timestamp"][..]),
            ("idx_gov_ledger_owner", &["owner_id", "seq"][..]),
        ] {
            manager
                .create_index(index(name, GovLedger::Table, columns))
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(GovRevocations::Table)
                    .col(string_len(GovRevocations::TokenId, 40).primary_key())
                    .col(string_len(GovRevocations::DecisionId, 40))
                    .col(timestamp_with_time_zone(GovRevocations::RevokedAt))
                    .col(string_len(GovRevocations::RevokedBy, 36))
                    .col(text_null(GovRevocations::Reason))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            GovRevocations::Table.into_iden(),
            GovLedger::Table.into_iden(),
            GovDecisions::Table.into_iden(),
            GovPolicies::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
