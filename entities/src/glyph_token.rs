use sea_orm::entity::prelude::*;

/// A GLYPH token: a symbol sent from one module to another, alive until `expires_at`.
/// `data` is the payload's JSON; `bound_memories` a JSON array of memory ids.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "glyph_tokens")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub symbol: String,
    pub source_module: String,
    pub source_component: Option<String>,
    pub source_confidence: Option<f64>,
    pub target_module: String,
    pub target_component: Option<String>,
    pub session_id: Option<String>,
    pub interaction_id: Option<String>,
    pub action: String,
    pub data: String,
    pub priority: String,
    pub ttl_seconds: i32,
    pub requires_guardian: bool,
    pub validation_id: Option<String>,
    pub bound_memories: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
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
