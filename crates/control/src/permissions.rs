//! What each role may do, and what every route needs: the one table of the
//! control plane's authorisation, enforced for every route by one
//! middleware ([`crate::access`]).
//!
//! A route missing from [`ROUTES`] is refused (500) rather than served
//! unguarded, and a test checks the table and the OpenAPI document list the
//! same routes.

use axum::http::Method;
use toolgate_store::memberships::Role;

/// One thing a caller may be allowed to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Read the account itself and who its members are.
    ReadAccount,
    /// Read servers and their catalogs (tools, risks, pins).
    ReadServers,
    /// Read policies, their versions and recommendations.
    ReadPolicies,
    /// Read grants (never their tokens).
    ReadGrants,
    /// Read approvals.
    ReadApprovals,
    /// Read the gateway's audit trail.
    ReadAudit,
    /// See argument values in approvals (what a person decides on).
    ReadApprovalArguments,
    /// See argument values in audit events and exports.
    ReadAuditArguments,
    /// Read the account's own trail of changes.
    ReadAccountEvents,
    DecideApprovals,
    /// Register, change and delete servers (not their credentials).
    ManageServers,
    /// Set upstream credentials (request headers).
    ManageCredentials,
    /// Refresh catalogs and pin tool definitions.
    ManageCatalog,
    ManagePolicies,
    /// Create and revoke grants (their tokens are agent credentials).
    ManageGrants,
    /// Rename the account; set the webhook and its signing secret.
    ManageAccount,
    /// Invite, change and remove members; hand the account over.
    ManageMembers,
    ManageApiKeys,
}

use Permission::*;

const POLICY_MANAGER: &[Permission] = &[
    ReadAccount,
    ReadServers,
    ReadPolicies,
    ReadGrants,
    ReadApprovals,
    ReadAudit,
    ReadApprovalArguments,
    DecideApprovals,
    ManageServers,
    ManageCatalog,
    ManagePolicies,
];
const APPROVER: &[Permission] = &[
    ReadAccount,
    ReadServers,
    ReadApprovals,
    ReadApprovalArguments,
    DecideApprovals,
];
const VIEWER: &[Permission] = &[
    ReadAccount,
    ReadServers,
    ReadPolicies,
    ReadGrants,
    ReadApprovals,
    ReadAudit,
];
const AUDITOR: &[Permission] = &[
    ReadAccount,
    ReadServers,
    ReadPolicies,
    ReadGrants,
    ReadApprovals,
    ReadAudit,
    ReadApprovalArguments,
    ReadAuditArguments,
    ReadAccountEvents,
];

/// Whether `role` holds `permission`.
pub fn allows(role: Role, permission: Permission) -> bool {
    match role {
        Role::Admin => true,
        Role::PolicyManager => POLICY_MANAGER.contains(&permission),
        Role::Approver => APPROVER.contains(&permission),
        Role::Viewer => VIEWER.contains(&permission),
        Role::Auditor => AUDITOR.contains(&permission),
    }
}

/// Every permission, for checks that one role covers another.
const ALL: [Permission; 18] = [
    ReadAccount,
    ReadServers,
    ReadPolicies,
    ReadGrants,
    ReadApprovals,
    ReadAudit,
    ReadApprovalArguments,
    ReadAuditArguments,
    ReadAccountEvents,
    DecideApprovals,
    ManageServers,
    ManageCredentials,
    ManageCatalog,
    ManagePolicies,
    ManageGrants,
    ManageAccount,
    ManageMembers,
    ManageApiKeys,
];

/// Whether everything `other` may do, `role` may do too: a key is never
/// stronger than its creator.
pub fn covers(role: Role, other: Role) -> bool {
    ALL.iter().all(|&p| !allows(other, p) || allows(role, p))
}

/// What a route needs from its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: sign-up, sign-in, accepting an invitation, health.
    Public,
    /// A signed-in person (a session, not an API key), acting on themselves.
    Session,
    /// A member or key whose role holds the permission.
    Role(Permission),
}

/// How a route's successful calls are recorded in the account's trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trail {
    /// Reads, and writes outside any account's data (a reset request).
    None,
    /// One event per successful call: the resource and action it names.
    Record(&'static str, &'static str),
}

/// One route of the API.
#[derive(Debug, Clone, Copy)]
pub struct RouteRule {
    pub method: &'static str,
    pub path: &'static str,
    pub access: Access,
    pub trail: Trail,
}

const fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    trail: Trail,
) -> RouteRule {
    RouteRule {
        method,
        path,
        access,
        trail,
    }
}

const fn read(method: &'static str, path: &'static str, permission: Permission) -> RouteRule {
    route(method, path, Access::Role(permission), Trail::None)
}

const fn change(
    method: &'static str,
    path: &'static str,
    permission: Permission,
    resource: &'static str,
    action: &'static str,
) -> RouteRule {
    route(
        method,
        path,
        Access::Role(permission),
        Trail::Record(resource, action),
    )
}

