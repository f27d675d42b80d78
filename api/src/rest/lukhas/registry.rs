//! `/constellation/registry/nodes`: register a node (validated against what exists) and
//! list the modules and nodes, filtered by stage and pillar, in the document's shapes.

use axum::extract::State;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{Body, Error, Lukhas, LukhasError};
use crate::domain::registry::{self, NewNode, NodeFilter, NodeView, Registered};
use crate::http::dialect::{Authed, QueryParams};
use crate::state::AppState;

const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9_.-]{0,63}$";

fn names_schema(example: serde_json::Value, at_least: usize) -> serde_json::Value {
    serde_json::json!({
        "type": "array",
        "minItems": at_least,
        "maxItems": 32,
        "items": {"type": "string", "pattern": NAME_PATTERN},
        "example": example
    })
}

fn capabilities_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(names_schema(
        serde_json::json!(["data_analysis", "pattern_recognition"]),
        1,
    ))
}

fn dependencies_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(names_schema(
        serde_json::json!(["memory_module", "attention_module"]),
        0,
    ))
}

fn stages_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(serde_json::json!({
        "type": "array",
        "maxItems": 32,
        "items": {"type": "string", "enum": crate::domain::cognition::matriz::STAGES},
        "example": ["attention", "thought"]
    }))
}

fn pillars_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    crate::rest::shared::schema_from_json(serde_json::json!({
        "type": "array",
        "maxItems": 9,
        "items": {"type": "string", "enum": [
            "identity", "consciousness", "guardian", "memory", "vision", "bio", "dream",
            "ethics", "quantum", "⚛️", "🧠", "🛡️", "✦", "🔬", "🌱", "🌙", "⚖️"
        ]},
        "example": ["🧠"]
    }))
}

#[derive(Deserialize, ToSchema, Default)]
pub struct ConstructorConfig {
    /// What the node declares; the registry checks its dependencies are compliant too.
    #[schema(example = true)]
    #[serde(default)]
    t4_compliant: bool,
    #[schema(example = "constructor_aware", pattern = "^[a-z0-9][a-z0-9_.-]{0,63}$")]
    instantiation_pattern: Option<String>,
    /// Modules (`memory_module` … `action_module`) or your earlier nodes.
    #[serde(default)]
    #[schema(schema_with = dependencies_schema)]
    dependencies: Vec<String>,
}

/// Where the node fits (named apart from the pipeline response's `ConstellationMetadata`).
#[derive(Deserialize, ToSchema, Default)]
pub struct NodeConstellationMetadata {
    /// Pillar names or their symbols.
    #[serde(default)]
    #[schema(schema_with = pillars_schema)]
    compatible_pillars: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = stages_schema)]
    pipeline_stages: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct RegisterNodeRequest {
    #[schema(
        example = "custom_analytics_node",
        pattern = "^[a-z0-9][a-z0-9_.-]{0,63}$"
    )]
    node_id: String,
    #[schema(
        example = "cognitive_processor",
        pattern = "^[a-z0-9][a-z0-9_.-]{0,63}$"
    )]
    node_type: String,
    #[schema(schema_with = capabilities_schema)]
    capabilities: Vec<String>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    constructor_config: Option<ConstructorConfig>,
    #[serde(default, deserialize_with = "crate::http::json_object::optional")]
    constellation_metadata: Option<NodeConstellationMetadata>,
}

string_enum!(
    /// Whether every dependency exists (a module or one of your earlier nodes).
    ConstructorValidation { Passed = "passed", Failed = "failed" }
);

string_enum!(
    /// Whether every declared stage serves a declared pillar.
    ConstellationCompatibility {
        Verified = "verified",
        Incompatible = "incompatible",
        Unspecified = "unspecified",
    }
);

