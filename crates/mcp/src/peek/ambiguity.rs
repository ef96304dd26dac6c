//! Arguments that the policy and the upstream could read as different values.
//!
//! The gateway judges a call's `arguments` as `serde_json` reads them and
//! forwards the bytes the agent sent. Two things break that promise:
//!
//! - a repeated key (`{"n":100,"n":1}`): `serde_json` keeps the last, other
//!   readers the first, or both;
//! - a number literal the policy's `u64`/`i64`/`f64` cannot hold exactly
//!   ([`exact_number`](super::exact_number)).
//!
//! [`scan`] walks the raw arguments once (they are already known to be valid
//! JSON) and reports the first repeated key at any depth, with its JSON
//! pointer. Numbers are cheap to flag and dearer to settle, and only matter
//! when the policy reads argument values, so the peek only notes whether a
//! number needs settling and [`first_inexact_number`] settles them on demand.
//! The walk allocates nothing unless it finds something (or an object has
//! more than a few keys, or a key has escapes).

use std::borrow::Cow;
use std::fmt;

use super::exact_number::{is_exact, is_plain_integer};
use super::key_set::KeySet;

/// Nesting the policy's reader accepts (`serde_json` refuses its 128th
/// level): deeper arguments could not be judged at all.
pub const MAX_DEPTH: usize = 127;

/// Longest number literal quoted back in a refusal, in characters.
const MAX_QUOTED_LITERAL: usize = 40;

/// Why the gateway cannot be sure it judges what the upstream will read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ambiguity {
    /// An object repeats `key` (keys compare after unescaping); `pointer`
    /// names the repeated member.
    DuplicateKey { pointer: String, key: String },
    /// The number at `pointer` is not the value the policy reads
    /// (`literal` is its text, shortened when long).
    InexactNumber { pointer: String, literal: String },
    /// The value at `pointer` nests deeper than [`MAX_DEPTH`] levels.
    TooDeep { pointer: String },
}

impl Ambiguity {
    /// The JSON pointer, into the arguments, of the offending value.
    pub fn pointer(&self) -> &str {
        match self {
            Self::DuplicateKey { pointer, .. }
            | Self::InexactNumber { pointer, .. }
            | Self::TooDeep { pointer } => pointer,
        }
    }

    /// A stable, machine-readable name for the problem.
    pub fn code(&self) -> &'static str {
        match self {
            Self::DuplicateKey { .. } => "duplicate_key",
            Self::InexactNumber { .. } => "inexact_number",
            Self::TooDeep { .. } => "too_deep",
        }
    }
}

impl Ambiguity {
    /// Whether `reason` is the text of an ambiguity (as the audit trail
    /// records it): every variant's text starts with one of these.
    pub fn is_reason(reason: &str) -> bool {
        const STARTS: [&str; 3] = [
            "the arguments repeat the key ",
            "the number ",
            "the arguments nest deeper than ",
        ];
        STARTS.iter().any(|start| reason.starts_with(start))
    }
}

impl fmt::Display for Ambiguity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DuplicateKey { pointer, key } => write!(
                f,
                "the arguments repeat the key {key:?} (at {pointer}); send each key once"
            ),
            Self::InexactNumber { pointer, literal } => write!(
                f,
                "the number {literal} at {pointer} cannot be judged exactly (the policy \
                 reads numbers as 64-bit integers or doubles); send it in its shortest exact \
                 form or as a string"
            ),
            Self::TooDeep { pointer } => write!(
                f,
                "the arguments nest deeper than {MAX_DEPTH} levels (at {pointer})"
            ),
        }
    }
}

/// What the peek learned about an arguments object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scan {
    /// A repeated key or too deep a nesting: never judgeable.
    pub(crate) ambiguity: Option<Box<Ambiguity>>,
    /// Some number literal is not a short integer and must be settled by
    /// [`first_inexact_number`] before its value is judged.
    pub(crate) unsettled_numbers: bool,
}

/// Walks `text` (valid JSON) for repeated keys and excessive depth, noting
/// whether any number needs settling.
pub(crate) fn scan(text: &str) -> Scan {
    let mut walker = Walker::new(text, false);
    let ambiguity = walker.value(&Path::Root, 1).err().map(Box::new);
    Scan {
        ambiguity,
        unsettled_numbers: walker.unsettled_numbers,
    }
}

