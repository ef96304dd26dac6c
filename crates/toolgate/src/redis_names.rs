//! The names a deployment uses in Redis: the audit stream, the change and
//! approval channels and the counter keys all start with one namespace, so
//! two deployments sharing a Redis never read each other's events or
//! notifications. By default the namespace derives from the deployment id
//! kept in the database, which every replica of a deployment shares.

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

use crate::config::ServeArgs;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisNames {
    namespace: String,
    audit_stream: String,
}

impl RedisNames {
    /// The configured namespace, or the deployment's own.
    pub async fn resolve(args: &ServeArgs, pool: &PgPool) -> anyhow::Result<Self> {
        let namespace = match &args.redis_namespace {
            Some(namespace) => namespace.clone(),
            None => default_namespace(
                toolgate_store::deployment::id(pool)
                    .await
                    .context("reading the deployment id")?,
            ),
        };
        Ok(Self::new(namespace, args.audit_stream.clone()))
    }

    /// Names under `namespace`; `audit_stream` overrides the stream's name.
    pub fn new(namespace: String, audit_stream: Option<String>) -> Self {
        let audit_stream = audit_stream.unwrap_or_else(|| format!("{namespace}:audit"));
        Self {
            namespace,
            audit_stream,
        }
    }

    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    pub fn audit_stream(&self) -> &str {
        &self.audit_stream
    }

    /// Where "account X changed" is published.
    pub fn changes_channel(&self) -> String {
        format!("{}:changes", self.namespace)
    }

    /// Where approval decisions reach the replica holding the call.
    pub fn approvals_channel(&self) -> String {
        format!("{}:approvals", self.namespace)
    }
}

/// `toolgate-` and the first 12 hex digits of the deployment id.
fn default_namespace(deployment: Uuid) -> String {
    let hex = deployment.simple().to_string();
    format!("toolgate-{}", &hex[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_starts_with_the_namespace() {
        let names = RedisNames::new("prod-eu".to_owned(), None);
        assert_eq!(names.audit_stream(), "prod-eu:audit");
        assert_eq!(names.changes_channel(), "prod-eu:changes");
        assert_eq!(names.approvals_channel(), "prod-eu:approvals");
    }

    #[test]
    fn the_old_fixed_names_are_one_setting_away() {
        // TOOLGATE_REDIS_NAMESPACE=toolgate keeps the names of earlier versions.
        let names = RedisNames::new("toolgate".to_owned(), None);
        assert_eq!(names.audit_stream(), "toolgate:audit");
        assert_eq!(names.changes_channel(), "toolgate:changes");
    }

    #[test]
    fn a_configured_stream_wins() {
        let names = RedisNames::new("ns".to_owned(), Some("custom".to_owned()));
        assert_eq!(names.audit_stream(), "custom");
    }

    #[test]
    fn deployments_get_distinct_valid_namespaces() {
        let (a, b) = (
            default_namespace(Uuid::new_v4()),
            default_namespace(Uuid::new_v4()),
        );
        assert_ne!(a, b);
        assert!(toolgate_limits::valid_namespace(&a), "{a}");
        assert_eq!(a.len(), "toolgate-".len() + 12);
    }
}
