//! The naming config (`sdk-gen/config/<dialect>.toml`): what the OpenAPI document cannot say —
//! package and class names, method names and parameter renames the seed documents promise.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DialectConfig {
    /// File name under `schema/openapi/`.
    pub document: String,
    pub title: String,
    /// `<PREFIX>_API_KEY` / `<PREFIX>_BASE_URL` are read when the client is built without them.
    pub env_prefix: String,
    pub default_base_url: String,
    /// The base class of every error the SDK raises.
    pub error_base: String,
    /// A success envelope property the SDK unwraps (LunaOS: `data`).
    #[serde(default)]
    pub unwrap: Option<String>,
    pub python: PythonConfig,
    pub typescript: TypeScriptConfig,
    pub errors: ErrorConfig,
    /// Schema renames: OpenAPI component name → SDK model name.
    #[serde(default)]
    pub models: BTreeMap<String, String>,
    /// Error classes raised for API errors of particular operations, with their docs.
    #[serde(default)]
    pub operation_errors: BTreeMap<String, String>,
    #[serde(default)]
    pub operations: BTreeMap<String, OperationConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonConfig {
    pub package: String,
    pub distribution: String,
    pub client: String,
    pub async_client: String,
    /// Other names the sync client is exported under (LUKHAS: `lukhas_sdk.Client`).
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TypeScriptConfig {
    pub package: String,
    pub dir: String,
    pub client: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorConfig {
    /// JSON pointers into the dialect's error body.
    #[serde(default)]
    pub code: Option<String>,
    pub message: String,
    #[serde(default)]
    pub details: Option<String>,
    /// The error body mock mode answers with; `$code` and `$message` are filled in.
    pub mock_body: Value,
    /// Codes mock mode uses per status.
    #[serde(default)]
    pub mock_codes: BTreeMap<String, String>,
    /// Error classes per dialect error code.
    #[serde(default)]
    pub codes: BTreeMap<String, CodeConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CodeConfig {
    pub class: String,
    /// The status whose class this one refines.
    pub status: u16,
    pub doc: String,
    /// Attributes read from the error's details: SDK name → details key.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperationConfig {
    /// Why the SDKs leave this operation out (it is called by someone else, e.g. a payment
    /// provider's webhook); absent: the SDKs have a method for it.
    #[serde(default)]
    pub skip: Option<String>,
    /// Method name (snake_case); defaults to the operation id.
    #[serde(default)]
    pub name: Option<String>,
    /// Sub-resource the method lives on (`client.auth.login`); empty: on the client itself.
    #[serde(default)]
    pub resource: Option<String>,
    /// Parameter renames: wire name → SDK name.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Parameter order (wire names); the rest follow, required before optional.
    #[serde(default)]
    pub order: Vec<String>,
    /// An `operation_errors` class raised for this operation's API errors.
    #[serde(default)]
    pub error: Option<String>,
    /// A body field the SDK fills with the request's idempotency key when left empty.
    #[serde(default)]
    pub idempotency_field: Option<String>,
    #[serde(default)]
    pub pagination: Option<Pagination>,
    /// A streaming operation also offered as a session (`client.stream()`, then
    /// `send_query(…)` and iterate): the document's own streaming style.
    #[serde(default)]
    pub session: Option<SessionConfig>,
    /// TypeScript: the method also takes this one required body field's value alone
    /// (`client.process('Hello')`) instead of the params object.
    #[serde(default)]
    pub shorthand: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// The client method that opens the session (snake_case).
    pub method: String,
    /// The session's method that starts a run with the operation's one required body
    /// field (snake_case).
    pub send: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pagination {
    pub items: String,
    pub total: String,
    pub limit: String,
    pub offset: String,
}