/// Every route of the API: who may call it, and how it is recorded.
pub const ROUTES: &[RouteRule] = &[
    route("GET", "/healthz", Access::Public, Trail::None),
    route("GET", "/readyz", Access::Public, Trail::None),
    route("GET", "/v1/openapi.json", Access::Public, Trail::None),
    // Sign-up and sign-in: the handler names the account and person.
    route(
        "POST",
        "/v1/signup",
        Access::Public,
        Trail::Record("account", "create"),
    ),
    route(
        "POST",
        "/v1/signup/verify",
        Access::Public,
        Trail::Record("account", "create"),
    ),
    route("GET", "/v1/signup/verify", Access::Public, Trail::None),
    route(
        "POST",
        "/v1/login",
        Access::Public,
        Trail::Record("session", "sign_in"),
    ),
    route(
        "POST",
        "/v1/session",
        Access::Public,
        Trail::Record("session", "sign_in"),
    ),
    route(
        "POST",
        "/v1/invitations/accept",
        Access::Public,
        Trail::Record("member", "join"),
    ),
    route("POST", "/v1/password-reset", Access::Public, Trail::None),
    route(
        "POST",
        "/v1/password-reset/confirm",
        Access::Public,
        Trail::Record("user", "reset_password"),
    ),
    // The signed-in person.
    route("GET", "/v1/me", Access::Session, Trail::None),
    route(
        "POST",
        "/v1/me/switch",
        Access::Session,
        Trail::Record("session", "switch_account"),
    ),
    route(
        "POST",
        "/v1/me/password",
        Access::Session,
        Trail::Record("user", "change_password"),
    ),
    route(
        "POST",
        "/v1/logout",
        Access::Session,
        Trail::Record("session", "sign_out"),
    ),
    route(
        "POST",
        "/v1/session/switch",
        Access::Session,
        Trail::Record("session", "switch_account"),
    ),
    route(
        "DELETE",
        "/v1/session",
        Access::Session,
        Trail::Record("session", "sign_out"),
    ),
    route(
        "POST",
        "/v1/logout/everywhere",
        Access::Session,
        Trail::Record("session", "sign_out_everywhere"),
    ),
    // The account and its team.
    read("GET", "/v1/account", ReadAccount),
    change("PATCH", "/v1/account", ManageAccount, "account", "update"),
    change(
        "POST",
        "/v1/account/handover",
        ManageMembers,
        "account",
        "hand_over",
    ),
    read("GET", "/v1/account/events", ReadAccountEvents),
    read("GET", "/v1/account/events/export", ReadAccountEvents),
    read("GET", "/v1/members", ReadAccount),
    change(
        "PATCH",
        "/v1/members/{id}",
        ManageMembers,
        "member",
        "change_role",
    ),
    change(
        "DELETE",
        "/v1/members/{id}",
        ManageMembers,
        "member",
        "remove",
    ),
    change(
        "POST",
        "/v1/members/{id}/password-reset",
        ManageMembers,
        "user",
        "issue_password_reset",
    ),
    change(
        "POST",
        "/v1/invitations",
        ManageMembers,
        "invitation",
        "create",
    ),
    read("GET", "/v1/invitations", ManageMembers),
    change(
        "DELETE",
        "/v1/invitations/{id}",
        ManageMembers,
        "invitation",
        "revoke",
    ),
    change("POST", "/v1/api-keys", ManageApiKeys, "api_key", "create"),
    read("GET", "/v1/api-keys", ManageApiKeys),
    change(
        "DELETE",
        "/v1/api-keys/{id}",
        ManageApiKeys,
        "api_key",
        "delete",
    ),
    // Servers, their catalogs and policies.
    change("POST", "/v1/servers", ManageServers, "server", "create"),
    read("GET", "/v1/servers", ReadServers),
    read("GET", "/v1/servers/{id}", ReadServers),
    change(
        "PATCH",
        "/v1/servers/{id}",
        ManageServers,
        "server",
        "update",
    ),
    change(
        "DELETE",
        "/v1/servers/{id}",
        ManageServers,
        "server",
        "delete",
    ),
    read("GET", "/v1/servers/{id}/tools", ReadServers),
    read("GET", "/v1/servers/{id}/tools/{name}/pinned", ReadServers),
    change(
        "POST",
        "/v1/servers/{id}/tools/refresh",
        ManageCatalog,
        "catalog",
        "refresh",
    ),
    change(
        "POST",
        "/v1/servers/{id}/tools/{name}/pin",
        ManageCatalog,
        "tool",
        "pin",
    ),
    read("GET", "/v1/tools", ReadServers),
    change(
        "PUT",
        "/v1/servers/{id}/policy",
        ManagePolicies,
        "policy",
        "update",
    ),
    read("GET", "/v1/servers/{id}/policy", ReadPolicies),
    read("GET", "/v1/servers/{id}/policy/versions", ReadPolicies),
    read("GET", "/v1/servers/{id}/policy/recommended", ReadPolicies),
    // Rolling a policy out: simulate and the shadow's report read the audit.
    read("POST", "/v1/servers/{id}/policy/simulate", ReadAudit),
    read("GET", "/v1/servers/{id}/policy/shadow", ReadAudit),
    change(
        "PUT",
        "/v1/servers/{id}/policy/shadow",
        ManagePolicies,
        "policy",
        "set_shadow",
    ),
    change(
        "DELETE",
        "/v1/servers/{id}/policy/shadow",
        ManagePolicies,
        "policy",
        "remove_shadow",
    ),
    change(
        "POST",
        "/v1/servers/{id}/policy/shadow/promote",
        ManagePolicies,
        "policy",
        "promote_shadow",
    ),
    // Explaining a decision reads the policy and the counters; it changes nothing.
    read("POST", "/v1/servers/{id}/policy/explain", ReadPolicies),
    // Agents' credentials.
    change("POST", "/v1/grants", ManageGrants, "grant", "create"),
    read("GET", "/v1/grants", ReadGrants),
    read("GET", "/v1/grants/{id}", ReadGrants),
    change("DELETE", "/v1/grants/{id}", ManageGrants, "grant", "revoke"),
    // Approvals and the gateway's audit trail.
    read("GET", "/v1/approvals", ReadApprovals),
    read("GET", "/v1/approvals/{id}", ReadApprovals),
    change(
        "POST",
        "/v1/approvals/{id}/approve",
        DecideApprovals,
        "approval",
        "approve",
    ),
    change(
        "POST",
        "/v1/approvals/{id}/deny",
        DecideApprovals,
        "approval",
        "deny",
    ),
    read("GET", "/v1/audit", ReadAudit),
    read("GET", "/v1/audit/export", ReadAudit),
    read("GET", "/v1/usage", ReadAudit),
    read("GET", "/v1/usage/grants", ReadAudit),
];