#[derive(Serialize, ToSchema)]
pub struct ValidationResults {
    /// Declared, and every dependency compliant too.
    #[schema(example = true)]
    t4_compliance: bool,
    #[schema(value_type = ConstructorValidation, example = "passed")]
    constructor_validation: &'static str,
    #[schema(value_type = ConstellationCompatibility, example = "verified")]
    constellation_compatibility: &'static str,
    /// What failed, if anything.
    #[schema(example = json!([]))]
    issues: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RegisterNodeResponse {
    #[schema(example = "reg_2026_12_06_custom_analytics_node_7k2m9q4x")]
    registration_id: String,
    #[schema(example = "custom_analytics_node")]
    node_id: String,
    #[schema(example = "registered")]
    status: &'static str,
    validation_results: ValidationResults,
}

impl From<Registered> for RegisterNodeResponse {
    fn from(r: Registered) -> Self {
        let v = r.validation;
        Self {
            registration_id: r.registration_id,
            node_id: r.node_id,
            status: "registered",
            validation_results: ValidationResults {
                t4_compliance: v.t4_compliant,
                constructor_validation: if v.constructor_passed {
                    "passed"
                } else {
                    "failed"
                },
                constellation_compatibility: v.compatibility.as_str(),
                issues: v.issues,
            },
        }
    }
}

/// Register node
///
/// Registers a node you own. Validated against what exists: dependencies must be modules
/// (`memory_module` … `action_module`) or your earlier nodes — a missing one fails
/// `constructor_validation` and leaves the node unavailable; stages and pillars must be
/// real (400 otherwise); T4 compliance holds when declared and every dependency is
/// compliant. A node id you already registered is 409. Needs the `registry` scope.
#[utoipa::path(
    post, path = "/constellation/registry/nodes", tag = "registry", operation_id = "register_node",
    security(("bearer" = []), ("api_key" = [])),
    request_body = RegisterNodeRequest,
    responses(
        (status = 200, description = "Registered, with what the validation found", body = RegisterNodeResponse),
        (status = 400, description = "A field is missing or malformed, or names an unknown stage or pillar", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the registry scope, or the account holds 500 nodes", body = LukhasError),
        (status = 409, description = "You already registered a node with this id", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    Body { 0: body, .. }: Body<RegisterNodeRequest>,
) -> Result<Json<RegisterNodeResponse>, Error> {
    let constructor = body.constructor_config.unwrap_or_default();
    let metadata = body.constellation_metadata.unwrap_or_default();
    let registered = registry::register(
        &state,
        &principal,
        NewNode {
            node_id: body.node_id,
            node_type: body.node_type,
            capabilities: body.capabilities,
            dependencies: constructor.dependencies,
            t4_compliant: constructor.t4_compliant,
            instantiation_pattern: constructor.instantiation_pattern,
            stages: metadata.pipeline_stages,
            pillars: metadata.compatible_pillars,
        },
    )
    .await?;
    Ok(Json(registered.into()))
}

string_enum!(
    /// A pipeline stage.
    StageName {
        Memory = "memory",
        Attention = "attention",
        Thought = "thought",
        Risk = "risk",
        Intent = "intent",
        Action = "action",
    }
);

string_enum!(
    /// A constellation pillar, by name or symbol (⚛️ reads as identity).
    PillarName {
        Identity = "identity",
        Consciousness = "consciousness",
        Guardian = "guardian",
        Memory = "memory",
        Vision = "vision",
        Bio = "bio",
        Dream = "dream",
        Ethics = "ethics",
        Quantum = "quantum",
        IdentitySymbol = "⚛️",
        ConsciousnessSymbol = "🧠",
        GuardianSymbol = "🛡️",
        MemorySymbol = "✦",
        VisionSymbol = "🔬",
        BioSymbol = "🌱",
        DreamSymbol = "🌙",
        EthicsSymbol = "⚖️",
    }
);

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NodeQuery {
    /// Only nodes that serve this stage.
    #[param(inline, value_type = Option<StageName>, example = "attention")]
    stage: Option<String>,
    /// Only nodes compatible with this pillar (its name or symbol).
    #[param(inline, value_type = Option<PillarName>, example = "consciousness")]
    pillar: Option<String>,
}

string_enum!(
    /// `active` while every dependency is (a module: its stage's health checks pass).
    Availability { Active = "active", Unavailable = "unavailable" }
);

#[derive(Serialize, ToSchema)]
pub struct RegistryNode {
    #[schema(example = "attention_module")]
    node_id: String,
    /// Null for the modules, which are not registered.
    #[schema(example = json!(null))]
    registration_id: Option<String>,
    #[schema(example = "matriz_stage_module")]
    node_type: String,
    #[schema(example = json!(["focus_extraction", "term_weighting"]))]
    capabilities: Vec<String>,
    #[schema(example = json!([]))]
    dependencies: Vec<String>,
    #[schema(example = json!(["attention"]))]
    pipeline_stages: Vec<String>,
    #[schema(example = json!(["consciousness"]))]
    compatible_pillars: Vec<String>,
    #[schema(example = true)]
    t4_compliant: bool,
    #[schema(value_type = Availability, example = "active")]
    availability: &'static str,
    /// One of the six MATRIZ stage modules.
    #[schema(example = true)]
    builtin: bool,
    /// The owner's user id (null for the modules).
    #[schema(example = json!(null))]
    registered_by: Option<String>,
    registered_at: Option<DateTime<Utc>>,
    /// What its validation found.
    #[schema(example = json!([]))]
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
            availability: if n.available { "active" } else { "unavailable" },
            builtin: n.builtin,
            registered_by: n.registered_by,
            registered_at: n.registered_at,
            issues: n.issues,
        }
    }
}

string_enum!(
    /// `optimal` when every node listed is active, `degraded` when some is not, `empty`.
    RegistryHealth { Optimal = "optimal", Degraded = "degraded", Empty = "empty" }
);

#[derive(Serialize, ToSchema)]
pub struct NodeList {
    nodes: Vec<RegistryNode>,
    #[schema(example = 2)]
    total_count: usize,
    #[schema(value_type = RegistryHealth, example = "optimal")]
    registry_health: &'static str,
}

/// List available nodes
///
/// The six MATRIZ stage modules and the nodes you registered (an administrator sees every
/// owner's), with `stage` and `pillar` filters. Availability is computed now: a module is
/// active while its stage's health checks pass, a node while every dependency is.
#[utoipa::path(
    get, path = "/constellation/registry/nodes", tag = "registry", operation_id = "list_nodes",
    security(("bearer" = []), ("api_key" = [])),
    params(NodeQuery),
    responses(
        (status = 200, description = "The nodes", body = NodeList),
        (status = 400, description = "Unknown stage or pillar", body = LukhasError),
        (status = 401, description = "Missing or invalid credential", body = LukhasError),
        (status = 403, description = "The key lacks the registry scope", body = LukhasError),
        (status = 429, description = "Rate limit exceeded", body = LukhasError),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Authed { 0: principal, .. }: Authed<Lukhas>,
    QueryParams(query, ..): QueryParams<NodeQuery, Lukhas>,
) -> Result<Json<NodeList>, Error> {
    let listing = registry::list(
        &state,
        &principal,
        NodeFilter {
            stage: query.stage,
            pillar: query.pillar,
        },
    )
    .await?;
    Ok(Json(NodeList {
        total_count: listing.nodes.len(),
        registry_health: listing.health,
        nodes: listing.nodes.into_iter().map(Into::into).collect(),
    }))
}
