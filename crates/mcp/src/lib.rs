//! The JSON-RPC / MCP wire layer of the gateway. Pure: no I/O, no runtime.
//!
//! - [`peek`](mod@peek): read a body once, without re-serialising it.
//! - [`headers`]: MCP header names, protocol era, header/body agreement.
//! - [`methods`]: the methods each revision lets a client send.
//! - [`sse`]: incremental Server-Sent Events parsing and framing.
//! - [`response`]: JSON-RPC errors and the policy refusal result.
//! - [`tools_list`]: remove tools from a `tools/list` result.
//! - [`error_codes`]: the JSON-RPC and MCP error codes.
#![forbid(unsafe_code)]

pub mod error_codes;
pub mod headers;
pub mod methods;
pub mod peek;
pub mod response;
pub mod sse;
pub mod tools_list;

mod id;
mod json_text;

pub use id::Id;
pub use peek::{peek, Ambiguity, Body, Message, MessageKind, PeekError};
