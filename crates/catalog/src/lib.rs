//! The tool catalog's pure logic: what a tool an upstream advertises is
//! (its canonical definition and content hash), how risky it is, and which
//! policy we recommend for it. No I/O: discovery and storage live elsewhere.

#![forbid(unsafe_code)]

pub mod accuracy;
pub mod classify;
pub mod definition;
pub mod recommend;

pub use classify::{classify, Category, Evidence, Flag, Reason, Risk, Trust, Verdict};
pub use definition::{Change, ContentHash, DefinitionError, ToolDefinition};
pub use recommend::{recommend, Recommendation, ToolAdvice};
