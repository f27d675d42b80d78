use sea_orm::entity::prelude::*;

/// A registered tool: its risk level (1–5) and the data classes it touches (a JSON array),
/// which governance decisions naming it take in. `registered_by` keeps the administrator's
/// user id even after that account is gone.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tools")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    #[sea_orm(unique)]
    pub name: String,
    pub description: String,
    pub risk_level: i16,
    pub data_classes: String,
    pub registered_by: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
