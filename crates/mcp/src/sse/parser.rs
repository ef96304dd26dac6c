//! Incremental SSE parsing for streaming relay.
//!
//! Bytes go in as they arrive; complete events come out. Only the current,
//! incomplete event is kept (plus whatever the last chunk held beyond it until
//! it is drained), and an event larger than the limit is an error.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use super::event::SseEvent;
use super::SseError;

/// Default cap on one event's size.
pub const DEFAULT_MAX_EVENT_SIZE: usize = 8 * 1024 * 1024;

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// An incremental SSE parser (WHATWG `text/event-stream` rules, relay flavour).
///
/// Unlike a browser it also yields events without `data` (keep-alive
/// comments, `retry:`-only and priming events), because a relay must pass
/// them on. Lines end in `\n`, `\r\n` or `\r`; a `\r\n` split across chunks
/// counts once. The [`SseEvent::raw`] bytes of every event, followed by the
/// remainder, reproduce the input, except for blank lines that end no event,
/// which are dropped, and a leading BOM, which is not relayed. An event
/// ending in `\r` is dispatched at once; if its `\n` arrives in the next
/// chunk, it starts the next event's raw bytes. Relayed anywhere in a
/// stream, the raw bytes of every event read as the same event: one that
/// starts with BOM bytes (mid-stream, a field name) gets a blank line in
/// front.
#[derive(Debug)]
pub struct SseParser {
    buf: BytesMut,
    /// Next byte to scan for a line end.
    scan: usize,
    /// Start of the line being read.
    line_start: usize,
    /// Where the current event's own bytes begin: past a `\n` that completed
    /// the previous event's `\r\n` but arrived in a later chunk. Sizes are
    /// counted from here so that chunking never changes them.
    event_start: usize,
    /// The previous line ended with `\r` at the end of the input: a `\n` that
    /// comes next belongs to that line end.
    skip_lf: bool,
    at_stream_start: bool,
    max_event_size: usize,
    pending: PendingEvent,
    failed: Option<SseError>,
}

/// Fields of the event being read, as ranges into `buf`.
#[derive(Debug, Default)]
struct PendingEvent {
    has_lines: bool,
    id: Option<Range<usize>>,
    event: Option<Range<usize>>,
    data: Vec<Range<usize>>,
    retry: Option<u64>,
    comments: Vec<Range<usize>>,
}

impl Default for SseParser {
    fn default() -> Self {
        SseParser::new()
    }
}

impl SseParser {
    /// A parser with the default 8 MiB event cap.
    pub fn new() -> SseParser {
        SseParser::with_max_event_size(DEFAULT_MAX_EVENT_SIZE)
    }

    /// A parser that refuses events larger than `max_event_size` bytes.
    pub fn with_max_event_size(max_event_size: usize) -> SseParser {
        SseParser {
            buf: BytesMut::new(),
            scan: 0,
            line_start: 0,
            event_start: 0,
            skip_lf: false,
            at_stream_start: true,
            max_event_size,
            pending: PendingEvent::default(),
            failed: None,
        }
    }

