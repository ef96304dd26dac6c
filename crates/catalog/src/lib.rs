//! The tool catalog's pure logic: what a tool an upstream advertises is
//! (its canonical definition and content hash), how risky it is, and which
//! policy we recommend for it. No I/O: discovery and storage live elsewhere.

#![forbid(unsafe_code)]

pub mod definition;

pub use definition::{Change, ContentHash, DefinitionError, ToolDefinition};
