use sea_orm::entity::prelude::*;

/// One chat turn: the user's message and the agent's reply (the reply's JSON as the agent
/// produced it). `summary_id` is set once the turn has been folded out of the window.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "chat_interactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub session_id: String,
    pub seq: i64,
    pub message: String,
    /// `response`, `code`, `terminal` or `approval_required`.
    pub kind: String,
    pub reply: String,
    /// What happened to a `terminal` reply's command (JSON), when there was one.
    pub execution: Option<String>,
    pub agent: String,
    /// `keyword`, `model` or `default`.
    pub route_method: String,
    pub route_reason: String,
    pub provider: String,
    pub model: String,
    pub summary_id: Option<String>,
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
