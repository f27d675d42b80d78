//! Security incidents (the LUKHAS core API's `/incidents`): reported by a principal or
//! opened by a guardian rejection, with their status history. Keys get the `incidents`
//! scope, as a new key does.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Incidents {
    Table,
    Id,
    UserId,
    ReportedBy,
    Source,
    Title,
    Description,
    Severity,
    Status,
    RuleKey,
    ValidationId,
    Occurrences,
    FirstSeenAt,
    LastSeenAt,
    CreatedAt,
    UpdatedAt,
    ResolvedAt,
}

#[derive(DeriveIden)]
enum IncidentUpdates {
    Table,
    Id,
    IncidentId,
    Actor,
    FromStatus,
    ToStatus,
    Note,
    At,
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
                    .table(Incidents::Table)
                    .col(string_len(Incidents::Id, 40).primary_key())
                    .col(string_len(Incidents::UserId, 36))
                    .col(string_len_null(Incidents::ReportedBy, 36))
                    .col(string_len(Incidents::Source, 16))
                    .col(string_len(Incidents::Title, 200))
                    .col(text(Incidents::Description))
                    .col(string_len(Incidents::Severity, 16))
                    .col(string_len(Incidents::Status, 16))
                    .col(string_len_null(Incidents::RuleKey, 255))
                    .col(string_len_null(Incidents::ValidationId, 64))
                    .col(integer(Incidents::Occurrences))
                    .col(timestamp_with_time_zone(Incidents::FirstSeenAt))
                    .col(timestamp_with_time_zone(Incidents::LastSeenAt))
                    .col(timestamp_with_time_zone(Incidents::CreatedAt))
                    .col(timestamp_with_time_zone(Incidents::UpdatedAt))
                    .col(timestamp_with_time_zone_null(Incidents::ResolvedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(Incidents::Table, Incidents::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, columns) in [
            (
                "incidents_user_created",
                [Incidents::UserId, Incidents::CreatedAt],
            ),
            (
                "incidents_status_created",
                [Incidents::Status, Incidents::CreatedAt],
            ),
        ] {
            let mut index = Index::create();
            index.name(name).table(Incidents::Table);
            for column in columns {
                index.col(column);
            }
            manager.create_index(index.to_owned()).await?;
        }
        manager
            .create_table(
                Table::create()
                    .table(IncidentUpdates::Table)
                    .col(string_len(IncidentUpdates::Id, 40).primary_key())
                    .col(string_len(IncidentUpdates::IncidentId, 40))
                    .col(string_len(IncidentUpdates::Actor, 64))
                    .col(string_len_null(IncidentUpdates::FromStatus, 16))
                    .col(string_len(IncidentUpdates::ToStatus, 16))
                    .col(text_null(IncidentUpdates::Note))
                    .col(timestamp_with_time_zone(IncidentUpdates::At))
                    .foreign_key(
                        ForeignKey::create()
                            .from(IncidentUpdates::Table, IncidentUpdates::IncidentId)
                            .to(Incidents::Table, Incidents::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("incident_updates_incident")
                    .table(IncidentUpdates::Table)
                    .col(IncidentUpdates::IncidentId)
                    .col(IncidentUpdates::At)
                    .to_owned(),
            )
            .await?;
        crate::grant_to_existing_keys(manager, &["incidents"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(IncidentUpdates::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Incidents::Table).to_owned())
            .await
    }
}