/// The rule of a route, by method and matched path template.
pub fn rule(method: &Method, path: &str) -> Option<&'static RouteRule> {
    // The router answers HEAD with the GET handler: the same rule guards it.
    let method = if method == Method::HEAD {
        Method::GET.as_str()
    } else {
        method.as_str()
    };
    ROUTES.iter().find(|r| r.path == path && r.method == method)
}

/// Whether any method of the path is a route (another method is then a 405,
/// not an undeclared route).
pub fn is_route_path(path: &str) -> bool {
    ROUTES.iter().any(|r| r.path == path)
}

/// The role matrix as a Markdown table, for the README (a test keeps the
/// README's copy current).
pub fn matrix_markdown() -> String {
    let mut out = String::from(
        "| Permission | admin | policy_manager | approver | viewer | auditor | Routes |\n",
    );
    out.push_str("|---|:-:|:-:|:-:|:-:|:-:|---|\n");
    for permission in ALL {
        out.push_str(&format!("| {permission:?} |"));
        for role in Role::ALL {
            out.push_str(if allows(role, permission) {
                " ✓ |"
            } else {
                " |"
            });
        }
        let routes: Vec<String> = ROUTES
            .iter()
            .filter(|r| r.access == Access::Role(permission))
            .map(|r| format!("`{} {}`", r.method, r.path))
            .collect();
        out.push_str(&format!(" {} |\n", routes.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_covers_every_role_and_no_other_role_covers_admin() {
        for role in Role::ALL {
            assert!(covers(Role::Admin, role));
            assert!(covers(role, role));
            if role != Role::Admin {
                assert!(!covers(role, Role::Admin), "{role:?}");
            }
        }
        assert!(covers(Role::Auditor, Role::Viewer));
        assert!(!covers(Role::Viewer, Role::Auditor));
        assert!(!covers(Role::Approver, Role::Viewer));
        assert!(covers(Role::PolicyManager, Role::Approver));
    }

    #[test]
    fn no_route_is_declared_twice() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.path == b.path),
                    "{} {} declared twice",
                    a.method,
                    a.path
                );
            }
        }
    }

    /// Writes that change no account's data: asking for a reset mail, and
    /// questions asked with a body.
    const NOT_CHANGES: &[&str] = &[
        "/v1/password-reset",
        "/v1/servers/{id}/policy/simulate",
        "/v1/servers/{id}/policy/explain",
    ];

    #[test]
    fn only_writes_are_recorded_and_every_write_of_account_data_is() {
        for r in ROUTES {
            if r.method == "GET" {
                assert_eq!(r.trail, Trail::None, "{} {}", r.method, r.path);
            } else if !NOT_CHANGES.contains(&r.path) {
                assert!(
                    matches!(r.trail, Trail::Record(..)),
                    "{} {} changes state but is not recorded",
                    r.method,
                    r.path
                );
            }
        }
    }

    #[test]
    fn nobody_but_admin_reads_secrets_or_manages_people() {
        for role in Role::ALL.into_iter().filter(|r| *r != Role::Admin) {
            for p in [
                ManageCredentials,
                ManageAccount,
                ManageMembers,
                ManageApiKeys,
                ManageGrants,
            ] {
                assert!(!allows(role, p), "{role:?} {p:?}");
            }
        }
        assert!(!allows(Role::Viewer, ReadApprovalArguments));
        assert!(!allows(Role::Viewer, ReadAuditArguments));
        assert!(allows(Role::Auditor, ReadAuditArguments));
    }
}
