use sea_orm::entity::prelude::*;

/// A LUKHAS memory. Embeddings are f32 little-endian; `original_*` is what was stored first
/// (drift is measured against it). An empty `original_embedding` means it is `embedding`:
/// the copy is written only once the memory changes.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "memories")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    /// `episodic`, `semantic`, …
    pub kind: String,
    pub data: String,
    pub context: Json,
    pub original_data: String,
    pub tags: Json,
    pub importance: f64,
    pub helix_id: String,
    /// `provider/model` that made the embeddings.
    pub embedding_model: String,
    pub embedding: Vec<u8>,
    pub original_embedding: Vec<u8>,
    pub drift_score: f64,
    pub access_count: i64,
    pub last_accessed: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
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
