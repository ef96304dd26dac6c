//! One module per resource, each with its own `router()`.

pub mod account;
pub mod account_events;
pub mod api_keys;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod explain;
pub mod grants;
pub mod health;
pub mod invitations;
pub mod me;
pub mod members;
pub mod password_reset;
pub mod policies;
pub mod reviewed;
pub mod rollout;
pub mod servers;
pub mod session;
pub mod signup;
pub mod usage;

use std::str::FromStr;

use serde::Deserialize;

use crate::error::{ApiError, Violations};

pub const TAG_AUTH: &str = "auth";
pub const TAG_ACCOUNT: &str = "account";
pub const TAG_API_KEYS: &str = "api-keys";
pub const TAG_SERVERS: &str = "servers";
pub const TAG_GRANTS: &str = "grants";
pub const TAG_POLICIES: &str = "policies";
pub const TAG_APPROVALS: &str = "approvals";
pub const TAG_AUDIT: &str = "audit";
pub const TAG_OPS: &str = "operations";
pub const TAG_CATALOG: &str = "catalog";
pub const TAG_MEMBERS: &str = "members";

/// Cursor pagination parameters shared by every list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<i64>,
}

impl ListParams {
    /// The cursor as the id of the last item of the previous page.
    pub fn cursor_id<T: FromStr>(&self) -> Result<Option<T>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| {
                c.parse().map_err(|_| {
                    ApiError::BadRequest(
                        "invalid cursor: pass the next_cursor of a previous page".to_owned(),
                    )
                })
            })
            .transpose()
    }
}

/// A time query parameter (RFC 3339), reported under its name when malformed.
pub fn time(
    violations: &mut Violations,
    name: &str,
    value: Option<&str>,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let value = value?;
    violations.check(
        name,
        chrono::DateTime::parse_from_rfc3339(value)
            .map(|t| t.with_timezone(&chrono::Utc))
            .map_err(|_| format!("{value:?} is not an RFC 3339 time, e.g. 2026-11-25T10:00:00Z")),
    )
}
