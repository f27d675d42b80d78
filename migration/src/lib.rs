//! Schema migrations; each runs unchanged on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_identity;
mod m20261122_000002_governance;
mod m20261201_000003_hardening;
mod m20261201_000004_key_scopes;
mod m20261201_000005_ai_usage;
mod m20261201_000006_memories;
mod m20261201_000007_rag;
mod m20261202_000008_agents;
mod m20261203_000009_chat;
mod m20261203_000010_terminal_runs;
mod m20261206_000011_registry;
mod m20261206_000012_glyphs;
mod m20261206_000013_incidents;
mod m20261207_000014_feedback;
mod m20261207_000015_tools;
mod m20261207_000016_lambda_ids;
mod m20261207_000017_passkeys;
mod m20261207_000018_server_settings;
mod m20261207_000019_ledger_audit_indexes;
mod m20261207_000020_run_heartbeats;

pub struct Migrator;

/// Gives keys made before a scope existed what a new key gets by default (the scope grants
/// nothing beyond what the account may do). Scopes are fixed identifiers, never input.
pub(crate) async fn grant_to_existing_keys(
    manager: &SchemaManager<'_>,
    scopes: &[&str],
) -> Result<(), DbErr> {
    for scope in scopes {
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "UPDATE api_keys SET scopes = scopes || ' {scope}' WHERE scopes NOT LIKE '%{scope}%'"
            ))
            .await?;
    }
    Ok(())
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_identity::Migration),
            Box::new(m20261122_000002_governance::Migration),
            Box::new(m20261201_000003_hardening::Migration),
            Box::new(m20261201_000004_key_scopes::Migration),
            Box::new(m20261201_000005_ai_usage::Migration),
            Box::new(m20261201_000006_memories::Migration),
            Box::new(m20261201_000007_rag::Migration),
            Box::new(m20261202_000008_agents::Migration),
            Box::new(m20261203_000009_chat::Migration),
            Box::new(m20261203_000010_terminal_runs::Migration),
            Box::new(m20261206_000011_registry::Migration),
            Box::new(m20261206_000012_glyphs::Migration),
            Box::new(m20261206_000013_incidents::Migration),
            Box::new(m20261207_000014_feedback::Migration),
            Box::new(m20261207_000015_tools::Migration),
            Box::new(m20261207_000016_lambda_ids::Migration),
            Box::new(m20261207_000017_passkeys::Migration),
            Box::new(m20261207_000018_server_settings::Migration),
            Box::new(m20261207_000019_ledger_audit_indexes::Migration),
            Box::new(m20261207_000020_run_heartbeats::Migration),
        ]
    }
}
