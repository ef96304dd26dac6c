//! One Server-Sent Event: what it says, and the bytes it came as.

use bytes::{BufMut, Bytes, BytesMut};

use super::SseError;

/// An SSE event. Parsed events keep their original bytes, so an event the
/// gateway does not change is relayed exactly as received; any setter drops
/// them and [`SseEvent::to_bytes`] re-encodes instead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    id: Option<String>,
    event: Option<String>,
    data: Option<Bytes>,
    retry: Option<u64>,
    comments: Vec<String>,
    raw: Option<Bytes>,
}

impl SseEvent {
    /// An event with only `data` (the usual carrier of a JSON-RPC message).
    pub fn message(data: impl Into<Bytes>) -> SseEvent {
        SseEvent {
            data: Some(data.into()),
            ..SseEvent::default()
        }
    }

    pub(crate) fn parsed(
        raw: Bytes,
        id: Option<String>,
        event: Option<String>,
        data: Option<Bytes>,
        retry: Option<u64>,
        comments: Vec<String>,
    ) -> SseEvent {
        SseEvent {
            id,
            event,
            data,
            retry,
            comments,
            raw: Some(raw),
        }
    }

    /// The last `id:` field (`Some("")` resets the last event id).
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }
    /// The last `event:` field (the event type; absent means `message`).
    pub fn event(&self) -> Option<&str> {
        self.event.as_deref()
    }
    /// The `data:` lines joined with `\n`; `None` when there were none (e.g.
    /// a keep-alive comment, or a `retry:`-only event).
    pub fn data(&self) -> Option<&[u8]> {
        self.data.as_deref()
    }
    /// [`SseEvent::data`] as text, when it is UTF-8.
    pub fn data_str(&self) -> Option<&str> {
        std::str::from_utf8(self.data.as_deref()?).ok()
    }
    /// The last valid `retry:` field, in milliseconds.
    pub fn retry(&self) -> Option<u64> {
        self.retry
    }
    /// Comment lines (after the `:`), in order.
    pub fn comments(&self) -> &[String] {
        &self.comments
    }
    /// The bytes the event was parsed from, terminating blank line included;
    /// `None` once it has been changed or for events built here.
    pub fn raw(&self) -> Option<&Bytes> {
        self.raw.as_ref()
    }

    /// Replaces the data (e.g. with a rewritten JSON-RPC message).
    pub fn set_data(&mut self, data: impl Into<Bytes>) {
        self.data = Some(data.into());
        self.raw = None;
    }
    /// Sets or clears the id.
    pub fn set_id(&mut self, id: Option<&str>) -> Result<(), SseError> {
        self.id = checked(id)?;
        self.raw = None;
        Ok(())
    }
    /// Sets or clears the event type.
    pub fn set_event(&mut self, event: Option<&str>) -> Result<(), SseError> {
        self.event = checked(event)?;
        self.raw = None;
        Ok(())
    }
    /// Sets or clears the reconnection time.
    pub fn set_retry(&mut self, retry: Option<u64>) {
        self.retry = retry;
        self.raw = None;
    }
    /// Adds a comment line.
    pub fn push_comment(&mut self, comment: &str) -> Result<(), SseError> {
        if let Some(comment) = checked(Some(comment))? {
            self.comments.push(comment);
        }
        self.raw = None;
        Ok(())
    }

    /// The original bytes when unchanged, otherwise [`SseEvent::encode`].
    pub fn to_bytes(&self) -> Bytes {
        match &self.raw {
            Some(raw) => raw.clone(),
            None => self.encode(),
        }
    }

    /// Encodes the event from its fields: comments, `event`, `id`, `retry`,
    /// then one `data:` line per line of data, `\n` line ends and a blank line.
    pub fn encode(&self) -> Bytes {
        let data_len = self.data.as_ref().map_or(0, Bytes::len);
        let mut out = BytesMut::with_capacity(data_len + 64);
        for comment in &self.comments {
            out.put_u8(b':');
            out.put_slice(comment.as_bytes());
            out.put_u8(b'\n');
        }
        if let Some(event) = &self.event {
            put_field(&mut out, b"event", event.as_bytes());
        }
        if let Some(id) = &self.id {
            put_field(&mut out, b"id", id.as_bytes());
        }
        if let Some(retry) = self.retry {
            put_field(&mut out, b"retry", retry.to_string().as_bytes());
        }
        if let Some(data) = &self.data {
            for line in split_lines(data) {
                put_field(&mut out, b"data", line);
            }
        }
        out.put_u8(b'\n');
        out.freeze()
    }
}

