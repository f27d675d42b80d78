use sea_orm::entity::prelude::*;

/// One append-only, hash-chained, signed ledger entry. Text columns keep the exact bytes
/// that were hashed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "gov_ledger")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub seq: i64,
    #[sea_orm(unique)]
    pub entry_id: String,
    pub timestamp: String,
    pub event_type: String,
    pub decision_id: Option<String>,
    pub actor: Option<String>,
    pub action: Option<String>,
    pub decision: Option<String>,
    pub policy_version: Option<String>,
    /// Canonical JSON text of the event details.
    pub data: String,
    pub prev_hash: String,
    pub entry_hash: String,
    pub signature: String,
    /// The user whose decision this entry records (visibility); not part of the hash.
    pub owner_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
