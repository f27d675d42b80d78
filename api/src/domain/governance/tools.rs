//! The tool catalog (the LUKHAS core API's `/tools`): administrators register tools with a
//! risk level and the data classes they touch; a governance decision naming a registered
//! tool is judged at least at the tool's risk and with its data classes. The catalog is kept
//! in memory for the decision path (one map read) and reloaded when another instance
//! registered a tool (the policy sync's tick compares the stored count).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use orrery_entities::tool;
use sea_orm::{
    ActiveModelTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryOrder, QuerySelect,
    SqlErr,
};

use super::service::{bounded, identifier};
use crate::domain::identity::{Principal, Role, Scope};
use crate::error::{DomainError, DomainResult};

const MAX_DESCRIPTION: usize = 2_000;
const MAX_DATA_CLASSES: usize = 16;
/// Tools the catalog holds at most.
pub const MAX_TOOLS: u64 = 10_000;

#[derive(Clone, Debug)]
pub struct Tool {
    pub id: String,
    pub name: String,
    pub description: String,
    pub risk_level: u8,
    pub data_classes: Vec<String>,
    pub registered_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<tool::Model> for Tool {
    fn from(m: tool::Model) -> Self {
        Self {
            risk_level: m.risk_level.clamp(1, 5) as u8,
            data_classes: serde_json::from_str(&m.data_classes).unwrap_or_default(),
            id: m.id,
            name: m.name,
            description: m.description,
            registered_by: m.registered_by,
            created_at: m.created_at,
        }
    }
}

pub struct NewTool {
    pub name: String,
    pub description: Option<String>,
    pub risk_level: i64,
    pub data_classes: Vec<String>,
}

/// What a decision takes from a registered tool.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolProfile {
    pub risk_level: u8,
    pub data_classes: Vec<String>,
}

#[derive(Default)]
pub struct ToolCatalog {
    by_name: RwLock<HashMap<String, ToolProfile>>,
    /// Rows the map was loaded from.
    loaded: AtomicU64,
}

impl ToolCatalog {
    /// The profile of the registered tool called `name`.
    pub fn profile(&self, name: &str) -> Option<ToolProfile> {
        self.by_name.read().ok()?.get(name).cloned()
    }

    /// Reloads the map when the stored catalog has more tools than it was loaded from
    /// (tools are only ever added).
    pub async fn sync(&self, db: &DatabaseConnection) -> DomainResult<bool> {
        let stored = tool::Entity::find().count(db).await?;
        if stored == self.loaded.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let rows = tool::Entity::find().all(db).await?;
        let map: HashMap<String, ToolProfile> = rows
            .into_iter()
            .map(Tool::from)
            .map(|t| {
                (
                    t.name,
                    ToolProfile {
                        risk_level: t.risk_level,
                        data_classes: t.data_classes,
                    },
                )
            })
            .collect();
        self.loaded.store(map.len() as u64, Ordering::Relaxed);
        if let Ok(mut by_name) = self.by_name.write() {
            *by_name = map;
        }
        Ok(true)
    }

    /// Registers a tool (administrators only); a name already registered is 409.
    pub async fn register(
        &self,
        db: &DatabaseConnection,
        principal: &Principal,
        new: NewTool,
    ) -> DomainResult<Tool> {
        let actor = principal.actor()?;
        if !actor.has_role(Role::Admin) {
            return Err(DomainError::Forbidden(
                "only an administrator registers tools".into(),
            ));
        }
        identifier("name", &new.name)?;
        let description = new.description.unwrap_or_default();
        bounded("description", &description, MAX_DESCRIPTION, false)?;
        if !(1..=5).contains(&new.risk_level) {
            return Err(DomainError::invalid(
                "risk_level",
                "risk_level must be an integer from 1 to 5",
            ));
        }
        if new.data_classes.len() > MAX_DATA_CLASSES {
            return Err(DomainError::invalid(
                "data_classes",
                format!("at most {MAX_DATA_CLASSES} data classes"),
            ));
        }
        let mut classes: Vec<String> = Vec::new();
        for (i, class) in new.data_classes.iter().enumerate() {
            identifier(&format!("data_classes[{i}]"), class)?;
            if !classes.contains(class) {
                classes.push(class.clone());
            }
        }
        if tool::Entity::find().count(db).await? >= MAX_TOOLS {
            return Err(DomainError::QuotaExceeded(format!(
                "the catalog holds at most {MAX_TOOLS} tools"
            )));
        }
        let model = tool::Model {
            id: format!("tool_{}", ulid::Ulid::new()),
            name: new.name.clone(),
            description: description.trim().to_string(),
            risk_level: new.risk_level as i16,
            data_classes: serde_json::to_string(&classes).expect("strings serialize"),
            registered_by: actor.user_id.clone(),
            created_at: Utc::now(),
        };
        match tool::ActiveModel::from(model.clone()).insert(db).await {
            Ok(_) => {}
            Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                return Err(DomainError::Conflict(format!(
                    "a tool named '{}' is registered",
                    new.name
                )));
            }
            Err(err) => return Err(err.into()),
        }
        self.sync(db).await?;
        Ok(model.into())
    }

    /// The catalog, newest first (anyone who may ask for decisions reads it).
    pub async fn list(
        &self,
        db: &DatabaseConnection,
        principal: &Principal,
        limit: Option<i64>,
        offset: Option<i64>,
    ) -> DomainResult<(Vec<Tool>, u64)> {
        principal.actor()?.require(Scope::GovernanceRead)?;
        let (limit, offset) = crate::domain::page(limit, offset, 50, 100)?;
        let total = tool::Entity::find().count(db).await?;
        let rows = tool::Entity::find()
            .order_by_desc(tool::Column::CreatedAt)
            .order_by_desc(tool::Column::Id)
            .limit(limit)
            .offset(offset)
            .all(db)
            .await?;
        Ok((rows.into_iter().map(Into::into).collect(), total))
    }

    /// One tool by its id or its name.
    pub async fn get(
        &self,
        db: &DatabaseConnection,
        principal: &Principal,
        id_or_name: &str,
    ) -> DomainResult<Tool> {
        use sea_orm::{ColumnTrait, QueryFilter};
        principal.actor()?.require(Scope::GovernanceRead)?;
        tool::Entity::find()
            .filter(
                tool::Column::Id
                    .eq(id_or_name)
                    .or(tool::Column::Name.eq(id_or_name)),
            )
            .one(db)
            .await?
            .map(Into::into)
            .ok_or_else(|| DomainError::NotFound(format!("tool '{id_or_name}' not found")))
    }
}
