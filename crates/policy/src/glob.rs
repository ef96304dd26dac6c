//! Tool-name globs: `*` matches any run of characters (including none); every
//! other character matches itself. There are no other wildcards.

use std::cmp::Ordering;

/// A compiled glob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Glob {
    pattern: String,
    /// The literal runs between stars; `parts.len() == stars + 1`.
    parts: Box<[String]>,
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Self {
        Self {
            pattern: pattern.to_owned(),
            parts: pattern.split('*').map(str::to_owned).collect(),
        }
    }

    /// Whether a key or hide entry is a glob rather than an exact name.
    pub(crate) fn is_glob(pattern: &str) -> bool {
        pattern.contains('*')
    }

    /// The literal text before the first star.
    pub(crate) fn prefix(&self) -> &str {
        self.parts.first().map_or("", String::as_str)
    }

    /// The literal text after the last star (empty for an exact name).
    pub(crate) fn suffix(&self) -> &str {
        match &*self.parts {
            [_, .., last] => last,
            _ => "",
        }
    }

    pub(crate) fn pattern(&self) -> &str {
        &self.pattern
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        let (first, rest) = match self.parts.split_first() {
            Some(split) => split,
            None => return name.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else {
            return name == first;
        };
        // Cheap rejections first: they decide most non-matches in a few bytes.
        if name.len() < first.len() + last.len()
            || !name.starts_with(first.as_str())
            || !name.ends_with(last.as_str())
        {
            return false;
        }
        // With `*` as the only wildcard, taking each middle run at its leftmost
        // occurrence is optimal: it leaves the most room for the runs after it.
        let mut haystack = &name[first.len()..name.len() - last.len()];
        for part in middle {
            match haystack.find(part.as_str()) {
                Some(at) => haystack = &haystack[at + part.len()..],
                None => return false,
            }
        }
        true
    }

    /// Precedence among globs that match the same name: the longest pattern
    /// wins; on equal length the one with more literal characters (fewer
    /// stars) wins; then the lexicographically smaller pattern, so the order is
    /// total and never depends on the order of keys in the document.
    pub(crate) fn precedence(&self, other: &Self) -> Ordering {
        let len = |g: &Self| g.pattern.chars().count();
        len(other)
            .cmp(&len(self))
            .then_with(|| self.parts.len().cmp(&other.parts.len()))
            .then_with(|| self.pattern.cmp(&other.pattern))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(pattern: &str, name: &str) -> bool {
        Glob::new(pattern).matches(name)
    }

    #[test]
    fn star_matches_any_run() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("delete_*", "delete_repo"));
        assert!(m("delete_*", "delete_"));
        assert!(!m("delete_*", "delet"));
        assert!(!m("delete_*", "undelete_repo"));
        assert!(m("*_repo", "delete_repo"));
        assert!(m("a*b*c", "abc"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "acb"));
        assert!(m("a**b", "ab"));
        assert!(m("*ab*ab*", "abab"));
        assert!(!m("*ab*ab*", "aba"));
        assert!(!m("aa*aa", "aaa"));
        assert!(m("exact", "exact"));
        assert!(!m("exact", "exact2"));
    }

    #[test]
    fn other_characters_are_literal() {
        assert!(m("a?c", "a?c"));
        assert!(!m("a?c", "abc"));
        assert!(m("[x]*", "[x]y"));
        assert!(m("é*", "éa"));
    }

    #[test]
    fn longest_pattern_wins_then_fewer_stars_then_lexicographic() {
        let mut globs = [
            Glob::new("*"),
            Glob::new("get_*"),
            Glob::new("g*t_*"),
            Glob::new("get_user*"),
            Glob::new("*_user*"),
        ];
        globs.sort_by(Glob::precedence);
        let order: Vec<&str> = globs.iter().map(Glob::pattern).collect();
        assert_eq!(order, ["get_user*", "*_user*", "get_*", "g*t_*", "*"]);
    }

    /// A reference matcher by dynamic programming, to check the greedy one.
    fn reference(pattern: &[char], name: &[char]) -> bool {
        let mut dp = vec![vec![false; name.len() + 1]; pattern.len() + 1];
        dp[0][0] = true;
        for i in 1..=pattern.len() {
            for j in 0..=name.len() {
                dp[i][j] = if pattern[i - 1] == '*' {
                    dp[i - 1][j] || (j > 0 && dp[i][j - 1])
                } else {
                    j > 0 && dp[i - 1][j - 1] && pattern[i - 1] == name[j - 1]
                };
            }
        }
        dp[pattern.len()][name.len()]
    }

    proptest! {
        #[test]
        fn agrees_with_reference(pattern in "[ab*]{0,8}", name in "[ab]{0,10}") {
            let p: Vec<char> = pattern.chars().collect();
            let n: Vec<char> = name.chars().collect();
            prop_assert_eq!(Glob::new(&pattern).matches(&name), reference(&p, &n));
        }
    }
}
