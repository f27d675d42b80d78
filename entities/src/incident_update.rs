use sea_orm::entity::prelude::*;

/// One step of an incident's history: opened, a status change (with its note), or a
/// guardian rejection folded into it (`from_status` = `to_status`).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "incident_updates")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub incident_id: String,
    /// `user:<id>` or `guardian`.
    pub actor: String,
    pub from_status: Option<String>,
    pub to_status: String,
    pub note: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::incident::Entity",
        from = "Column::IncidentId",
        to = "super::incident::Column::Id",
        on_delete = "Cascade"
    )]
    Incident,
}

impl ActiveModelBehavior for ActiveModel {}
