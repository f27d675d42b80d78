use sea_orm::entity::prelude::*;

/// One agent or chain run: what was asked, what the provider produced and counted, and the
/// events a client saw (a JSON array), so a run can be listed and replayed.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "agent_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    /// `agent` or `chain`.
    pub kind: String,
    /// The agent's slug, or the chain's name.
    pub name: String,
    pub provider: String,
    pub model: String,
    pub input: String,
    pub output: String,
    pub events: String,
    pub input_tokens: Option<i32>,
    pub output_tokens: Option<i32>,
    /// US dollars, from the configured price table.
    pub cost: f64,
    pub duration_ms: Option<i64>,
    /// `running`, `completed`, `failed` or `cancelled`.
    pub status: String,
    pub error: Option<String>,
    pub error_code: Option<String>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    /// While running: when the instance running it last wrote its events (every second).
    pub heartbeat_at: Option<DateTimeUtc>,
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
