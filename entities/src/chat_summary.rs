use sea_orm::entity::prelude::*;

/// A summary of interactions `first_seq..=last_seq` of a session. `merged_into` is set when
/// it was merged into a newer summary (it stays as history).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_summaries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub session_id: String,
    pub seq: i64,
    pub text: String,
    pub first_seq: i64,
    pub last_seq: i64,
    /// How many interactions it covers.
    pub interactions: i32,
    /// `model` or `extractive`.
    pub method: String,
    pub provider: String,
    pub model: String,
    pub merged_into: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::chat_session::Entity",
        from = "Column::SessionId",
        to = "super::chat_session::Column::Id",
        on_delete = "Cascade"
    )]
    Session,
}

impl ActiveModelBehavior for ActiveModel {}
