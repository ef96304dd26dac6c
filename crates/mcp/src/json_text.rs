//! Small, infallible helpers for writing JSON text and reading raw JSON values
//! without building a `serde_json::Value`.

use std::borrow::Cow;

use serde_json::value::RawValue;

/// The JSON type of a raw value, read from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JsonKind {
    Object,
    Array,
    String,
    Number,
    Bool,
    Null,
}

impl JsonKind {
    pub(crate) fn of(raw: &RawValue) -> JsonKind {
        match raw.get().trim_start().as_bytes().first() {
            Some(b'{') => JsonKind::Object,
            Some(b'[') => JsonKind::Array,
            Some(b'"') => JsonKind::String,
            Some(b't' | b'f') => JsonKind::Bool,
            Some(b'n') => JsonKind::Null,
            _ => JsonKind::Number,
        }
    }

    pub(crate) fn describe(self) -> &'static str {
        match self {
            JsonKind::Object => "an object",
            JsonKind::Array => "an array",
            JsonKind::String => "a string",
            JsonKind::Number => "a number",
            JsonKind::Bool => "a boolean",
            JsonKind::Null => "null",
        }
    }
}

/// Decodes a raw JSON string, borrowing when it holds no escapes (the usual
/// case for methods and tool names). `None` when the value is not a string.
pub(crate) fn decode_string(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get().trim();
    if !text.starts_with('"') {
        return None;
    }
    let inner = text.get(1..text.len().saturating_sub(1))?;
    if !inner.contains('\\') {
        // Valid JSON without escapes: the content is the text between quotes.
        return Some(Cow::Borrowed(inner));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

/// Appends `s` as a JSON string literal (quotes included).
pub(crate) fn write_string(out: &mut Vec<u8>, s: &str) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// `s` as a JSON string literal.
pub(crate) fn string_literal(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    write_string(&mut out, s);
    // Only ASCII escapes were added to valid UTF-8, so this never replaces.
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn kind_reads_the_first_byte() {
        assert_eq!(JsonKind::of(&raw("{}")), JsonKind::Object);
        assert_eq!(JsonKind::of(&raw("[1]")), JsonKind::Array);
        assert_eq!(JsonKind::of(&raw("\"x\"")), JsonKind::String);
        assert_eq!(JsonKind::of(&raw("-1.5e3")), JsonKind::Number);
        assert_eq!(JsonKind::of(&raw("true")), JsonKind::Bool);
        assert_eq!(JsonKind::of(&raw("false")), JsonKind::Bool);
        assert_eq!(JsonKind::of(&raw("null")), JsonKind::Null);
        assert_eq!(JsonKind::Null.describe(), "null");
    }

    #[test]
    fn decode_string_borrows_plain_strings() {
        let value = raw("\"tools/call\"");
        assert!(matches!(
            decode_string(&value),
            Some(Cow::Borrowed("tools/call"))
        ));
    }

    #[test]
    fn decode_string_unescapes() {
        let value = raw(r#""t\u006fols/call\n""#);
        assert_eq!(decode_string(&value).unwrap(), "tools/call\n");
        assert_eq!(decode_string(&raw("\"\"")).unwrap(), "");
    }

    #[test]
    fn decode_string_rejects_other_types() {
        assert!(decode_string(&raw("1")).is_none());
        assert!(decode_string(&raw("null")).is_none());
        assert!(decode_string(&raw("[\"a\"]")).is_none());
    }

    #[test]
    fn write_string_round_trips_through_serde() {
        for s in [
            "",
            "plain",
            "quote\" back\\slash",
            "ctl\u{0}\u{1f}\u{8}\u{c}\n\r\t",
            "é ✓ 😀",
        ] {
            let literal = string_literal(s);
            let back: String = serde_json::from_str(&literal).unwrap();
            assert_eq!(back, s);
        }
        assert_eq!(string_literal("a\u{1}"), "\"a\\u0001\"");
    }
}
