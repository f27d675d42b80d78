//! Database entities. These are the storage shapes only; every API exposes its own types.

pub mod account_event;
pub mod agent_run;
pub mod ai_usage;
pub mod api_key;
pub mod auth_revocation;
pub mod billing_event;
pub mod chat_interaction;
pub mod chat_session;
pub mod chat_summary;
pub mod feedback;
pub mod glyph_token;
pub mod gov_decision;
pub mod gov_ledger;
pub mod gov_policy;
pub mod gov_revocation;
pub mod incident;
pub mod incident_update;
pub mod memory;
pub mod rag_chunk;
pub mod refresh_token;
pub mod registry_node;
pub mod subscription;
pub mod terminal_run;
pub mod tool;
pub mod usage_counter;
pub mod user;
