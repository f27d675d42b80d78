//! Lumen chat sessions: each session's interactions (kept after they are folded, as
//! history) and the summaries they were folded into (kept after they are merged). The
//! unique `(session, seq)` pairs make a turn that raced another one fail instead of
//! interleaving. Keys get the `chat` scope, as a new key does.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ChatSessions {
    Table,
    Id,
    UserId,
    Key,
    NextSeq,
    NextSummarySeq,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum ChatInteractions {
    Table,
    Id,
    SessionId,
    Seq,
    Message,
    Kind,
    Reply,
    Execution,
    Agent,
    RouteMethod,
    RouteReason,
    Provider,
    Model,
    SummaryId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ChatSummaries {
    Table,
    Id,
    SessionId,
    Seq,
    Text,
    FirstSeq,
    LastSeq,
    Interactions,
    Method,
    Provider,
    Model,
    MergedInto,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

fn in_session(
    table: impl IntoIden + 'static,
    column: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, column)
        .to(ChatSessions::Table, ChatSessions::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ChatSessions::Table)
                    .col(string_len(ChatSessions::Id, 36).primary_key())
                    .col(string_len(ChatSessions::UserId, 36))
                    .col(string_len(ChatSessions::Key, 128))
                    .col(big_integer(ChatSessions::NextSeq))
                    .col(big_integer(ChatSessions::NextSummarySeq))
                    .col(timestamp_with_time_zone(ChatSessions::CreatedAt))
                    .col(timestamp_with_time_zone(ChatSessions::UpdatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(ChatSessions::Table, ChatSessions::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("chat_sessions_owner_key")
                    .table(ChatSessions::Table)
                    .col(ChatSessions::UserId)
                    .col(ChatSessions::Key)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatSummaries::Table)
                    .col(string_len(ChatSummaries::Id, 36).primary_key())
                    .col(string_len(ChatSummaries::SessionId, 36))
                    .col(big_integer(ChatSummaries::Seq))
                    .col(text(ChatSummaries::Text))
                    .col(big_integer(ChatSummaries::FirstSeq))
                    .col(big_integer(ChatSummaries::LastSeq))
                    .col(integer(ChatSummaries::Interactions))
                    .col(string_len(ChatSummaries::Method, 16))
                    .col(string_len(ChatSummaries::Provider, 64))
                    .col(string_len(ChatSummaries::Model, 128))
                    .col(string_len_null(ChatSummaries::MergedInto, 36))
                    .col(timestamp_with_time_zone(ChatSummaries::CreatedAt))
                    .foreign_key(&mut in_session(
                        ChatSummaries::Table,
                        ChatSummaries::SessionId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("chat_summaries_session_seq")
                    .table(ChatSummaries::Table)
                    .col(ChatSummaries::SessionId)
                    .col(ChatSummaries::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(ChatInteractions::Table)
                    .col(string_len(ChatInteractions::Id, 36).primary_key())
                    .col(string_len(ChatInteractions::SessionId, 36))
                    .col(big_integer(ChatInteractions::Seq))
                    .col(text(ChatInteractions::Message))
                    .col(string_len(ChatInteractions::Kind, 24))
                    .col(text(ChatInteractions::Reply))
                    .col(text_null(ChatInteractions::Execution))
                    .col(string_len(ChatInteractions::Agent, 16))
                    .col(string_len(ChatInteractions::RouteMethod, 16))
                    .col(text(ChatInteractions::RouteReason))
                    .col(string_len(ChatInteractions::Provider, 64))
                    .col(string_len(ChatInteractions::Model, 128))
                    .col(string_len_null(ChatInteractions::SummaryId, 36))
                    .col(timestamp_with_time_zone(ChatInteractions::CreatedAt))
                    .foreign_key(&mut in_session(
                        ChatInteractions::Table,
                        ChatInteractions::SessionId,
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("chat_interactions_session_seq")
                    .table(ChatInteractions::Table)
                    .col(ChatInteractions::SessionId)
                    .col(ChatInteractions::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        crate::grant_to_existing_keys(manager, &["chat"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            ChatInteractions::Table.into_iden(),
            ChatSummaries::Table.into_iden(),
            ChatSessions::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
