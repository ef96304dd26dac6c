//! Discovery: Toolgate as an MCP client of a registered upstream, asking it
//! what it offers — its tools (`tools/list`, every page), and its resources
//! and prompts when it advertises them — in either protocol era
//! (2026-07-28 `server/discover`, else the legacy `initialize` handshake).
//!
//! Every attempt is bounded: one deadline for the whole conversation, a
//! budget of bytes read across every answer, and a cap on the number of
//! tools (and pages). Every connection passes the address guard. An attempt
//! ends in a [`Discovered`] or a [`Failure`] whose [`Status`] a person can
//! act on; it never panics on what an upstream sends.
//!
//! - [`limits`]: the bounds and the byte budget.
//! - [`wire`]: JSON-RPC requests, and answers read as JSON or SSE.
//! - [`session`]: one conversation with an upstream, in its era.
//! - [`discover`](mod@discover): the [`Discoverer`] that runs an attempt.

#![forbid(unsafe_code)]

pub mod discover;
pub mod failure;
pub mod limits;
pub mod session;
pub mod wire;

pub use discover::{Discovered, Discoverer, Listed};
pub use failure::{Failure, Status};
pub use limits::Limits;
pub use toolgate_mcp::headers::Era;
