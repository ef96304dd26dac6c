//! "Did you mean" suggestions for misspelt field names and values.

/// The closest of `candidates` to `input`, if it is close enough to be a
/// plausible typo (edit distance at most a third of the longer word, and at
/// most 3), or if it is a case-insensitive match, a plural, an abbreviation
/// (a prefix of three or more characters) or shares a prefix of four or more.
pub(crate) fn closest<'a>(input: &str, candidates: &[&'a str]) -> Option<&'a str> {
    let lowered = input.to_ascii_lowercase();
    let mut best: Option<(usize, &'a str)> = None;
    for &candidate in candidates {
        let shared = common_prefix(&lowered, candidate);
        let abbreviates = shared >= 3 && (shared == lowered.len() || shared >= 4);
        if lowered == candidate || lowered.trim_end_matches('s') == candidate || abbreviates {
            return Some(candidate);
        }
        let distance = edit_distance(&lowered, candidate);
        let longest = lowered.chars().count().max(candidate.chars().count());
        if distance <= 3 && distance * 3 <= longest && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, candidate)| candidate)
}

/// "; did you mean `x`?" or "; expected one of `a`, `b`" for messages.
pub(crate) fn hint(input: &str, candidates: &[&str]) -> String {
    match closest(input, candidates) {
        Some(candidate) => format!("; did you mean `{candidate}`?"),
        None => format!("; expected one of {}", list(candidates)),
    }
}

/// `a`, `b` or `c`.
pub(crate) fn list(candidates: &[&str]) -> String {
    let quoted: Vec<String> = candidates.iter().map(|c| format!("`{c}`")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Length in bytes of the longest common prefix.
fn common_prefix(a: &str, b: &str) -> usize {
    a.chars()
        .zip(b.chars())
        .take_while(|(x, y)| x == y)
        .map(|(c, _)| c.len_utf8())
        .sum()
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_typos_plurals_and_case() {
        let fields = ["counter", "window", "max", "scope", "cost"];
        assert_eq!(closest("countr", &fields), Some("counter"));
        assert_eq!(closest("windows", &fields), Some("window"));
        assert_eq!(closest("Scope", &fields), Some("scope"));
        assert_eq!(closest("maxx", &fields), Some("max"));
        assert_eq!(closest("banana", &fields), None);
    }

    #[test]
    fn hint_lists_candidates_when_nothing_is_close() {
        assert_eq!(
            hint("minutes", &["second", "minute"]),
            "; did you mean `minute`?"
        );
        assert_eq!(
            hint("zzz", &["grant", "session", "account"]),
            "; expected one of `grant`, `session` or `account`"
        );
        assert_eq!(list(&["a"]), "`a`");
    }

    #[test]
    fn edit_distance_basics() {
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
