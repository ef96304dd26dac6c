//! Typed, prefixed identifiers.
//!
//! Each resource id is a UUIDv7 in the database and `{prefix}_{32 hex}` on the
//! wire, so an id says what it names and one kind can never be passed for
//! another. Parsing is strict: a malformed id is simply "not found" upstream.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// An id string that does not name a resource of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind} id")]
pub struct InvalidId {
    pub kind: &'static str,
}

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, sqlx::Type)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A new, time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl $name {
            /// The wire form, written into a stack buffer: ids are printed on
            /// every audited call, so not through the formatting machinery.
            fn with_str<R>(&self, then: impl FnOnce(&str) -> R) -> R {
                const START: usize = $prefix.len() + 1;
                let mut buf = [0u8; START + 32];
                buf[..START - 1].copy_from_slice($prefix.as_bytes());
                buf[START - 1] = b'_';
                self.0.simple().encode_lower(&mut buf[START..]);
                // Ascii by construction: the prefix and lowercase hex.
                then(std::str::from_utf8(&buf).unwrap_or_default())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.with_str(|s| f.write_str(s))
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(self, f)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                let hex = s
                    .strip_prefix($prefix)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .filter(|hex| hex.len() == 32 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or(InvalidId { kind: $kind })?;
                Uuid::try_parse(hex).map(Self).map_err(|_| InvalidId { kind: $kind })
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                self.with_str(|s| serializer.serialize_str(s))
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some(concat!("^", $prefix, "_[0-9a-f]{32}$")))
                    .examples([serde_json::json!(concat!($prefix, "_01936f0e5b6a7c3d8e9f0a1b2c3d4e5f"))])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

typed_id!(
    /// An account: the tenant every other resource belongs to.
    AccountId, "acc", "account"
);
typed_id!(
    /// A person who signs in to an account.
    UserId, "usr", "user"
);
typed_id!(
    /// A management API key for scripts and CI.
    ApiKeyId, "key", "API key"
);
typed_id!(
    /// A registered upstream MCP server.
    ServerId, "srv", "server"
);
typed_id!(
    /// An agent credential.
    GrantId, "grt", "grant"
);
typed_id!(
    /// One audited `tools/call` decision; minted by the gateway, it is the
    /// event's idempotency key on its way into the database.
    EventId, "evt", "audit event"
);
typed_id!(
    /// A person's decision on one held `tools/call`.
    ApprovalId, "apv", "approval"
);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn display_and_parse_round_trip() {
        let id = ServerId::new();
        let text = id.to_string();
        assert!(text.starts_with("srv_"));
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<ServerId>(), Ok(id));
    }

    #[test]
    fn another_kind_of_id_is_rejected() {
        let grant = GrantId::new().to_string();
        assert_eq!(grant.parse::<ServerId>(), Err(InvalidId { kind: "server" }));
    }

    #[test]
    fn malformed_ids_are_rejected() {
        for bad in [
            "",
            "srv_",
            "srv",
            "srv_xyz",
            "srv-0123456789abcdef0123456789abcdef",
            "srv_0123456789abcdef0123456789abcdeg",
            "srv_0123456789abcdef0123456789abcdef0",
        ] {
            assert!(bad.parse::<ServerId>().is_err(), "{bad} parsed");
        }
    }

    #[test]
    fn serde_uses_the_prefixed_form() {
        let id = AccountId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AccountId>("\"acc_nope\"").is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(s in ".*") {
            let _ = s.parse::<GrantId>();
        }
    }
}
typed_id!(
    /// A signed-in session: what a session token names, for one account.
    SessionId, "ses", "session"
);
typed_id!(
    /// An invitation to join an account.
    InvitationId, "inv", "invitation"
);
typed_id!(
    /// One entry of an account's own trail of changes.
    AccountEventId, "aev", "account event"
);
typed_id!(
    /// A tool in a server's catalog (one per server and tool name).
    ToolId, "tol", "tool"
);
