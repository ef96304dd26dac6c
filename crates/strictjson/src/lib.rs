//! JSON as Toolgate stores it: every string and key must be storable, and no
//! object may hold a key twice, so what is stored is exactly what was meant.
//!
//! Postgres keeps text and `jsonb` in UTF-8 without the NUL character
//! (U+0000): a NUL anywhere would fail the write, so it is refused up front
//! with its JSON pointer. Every other Unicode scalar value is storable, control
//! characters included. A key given twice in one object is refused too: JSON
//! readers disagree on which value wins (serde_json keeps the last), so a
//! document with one cannot be stored "as sent". Strings that are not Unicode
//! (a lone surrogate escape such as `"\ud800"`) are not JSON text Toolgate can
//! read at all: they are malformed, located like syntax errors.
//!
//! ```
//! use toolgate_strictjson::{check, Refusal};
//! assert!(check(br#"{"a": ["x"]}"#).is_ok());
//! let Err(Refusal::Flawed(flaws)) = check(br#"{"a": ["x\u0000"], "a": 1}"#) else { panic!() };
//! assert_eq!(flaws[0].pointer, "/a/0");
//! assert_eq!(flaws[1].pointer, "/a");
//! ```

#![forbid(unsafe_code)]

pub mod canonical;

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// At most this many flaws are reported; a body with more is refused all the same.
pub const MAX_FLAWS: usize = 100;

pub const NUL_IN_STRING: &str =
    "contains the NUL character (U+0000), which cannot be stored; remove it";
pub const NUL_IN_KEY: &str =
    "this key contains the NUL character (U+0000), which cannot be stored; remove it";
pub const DUPLICATE_KEY: &str = "this key appears more than once in its object; give each key \
     once (readers of JSON disagree on which value counts)";

/// One reason a JSON document cannot be stored as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flaw {
    /// RFC 6901 JSON pointer to the offending value or key.
    pub pointer: String,
    pub message: &'static str,
}

/// Why JSON text was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Not JSON text: a syntax error, or a string that is not Unicode.
    Malformed {
        /// Where reading stopped: the innermost value being read (`""` for
        /// the document itself: trailing characters, or text cut short).
        pointer: String,
        /// serde_json's account, with its line and column.
        message: String,
    },
    /// Well-formed JSON that cannot be stored as sent: its flaws, in
    /// document order (at most [`MAX_FLAWS`]).
    Flawed(Vec<Flaw>),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed { message, .. } => write!(f, "not valid JSON: {message}"),
            Self::Flawed(flaws) => {
                write!(f, "{} value(s) cannot be stored", flaws.len())
            }
        }
    }
}

impl std::error::Error for Refusal {}

/// Reads JSON text once, without building it, and refuses it if it is
/// malformed or flawed.
pub fn check(text: &[u8]) -> Result<(), Refusal> {
    let mut scan = Scan::default();
    let mut deserializer = serde_json::Deserializer::from_slice(text);
    let read = Walker(&mut scan)
        .deserialize(&mut deserializer)
        .and_then(|()| deserializer.end());
    if let Err(error) = read {
        // A text cut short is wrong as a whole, not in the value it ends in.
        let pointer = match error.classify() {
            serde_json::error::Category::Eof => String::new(),
            _ => scan.stopped_at.unwrap_or_default(),
        };
        return Err(Refusal::Malformed {
            pointer,
            message: error.to_string(),
        });
    }
    if scan.flaws.is_empty() {
        Ok(())
    } else {
        Err(Refusal::Flawed(scan.flaws))
    }
}

/// [`check`]s JSON text, then parses it.
pub fn from_slice(text: &[u8]) -> Result<Value, Refusal> {
    check(text)?;
    serde_json::from_slice(text).map_err(|error| Refusal::Malformed {
        pointer: String::new(),
        message: error.to_string(),
    })
}

