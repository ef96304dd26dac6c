//! The JSON-RPC methods each protocol revision defines, client to server.
//!
//! The gateway forwards only what the revision in use defines: anything else
//! is refused before it reaches the upstream, which may implement more than
//! the agent should reach (debug or admin methods, methods of a newer
//! revision it would run unjudged). An account can still name extension
//! methods in its policy; those are forwarded as sent.
//!
//! [`CLIENT_METHODS`] is read from the `ClientRequest` and
//! `ClientNotification` unions of `schema/<revision>/schema.ts` in
//! modelcontextprotocol/modelcontextprotocol (commit b0f60ba5, 2026-08-22).
//! [`SERVER_METHODS`] holds the server-to-client methods of the same files
//! (`ServerRequest` and `ServerNotification`), which no client may send as a
//! request or notification and no policy may claim as an extension.

use crate::headers::ProtocolVersion;
use crate::peek::MessageKind;

/// Whether a method is called as a request (answered) or a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Request,
    Notification,
}

impl Call {
    /// The way a message calls its method; `None` for responses.
    pub fn of(kind: MessageKind) -> Option<Call> {
        match kind {
            MessageKind::Request => Some(Call::Request),
            MessageKind::Notification => Some(Call::Notification),
            MessageKind::Response | MessageKind::ErrorResponse => None,
        }
    }
}

use ProtocolVersion::{V2024_11_05, V2025_03_26, V2025_06_18, V2025_11_25, V2026_07_28};

/// 2024-11-05 through 2025-11-25: the revisions with `initialize`.
const LEGACY: &[ProtocolVersion] = &[V2024_11_05, V2025_03_26, V2025_06_18, V2025_11_25];
/// Every revision.
const ALL: &[ProtocolVersion] = &[
    V2024_11_05,
    V2025_03_26,
    V2025_06_18,
    V2025_11_25,
    V2026_07_28,
];
/// Tasks exist in 2025-11-25 only (2026-07-28 dropped them from the client).
const TASKS: &[ProtocolVersion] = &[V2025_11_25];
/// The stateless revision.
const MODERN: &[ProtocolVersion] = &[V2026_07_28];

/// Every method a client may send, how, and in which revisions.
///
/// 2026-07-28 removed the handshake (`initialize`,
/// `notifications/initialized`), `ping`, `logging/setLevel`,
/// `resources/subscribe`/`unsubscribe` (replaced by `subscriptions/listen`)
/// and the client's `notifications/progress` and
/// `notifications/roots/list_changed`; its only client notification is
/// `notifications/cancelled`.
pub const CLIENT_METHODS: &[(&str, Call, &[ProtocolVersion])] = &[
    ("initialize", Call::Request, LEGACY),
    ("ping", Call::Request, LEGACY),
    ("server/discover", Call::Request, MODERN),
    ("tools/list", Call::Request, ALL),
    ("tools/call", Call::Request, ALL),
    ("resources/list", Call::Request, ALL),
    ("resources/templates/list", Call::Request, ALL),
    ("resources/read", Call::Request, ALL),
    ("resources/subscribe", Call::Request, LEGACY),
    ("resources/unsubscribe", Call::Request, LEGACY),
    ("subscriptions/listen", Call::Request, MODERN),
    ("prompts/list", Call::Request, ALL),
    ("prompts/get", Call::Request, ALL),
    ("completion/complete", Call::Request, ALL),
    ("logging/setLevel", Call::Request, LEGACY),
    ("tasks/get", Call::Request, TASKS),
    ("tasks/result", Call::Request, TASKS),
    ("tasks/list", Call::Request, TASKS),
    ("tasks/cancel", Call::Request, TASKS),
    ("notifications/initialized", Call::Notification, LEGACY),
    ("notifications/cancelled", Call::Notification, ALL),
    ("notifications/progress", Call::Notification, LEGACY),
    (
        "notifications/roots/list_changed",
        Call::Notification,
        LEGACY,
    ),
    ("notifications/tasks/status", Call::Notification, TASKS),
];

/// Methods only a server sends, in any revision: `ServerRequest` and
/// `ServerNotification` of the schemas above (tasks methods, which both
/// sides call in 2025-11-25, are in [`CLIENT_METHODS`]).
pub const SERVER_METHODS: &[&str] = &[
    "sampling/createMessage",
    "roots/list",
    "elicitation/create",
    "notifications/message",
    "notifications/resources/list_changed",
    "notifications/resources/updated",
    "notifications/prompts/list_changed",
    "notifications/tools/list_changed",
    "notifications/elicitation/complete",
    "notifications/subscriptions/acknowledged",
];

/// Whether `version` defines `method` as a client `call`.
pub fn client_defines(version: ProtocolVersion, call: Call, method: &str) -> bool {
    CLIENT_METHODS
        .iter()
        .any(|&(name, how, versions)| name == method && how == call && versions.contains(&version))
}

/// Whether any revision defines `method`, in either direction and either
/// form: a name an account cannot claim as its own extension.
pub fn is_mcp_method(method: &str) -> bool {
    CLIENT_METHODS.iter().any(|&(name, _, _)| name == method) || SERVER_METHODS.contains(&method)
}

/// The client methods `version` defines, in table order.
pub fn client_methods(version: ProtocolVersion) -> impl Iterator<Item = (&'static str, Call)> {
    CLIENT_METHODS
        .iter()
        .filter(move |(_, _, versions)| versions.contains(&version))
        .map(|&(name, call, _)| (name, call))
}

