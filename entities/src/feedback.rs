use sea_orm::entity::prelude::*;

/// Feedback on an answer: `rating` 1–5, a category, a comment, and the MATRIZ interaction
/// it is about (its memory fold, which the author owns) when given.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "feedback")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub rating: i16,
    pub category: String,
    pub comment: String,
    pub memory_fold_id: Option<String>,
    pub interaction_id: Option<String>,
    pub created_at: DateTimeUtc,
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
