//! An account's gateway configuration, compiled for the hot path: servers by
//! name with their opened upstream headers and compiled policy, grants by
//! token digest.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use toolgate_policy::{CompiledPolicy, PolicyError};
use toolgate_store::ids::{AccountId, GrantId, ServerId};
use toolgate_store::snapshot::{AccountRows, ServerRows};
use url::Url;

use crate::pins::ServerPins;

/// Prefix of grant tokens; anything else is not worth a lookup.
const GRANT_TOKEN_PREFIX: &str = "tgg_";

/// A gateway keeps one per loaded account, so it is kept compact: servers
/// and grants are sorted slices found by binary search (an account has a
/// handful of each), not hash maps with their spare capacity.
pub struct AccountSnapshot {
    pub id: AccountId,
    pub slug: String,
    /// Sorted by name (unique within an account).
    servers: Box<[Arc<ServerConfig>]>,
    /// Sorted by token digest (unique).
    grants: Box<[([u8; 32], GrantEntry)]>,
}

pub struct ServerConfig {
    pub id: ServerId,
    pub name: String,
    /// The upstream's endpoint, parsed once.
    pub uri: http::Uri,
    /// The upstream's own credentials and settings, sent on every request.
    pub headers: HeaderMap,
    pub timeout: Duration,
    pub policy: Arc<CompiledPolicy>,
    /// The stored version the policy came from; `None` means no policy was
    /// stored and the server is closed (every tool hidden).
    pub policy_version: Option<i32>,
    /// The shadow policy: judged beside the live one for the audit trail,
    /// never acted on. `None` when the server has none (or it no longer
    /// compiles).
    pub shadow: Option<Arc<CompiledPolicy>>,
    /// The pinned definitions of the upstream's tools; `None` until its
    /// catalog is known, when tools are judged by the policy alone.
    pub pins: Option<ServerPins>,
}

#[derive(Debug, Clone)]
pub struct GrantEntry {
    pub id: GrantId,
    /// `None`: every server of the account.
    servers: Option<Box<[ServerId]>>,
    expires_at: Option<DateTime<Utc>>,
}

/// Why a presented token does not open a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantRefusal {
    /// Unknown, revoked or malformed.
    Invalid,
    Expired,
    /// Valid, but limited to other servers.
    OtherServer,
}

impl GrantEntry {
    pub fn check(&self, server: ServerId, now: DateTime<Utc>) -> Result<(), GrantRefusal> {
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(GrantRefusal::Expired);
        }
        match &self.servers {
            Some(allowed) if !allowed.contains(&server) => Err(GrantRefusal::OtherServer),
            _ => Ok(()),
        }
    }
}

/// The policy of a server that has none: nothing is visible or callable.
fn closed_policy() -> Arc<CompiledPolicy> {
    static CLOSED: OnceLock<Arc<CompiledPolicy>> = OnceLock::new();
    CLOSED
        .get_or_init(|| Arc::new(CompiledPolicy::closed()))
        .clone()
}

/// Compiled policies by the SHA-256 of their document, so that servers whose
/// current policy is the same document (accounts made from one template)
/// share one compiled policy instead of holding a copy each. Sharing is safe:
/// a compiled policy is immutable and depends on nothing but its document.
/// Entries are weak, so a policy no snapshot uses any more is freed.
#[derive(Default)]
struct SharedPolicies {
    by_digest: HashMap<[u8; 32], Weak<CompiledPolicy>>,
    /// Dead entries are swept when the map reaches this size.
    sweep_at: usize,
}

/// The smallest `sweep_at`: sweeping a small map is not worth it.
const MIN_SWEEP_AT: usize = 64;

impl SharedPolicies {
    fn get(&self, digest: &[u8; 32]) -> Option<Arc<CompiledPolicy>> {
        self.by_digest.get(digest).and_then(Weak::upgrade)
    }

    /// Keeps `policy` for `digest` unless a live one is already there, and
    /// returns the one kept.
    fn insert(&mut self, digest: [u8; 32], policy: Arc<CompiledPolicy>) -> Arc<CompiledPolicy> {
        if let Some(live) = self.get(&digest) {
            return live;
        }
        if self.by_digest.len() >= self.sweep_at {
            self.by_digest.retain(|_, policy| policy.strong_count() > 0);
            self.sweep_at = (self.by_digest.len() * 2).max(MIN_SWEEP_AT);
        }
        self.by_digest.insert(digest, Arc::downgrade(&policy));
        policy
    }
}

fn shared_policies() -> &'static Mutex<SharedPolicies> {
    static SHARED: OnceLock<Mutex<SharedPolicies>> = OnceLock::new();
    SHARED.get_or_init(Mutex::default)
}

