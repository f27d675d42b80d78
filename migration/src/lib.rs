//! Schema migrations; each runs unchanged on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_identity;
mod m20261122_000002_governance;
mod m20261201_000003_hardening;
mod m20261201_000004_key_scopes;
mod m20261201_000005_ai_usage;
mod m20261201_000006_memories;
mod m20261201_000007_rag;

pub struct Migrator;

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
        ]
    }
}
