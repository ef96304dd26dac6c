//! The keys of one JSON object, to notice a repeated one.
//!
//! Keys are compared as a case-insensitive reader compares them: Go's
//! `encoding/json` fills a struct field from any key equal to its name under
//! Unicode case folding, the last one winning, so `{"amount":1,"Amount":9}`
//! is read as 1 by the policy and as 9 by such an upstream. Two keys that
//! fold to the same text are therefore one key given twice.
//!
//! Objects in MCP messages have a handful of members, so the first few keys
//! are kept inline and compared one by one: no allocation. A larger object
//! spills into a hash set, so that a body with a hundred thousand keys costs
//! a hundred thousand lookups, not their square.

use std::borrow::Cow;
use std::collections::HashSet;

/// Keys kept inline before spilling into a hash set.
const INLINE: usize = 8;

/// The decoded keys seen so far in one object.
#[derive(Debug, Default)]
pub(crate) struct KeySet<'a> {
    inline: [Option<Cow<'a, str>>; INLINE],
    len: usize,
    spilled: Option<HashSet<Cow<'a, str>>>,
}

impl<'a> KeySet<'a> {
    /// Adds `key`; `false` when the object already had it, or a key that
    /// differs from it only in letter case.
    pub(crate) fn insert(&mut self, key: Cow<'a, str>) -> bool {
        let key = folded(key);
        if let Some(set) = self.spilled.as_mut() {
            return set.insert(key);
        }
        let seen = &self.inline[..self.len];
        if seen.iter().flatten().any(|k| *k == key) {
            return false;
        }
        if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = Some(key);
            self.len += 1;
            return true;
        }
        let mut set: HashSet<Cow<'a, str>> =
            self.inline.iter_mut().filter_map(Option::take).collect();
        let fresh = set.insert(key);
        self.spilled = Some(set);
        fresh
    }
}

/// `key` case-folded; borrowed when it already is (ASCII without capitals,
/// as nearly every key is). Folding through upper then lower case catches
/// letters whose lower case alone does not meet (`ſ` and `s`, `K` and `k`).
fn folded(key: Cow<'_, str>) -> Cow<'_, str> {
    if key.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        return key;
    }
    Cow::Owned(
        key.chars()
            .flat_map(char::to_uppercase)
            .flat_map(char::to_lowercase)
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_noticed_before_and_after_spilling() {
        let mut keys = KeySet::default();
        for i in 0..100 {
            assert!(keys.insert(Cow::Owned(format!("k{i}"))), "k{i}");
            assert!(!keys.insert(Cow::Owned(format!("k{i}"))), "k{i} again");
            assert!(!keys.insert(Cow::Borrowed("k0")));
        }
    }

    #[test]
    fn borrowed_and_owned_keys_compare_by_text() {
        let mut keys = KeySet::default();
        assert!(keys.insert(Cow::Borrowed("name")));
        assert!(!keys.insert(Cow::Owned("name".to_owned())));
        assert!(keys.insert(Cow::Borrowed("named")));
    }

    #[test]
    fn keys_differing_only_in_case_are_one_key() {
        for (first, second) in [
            ("amount", "Amount"),
            ("method", "METHOD"),
            ("kind", "\u{212A}ind"),      // KELVIN SIGN folds to k
            ("user_id", "u\u{17F}er_id"), // LONG S folds to s
            ("Été", "éTÉ"),
        ] {
            let mut keys = KeySet::default();
            assert!(keys.insert(Cow::Borrowed(first)));
            assert!(!keys.insert(Cow::Borrowed(second)), "{first} / {second}");
        }
        let mut keys = KeySet::default();
        assert!(keys.insert(Cow::Borrowed("a_b")));
        assert!(keys.insert(Cow::Borrowed("a-b")));
    }
}
