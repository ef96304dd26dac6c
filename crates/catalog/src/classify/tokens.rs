//! Splitting names and text into the lowercase words the rules match.
//!
//! Tool names come as `snake_case`, `kebab-case`, `camelCase`, `dotted.names`
//! or with a server prefix (`github_create_issue`, `slack.post_message`); all
//! of them become one list of words, so a verb is found wherever it stands.

/// The words of a tool name: split at every character that is not a letter
/// or digit and at camelCase boundaries (`getHTTPStatus` → get, http,
/// status), lowercased.
pub fn name_words(name: &str) -> Vec<String> {
    let mut words = Vec::new();
    for chunk in name.split(|c: char| !c.is_alphanumeric()) {
        split_camel(chunk, &mut words);
    }
    words
}

/// The words of free text, lowercased, in order. Apostrophes are dropped
/// (`don't` → dont) so a contraction never yields a stray verb.
pub fn text_words(text: &str) -> Vec<String> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .map(|w| w.replace('\'', "").to_lowercase())
        .filter(|w| !w.is_empty())
        .collect()
}

/// `creates` → `create`, `lists` → `list`, `searches` → `search`: the third
/// person a description is written in, reduced to the base form the verb
/// table holds. Returns the candidates to try, the word itself first.
pub fn base_forms(word: &str) -> [Option<&str>; 3] {
    [
        Some(word),
        word.strip_suffix('s').filter(|w| w.len() > 1),
        word.strip_suffix("es").filter(|w| w.len() > 1),
    ]
}

/// A property name reduced to lowercase letters and digits, so `api_key`,
/// `apiKey` and `API-KEY` compare equal.
pub fn squashed(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

fn split_camel(chunk: &str, words: &mut Vec<String>) {
    let chars: Vec<char> = chunk.chars().collect();
    let mut start = 0;
    for i in 1..chars.len() {
        let (prev, here) = (chars[i - 1], chars[i]);
        let next_is_lower = chars.get(i + 1).is_some_and(|c| c.is_lowercase());
        let boundary = (prev.is_lowercase() && here.is_uppercase())
            || (prev.is_uppercase() && here.is_uppercase() && next_is_lower)
            || (prev.is_alphabetic() && here.is_numeric())
            || (prev.is_numeric() && here.is_alphabetic());
        if boundary {
            words.push(chars[start..i].iter().collect::<String>().to_lowercase());
            start = i;
        }
    }
    if start < chars.len() {
        words.push(chars[start..].iter().collect::<String>().to_lowercase());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_split_at_every_convention() {
        assert_eq!(
            name_words("github_create_issue"),
            ["github", "create", "issue"]
        );
        assert_eq!(
            name_words("slack.postMessage"),
            ["slack", "post", "message"]
        );
        assert_eq!(name_words("getHTTPStatus"), ["get", "http", "status"]);
        assert_eq!(
            name_words("browser-take-screenshot"),
            ["browser", "take", "screenshot"]
        );
        assert_eq!(name_words("s3Put2Bucket"), ["s", "3", "put", "2", "bucket"]);
        assert!(name_words("__").is_empty());
    }

    #[test]
    fn text_words_are_lowercase_and_drop_apostrophes() {
        assert_eq!(text_words("Don't DELETE it!"), ["dont", "delete", "it"]);
    }

    #[test]
    fn base_forms_cover_third_person() {
        assert!(base_forms("creates").contains(&Some("create")));
        assert!(base_forms("searches").contains(&Some("search")));
        assert_eq!(base_forms("s"), [Some("s"), None, None]);
    }

    #[test]
    fn squashed_names_compare_across_conventions() {
        assert_eq!(squashed("api_key"), squashed("apiKey"));
        assert_eq!(squashed("API-KEY"), "apikey");
    }
}