    /// Appends a chunk; then drain events with [`SseParser::next_event`].
    pub fn push(&mut self, chunk: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(chunk);
        }
    }

    /// Appends a chunk and iterates over the events it completes.
    pub fn feed<'p>(&'p mut self, chunk: &[u8]) -> Events<'p> {
        self.push(chunk);
        Events {
            parser: self,
            done: false,
        }
    }

    /// The next complete event, if the buffered bytes hold one. After an
    /// error every call returns it again: the stream should be abandoned.
    pub fn next_event(&mut self) -> Result<Option<SseEvent>, SseError> {
        if let Some(err) = &self.failed {
            return Err(err.clone());
        }
        if self.at_stream_start && !self.skip_bom() {
            return Ok(None);
        }
        loop {
            if self.skip_lf {
                let Some(&next) = self.buf.get(self.scan) else {
                    return self
                        .check_size(self.buf.len() - self.event_start)
                        .map(|()| None);
                };
                if next == b'\n' {
                    self.scan += 1;
                    self.line_start = self.scan;
                    if !self.pending.has_lines {
                        self.event_start = self.scan;
                    }
                }
                self.skip_lf = false;
            }
            let Some(offset) = self.buf[self.scan..]
                .iter()
                .position(|&b| b == b'\n' || b == b'\r')
            else {
                self.scan = self.buf.len();
                return self
                    .check_size(self.buf.len() - self.event_start)
                    .map(|()| None);
            };
            let line_end = self.scan + offset;
            let mut next = line_end + 1;
            if self.buf[line_end] == b'\r' {
                match self.buf.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            let line = self.line_start..line_end;
            self.scan = next;
            self.line_start = next;
            if !line.is_empty() {
                self.read_line(line);
            } else if self.pending.has_lines {
                // Up to the first byte of the blank line's end: whether its
                // `\n` came in the same chunk must not matter.
                self.check_size(line_end + 1 - self.event_start)?;
                return Ok(Some(self.dispatch(next)));
            } else {
                // A blank line that ends no event carries nothing: drop it.
                self.buf.advance(next);
                self.scan = 0;
                self.line_start = 0;
                self.event_start = 0;
            }
        }
    }

    /// Bytes buffered for the incomplete event (and not yet drained chunks).
    pub fn buffered_len(&self) -> usize {
        self.buf.len()
    }

    /// Ends the stream, returning the bytes of an incomplete last event, which
    /// SSE says to discard (a relay may still forward them).
    pub fn into_remainder(self) -> Bytes {
        self.buf.freeze()
    }

    /// Skips a UTF-8 BOM at the start of the stream; `false` while too few
    /// bytes have arrived to tell.
    fn skip_bom(&mut self) -> bool {
        let len = self.buf.len().min(BOM.len());
        if self.buf[..len] != BOM[..len] {
            self.at_stream_start = false;
            return true;
        }
        if len < BOM.len() {
            return false;
        }
        // Not part of the first event: relayed after events the gateway
        // writes itself, it would turn that event's first field name into
        // another one.
        self.buf.advance(BOM.len());
        self.at_stream_start = false;
        true
    }

    fn check_size(&mut self, event_len: usize) -> Result<(), SseError> {
        if event_len > self.max_event_size {
            let err = SseError::EventTooLarge {
                limit: self.max_event_size,
            };
            self.failed = Some(err.clone());
            self.buf = BytesMut::new();
            return Err(err);
        }
        Ok(())
    }

    fn read_line(&mut self, line: Range<usize>) {
        let pending = &mut self.pending;
        pending.has_lines = true;
        let bytes = &self.buf[line.clone()];
        if bytes[0] == b':' {
            pending.comments.push(line.start + 1..line.end);
            return;
        }
        let (name, mut value) = match bytes.iter().position(|&b| b == b':') {
            Some(colon) => (&bytes[..colon], line.start + colon + 1..line.end),
            None => (bytes, line.end..line.end),
        };
        if self.buf.get(value.start) == Some(&b' ') && !value.is_empty() {
            value.start += 1;
        }
        match name {
            b"data" => pending.data.push(value),
            b"event" => pending.event = Some(value),
            // An id containing NUL is ignored, as a browser would.
            b"id" if !self.buf[value.clone()].contains(&0) => pending.id = Some(value),
            b"retry" => {
                let digits = &self.buf[value];
                if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
                    if let Some(retry) = std::str::from_utf8(digits)
                        .ok()
                        .and_then(|d| d.parse().ok())
                    {
                        pending.retry = Some(retry);
                    }
                }
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, end: usize) -> SseEvent {
        let raw = self.buf.split_to(end).freeze();
        self.scan = 0;
        self.line_start = 0;
        self.event_start = 0;
        let pending = std::mem::take(&mut self.pending);
        let text = |range: Range<usize>| String::from_utf8_lossy(&raw[range]).into_owned();
        let data = match pending.data.as_slice() {
            [] => None,
            [only] => Some(raw.slice(only.clone())),
            lines => {
                let len = lines.iter().map(|l| l.len() + 1).sum::<usize>();
                let mut joined = BytesMut::with_capacity(len);
                for (i, line) in lines.iter().enumerate() {
                    if i > 0 {
                        joined.extend_from_slice(b"\n");
                    }
                    joined.extend_from_slice(&raw[line.clone()]);
                }
                Some(joined.freeze())
            }
        };
        let id = pending.id.map(text);
        let event = pending.event.map(text);
        let comments = pending.comments.into_iter().map(text).collect();
        SseEvent::parsed(relayable(raw), id, event, data, pending.retry, comments)
    }
}

/// An event's raw bytes made safe to relay at the start of a stream.
///
/// BOM bytes at the start of an event begin a field name (the stream's own
/// BOM was consumed). Relayed first, after the blank lines before them were
/// dropped, a reader would strip them as the stream's BOM and read another
/// field (`\u{FEFF}data` would become `data`); a blank line in front keeps
/// them where they were.
fn relayable(raw: Bytes) -> Bytes {
    if !raw.starts_with(BOM) {
        return raw;
    }
    let mut guarded = BytesMut::with_capacity(raw.len() + 1);
    guarded.extend_from_slice(b"\n");
    guarded.extend_from_slice(&raw);
    guarded.freeze()
}

/// The events completed by one chunk; see [`SseParser::feed`].
#[derive(Debug)]
pub struct Events<'p> {
    parser: &'p mut SseParser,
    done: bool,
}

impl Iterator for Events<'_> {
    type Item = Result<SseEvent, SseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.parser.next_event() {
            Ok(Some(event)) => Some(Ok(event)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(err) => {
                self.done = true;
                Some(Err(err))
            }
        }
    }
}
