//! The LUKHAS node registry (`/constellation/registry/nodes`): the six MATRIZ stage
//! modules, always there, and the nodes principals register. A registration is validated
//! against what exists: its dependencies must be modules or the owner's earlier nodes, its
//! stages and pillars must be real, and its T4 compliance holds only when everything it
//! depends on is compliant too. A node is available while its dependencies are (a module's
//! availability is its stage's health). Definitions in docs/DECISIONS.md ("Registry").

use std::collections::HashMap;

use chrono::Utc;
use orrery_entities::registry_node;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set, SqlErr,
};

use crate::domain::cognition::matriz::STAGES;
use crate::domain::identity::{Principal, Role, Scope};
use crate::domain::operations::matriz_health;
use crate::error::{DomainError, DomainResult};
use crate::state::Core;

/// Nodes one owner may register.
pub const MAX_NODES_PER_OWNER: u64 = 500;
/// Nodes an administrator's listing reads at most (the newest).
const MAX_LISTED: u64 = 10_000;
const MAX_NAME: usize = 64;
const MAX_ITEMS: usize = 32;

/// The eight constellation stars, by name or symbol (identity and quantum share ⚛️; the
/// symbol reads as identity, the pillar the pipeline has).
const PILLARS: [(&str, &str); 9] = [
    ("identity", "⚛️"),
    ("consciousness", "🧠"),
    ("guardian", "🛡️"),
    ("memory", "✦"),
    ("vision", "🔬"),
    ("bio", "🌱"),
    ("dream", "🌙"),
    ("ethics", "⚖️"),
    ("quantum", "⚛️"),
];

/// A pillar's name from its name or symbol (with or without the emoji variation selector).
pub fn pillar(text: &str) -> Option<&'static str> {
    let text = text.trim();
    let bare = text.trim_end_matches('\u{fe0f}');
    PILLARS
        .iter()
        .find(|(name, symbol)| {
            name.eq_ignore_ascii_case(text) || symbol.trim_end_matches('\u{fe0f}') == bare
        })
        .map(|(name, _)| *name)
}

/// The pillars a stage serves (the pipeline's `constellation_validation`, and memory's own).
fn stage_pillars(stage: &str) -> &'static [&'static str] {
    match stage {
        "memory" => &["memory", "consciousness"],
        "attention" | "thought" | "action" => &["consciousness"],
        "risk" => &["guardian", "ethics"],
        _ => &["identity"],
    }
}

/// The module node that runs `stage`, and what it can do.
pub fn module(stage: &str) -> (String, &'static [&'static str]) {
    let capabilities: &'static [&'static str] = match stage {
        "memory" => &["memory_retrieval", "vector_search"],
        "attention" => &["focus_extraction", "term_weighting"],
        "thought" => &["language_generation"],
        "risk" => &["guardian_validation", "policy_evaluation"],
        "intent" => &["identity_verification", "scope_check"],
        _ => &["response_composition", "memory_fold"],
    };
    (format!("{stage}_module"), capabilities)
}

