//! The outbound address policy (an SSRF guard): unless the deployment opts
//! in (`TOOLGATE_ALLOW_PRIVATE_UPSTREAMS`), Toolgate calls only addresses
//! the IANA special-purpose registries call globally reachable, so a tenant
//! cannot aim it at its own network, the cloud's metadata service, or
//! anything else that is not on the public internet.
//!
//! - [`registry`]: the rules, as a table of blocks (prefix, name, RFC,
//!   whether globally reachable).
//! - [`embedded`]: IPv6 forms that carry an IPv4 address (mapped,
//!   compatible, translated, NAT64, 6to4, Teredo); the IPv4 address they
//!   carry is judged too.
//! - [`OutboundGuard`]: checks a URL when it is registered (advice, with an
//!   error a person can act on) and, what matters, every address when a
//!   connection is made: a name is resolved once, each answer checked, and
//!   only the admitted addresses handed to the connector, so DNS that
//!   changes between the check and the call changes nothing.

#![forbid(unsafe_code)]

pub mod embedded;
mod guard;
pub mod registry;
mod resolve;
mod verdict;

pub use guard::{find_refusal, parse_url, OutboundGuard};
pub use resolve::{Resolve, Resolving, SystemResolver};
pub use verdict::{check_ip, Refused};