/// The first number literal in `text` (valid JSON) whose value the policy
/// would read differently, or the first structural ambiguity.
pub(crate) fn first_inexact_number(text: &str) -> Option<Ambiguity> {
    Walker::new(text, true).value(&Path::Root, 1).err()
}

/// Where the walk is, as a chain on the stack: free until a pointer is
/// needed.
enum Path<'p, 'a> {
    Root,
    /// A member, by its key as written (escapes unresolved).
    Key(&'p Path<'p, 'a>, &'a str),
    Index(&'p Path<'p, 'a>, usize),
}

impl Path<'_, '_> {
    /// The RFC 6901 pointer, keys unescaped and `~`/`/` encoded.
    fn pointer(&self) -> String {
        let mut segments = Vec::new();
        let mut at = self;
        loop {
            match at {
                Path::Root => break,
                Path::Key(parent, key) => {
                    segments.push(decode_key(key).replace('~', "~0").replace('/', "~1"));
                    at = parent;
                }
                Path::Index(parent, index) => {
                    segments.push(index.to_string());
                    at = parent;
                }
            }
        }
        segments.iter().rev().fold(String::new(), |mut pointer, s| {
            pointer.push('/');
            pointer.push_str(s);
            pointer
        })
    }
}

/// A key's text, escapes resolved. A key `serde_json` cannot decode (a lone
/// surrogate) stays as written: the policy's reader refuses such arguments
/// outright, so it never judges them.
fn decode_key(raw: &str) -> Cow<'_, str> {
    if !raw.contains('\\') {
        return Cow::Borrowed(raw);
    }
    let quoted = format!("\"{raw}\"");
    serde_json::from_str::<String>(&quoted).map_or(Cow::Borrowed(raw), Cow::Owned)
}

/// A recursive walk over text already known to be valid JSON (the peek's
/// parser checked it), so it only tells tokens apart; it never panics on
/// other input, it just stops early. Recursion is bounded by [`MAX_DEPTH`].
struct Walker<'a> {
    text: &'a str,
    pos: usize,
    settle_numbers: bool,
    unsettled_numbers: bool,
}

impl<'a> Walker<'a> {
    fn new(text: &'a str, settle_numbers: bool) -> Self {
        Self {
            text,
            pos: 0,
            settle_numbers,
            unsettled_numbers: false,
        }
    }

