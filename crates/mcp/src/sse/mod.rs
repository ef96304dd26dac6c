//! Server-Sent Events for streaming relay: an incremental parser that keeps
//! each event's original bytes, and an encoder for events the gateway
//! rewrites (a `tools/list` result) or writes itself.

mod event;
mod parser;

#[cfg(test)]
mod tests;

pub use event::SseEvent;
pub use parser::{Events, SseParser, DEFAULT_MAX_EVENT_SIZE};

/// What can go wrong reading or building SSE.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    /// One event grew past the parser's cap; the stream should be cut.
    #[error("SSE event larger than {limit} bytes")]
    EventTooLarge {
        /// The cap, in bytes.
        limit: usize,
    },
    /// An `id`, `event` or comment held CR, LF or NUL, which would break the
    /// framing.
    #[error("SSE field values must not contain CR, LF or NUL")]
    InvalidFieldValue,
}
