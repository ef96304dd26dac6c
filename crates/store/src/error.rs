use crate::secrets::CryptoError;

/// What can go wrong in the store, in terms the API layer can map to statuses.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such row in this account (another account's row included).
    #[error("not found")]
    NotFound,
    /// A uniqueness rule was broken; names the thing that already exists.
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
pub(crate) fn conflict_as(what: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |err| match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(err),
    }
}
