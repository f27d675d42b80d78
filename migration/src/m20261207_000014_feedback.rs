//! Feedback on answers (the LUKHAS core API's `/feedback`): a rating, a category, a comment
//! and optionally the MATRIZ interaction (its memory fold) it is about. Keys get the
//! `feedback` scope, as a new key does.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Feedback {
    Table,
    Id,
    UserId,
    Rating,
    Category,
    Comment,
    MemoryFoldId,
    InteractionId,
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
                    .table(Feedback::Table)
                    .col(string_len(Feedback::Id, 40).primary_key())
                    .col(string_len(Feedback::UserId, 36))
                    .col(small_integer(Feedback::Rating))
                    .col(string_len(Feedback::Category, 32))
                    .col(text(Feedback::Comment))
                    .col(string_len_null(Feedback::MemoryFoldId, 128))
                    .col(string_len_null(Feedback::InteractionId, 128))
                    .col(timestamp_with_time_zone(Feedback::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Feedback::Table, Feedback::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, first) in [
            ("feedback_user_created", Feedback::UserId),
            ("feedback_category_created", Feedback::Category),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Feedback::Table)
                        .col(first)
                        .col(Feedback::CreatedAt)
                        .to_owned(),
                )
                .await?;
        }
        crate::grant_to_existing_keys(manager, &["feedback"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Feedback::Table).to_owned())
            .await
    }
}
