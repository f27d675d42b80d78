use sea_orm::entity::prelude::*;

/// A terminal command that needed approval: `pending`, then `rejected`, or run (`success`,
/// `error`, `timeout`, `killed`) with its result (JSON) once approved.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "terminal_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub session: Option<String>,
    pub command: String,
    pub cwd: Option<String>,
    /// JSON array of the safety check's reasons.
    pub reasons: String,
    pub status: String,
    pub resolved_by: Option<String>,
    pub result: Option<String>,
    pub created_at: DateTimeUtc,
    pub resolved_at: Option<DateTimeUtc>,
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
