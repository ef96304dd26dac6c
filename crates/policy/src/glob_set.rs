//! Finding the best-matching glob among many without trying them all.
//!
//! Globs are grouped by their literal prefix (or, when they start with `*`,
//! by their literal suffix). A name can only match globs whose prefix it
//! starts with, so a lookup probes one group per distinct prefix length
//! instead of scanning every glob: policies with hundreds of globs decide in
//! the time of a few hash lookups.

use std::collections::HashMap;

use crate::glob::Glob;

/// Globs with a value each; [`GlobSet::best`] returns the value of the
/// highest-precedence glob (see [`Glob::precedence`]) that matches.
#[derive(Debug)]
pub(crate) struct GlobSet<T> {
    by_prefix: Groups<T>,
    by_suffix: Groups<T>,
    /// Globs with neither a literal prefix nor suffix, like `*a*`.
    rest: Vec<(Glob, T)>,
}

#[derive(Debug)]
struct Groups<T> {
    /// Each group is sorted by precedence.
    groups: HashMap<String, Vec<(Glob, T)>>,
    /// The distinct lengths of the group keys, in bytes.
    lengths: Vec<usize>,
}

impl<T> Groups<T> {
    fn new() -> Self {
        Self {
            groups: HashMap::new(),
            lengths: Vec::new(),
        }
    }

    fn insert(&mut self, key: &str, glob: Glob, value: T) {
        if !self.lengths.contains(&key.len()) {
            self.lengths.push(key.len());
        }
        self.groups
            .entry(key.to_owned())
            .or_default()
            .push((glob, value));
    }

    /// Orders each group and drops the spare capacity left by building it:
    /// a set is built once and kept for as long as its policy.
    fn sort(&mut self) {
        self.lengths.sort_unstable();
        self.lengths.shrink_to_fit();
        for group in self.groups.values_mut() {
            group.sort_by(|(a, _), (b, _)| a.precedence(b));
            group.shrink_to_fit();
        }
        self.groups.shrink_to_fit();
    }

    /// Replaces `best` with the best match of each group that a key
    /// `key_of(name, len)` selects, when it has higher precedence.
    fn improve<'s>(
        &'s self,
        name: &str,
        key_of: fn(&str, usize) -> Option<&str>,
        best: &mut Option<&'s (Glob, T)>,
    ) {
        for &len in &self.lengths {
            let Some(group) = key_of(name, len).and_then(|key| self.groups.get(key)) else {
                continue;
            };
            if let Some(found) = group.iter().find(|(glob, _)| glob.matches(name)) {
                improve(best, found);
            }
        }
    }
}

fn improve<'s, T>(best: &mut Option<&'s (Glob, T)>, found: &'s (Glob, T)) {
    let better = best.is_none_or(|(current, _)| found.0.precedence(current).is_lt());
    if better {
        *best = Some(found);
    }
}

fn prefix_of(name: &str, len: usize) -> Option<&str> {
    name.get(..len)
}

fn suffix_of(name: &str, len: usize) -> Option<&str> {
    name.len()
        .checked_sub(len)
        .and_then(|start| name.get(start..))
}

impl<T> GlobSet<T> {
    pub(crate) fn new(globs: impl IntoIterator<Item = (Glob, T)>) -> Self {
        let mut set = Self {
            by_prefix: Groups::new(),
            by_suffix: Groups::new(),
            rest: Vec::new(),
        };
        for (glob, value) in globs {
            if !glob.prefix().is_empty() {
                let key = glob.prefix().to_owned();
                set.by_prefix.insert(&key, glob, value);
            } else if !glob.suffix().is_empty() {
                let key = glob.suffix().to_owned();
                set.by_suffix.insert(&key, glob, value);
            } else {
                set.rest.push((glob, value));
            }
        }
        set.by_prefix.sort();
        set.by_suffix.sort();
        set.rest.sort_by(|(a, _), (b, _)| a.precedence(b));
        set.rest.shrink_to_fit();
        set
    }

    pub(crate) fn len(&self) -> usize {
        let groups = |g: &Groups<T>| g.groups.values().map(Vec::len).sum::<usize>();
        groups(&self.by_prefix) + groups(&self.by_suffix) + self.rest.len()
    }

    /// Every glob with its value, in no particular order (for explaining a
    /// decision; [`GlobSet::best`] is the lookup).
    pub(crate) fn entries(&self) -> impl Iterator<Item = &(Glob, T)> {
        self.by_prefix
            .groups
            .values()
            .flatten()
            .chain(self.by_suffix.groups.values().flatten())
            .chain(self.rest.iter())
    }

    /// The value of the highest-precedence glob matching `name`.
    pub(crate) fn best(&self, name: &str) -> Option<&T> {
        let mut best = self.rest.iter().find(|(glob, _)| glob.matches(name));
        self.by_prefix.improve(name, prefix_of, &mut best);
        self.by_suffix.improve(name, suffix_of, &mut best);
        best.map(|(_, value)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(patterns: &[&str]) -> GlobSet<String> {
        GlobSet::new(patterns.iter().map(|p| (Glob::new(p), (*p).to_owned())))
    }

    #[test]
    fn finds_the_highest_precedence_match_across_groups() {
        let globs = set(&["get_*", "get_user*", "*_user*", "*_id", "*e*", "**", "g*"]);
        assert_eq!(globs.len(), 7);
        assert_eq!(
            globs.best("get_user_id").map(String::as_str),
            Some("get_user*")
        );
        assert_eq!(globs.best("get_repo").map(String::as_str), Some("get_*"));
        assert_eq!(globs.best("put_user").map(String::as_str), Some("*_user*"));
        assert_eq!(globs.best("repo_id").map(String::as_str), Some("*_id"));
        assert_eq!(globs.best("xex").map(String::as_str), Some("*e*"));
        assert_eq!(globs.best("xyz").map(String::as_str), Some("**"));
        assert_eq!(set(&["a*"]).best("b"), None);
        assert_eq!(set(&["é*"]).best("éa").map(String::as_str), Some("é*"));
        assert_eq!(set(&["ab*"]).best("é"), None);
    }

    proptest! {
        #[test]
        fn agrees_with_a_linear_scan(
            patterns in prop::collection::vec("[ab*]{1,4}", 0..12),
            name in "[ab]{0,6}",
        ) {
            let globs = GlobSet::new(patterns.iter().map(|p| (Glob::new(p), p.clone())));
            let mut sorted: Vec<Glob> = patterns.iter().map(|p| Glob::new(p)).collect();
            sorted.sort_by(Glob::precedence);
            let linear = sorted.iter().find(|g| g.matches(&name)).map(|g| g.pattern().to_owned());
            prop_assert_eq!(globs.best(&name).cloned(), linear);
        }
    }
}
