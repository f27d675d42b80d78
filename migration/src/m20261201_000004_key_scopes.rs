//! API key scopes, and room for approver groups beside the roles (`users.roles` holds
//! both; SQLite does not enforce a VARCHAR length, PostgreSQL gets a wider column).
//!
//! API key scopes. Keys made before scopes existed get what a new key gets by default
//! (everything but acting as an administrator and running terminal commands; the reviewer
//! scope acts only for owners who hold the reviewer role), so an old admin's key no longer
//! acts as an admin without being asked to.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Scopes,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Roles,
}

/// `Scopes::default_for` an owner with every role but admin, in the stored form.
const EXISTING_KEYS: &str =
    "account:read account:write governance:decide governance:read governance:review";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .add_column(string_len(ApiKeys::Scopes, 255).default(EXISTING_KEYS))
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == sea_orm_migration::sea_orm::DatabaseBackend::Postgres {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .modify_column(string_len(Users::Roles, 1024))
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(ApiKeys::Table)
                    .drop_column(ApiKeys::Scopes)
                    .to_owned(),
            )
            .await
    }
}
