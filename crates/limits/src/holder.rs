//! Whose calls a counter counts together: the caller's part of a counter's
//! identity. The gateway counts with these keys and the control plane reads
//! usage with them, so both must build them here, in one place.

use std::fmt::Display;

use sha2::{Digest, Sha256};

/// The holder of one counter of a policy limit, by the limit's scope.
#[derive(Clone, Copy)]
pub enum Holder<'a> {
    /// `scope: account`: one counter for the whole account, across servers.
    Account,
    /// `scope: server`: one counter per registered server.
    Server { server: &'a dyn Display },
    /// `scope: grant` (and `session` for a call that has no session).
    Grant {
        server: &'a dyn Display,
        grant: &'a dyn Display,
    },
    /// `scope: session`: one counter per legacy MCP session.
    Session {
        server: &'a dyn Display,
        session: &'a str,
    },
}

/// The [`crate::LimitRequest::key`] of the counter `counter` held by `holder`,
/// e.g. `spend:account` or `calls:server:srv_1:grant:grt_2`. A session id
/// is replaced by a short digest: it is the caller's, and may be long.
pub fn holder_key(counter: &str, holder: Holder<'_>) -> String {
    match holder {
        Holder::Account => format!("{counter}:account"),
        Holder::Server { server } => format!("{counter}:server:{server}"),
        Holder::Grant { server, grant } => format!("{counter}:server:{server}:grant:{grant}"),
        Holder::Session { server, session } => {
            let digest = Sha256::digest(session.as_bytes());
            let short = hex::encode(&digest[..12]);
            format!("{counter}:server:{server}:session:{short}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_name_the_counter_and_its_holder() {
        assert_eq!(holder_key("spend", Holder::Account), "spend:account");
        assert_eq!(
            holder_key("c", Holder::Server { server: &"srv_1" }),
            "c:server:srv_1"
        );
        assert_eq!(
            holder_key(
                "c",
                Holder::Grant {
                    server: &"srv_1",
                    grant: &"grt_2"
                }
            ),
            "c:server:srv_1:grant:grt_2"
        );
        let session = holder_key(
            "c",
            Holder::Session {
                server: &"srv_1",
                session: "a-long-session-id",
            },
        );
        // The first 12 bytes of SHA-256("a-long-session-id"), in hex: keys
        // counted before this function existed keep their names.
        assert_eq!(session, "c:server:srv_1:session:1d284e58cefbfe0d3cbea8fe");
    }
}
