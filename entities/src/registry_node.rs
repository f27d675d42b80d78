use sea_orm::entity::prelude::*;

/// A node registered in the LUKHAS registry by its owner. List fields are JSON arrays of
/// strings; the validation's findings are stored as they were at registration.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "registry_nodes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub user_id: String,
    pub node_id: String,
    pub node_type: String,
    pub capabilities: String,
    pub dependencies: String,
    pub pipeline_stages: String,
    pub pillars: String,
    /// What the registration said (`constructor_config.t4_compliant`).
    pub declared_t4: bool,
    pub instantiation_pattern: Option<String>,
    /// Declared, and every dependency compliant too.
    pub t4_compliant: bool,
    /// Every dependency existed when it was registered.
    pub constructor_passed: bool,
    pub issues: String,
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
