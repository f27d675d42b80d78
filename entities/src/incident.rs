use sea_orm::entity::prelude::*;

/// A security incident. `user_id` is the account it concerns (the reporter, or the account
/// whose action the guardian rejected); `reported_by` is null when the guardian opened it.
/// `rule_key` (the guardian's sorted rule names) groups repeated rejections into one
/// incident while it is unresolved; `occurrences` counts them.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub reported_by: Option<String>,
    pub source: String,
    pub title: String,
    pub description: String,
    pub severity: String,
    pub status: String,
    pub rule_key: Option<String>,
    pub validation_id: Option<String>,
    pub occurrences: i32,
    pub first_seen_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
