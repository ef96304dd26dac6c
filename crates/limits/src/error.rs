//! Why a store could not decide.

/// The store could not decide; nothing is known about what was consumed
/// unless the variant says so.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The backend cannot be reached (connection refused, reset, not yet up).
    #[error("counter backend unavailable: {0}")]
    Unavailable(String),
    /// The call passed its deadline. The script may still have run on the
    /// server, so the units may have been consumed; it is never retried.
    #[error("counter backend did not answer within the deadline")]
    Timeout,
    /// The backend answered something the store does not understand, or
    /// reported an error (e.g. a wrong key type, an out-of-memory refusal).
    #[error("counter backend error: {0}")]
    Backend(String),
    /// The limits themselves are invalid (a zero window or max, a sliding max
    /// over 10 000, an account id unusable as a hash tag). A policy bug, not
    /// a backend outage; nothing was sent.
    #[error("invalid limit request: {0}")]
    InvalidRequest(String),
}

impl From<redis::RedisError> for BackendError {
    fn from(err: redis::RedisError) -> Self {
        if err.is_timeout() {
            BackendError::Timeout
        } else if err.is_io_error() || err.is_connection_dropped() || err.is_connection_refusal() {
            BackendError::Unavailable(err.to_string())
        } else {
            BackendError::Backend(err.to_string())
        }
    }
}
