use sea_orm::entity::prelude::*;

/// A user's registered WebAuthn credential. `credential` is the relying-party library's
/// serialised passkey (public key, counter, flags); `counter` mirrors its signature
/// counter so an update can be a compare-and-set.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "passkeys")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    /// Base64url of the credential id.
    #[sea_orm(unique)]
    pub credential_id: String,
    pub name: String,
    #[sea_orm(column_type = "Text")]
    pub credential: String,
    pub counter: i64,
    pub created_at: DateTimeUtc,
    pub last_used_at: Option<DateTimeUtc>,
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