/// The message of the `-32601` error for a method the revision in use does
/// not define.
pub fn method_not_found_message(method: &str) -> String {
    format!("Method not found: {method}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn set(version: ProtocolVersion, call: Call) -> BTreeSet<&'static str> {
        client_methods(version)
            .filter(|&(_, how)| how == call)
            .map(|(name, _)| name)
            .collect()
    }

    fn names(list: &[&'static str]) -> BTreeSet<&'static str> {
        list.iter().copied().collect()
    }

    /// `ClientRequest` of 2024-11-05, 2025-03-26 and 2025-06-18 (identical).
    const LEGACY_REQUESTS: &[&str] = &[
        "ping",
        "initialize",
        "completion/complete",
        "logging/setLevel",
        "prompts/get",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
        "resources/subscribe",
        "resources/unsubscribe",
        "tools/call",
        "tools/list",
    ];
    /// `ClientNotification` of 2024-11-05, 2025-03-26 and 2025-06-18.
    const LEGACY_NOTIFICATIONS: &[&str] = &[
        "notifications/cancelled",
        "notifications/progress",
        "notifications/initialized",
        "notifications/roots/list_changed",
    ];

    #[test]
    fn v2024_11_05() {
        assert_eq!(set(V2024_11_05, Call::Request), names(LEGACY_REQUESTS));
        assert_eq!(
            set(V2024_11_05, Call::Notification),
            names(LEGACY_NOTIFICATIONS)
        );
    }

    #[test]
    fn v2025_03_26() {
        assert_eq!(set(V2025_03_26, Call::Request), names(LEGACY_REQUESTS));
        assert_eq!(
            set(V2025_03_26, Call::Notification),
            names(LEGACY_NOTIFICATIONS)
        );
    }

    #[test]
    fn v2025_06_18() {
        assert_eq!(set(V2025_06_18, Call::Request), names(LEGACY_REQUESTS));
        assert_eq!(
            set(V2025_06_18, Call::Notification),
            names(LEGACY_NOTIFICATIONS)
        );
    }

    #[test]
    fn v2025_11_25_adds_tasks() {
        let mut requests = names(LEGACY_REQUESTS);
        requests.extend(["tasks/get", "tasks/result", "tasks/list", "tasks/cancel"]);
        assert_eq!(set(V2025_11_25, Call::Request), requests);
        let mut notifications = names(LEGACY_NOTIFICATIONS);
        notifications.insert("notifications/tasks/status");
        assert_eq!(set(V2025_11_25, Call::Notification), notifications);
    }

    #[test]
    fn v2026_07_28_is_stateless() {
        assert_eq!(
            set(V2026_07_28, Call::Request),
            names(&[
                "server/discover",
                "completion/complete",
                "prompts/get",
                "prompts/list",
                "resources/list",
                "resources/templates/list",
                "resources/read",
                "subscriptions/listen",
                "tools/call",
                "tools/list",
            ])
        );
        assert_eq!(
            set(V2026_07_28, Call::Notification),
            names(&["notifications/cancelled"])
        );
    }

    #[test]
    fn every_revision_has_an_entry_and_names_are_unique() {
        for version in ProtocolVersion::ALL {
            assert!(client_methods(version).next().is_some(), "{version}");
        }
        let mut seen = BTreeSet::new();
        for (name, _, versions) in CLIENT_METHODS {
            assert!(seen.insert(*name), "{name} twice");
            assert!(!versions.is_empty(), "{name}");
        }
        for name in SERVER_METHODS {
            assert!(seen.insert(*name), "{name} twice");
        }
    }

    #[test]
    fn the_form_matters() {
        assert!(client_defines(V2025_03_26, Call::Request, "tools/call"));
        assert!(!client_defines(
            V2025_03_26,
            Call::Notification,
            "tools/call"
        ));
        assert!(client_defines(
            V2025_03_26,
            Call::Notification,
            "notifications/initialized"
        ));
        assert!(!client_defines(
            V2025_03_26,
            Call::Request,
            "notifications/initialized"
        ));
    }

    #[test]
    fn newer_and_older_methods_are_not_defined() {
        assert!(!client_defines(V2025_06_18, Call::Request, "tasks/get"));
        assert!(!client_defines(
            V2025_11_25,
            Call::Request,
            "server/discover"
        ));
        assert!(!client_defines(V2026_07_28, Call::Request, "initialize"));
        assert!(!client_defines(V2026_07_28, Call::Request, "ping"));
        // Server-to-client methods are never a client's to send.
        for version in ProtocolVersion::ALL {
            for name in SERVER_METHODS {
                assert!(!client_defines(version, Call::Request, name));
                assert!(!client_defines(version, Call::Notification, name));
            }
        }
    }

    #[test]
    fn matching_is_exact() {
        for name in ["Tools/call", "tools/call ", "tools/", "tools/call/x", ""] {
            assert!(
                !client_defines(V2025_11_25, Call::Request, name),
                "{name:?}"
            );
            assert!(!is_mcp_method(name), "{name:?}");
        }
        assert!(is_mcp_method("sampling/createMessage"));
        assert!(is_mcp_method("tasks/list"));
        assert!(!is_mcp_method("x-vendor/do-thing"));
    }
}