    fn peek(&mut self) -> Option<u8> {
        let bytes = self.text.as_bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if !matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                return Some(b);
            }
            self.pos += 1;
        }
        None
    }

    fn value(&mut self, path: &Path<'_, 'a>, depth: usize) -> Result<(), Ambiguity> {
        match self.peek() {
            Some(b'{') => self.object(path, depth),
            Some(b'[') => self.array(path, depth),
            Some(b'"') => {
                self.string();
                Ok(())
            }
            Some(b'-' | b'0'..=b'9') => self.number(path),
            Some(_) => {
                // true, false, null
                let rest = self.text.as_bytes().get(self.pos..).unwrap_or_default();
                self.pos += rest
                    .iter()
                    .position(|b| !b.is_ascii_alphabetic())
                    .unwrap_or(rest.len());
                Ok(())
            }
            None => Ok(()),
        }
    }

    fn object(&mut self, path: &Path<'_, 'a>, depth: usize) -> Result<(), Ambiguity> {
        if depth > MAX_DEPTH {
            return Err(Ambiguity::TooDeep {
                pointer: path.pointer(),
            });
        }
        self.pos += 1; // `{`
        let mut keys = KeySet::default();
        loop {
            match self.peek() {
                Some(b'"') => {}
                Some(b',') => {
                    self.pos += 1;
                    continue;
                }
                // `}`, or the end of text that was not JSON after all.
                _ => {
                    self.pos += 1;
                    return Ok(());
                }
            }
            let raw_key = self.string();
            let member = Path::Key(path, raw_key);
            if !keys.insert(decode_key(raw_key)) {
                return Err(Ambiguity::DuplicateKey {
                    pointer: member.pointer(),
                    key: decode_key(raw_key).into_owned(),
                });
            }
            if self.peek() == Some(b':') {
                self.pos += 1;
            }
            self.value(&member, depth + 1)?;
        }
    }

    fn array(&mut self, path: &Path<'_, 'a>, depth: usize) -> Result<(), Ambiguity> {
        if depth > MAX_DEPTH {
            return Err(Ambiguity::TooDeep {
                pointer: path.pointer(),
            });
        }
        self.pos += 1; // `[`
        let mut index = 0;
        loop {
            match self.peek() {
                Some(b']') | None => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(b',') => {
                    self.pos += 1;
                    index += 1;
                }
                Some(_) => {
                    let before = self.pos;
                    self.value(&Path::Index(path, index), depth + 1)?;
                    if self.pos == before {
                        // Not JSON after all: stop rather than spin.
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Skips a string at `pos` (on its opening quote); its raw content.
    fn string(&mut self) -> &'a str {
        let start = self.pos + 1;
        let bytes = self.text.as_bytes();
        let mut i = start;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\\' => i += 2,
                b'"' => break,
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        self.text.get(start..i).unwrap_or_default()
    }

    fn number(&mut self, path: &Path<'_, 'a>) -> Result<(), Ambiguity> {
        let start = self.pos;
        let rest = self.text.as_bytes().get(start..).unwrap_or_default();
        let len = rest
            .iter()
            .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
            .unwrap_or(rest.len());
        self.pos += len;
        let literal = self.text.get(start..start + len).unwrap_or_default();
        if is_plain_integer(literal) {
            return Ok(());
        }
        if !self.settle_numbers {
            self.unsettled_numbers = true;
            return Ok(());
        }
        if is_exact(literal) {
            return Ok(());
        }
        Err(Ambiguity::InexactNumber {
            pointer: path.pointer(),
            literal: shorten(literal),
        })
    }
}

fn shorten(literal: &str) -> String {
    match literal.char_indices().nth(MAX_QUOTED_LITERAL) {
        // Number literals are ASCII: the index is a boundary.
        Some((cut, _)) => format!("{}…", literal.get(..cut).unwrap_or(literal)),
        None => literal.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_ambiguity_is_known_by_its_reason() {
        use super::Ambiguity;
        for ambiguity in [
            Ambiguity::DuplicateKey {
                pointer: "/a".into(),
                key: "a".into(),
            },
            Ambiguity::InexactNumber {
                pointer: "/n".into(),
                literal: "1e999".into(),
            },
            Ambiguity::TooDeep {
                pointer: "/d".into(),
            },
        ] {
            assert!(Ambiguity::is_reason(&ambiguity.to_string()), "{ambiguity}");
        }
        assert!(!Ambiguity::is_reason("arguments rejected at /a: too long"));
    }

    use super::*;

    fn duplicate(text: &str) -> (String, String) {
        match scan(text).ambiguity.map(|a| *a) {
            Some(Ambiguity::DuplicateKey { pointer, key }) => (pointer, key),
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn repeated_keys_are_found_at_any_depth_with_their_pointer() {
        for (text, pointer, key) in [
            (r#"{"n":100,"n":1}"#, "/n", "n"),
            (r#"{"a":{"b":[1,{"c":1,"d":2,"c":3}]}}"#, "/a/b/1/c", "c"),
            (r#"[{"x":1},{"x":1,"x":2}]"#, "/1/x", "x"),
            (r#"{"\u006e":1,"n":2}"#, "/n", "n"),
            (r#"{"a/b":1,"a\/b":2}"#, "/a~1b", "a/b"),
            (r#"{"~":{"":1,"":2}}"#, "/~0/", ""),
            (r#" { "é" : 1 , "\u00e9" : 2 } "#, "/é", "é"),
            (r#"{"😀":1,"\ud83d\ude00":2}"#, "/😀", "😀"),
            // A case-insensitive reader (Go's encoding/json) takes either.
            (r#"{"amount":1,"Amount":99999}"#, "/Amount", "Amount"),
            (r#"{"n":"\"n\":1","N":1}"#, "/N", "N"),
        ] {
            assert_eq!(
                duplicate(text),
                (pointer.to_owned(), key.to_owned()),
                "{text}"
            );
        }
    }

    #[test]
    fn distinct_keys_and_repeats_across_objects_are_fine() {
        for text in [
            r#"{}"#,
            r#"{"a":1,"b":{"a":1},"c":[{"a":1},{"a":2}]}"#,
            r#"{"n":"\"n\":1,\"n\":2","n ":2,"n_":3}"#,
            r#"{"a":[],"b":[[]],"c":{"d":{}},"e":true,"f":null,"g":false}"#,
        ] {
            assert_eq!(scan(text), Scan::default(), "{text}");
        }
    }

    #[test]
    fn a_repeat_among_many_keys_is_found() {
        let mut text = (0..1000)
            .map(|i| format!("\"k{i}\":{i}"))
            .collect::<Vec<_>>();
        text.push("\"k500\":0".to_owned());
        let text = format!("{{{}}}", text.join(","));
        assert_eq!(duplicate(&text), ("/k500".to_owned(), "k500".to_owned()));
    }

    #[test]
    fn nesting_beyond_the_readers_limit_is_refused() {
        let at_limit = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert_eq!(scan(&at_limit), Scan::default());
        assert!(serde_json::from_str::<serde_json::Value>(&at_limit).is_ok());
        let deep = 100_000;
        let too_deep = format!("{}{}", "[".repeat(deep), "]".repeat(deep));
        assert!(serde_json::from_str::<serde_json::Value>(&too_deep).is_err());
        match scan(&too_deep).ambiguity.map(|a| *a) {
            Some(Ambiguity::TooDeep { pointer }) => {
                assert_eq!(pointer, "/0".repeat(MAX_DEPTH));
                let one_more =
                    format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
                assert!(serde_json::from_str::<serde_json::Value>(&one_more).is_err());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn numbers_are_flagged_by_the_peek_and_settled_on_demand() {
        let plain = r#"{"a":1,"b":[-2,3],"c":"1e400"}"#;
        assert_eq!(scan(plain), Scan::default());
        assert_eq!(first_inexact_number(plain), None);

        let exact = r#"{"a":0.1,"b":[1e2,-0]}"#;
        assert!(scan(exact).unsettled_numbers);
        assert_eq!(first_inexact_number(exact), None);

        let inexact = r#"{"a":0.5,"b":[1,{"max":10.0000000000000000001}]}"#;
        assert!(scan(inexact).unsettled_numbers && scan(inexact).ambiguity.is_none());
        assert_eq!(
            first_inexact_number(inexact),
            Some(Ambiguity::InexactNumber {
                pointer: "/b/1/max".to_owned(),
                literal: "10.0000000000000000001".to_owned()
            })
        );
        let long = format!("{{\"n\":1{}1}}", "0".repeat(60));
        let Some(Ambiguity::InexactNumber { literal, .. }) = first_inexact_number(&long) else {
            panic!()
        };
        assert_eq!(literal.chars().count(), MAX_QUOTED_LITERAL + 1);
    }

    #[test]
    fn refusal_texts_name_the_key_and_pointer() {
        let text = duplicate(r#"{"a":{"n":1,"n":2}}"#);
        let ambiguity = Ambiguity::DuplicateKey {
            pointer: text.0,
            key: text.1,
        };
        assert_eq!(ambiguity.code(), "duplicate_key");
        assert_eq!(
            ambiguity.to_string(),
            "the arguments repeat the key \"n\" (at /a/n); send each key once"
        );
        let empty_key = duplicate(r#"{"":1,"":2}"#);
        assert_eq!(empty_key, ("/".to_owned(), String::new()));
    }

    #[test]
    fn text_that_is_not_json_ends_the_walk_quietly() {
        for text in [
            "",
            "{",
            "[",
            "{\"a\"",
            "[1,",
            "\"abc",
            "{\"a\":[}",
            "-",
            "]]]",
            "{,,}",
        ] {
            let _ = scan(text);
            let _ = first_inexact_number(text);
        }
    }
}
