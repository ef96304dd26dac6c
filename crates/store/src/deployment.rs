//! The deployment's identity, made by its migration: one id per database,
//! shared by every process that uses the database.

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::StoreError;

/// This database's deployment id.
pub async fn id(pool: &PgPool) -> Result<Uuid, StoreError> {
    Ok(sqlx::query_scalar("SELECT id FROM deployment")
        .fetch_one(pool)
        .await?)
}
