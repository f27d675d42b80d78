use sea_orm::entity::prelude::*;

/// Every policy ever loaded; the one with the highest `seq` is active.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "gov_policies")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub policy_id: String,
    pub version: String,
    pub name: String,
    /// The whole policy document as canonical JSON.
    pub body: String,
    pub loaded_at: DateTimeUtc,
    pub loaded_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
