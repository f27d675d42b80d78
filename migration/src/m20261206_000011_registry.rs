//! The LUKHAS node registry: nodes a principal registered, with what they declared and
//! what their validation found. Keys get the `registry` scope, as a new key does.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum RegistryNodes {
    Table,
    Id,
    UserId,
    NodeId,
    NodeType,
    Capabilities,
    Dependencies,
    PipelineStages,
    Pillars,
    DeclaredT4,
    InstantiationPattern,
    T4Compliant,
    ConstructorPassed,
    Issues,
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
                    .table(RegistryNodes::Table)
                    .col(string_len(RegistryNodes::Id, 120).primary_key())
                    .col(string_len(RegistryNodes::UserId, 36))
                    .col(string_len(RegistryNodes::NodeId, 64))
                    .col(string_len(RegistryNodes::NodeType, 64))
                    .col(text(RegistryNodes::Capabilities))
                    .col(text(RegistryNodes::Dependencies))
                    .col(text(RegistryNodes::PipelineStages))
                    .col(text(RegistryNodes::Pillars))
                    .col(boolean(RegistryNodes::DeclaredT4))
                    .col(string_len_null(RegistryNodes::InstantiationPattern, 64))
                    .col(boolean(RegistryNodes::T4Compliant))
                    .col(boolean(RegistryNodes::ConstructorPassed))
                    .col(text(RegistryNodes::Issues))
                    .col(timestamp_with_time_zone(RegistryNodes::CreatedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(RegistryNodes::Table, RegistryNodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("registry_nodes_owner_node")
                    .table(RegistryNodes::Table)
                    .col(RegistryNodes::UserId)
                    .col(RegistryNodes::NodeId)
                    .unique()
                    .to_owned(),
            )
            .await?;
        crate::grant_to_existing_keys(manager, &["registry"]).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(RegistryNodes::Table).to_owned())
            .await
    }
}
