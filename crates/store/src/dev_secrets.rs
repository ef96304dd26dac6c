//! Development secrets generated once and kept in the database, so every
//! process sharing it agrees on them and sealed data stays readable across
//! restarts. Production deployments set the variables instead.

use rand::RngCore;
use sqlx::PgPool;

use crate::error::StoreError;

/// The stored value named `name`, created with 32 random bytes if missing.
pub async fn get_or_create(pool: &PgPool, name: &str) -> Result<[u8; 32], StoreError> {
    let mut fresh = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut fresh);
    // Insert-or-keep, then read: concurrent first starts all see one winner.
    sqlx::query!(
        "INSERT INTO dev_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        name,
        &fresh[..],
    )
    .execute(pool)
    .await?;
    let value = sqlx::query_scalar!("SELECT value FROM dev_secrets WHERE name = $1", name)
        .fetch_one(pool)
        .await?;
    value
        .try_into()
        .map_err(|_| StoreError::Corrupt(format!("dev secret {name} is not 32 bytes")))
}