/// Compiles a stored policy document, or shares the compiled policy of an
/// identical document already in use.
fn compile_policy(document: &serde_json::Value) -> Result<Arc<CompiledPolicy>, Vec<PolicyError>> {
    let Ok(text) = serde_json::to_vec(document) else {
        return toolgate_policy::parse(document).map(Arc::new);
    };
    let digest: [u8; 32] = Sha256::digest(&text).into();
    let shared = || {
        shared_policies()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    let existing = shared().get(&digest);
    if let Some(policy) = existing {
        return Ok(policy);
    }
    // Compiled outside the lock; a concurrent twin may win the insert.
    let policy = Arc::new(toolgate_policy::parse(document)?);
    Ok(shared().insert(digest, policy))
}

impl AccountSnapshot {
    pub fn compile(rows: AccountRows) -> Self {
        let mut servers: Vec<Arc<ServerConfig>> = rows
            .servers
            .into_iter()
            .filter_map(|server| compile_server(server).map(Arc::new))
            .collect();
        servers.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        // Should two rows ever share a name, one of them serves it.
        servers.dedup_by(|a, b| a.name == b.name);
        let mut grants: Vec<([u8; 32], GrantEntry)> = rows
            .grants
            .into_iter()
            .filter_map(|grant| {
                let digest: [u8; 32] = grant.token_hash.try_into().ok()?;
                let servers = (!grant.all_servers)
                    .then(|| grant.server_ids.into_iter().map(ServerId).collect());
                Some((
                    digest,
                    GrantEntry {
                        id: grant.id,
                        servers,
                        expires_at: grant.expires_at,
                    },
                ))
            })
            .collect();
        grants.sort_unstable_by_key(|(digest, _)| *digest);
        grants.dedup_by(|a, b| a.0 == b.0);
        Self {
            id: rows.id,
            slug: rows.slug,
            servers: servers.into_boxed_slice(),
            grants: grants.into_boxed_slice(),
        }
    }

    pub fn server(&self, name: &str) -> Option<&Arc<ServerConfig>> {
        self.servers
            .binary_search_by(|server| server.name.as_str().cmp(name))
            .ok()
            .and_then(|at| self.servers.get(at))
    }

    /// The live grant a bearer token names, if any.
    pub fn grant(&self, token: &str) -> Option<&GrantEntry> {
        if !token.starts_with(GRANT_TOKEN_PREFIX) {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        self.grants
            .binary_search_by(|(key, _)| key.cmp(&digest))
            .ok()
            .and_then(|at| self.grants.get(at))
            .map(|(_, grant)| grant)
    }
}

fn compile_server(server: ServerRows) -> Option<ServerConfig> {
    // Through `Url` first: it normalises the stored text as registration did.
    let parsed = Url::parse(&server.url)
        .map_err(|e| e.to_string())
        .and_then(|url| url.as_str().parse::<http::Uri>().map_err(|e| e.to_string()));
    let uri = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            tracing::error!(server = %server.id, error = %err, "stored upstream URL does not parse; server disabled");
            return None;
        }
    };
    // Sized for its entries: an empty map allocates nothing, and the default
    // first allocation holds several entries a server rarely has.
    let mut headers = HeaderMap::with_capacity(server.headers.len());
    for (name, value) in server.headers.expose() {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(mut value)) => {
                value.set_sensitive(true);
                headers.insert(name, value);
            }
            // Names only: values are secrets.
            _ => {
                tracing::error!(server = %server.id, header = %name, "stored upstream header is invalid; skipped")
            }
        }
    }
    let (policy, policy_version) = match server.policy {
        None => (closed_policy(), None),
        Some((version, document)) => match compile_policy(&document) {
            Ok(policy) => (policy, Some(version)),
            Err(errors) => {
                tracing::error!(server = %server.id, version, errors = errors.len(), "stored policy no longer compiles; server closed");
                (closed_policy(), Some(version))
            }
        },
    };
    let shadow = server
        .shadow
        .and_then(|document| match compile_policy(&document) {
            Ok(policy) => Some(policy),
            Err(errors) => {
                tracing::error!(server = %server.id, errors = errors.len(), "stored shadow policy no longer compiles; shadow ignored");
                None
            }
        });
    Some(ServerConfig {
        id: server.id,
        name: server.name,
        uri,
        headers,
        timeout: Duration::from_millis(u64::try_from(server.timeout_ms).unwrap_or(30_000)),
        policy,
        policy_version,
        shadow,
        pins: server.catalog.map(ServerPins::new),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use toolgate_store::snapshot::GrantRows;

    fn rows() -> (AccountRows, ServerId, ServerId) {
        let (one, two) = (ServerId::new(), ServerId::new());
        let server = |id, name: &str, policy| ServerRows {
            id,
            name: name.to_owned(),
            url: "https://93.184.216.34/mcp".to_owned(),
            headers: [("authorization".to_owned(), "Bearer up".to_owned())]
                .into_iter()
                .collect(),
            timeout_ms: 1500,
            policy,
            shadow: None,
            catalog: None,
        };
        let grant = |token: &str, servers: Option<Vec<ServerId>>, expires_at| GrantRows {
            id: GrantId::new(),
            token_hash: Sha256::digest(token.as_bytes()).to_vec(),
            all_servers: servers.is_none(),
            server_ids: servers
                .unwrap_or_default()
                .into_iter()
                .map(|s| s.0)
                .collect(),
            expires_at,
        };
        let rows = AccountRows {
            id: AccountId::new(),
            slug: "acme".to_owned(),
            servers: vec![
                server(
                    one,
                    "one",
                    Some((3, serde_json::json!({"version": "1", "default": "allow"}))),
                ),
                server(two, "two", None),
            ],
            grants: vec![
                grant("tgg_all", None, None),
                grant("tgg_two", Some(vec![two]), None),
                grant(
                    "tgg_old",
                    None,
                    Some(Utc::now() - chrono::Duration::seconds(1)),
                ),
            ],
        };
        (rows, one, two)
    }

    #[test]
    fn servers_compile_with_headers_timeouts_and_policies() {
        let (rows, ..) = rows();
        let snapshot = AccountSnapshot::compile(rows);
        let one = snapshot.server("one").unwrap();
        assert_eq!(one.timeout, Duration::from_millis(1500));
        assert_eq!(one.headers["authorization"], "Bearer up");
        assert!(one.headers["authorization"].is_sensitive());
        assert_eq!(one.policy_version, Some(3));
        assert!(one.policy.visible("anything"));
        let two = snapshot.server("two").unwrap();
        assert_eq!(two.policy_version, None);
        assert!(!two.policy.visible("anything"), "no policy: closed");
        assert!(snapshot.server("three").is_none());
    }

    #[test]
    fn grants_are_found_by_token_and_checked_for_scope_and_expiry() {
        let (rows, one, two) = rows();
        let snapshot = AccountSnapshot::compile(rows);
        let now = Utc::now();
        assert_eq!(snapshot.grant("tgg_all").unwrap().check(one, now), Ok(()));
        assert_eq!(snapshot.grant("tgg_two").unwrap().check(two, now), Ok(()));
        assert_eq!(
            snapshot.grant("tgg_two").unwrap().check(one, now),
            Err(GrantRefusal::OtherServer)
        );
        assert_eq!(
            snapshot.grant("tgg_old").unwrap().check(one, now),
            Err(GrantRefusal::Expired)
        );
        assert!(snapshot.grant("tgg_unknown").is_none());
        assert!(snapshot.grant("all").is_none());
    }

    #[test]
    fn identical_policy_documents_share_one_compiled_policy() {
        let document = serde_json::json!({"version": "1", "default": "deny",
            "tools": {"shared_policy_test": {}}});
        let one = compile_policy(&document).unwrap();
        let two = compile_policy(&document.clone()).unwrap();
        assert!(Arc::ptr_eq(&one, &two));
        let other = compile_policy(&serde_json::json!({"version": "1", "default": "deny",
            "tools": {"shared_policy_test_2": {}}}))
        .unwrap();
        assert!(!Arc::ptr_eq(&one, &other));
        assert!(one.visible("shared_policy_test"));
        assert!(!other.visible("shared_policy_test"));
        // Kept only while in use.
        let weak = Arc::downgrade(&one);
        drop((one, two));
        assert!(weak.upgrade().is_none());
        assert!(compile_policy(&document)
            .unwrap()
            .visible("shared_policy_test"));
        assert!(compile_policy(&serde_json::json!({"version": "2"})).is_err());
    }

    #[test]
    fn policies_no_longer_used_are_swept() {
        let mut shared = SharedPolicies::default();
        for i in 0u8..200 {
            let policy = shared.insert([i; 32], Arc::new(CompiledPolicy::closed()));
            assert!(Arc::ptr_eq(&shared.get(&[i; 32]).unwrap(), &policy));
        }
        assert!(
            shared.by_digest.len() <= MIN_SWEEP_AT,
            "{}",
            shared.by_digest.len()
        );
        let kept = shared.insert([7; 32], Arc::new(CompiledPolicy::closed()));
        let again = shared.insert([7; 32], Arc::new(CompiledPolicy::closed()));
        assert!(Arc::ptr_eq(&kept, &again), "a live entry is kept");
    }
}
