use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel, serde::Serialize, serde::Deserialize)]
#[sea_orm(table_name = "gov_decisions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub decision_id: String,
    /// The requester's idempotency key, unique per owner while it is fresh.
    pub request_id: Option<String>,
    /// The user whose principal asked; the object-level owner.
    pub owner_id: String,
    pub actor: String,
    pub proposed_action: String,
    pub tool: String,
    pub user_intent: Option<String>,
    pub risk_level: Option<i32>,
    /// JSON text.
    pub context: String,
    /// JSON array text.
    pub data_classes: String,
    pub decision: String,
    pub reason: String,
    pub policy_version: String,
    pub capability_token: Option<String>,
    pub token_id: Option<String>,
    pub expires_at: Option<String>,
    pub signature: String,
    pub chain_hash: String,
    /// RFC 3339, microseconds, `Z`.
    pub timestamp: String,
    /// `pending`, `approved`, `denied` for REQUIRES_REVIEW decisions.
    pub review_status: Option<String>,
    /// The role the policy asks of the approver.
    pub review_role: Option<String>,
    pub reviewed_by: Option<String>,
    pub review_reason: Option<String>,
    pub reviewed_at: Option<String>,
    /// `sha256:` of the canonical request, to tell a retry from a reused `request_id`.
    pub request_hash: Option<String>,
    /// What the policy decided when a review has since changed `decision`.
    pub initial_decision: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
