use sea_orm::entity::prelude::*;

/// An account's Lambda ID (`ΛPRO-2026-0042`): the tier it was issued at, the year, and
/// the number within that tier and year.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lambda_ids")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub lambda_id: String,
    #[sea_orm(unique)]
    pub user_id: String,
    pub tier: String,
    pub year: i32,
    pub seq: i32,
    pub issued_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::user::Entity",
        from = "Column::UserId",
        to = "super::user::Column::Id",
        on_delete = "Cascade"
    )]
    User,
}

impl ActiveModelBehavior for ActiveModel {}
