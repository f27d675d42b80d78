use sea_orm::entity::prelude::*;

/// An account's paid subscription, as its billing provider (`local` or `stripe`) last
/// reported it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: String,
    pub provider: String,
    /// `pro` or `team`.
    pub tier: String,
    /// `active`, `past_due` or `canceled`.
    pub status: String,
    /// The provider's subscription id (`sub_…` on Stripe; `local_…` locally).
    pub external_id: Option<String>,
    pub customer_id: Option<String>,
    pub current_period_start: DateTimeUtc,
    pub current_period_end: DateTimeUtc,
    pub cancel_at_period_end: bool,
    /// When the provider made the state this row holds; older events do not overwrite it.
    pub source_updated_at: DateTimeUtc,
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