pub struct NewNode {
    pub node_id: String,
    pub node_type: String,
    pub capabilities: Vec<String>,
    pub dependencies: Vec<String>,
    pub t4_compliant: bool,
    pub instantiation_pattern: Option<String>,
    pub stages: Vec<String>,
    pub pillars: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compatibility {
    /// Every declared stage serves a declared pillar.
    Verified,
    /// Some declared stage serves none of the declared pillars.
    Incompatible,
    /// No stage or no pillar declared: nothing to check.
    Unspecified,
}

impl Compatibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Verified => "verified",
            Self::Incompatible => "incompatible",
            Self::Unspecified => "unspecified",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Validation {
    pub t4_compliant: bool,
    /// Every dependency exists.
    pub constructor_passed: bool,
    pub compatibility: Compatibility,
    pub issues: Vec<String>,
}

pub struct Registered {
    pub registration_id: String,
    pub node_id: String,
    pub validation: Validation,
}

#[derive(Clone, Debug)]
pub struct NodeView {
    pub node_id: String,
    pub registration_id: Option<String>,
    pub node_type: String,
    pub capabilities: Vec<String>,
    pub dependencies: Vec<String>,
    pub stages: Vec<String>,
    pub pillars: Vec<String>,
    pub t4_compliant: bool,
    pub available: bool,
    pub builtin: bool,
    pub registered_by: Option<String>,
    pub registered_at: Option<chrono::DateTime<Utc>>,
    pub issues: Vec<String>,
}

pub struct Listing {
    pub nodes: Vec<NodeView>,
    /// `optimal` (every node listed is available), `degraded` or `empty`.
    pub health: &'static str,
}

#[derive(Default)]
pub struct NodeFilter {
    pub stage: Option<String>,
    pub pillar: Option<String>,
}

fn name(field: &str, value: &str) -> DomainResult<()> {
    let ok = !value.is_empty()
        && value.len() <= MAX_NAME
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_.-".contains(c))
        && value.starts_with(|c: char| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(DomainError::invalid(
            field,
            format!("{field} is 1 to {MAX_NAME} lowercase letters, digits, _ . or -, starting with a letter or digit"),
        ))
    }
}

fn names(field: &str, values: &[String], at_least: usize) -> DomainResult<()> {
    if values.len() < at_least || values.len() > MAX_ITEMS {
        return Err(DomainError::invalid(
            field,
            format!("{field} holds {at_least} to {MAX_ITEMS} names"),
        ));
    }
    for (i, value) in values.iter().enumerate() {
        name(&format!("{field}[{i}]"), value)?;
    }
    Ok(())
}

fn checked(node: &NewNode) -> DomainResult<(Vec<String>, Vec<String>)> {
    name("node_id", &node.node_id)?;
    name("node_type", &node.node_type)?;
    names("capabilities", &node.capabilities, 1)?;
    names("constructor_config.dependencies", &node.dependencies, 0)?;
    if let Some(pattern) = &node.instantiation_pattern {
        name("constructor_config.instantiation_pattern", pattern)?;
    }
    let mut stages = Vec::new();
    for (i, stage) in node.stages.iter().enumerate() {
        if !STAGES.contains(&stage.as_str()) {
            return Err(DomainError::invalid(
                format!("constellation_metadata.pipeline_stages[{i}]"),
                format!(
                    "unknown stage '{stage}' (the stages are {})",
                    STAGES.join(", ")
                ),
            ));
        }
        if !stages.contains(stage) {
            stages.push(stage.clone());
        }
    }
    let mut pillars = Vec::new();
    if node.pillars.len() > PILLARS.len() {
        return Err(DomainError::invalid(
            "constellation_metadata.compatible_pillars",
            "at most 9 pillars",
        ));
    }
    for (i, text) in node.pillars.iter().enumerate() {
        let Some(found) = pillar(text) else {
            return Err(DomainError::invalid(
                format!("constellation_metadata.compatible_pillars[{i}]"),
                format!(
                    "unknown pillar '{text}' (the pillars: {})",
                    PILLARS.iter().map(|p| p.0).collect::<Vec<_>>().join(", ")
                ),
            ));
        };
        if !pillars.contains(&found.to_string()) {
            pillars.push(found.to_string());
        }
    }
    Ok((stages, pillars))
}

fn json_list(values: &[String]) -> String {
    serde_json::to_string(values).expect("strings serialize")
}

fn read_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn owned_by(principal: &Principal) -> DomainResult<(String, bool)> {
    let actor = principal.actor()?;
    actor.require(Scope::Registry)?;
    Ok((actor.user_id.clone(), actor.has_role(Role::Admin)))
}

/// Registers `node` for the caller. A node id the caller already registered is refused
/// (409); a dependency that does not exist is a validation issue, not a refusal: the node
/// is stored, unavailable, with the issue.
pub async fn register(
    core: &Core,
    principal: &Principal,
    node: NewNode,
) -> DomainResult<Registered> {
    let (owner, _) = owned_by(principal)?;
    let (stages, pillars) = checked(&node)?;
    let mine: HashMap<String, registry_node::Model> = registry_node::Entity::find()
        .filter(registry_node::Column::UserId.eq(&owner))
        .all(&core.db)
        .await?
        .into_iter()
        .map(|n| (n.node_id.clone(), n))
        .collect();
    if mine.len() as u64 >= MAX_NODES_PER_OWNER {
        return Err(DomainError::QuotaExceeded(format!(
            "at most {MAX_NODES_PER_OWNER} registry nodes per account"
        )));
    }
    if mine.contains_key(&node.node_id) {
        return Err(DomainError::Conflict(format!(
            "you already registered a node '{}'",
            node.node_id
        )));
    }
    let mut issues = Vec::new();
    let mut dependencies_compliant = true;
    for dependency in &node.dependencies {
        let is_module = STAGES.iter().any(|s| module(s).0 == *dependency);
        match mine.get(dependency) {
            _ if is_module => {}
            Some(registered) => dependencies_compliant &= registered.t4_compliant,
            None => {
                dependencies_compliant = false;
                issues.push(format!(
                    "dependency '{dependency}' is neither a module ({}) nor one of your nodes",
                    STAGES
                        .iter()
                        .map(|s| module(s).0)
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
        }
    }
    let constructor_passed = issues.is_empty();
    let compatibility = if stages.is_empty() || pillars.is_empty() {
        Compatibility::Unspecified
    } else {
        let stray: Vec<&String> = stages
            .iter()
            .filter(|s| {
                !stage_pillars(s)
                    .iter()
                    .any(|p| pillars.iter().any(|q| q == p))
            })
            .collect();
        for stage in &stray {
            issues.push(format!(
                "stage '{stage}' serves {}, none of the node's pillars",
                stage_pillars(stage).join(" or ")
            ));
        }
        if stray.is_empty() {
            Compatibility::Verified
        } else {
            Compatibility::Incompatible
        }
    };
    if !node.t4_compliant {
        issues.push("the node does not declare t4_compliant".into());
    } else if !dependencies_compliant && constructor_passed {
        issues.push("a dependency is not T4 compliant".into());
    }
    let t4_compliant = node.t4_compliant && dependencies_compliant;
    let now = Utc::now();
    let registration_id = format!(
        "reg_{}_{}_{}",
        now.format("%Y_%m_%d"),
        node.node_id.replace(['.', '-'], "_"),
        &ulid::Ulid::new().to_string().to_lowercase()[18..]
    );
    let stored = registry_node::ActiveModel {
        id: Set(registration_id.clone()),
        user_id: Set(owner),
        node_id: Set(node.node_id.clone()),
        node_type: Set(node.node_type),
        capabilities: Set(json_list(&node.capabilities)),
        dependencies: Set(json_list(&node.dependencies)),
        pipeline_stages: Set(json_list(&stages)),
        pillars: Set(json_list(&pillars)),
        declared_t4: Set(node.t4_compliant),
        instantiation_pattern: Set(node.instantiation_pattern),
        t4_compliant: Set(t4_compliant),
        constructor_passed: Set(constructor_passed),
        issues: Set(json_list(&issues)),
        created_at: Set(now),
    }
    .insert(&core.db)
    .await;
    match stored {
        Ok(_) => {}
        // Two registrations of one id at once: the index decides.
        Err(err) if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
            return Err(DomainError::Conflict(format!(
                "you already registered a node '{}'",
                node.node_id
            )))
        }
        Err(err) => return Err(err.into()),
    }
    Ok(Registered {
        registration_id,
        node_id: node.node_id,
        validation: Validation {
            t4_compliant,
            constructor_passed,
            compatibility,
            issues,
        },
    })
}

/// The modules and the nodes the caller may see (their own; an administrator every
/// owner's), filtered by stage and pillar.
pub async fn list(core: &Core, principal: &Principal, filter: NodeFilter) -> DomainResult<Listing> {
    let (owner, admin) = owned_by(principal)?;
    if let Some(stage) = &filter.stage {
        if !STAGES.contains(&stage.as_str()) {
            return Err(DomainError::invalid(
                "stage",
                format!(
                    "unknown stage '{stage}' (the stages are {})",
                    STAGES.join(", ")
                ),
            ));
        }
    }
    let pillar_filter =
        match &filter.pillar {
            Some(text) => Some(pillar(text).ok_or_else(|| {
                DomainError::invalid("pillar", format!("unknown pillar '{text}'"))
            })?),
            None => None,
        };
    let health = matriz_health(core).await;
    let module_up = |id: &str| health.iter().any(|h| module(h.stage).0 == id && h.active);
    let mut nodes: Vec<NodeView> = health
        .iter()
        .map(|h| {
            let (node_id, capabilities) = module(h.stage);
            NodeView {
                node_id,
                registration_id: None,
                node_type: "matriz_stage_module".into(),
                capabilities: capabilities.iter().map(|c| c.to_string()).collect(),
                dependencies: h.depends_on.clone(),
                stages: vec![h.stage.to_string()],
                pillars: stage_pillars(h.stage)
                    .iter()
                    .map(|p| p.to_string())
                    .collect(),
                t4_compliant: true,
                available: h.active,
                builtin: true,
                registered_by: None,
                registered_at: None,
                issues: Vec::new(),
            }
        })
        .collect();
    let mut query = registry_node::Entity::find()
        .order_by_asc(registry_node::Column::CreatedAt)
        .limit(MAX_LISTED);
    if !admin {
        query = query.filter(registry_node::Column::UserId.eq(&owner));
    }
    let rows = query.all(&core.db).await?;
    // Dependencies come before what depends on them: one pass in registration order.
    let mut available: HashMap<(String, String), bool> = HashMap::new();
    for row in rows {
        let dependencies = read_list(&row.dependencies);
        let up = row.constructor_passed
            && dependencies.iter().all(|d| {
                module_up(d)
                    || available
                        .get(&(row.user_id.clone(), d.clone()))
                        .copied()
                        .unwrap_or(false)
            });
        available.insert((row.user_id.clone(), row.node_id.clone()), up);
        nodes.push(NodeView {
            node_id: row.node_id,
            registration_id: Some(row.id),
            node_type: row.node_type,
            capabilities: read_list(&row.capabilities),
            dependencies,
            stages: read_list(&row.pipeline_stages),
            pillars: read_list(&row.pillars),
            t4_compliant: row.t4_compliant,
            available: up,
            builtin: false,
            registered_by: Some(row.user_id),
            registered_at: Some(row.created_at),
            issues: read_list(&row.issues),
        });
    }
    nodes.retain(|n| {
        filter.stage.as_ref().is_none_or(|s| n.stages.contains(s))
            && pillar_filter.is_none_or(|p| n.pillars.iter().any(|q| q == p))
    });
    let health = if nodes.is_empty() {
        "empty"
    } else if nodes.iter().all(|n| n.available) {
        "optimal"
    } else {
        "degraded"
    };
    Ok(Listing { nodes, health })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pillars_read_by_name_or_symbol() {
        assert_eq!(pillar("🧠"), Some("consciousness"));
        assert_eq!(pillar("Consciousness"), Some("consciousness"));
        assert_eq!(pillar("🛡️"), Some("guardian"));
        assert_eq!(
            pillar("🛡"),
            Some("guardian"),
            "without the variation selector"
        );
        assert_eq!(pillar("⚛️"), Some("identity"));
        assert_eq!(pillar("quantum"), Some("quantum"));
        assert_eq!(pillar("telepathy"), None);
    }

    #[test]
    fn names_are_checked() {
        assert!(name("node_id", "custom_analytics_node").is_ok());
        for bad in ["", "Upper", "_leading", "with space", &"x".repeat(65)] {
            assert!(name("node_id", bad).is_err(), "{bad:?}");
        }
    }
}
