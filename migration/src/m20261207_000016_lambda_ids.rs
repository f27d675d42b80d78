//! ΛiD: every account's Lambda ID (`Λ<TIER>-<YEAR>-<NNNN>`), numbered per tier and year by a
//! counter row that concurrent signups update one at a time. Accounts that exist get theirs
//! in the order they were created.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum LambdaIds {
    Table,
    LambdaId,
    UserId,
    Tier,
    Year,
    Seq,
    IssuedAt,
}

#[derive(DeriveIden)]
enum LambdaSequences {
    Table,
    Prefix,
    Last,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

fn tier_name(tier: &str) -> &'static str {
    match tier {
        "pro" => "ΛPRO",
        "team" => "ΛPRIME",
        _ => "ΛBASIC",
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(LambdaIds::Table)
                    .col(string_len(LambdaIds::LambdaId, 40).primary_key())
                    .col(string_len_uniq(LambdaIds::UserId, 36))
                    .col(string_len(LambdaIds::Tier, 16))
                    .col(integer(LambdaIds::Year))
                    .col(integer(LambdaIds::Seq))
                    .col(timestamp_with_time_zone(LambdaIds::IssuedAt))
                    .foreign_key(
                        ForeignKey::create()
                            .from(LambdaIds::Table, LambdaIds::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(LambdaSequences::Table)
                    .col(string_len(LambdaSequences::Prefix, 40).primary_key())
                    .col(integer(LambdaSequences::Last))
                    .to_owned(),
            )
            .await?;
        let db = manager.get_connection();
        let backend = db.get_database_backend();
        let users = db
            .query_all(Statement::from_string(
                backend,
                "SELECT id, tier, created_at FROM users ORDER BY created_at, id",
            ))
            .await?;
        let mut last: std::collections::BTreeMap<String, i32> = Default::default();
        for row in users {
            let id: String = row.try_get("", "id")?;
            let tier: String = row.try_get("", "tier")?;
            let created: sea_orm_migration::sea_orm::prelude::DateTimeUtc =
                row.try_get("", "created_at")?;
            let name = tier_name(&tier);
            let year: i32 = created.format("%Y").to_string().parse().unwrap_or(1970);
            let prefix = format!("{name}-{year}");
            let seq = last.entry(prefix.clone()).or_insert(0);
            *seq += 1;
            let insert = Query::insert()
                .into_table(LambdaIds::Table)
                .columns([
                    LambdaIds::LambdaId,
                    LambdaIds::UserId,
                    LambdaIds::Tier,
                    LambdaIds::Year,
                    LambdaIds::Seq,
                    LambdaIds::IssuedAt,
                ])
                .values_panic([
                    format!("{prefix}-{:04}", *seq).into(),
                    id.into(),
                    name.into(),
                    year.into(),
                    (*seq).into(),
                    created.into(),
                ])
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
        for (prefix, seq) in last {
            let insert = Query::insert()
                .into_table(LambdaSequences::Table)
                .columns([LambdaSequences::Prefix, LambdaSequences::Last])
                .values_panic([prefix.into(), seq.into()])
                .to_owned();
            manager.exec_stmt(insert).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(LambdaSequences::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(LambdaIds::Table).to_owned())
            .await
    }
}