/// The flaws of an already parsed document: a NUL in any string or key. (A
/// key given twice cannot be seen any more; [`check`] the text for that.)
pub fn flaws(value: &Value) -> Vec<Flaw> {
    let mut found = Vec::new();
    let mut pointer = String::new();
    walk(value, &mut pointer, &mut found);
    found
}

/// Why one string cannot be stored, if it cannot.
pub fn text_flaw(text: &str) -> Option<&'static str> {
    text.contains('\0').then_some(NUL_IN_STRING)
}

/// Appends a key or index to a JSON pointer, escaping `~` and `/` (RFC 6901).
pub fn push_segment(pointer: &mut String, segment: &str) {
    pointer.push('/');
    for c in segment.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

fn walk(value: &Value, pointer: &mut String, found: &mut Vec<Flaw>) {
    let mut note = |pointer: &str, message| {
        if found.len() < MAX_FLAWS {
            found.push(Flaw {
                pointer: pointer.to_owned(),
                message,
            });
        }
    };
    match value {
        Value::String(s) => {
            if let Some(message) = text_flaw(s) {
                note(pointer, message);
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = pointer.len();
                push_segment(pointer, &i.to_string());
                walk(item, pointer, found);
                pointer.truncate(len);
            }
        }
        Value::Object(map) => {
            for (key, item) in map {
                let len = pointer.len();
                push_segment(pointer, key);
                if key.contains('\0') && found.len() < MAX_FLAWS {
                    found.push(Flaw {
                        pointer: pointer.clone(),
                        message: NUL_IN_KEY,
                    });
                }
                walk(item, pointer, found);
                pointer.truncate(len);
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// What a pass over JSON text has found so far.
#[derive(Default)]
struct Scan {
    /// The pointer of the value being read.
    pointer: String,
    flaws: Vec<Flaw>,
    /// Set by the innermost value whose reading failed.
    stopped_at: Option<String>,
}

impl Scan {
    fn flaw(&mut self, message: &'static str) {
        if self.flaws.len() < MAX_FLAWS {
            self.flaws.push(Flaw {
                pointer: self.pointer.clone(),
                message,
            });
        }
    }

    fn stop<E>(&mut self, error: E) -> E {
        if self.stopped_at.is_none() {
            self.stopped_at = Some(self.pointer.clone());
        }
        error
    }
}

/// Visits one value of the text, recording flaws at `Scan::pointer`.
struct Walker<'a>(&'a mut Scan);

impl<'de> DeserializeSeed<'de> for Walker<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walker<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        if let Some(message) = text_flaw(s) {
            self.0.flaw(message);
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let scan = self.0;
        let mut index = 0usize;
        loop {
            let len = scan.pointer.len();
            push_segment(&mut scan.pointer, &index.to_string());
            match seq.next_element_seed(Walker(&mut *scan)) {
                Ok(Some(())) => index += 1,
                Ok(None) => {
                    scan.pointer.truncate(len);
                    return Ok(());
                }
                Err(error) => return Err(scan.stop(error)),
            }
            scan.pointer.truncate(len);
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let scan = self.0;
        let mut seen = HashSet::new();
        loop {
            let key: String = match map.next_key() {
                Ok(Some(key)) => key,
                Ok(None) => return Ok(()),
                Err(error) => return Err(scan.stop(error)),
            };
            let len = scan.pointer.len();
            push_segment(&mut scan.pointer, &key);
            if key.contains('\0') {
                scan.flaw(NUL_IN_KEY);
            }
            if !seen.insert(key) {
                scan.flaw(DUPLICATE_KEY);
            }
            if let Err(error) = map.next_value_seed(Walker(&mut *scan)) {
                return Err(scan.stop(error));
            }
            scan.pointer.truncate(len);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use serde_json::json;

    fn flawed(text: &str) -> Vec<(String, &'static str)> {
        match check(text.as_bytes()) {
            Err(Refusal::Flawed(flaws)) => {
                flaws.into_iter().map(|f| (f.pointer, f.message)).collect()
            }
            other => panic!("{text}: {other:?}"),
        }
    }

    fn malformed(text: &str) -> (String, String) {
        match check(text.as_bytes()) {
            Err(Refusal::Malformed { pointer, message }) => (pointer, message),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn storable_text_passes() {
        for ok in [
            r#"{"a": "\u0001\u001f\u007f\u0085 \u202e e\u0301 😀 \ud83d\ude00"}"#,
            r#"[1, -2.5, true, null, {}, [], ""]"#,
            r#""\uffff\ufeff""#,
        ] {
            assert_eq!(check(ok.as_bytes()), Ok(()), "{ok}");
        }
    }

    #[test]
    fn nul_is_found_at_its_pointer() {
        assert_eq!(
            flawed(r#"{"a": {"b/c": ["x", "y\u0000"]}, "d~": "\u0000"}"#),
            vec![
                ("/a/b~1c/1".to_owned(), NUL_IN_STRING),
                ("/d~0".to_owned(), NUL_IN_STRING)
            ]
        );
        assert_eq!(flawed(r#""\u0000""#), vec![(String::new(), NUL_IN_STRING)]);
        assert_eq!(
            flawed(r#"{"t": {"k\u0000": 1}}"#),
            vec![("/t/k\0".to_owned(), NUL_IN_KEY)]
        );
    }

    #[test]
    fn duplicate_keys_are_flaws_at_every_depth() {
        assert_eq!(
            flawed(r#"{"a": 1, "b": [{"c": 1, "c": 2}], "a": 3}"#),
            vec![
                ("/b/0/c".to_owned(), DUPLICATE_KEY),
                ("/a".to_owned(), DUPLICATE_KEY)
            ]
        );
        // The same key in sibling objects is no duplicate.
        assert_eq!(check(br#"[{"a": 1}, {"a": 2}]"#), Ok(()));
    }

    #[test]
    fn malformed_text_says_where_reading_stopped() {
        let (pointer, message) = malformed(r#"{"a": [1, "x\ud800"]}"#);
        assert_eq!(pointer, "/a/1");
        assert!(message.contains("line 1"), "{message}");
        let (pointer, _) = malformed(r#"{"reason": "\udc00"}"#);
        assert_eq!(pointer, "/reason");
        let (pointer, _) = malformed(r#"{"a": 1} {}"#);
        assert_eq!(pointer, "");
        let (pointer, _) = malformed(r#"{"a": {"b": tru}}"#);
        assert_eq!(pointer, "/a/b");
        let (pointer, _) = malformed("");
        assert_eq!(pointer, "");
        let (pointer, message) = malformed(r#"{"version": "#);
        assert_eq!(pointer, "");
        assert!(message.contains("EOF"), "{message}");
        assert!(matches!(check(b"\"\xff\""), Err(Refusal::Malformed { .. })));
    }

    #[test]
    fn flaws_are_capped() {
        let many: Vec<&str> = vec!["\0"; MAX_FLAWS + 5];
        let text = serde_json::to_string(&many).unwrap();
        assert_eq!(flawed(&text).len(), MAX_FLAWS);
        assert_eq!(flaws(&json!(many)).len(), MAX_FLAWS);
    }

    #[test]
    fn parsed_values_are_walked_keys_and_all() {
        let doc = json!({"tools": {"a\u{0}": {"reason": "x\u{0}"}}, "hide": ["ok", "\u{0}"]});
        let found: Vec<String> = flaws(&doc).into_iter().map(|f| f.pointer).collect();
        assert_eq!(found, ["/hide/1", "/tools/a\0", "/tools/a\0/reason"]);
        assert!(flaws(&json!({"a": ["\u{1}", "\u{202e}"]})).is_empty());
    }

    #[test]
    fn from_slice_parses_what_passes() {
        assert_eq!(from_slice(br#"{"a": "b"}"#).unwrap(), json!({"a": "b"}));
        assert!(from_slice(br#"{"a": 1, "a": 2}"#).is_err());
    }
}
