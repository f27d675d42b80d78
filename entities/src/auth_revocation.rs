use sea_orm::entity::prelude::*;

/// A revocation or privilege change every instance must apply to its caches: `kind` is
/// `session` (a login family), `key` (an API key's hash) or `user` (roles or tier changed).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auth_revocations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i32,
    pub kind: String,
    pub subject: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