fn checked(value: Option<&str>) -> Result<Option<String>, SseError> {
    match value {
        Some(v) if v.bytes().any(|b| matches!(b, b'\r' | b'\n' | 0)) => {
            Err(SseError::InvalidFieldValue)
        }
        other => Ok(other.map(str::to_owned)),
    }
}

fn put_field(out: &mut BytesMut, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_u8(b':');
    if !value.is_empty() {
        // Always a space: a value that itself starts with one keeps it.
        out.put_u8(b' ');
        out.put_slice(value);
    }
    out.put_u8(b'\n');
}

/// Splits on `\r\n`, `\r` or `\n`, as an SSE parser would read them back.
fn split_lines(data: &[u8]) -> Vec<&[u8]> {
    let mut lines = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < data.len() {
        match data[i] {
            b'\n' => {
                lines.push(&data[start..i]);
                start = i + 1;
            }
            b'\r' => {
                lines.push(&data[start..i]);
                if data.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    lines.push(&data[start..]);
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_writes_every_field() {
        let mut event = SseEvent::message(&b"{\"a\":1}"[..]);
        event.set_id(Some("s1-7")).unwrap();
        event.set_event(Some("message")).unwrap();
        event.set_retry(Some(3000));
        event.push_comment(" keep").unwrap();
        assert_eq!(
            &event.encode()[..],
            b": keep\nevent: message\nid: s1-7\nretry: 3000\ndata: {\"a\":1}\n\n"
        );
        assert_eq!(event.to_bytes(), event.encode());
        assert!(event.raw().is_none());
    }

    #[test]
    fn encode_splits_multiline_data_and_keeps_leading_spaces() {
        let event = SseEvent::message(&b"a\nb\r\nc\rd\n"[..]);
        assert_eq!(
            &event.encode()[..],
            b"data: a\ndata: b\ndata: c\ndata: d\ndata:\n\n"
        );
        let event = SseEvent::message(&b" x"[..]);
        assert_eq!(&event.encode()[..], b"data:  x\n\n");
        let mut empty_id = SseEvent::default();
        empty_id.set_id(Some("")).unwrap();
        assert_eq!(&empty_id.encode()[..], b"id:\n\n");
    }

    #[test]
    fn setters_refuse_line_breaks() {
        let mut event = SseEvent::default();
        assert_eq!(event.set_id(Some("a\nb")), Err(SseError::InvalidFieldValue));
        assert_eq!(
            event.set_event(Some("a\rb")),
            Err(SseError::InvalidFieldValue)
        );
        assert_eq!(event.push_comment("\0"), Err(SseError::InvalidFieldValue));
        event.set_id(None).unwrap();
        event.set_event(None).unwrap();
        assert_eq!(event.id(), None);
        assert_eq!(event.event(), None);
    }

    #[test]
    fn parsed_events_relay_their_raw_bytes_until_changed() {
        let raw = Bytes::from_static(b"data:x\r\n\r\n");
        let mut event = SseEvent::parsed(
            raw.clone(),
            None,
            None,
            Some(Bytes::from_static(b"x")),
            None,
            vec![],
        );
        assert_eq!(event.to_bytes(), raw);
        assert_eq!(event.data_str(), Some("x"));
        event.set_data(&b"y"[..]);
        assert_eq!(&event.to_bytes()[..], b"data: y\n\n");
    }

    #[test]
    fn data_str_is_none_for_invalid_utf8() {
        let event = SseEvent::message(&b"\xff"[..]);
        assert_eq!(event.data(), Some(&b"\xff"[..]));
        assert_eq!(event.data_str(), None);
        assert_eq!(SseEvent::default().data_str(), None);
    }
}
