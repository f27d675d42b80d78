//! The tool catalog (the LUKHAS core API's `/tools`): tools an administrator registered with
//! a risk level and the data they touch, which governance decisions about them take in.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tools {
    Table,
    Id,
    Name,
    Description,
    RiskLevel,
    DataClasses,
    RegisteredBy,
    CreatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tools::Table)
                    .col(string_len(Tools::Id, 40).primary_key())
                    .col(string_len_uniq(Tools::Name, 255))
                    .col(text(Tools::Description))
                    .col(small_integer(Tools::RiskLevel))
                    .col(text(Tools::DataClasses))
                    .col(string_len(Tools::RegisteredBy, 36))
                    .col(timestamp_with_time_zone(Tools::CreatedAt))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tools::Table).to_owned())
            .await
    }
}
