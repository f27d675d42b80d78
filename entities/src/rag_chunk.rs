use sea_orm::entity::prelude::*;

/// A line range of an indexed file, with its embedding (f32 little-endian) and its terms
/// (words and identifiers' sub-words) for the lexical index.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "rag_chunks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub rowid: i64,
    pub id: String,
    pub user_id: String,
    pub repository: String,
    pub path: String,
    pub chunk_index: i32,
    pub start_line: i32,
    pub end_line: i32,
    pub content: String,
    pub terms: String,
    pub embedding_model: String,
    pub embedding: Vec<u8>,
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
