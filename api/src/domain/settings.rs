//! Deployment-wide settings (`server_settings`): small JSON values every instance reads.

use chrono::Utc;
use orrery_entities::server_setting;
use sea_orm::sea_query::OnConflict;
use sea_orm::{DatabaseConnection, EntityTrait, Set};

use crate::error::DomainResult;

pub async fn read(db: &DatabaseConnection, key: &str) -> DomainResult<Option<String>> {
    Ok(server_setting::Entity::find_by_id(key)
        .one(db)
        .await?
        .map(|row| row.value))
}

/// Sets `key` to `value`, replacing what was there.
pub async fn write(db: &DatabaseConnection, key: &str, value: String) -> DomainResult<()> {
    server_setting::Entity::insert(server_setting::ActiveModel {
        key: Set(key.into()),
        value: Set(value),
        updated_at: Set(Utc::now()),
    })
    .on_conflict(
        OnConflict::column(server_setting::Column::Key)
            .update_columns([
                server_setting::Column::Value,
                server_setting::Column::UpdatedAt,
            ])
            .to_owned(),
    )
    .exec(db)
    .await?;
    Ok(())
}
