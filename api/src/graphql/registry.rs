//! The LUKHAS node registry in GraphQL: `registryNodes` and `registerNode`.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};

use super::errors::{to_gql, user_error, UserError};
use super::identity::require_user;
use super::scalars::DateTime;
use super::{core, principal};
use crate::domain::registry::{self, NewNode, NodeFilter, NodeView};

#[derive(Enum, Copy, Clone, PartialEq, Eq)]
#[graphql(remote = "crate::domain::registry::Compatibility")]
pub enum RegistryCompatibility {
    /// Every declared stage serves a declared pillar.
    Verified,
    Incompatible,
    /// No stage or no pillar declared.
    Unspecified,
}

/// A MATRIZ pipeline stage.
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum MatrizStage {
    Memory,
    Attention,
    Thought,
    Risk,
    Intent,
    Action,
}

impl MatrizStage {
    fn name(self) -> String {
        match self {
            Self::Memory => "memory",
            Self::Attention => "attention",
            Self::Thought => "thought",
            Self::Risk => "risk",
            Self::Intent => "intent",
            Self::Action => "action",
        }
        .into()
    }
}

/// A constellation pillar (the REST API also takes their symbols).
#[derive(Enum, Copy, Clone, PartialEq, Eq)]
pub enum ConstellationPillar {
    Identity,
    Consciousness,
    Guardian,
    Memory,
    Vision,
    Bio,
    Dream,
    Ethics,
    Quantum,
}

impl ConstellationPillar {
    fn name(self) -> String {
        match self {
            Self::Identity => "identity",
            Self::Consciousness => "consciousness",
            Self::Guardian => "guardian",
            Self::Memory => "memory",
            Self::Vision => "vision",
            Self::Bio => "bio",
            Self::Dream => "dream",
            Self::Ethics => "ethics",
            Self::Quantum => "quantum",
        }
        .into()
    }
}

#[derive(SimpleObject)]
pub struct RegistryNode {
    node_id: String,
    /// Null for the six stage modules.
    registration_id: Option<String>,
    node_type: String,
    capabilities: Vec<String>,
    dependencies: Vec<String>,
    pipeline_stages: Vec<String>,
    compatible_pillars: Vec<String>,
    t4_compliant: bool,
    /// Every dependency is available (a module: its stage's health checks pass).
    available: bool,
    builtin: bool,
    registered_by: Option<String>,
    registered_at: Option<DateTime>,
    issues: Vec<String>,
}

impl From<NodeView> for RegistryNode {
    fn from(n: NodeView) -> Self {
        Self {
            node_id: n.node_id,
            registration_id: n.registration_id,
            node_type: n.node_type,
            capabilities: n.capabilities,
            dependencies: n.dependencies,
            pipeline_stages: n.stages,
            compatible_pillars: n.pillars,
            t4_compliant: n.t4_compliant,
            available: n.available,
            builtin: n.builtin,
            registered_by: n.registered_by,
            registered_at: n.registered_at.map(DateTime),
            issues: n.issues,
        }
    }
}

#[derive(SimpleObject)]
pub struct RegistryListing {
    nodes: Vec<RegistryNode>,
    /// `optimal`, `degraded` or `empty`.
    health: String,
}

#[derive(Default)]
pub struct RegistryQuery;

#[Object]
impl RegistryQuery {
    /// The stage modules and your registered nodes (an administrator: everyone's), by stage
    /// and pillar. Needs the `registry` scope.
    async fn registry_nodes(
        &self,
        ctx: &Context<'_>,
        stage: Option<MatrizStage>,
        pillar: Option<ConstellationPillar>,
    ) -> async_graphql::Result<RegistryListing> {
        require_user(ctx)?;
        let filter = NodeFilter {
            stage: stage.map(MatrizStage::name),
            pillar: pillar.map(ConstellationPillar::name),
        };
        let listing = registry::list(core(ctx), principal(ctx), filter)
            .await
            .map_err(to_gql)?;
        Ok(RegistryListing {
            nodes: listing.nodes.into_iter().map(Into::into).collect(),
            health: listing.health.into(),
        })
    }
}

#[derive(InputObject)]
pub struct RegisterNodeInput {
    node_id: String,
    node_type: String,
    capabilities: Vec<String>,
    /// Modules (`memory_module` … `action_module`) or your earlier nodes.
    dependencies: Option<Vec<String>>,
    t4_compliant: Option<bool>,
    instantiation_pattern: Option<String>,
    pipeline_stages: Option<Vec<MatrizStage>>,
    compatible_pillars: Option<Vec<ConstellationPillar>>,
}

#[derive(SimpleObject)]
pub struct NodeRegistration {
    registration_id: String,
    node_id: String,
    t4_compliance: bool,
    /// Every dependency exists.
    constructor_passed: bool,
    compatibility: RegistryCompatibility,
    issues: Vec<String>,
}

#[derive(SimpleObject, Default)]
pub struct RegisterNodePayload {
    registration: Option<NodeRegistration>,
    user_errors: Vec<UserError>,
}

#[derive(Default)]
pub struct RegistryMutation;

#[Object]
impl RegistryMutation {
    /// Registers a node you own, validated against what exists (docs/DECISIONS.md,
    /// "Registry"); a node id you already used is a `CONFLICT` user error.
    async fn register_node(
        &self,
        ctx: &Context<'_>,
        input: RegisterNodeInput,
    ) -> async_graphql::Result<RegisterNodePayload> {
        require_user(ctx)?;
        let registered = registry::register(
            core(ctx),
            principal(ctx),
            NewNode {
                node_id: input.node_id,
                node_type: input.node_type,
                capabilities: input.capabilities,
                dependencies: input.dependencies.unwrap_or_default(),
                t4_compliant: input.t4_compliant.unwrap_or(false),
                instantiation_pattern: input.instantiation_pattern,
                stages: input
                    .pipeline_stages
                    .unwrap_or_default()
                    .into_iter()
                    .map(MatrizStage::name)
                    .collect(),
                pillars: input
                    .compatible_pillars
                    .unwrap_or_default()
                    .into_iter()
                    .map(ConstellationPillar::name)
                    .collect(),
            },
        )
        .await;
        Ok(match registered {
            Ok(r) => RegisterNodePayload {
                registration: Some(NodeRegistration {
                    registration_id: r.registration_id,
                    node_id: r.node_id,
                    t4_compliance: r.validation.t4_compliant,
                    constructor_passed: r.validation.constructor_passed,
                    compatibility: r.validation.compatibility.into(),
                    issues: r.validation.issues,
                }),
                user_errors: vec![],
            },
            Err(err) => RegisterNodePayload {
                registration: None,
                user_errors: vec![user_error(err)?],
            },
        })
    }
}
