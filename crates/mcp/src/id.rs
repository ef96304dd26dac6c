//! JSON-RPC request ids, kept as the exact JSON text the peer sent so that
//! responses echo them byte for byte.

use std::borrow::Cow;
use std::fmt;

use serde_json::value::RawValue;

use crate::json_text::{self, JsonKind};

/// A JSON-RPC id: a JSON string or number, held as raw JSON text.
///
/// Equality compares the text, so `1` and `1.0` are different ids, exactly as
/// a peer that echoes text would treat them.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Id<'a>(Cow<'a, str>);

impl<'a> Id<'a> {
    /// Reads an id from a raw JSON value; `None` unless it is a string or a number.
    pub fn from_raw(raw: &'a RawValue) -> Option<Id<'a>> {
        match JsonKind::of(raw) {
            JsonKind::String | JsonKind::Number => Some(Id(Cow::Borrowed(raw.get().trim()))),
            _ => None,
        }
    }

    /// Parses id text stored elsewhere (e.g. `"abc"` or `42`); `None` unless it
    /// is one valid JSON string or number.
    pub fn parse(text: &'a str) -> Option<Id<'a>> {
        let raw: &RawValue = serde_json::from_str(text).ok()?;
        Id::from_raw(raw)
    }

    /// A numeric id.
    pub fn number(n: i64) -> Id<'static> {
        Id(Cow::Owned(n.to_string()))
    }

    /// A string id.
    pub fn string(s: &str) -> Id<'static> {
        Id(Cow::Owned(json_text::string_literal(s)))
    }

    /// The id as JSON text, ready to splice into a message.
    pub fn as_json(&self) -> &str {
        &self.0
    }

    /// Whether the id is a JSON string (otherwise it is a number).
    pub fn is_string(&self) -> bool {
        self.0.starts_with('"')
    }

    /// The decoded value of a string id.
    pub fn as_str(&self) -> Option<Cow<'_, str>> {
        if !self.is_string() {
            return None;
        }
        let raw: &RawValue = serde_json::from_str(&self.0).ok()?;
        json_text::decode_string(raw).map(|s| Cow::Owned(s.into_owned()))
    }

    /// The value of an integral numeric id.
    pub fn as_i64(&self) -> Option<i64> {
        if self.is_string() {
            return None;
        }
        self.0.parse().ok()
    }

    /// Detaches the id from the buffer it was read from.
    pub fn into_owned(self) -> Id<'static> {
        Id(Cow::Owned(self.0.into_owned()))
    }
}

impl fmt::Display for Id<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_exact_text() {
        for text in ["1", "-7", "1.50", "1e3", "\"abc\"", r#""\u0061b""#] {
            assert_eq!(Id::parse(text).unwrap().as_json(), text);
        }
    }

    #[test]
    fn rejects_other_json_types() {
        for text in ["null", "true", "{}", "[1]", "", "nope", "1 2"] {
            assert!(Id::parse(text).is_none(), "{text}");
        }
    }

    #[test]
    fn constructors_produce_valid_json() {
        assert_eq!(Id::number(-3).as_json(), "-3");
        assert_eq!(Id::string("a\"b").as_json(), r#""a\"b""#);
        assert_eq!(Id::string("a\"b").as_str().unwrap(), "a\"b");
    }

    #[test]
    fn accessors_decode_values() {
        let n = Id::parse("42").unwrap();
        assert_eq!(n.as_i64(), Some(42));
        assert!(!n.is_string());
        assert!(n.as_str().is_none());
        let s = Id::parse(r#""\u0061b""#).unwrap();
        assert!(s.is_string());
        assert_eq!(s.as_str().unwrap(), "ab");
        assert_eq!(s.as_i64(), None);
        assert_eq!(Id::parse("1.5").unwrap().as_i64(), None);
    }

    #[test]
    fn into_owned_and_display() {
        let text = String::from("\"x\"");
        let owned = Id::parse(&text).unwrap().into_owned();
        drop(text);
        assert_eq!(owned.to_string(), "\"x\"");
    }
}
