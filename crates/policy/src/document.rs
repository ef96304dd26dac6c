//! The shapes of a validated policy document, and the named values it uses.

use serde::Serialize;
use serde_json::Value;

use crate::error::describe;
use crate::suggest;
use crate::window::Window;

/// Largest `max` of a `sliding` limit: a sliding window remembers every unit
/// it counts, so it is meant for small budgets. Use `fixed` above this.
pub(crate) const MAX_SLIDING_MAX: u64 = 10_000;
/// Largest `max` of any limit (2^53 - 1): counters must stay exact in stores
/// that hold numbers as IEEE doubles (Redis scripts do).
pub(crate) const MAX_LIMIT_MAX: u64 = (1 << 53) - 1;
/// `approval_timeout` when a `require_approval` rule gives none, in seconds.
pub(crate) const DEFAULT_APPROVAL_TIMEOUT_SECS: u64 = 300;
/// Longest `approval_timeout`: the gateway holds the call open while waiting.
pub(crate) const MAX_APPROVAL_TIMEOUT_SECS: u64 = 3_600;
/// Longest `approval_hold`: clients give up on a request long before this.
pub(crate) const MAX_APPROVAL_HOLD_SECS: u64 = 600;
/// Longest counter name, in bytes.
pub(crate) const MAX_COUNTER_NAME_LEN: usize = 128;
/// Longest deny `reason`, in characters.
pub(crate) const MAX_REASON_LEN: usize = 500;

/// What an agent reaches through the gateway: each has its own section of
/// the document (`tools`, `resources`, `prompts`) and its own `default` and
/// `hide`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A `tools/call` target, named by the tool's name.
    Tool,
    /// A `resources/read` (or subscribe) target, named by its URI.
    Resource,
    /// A `prompts/get` target, named by the prompt's name.
    Prompt,
}

impl Kind {
    pub(crate) const ALL: [Kind; 3] = [Kind::Tool, Kind::Resource, Kind::Prompt];

    /// The document's section for this kind, and its key in the object
    /// forms of `default` and `hide`.
    pub(crate) fn section(self) -> &'static str {
        match self {
            Self::Tool => "tools",
            Self::Resource => "resources",
            Self::Prompt => "prompts",
        }
    }

    /// The word for one target of this kind, in messages.
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Resource => "resource",
            Self::Prompt => "prompt",
        }
    }

    /// What names a target of this kind, in messages.
    pub(crate) fn key_noun(self) -> &'static str {
        match self {
            Self::Tool => "tool name",
            Self::Resource => "resource URI",
            Self::Prompt => "prompt name",
        }
    }
}

/// What happens to a tool that no key of `tools` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DefaultAction {
    Allow,
    Deny,
}

/// Whose calls a counter counts together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// One counter per agent credential.
    Grant,
    /// One counter per MCP session (legacy sessions; the stateless era has none).
    Session,
    /// One counter for the whole account, across its servers.
    Account,
    /// One counter per registered server.
    Server,
}

/// How a counter's window moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Algorithm {
    /// Calendar-aligned windows (see [`Window`]): cheap, allows a burst of up
    /// to twice `max` across a window boundary.
    #[default]
    Fixed,
    /// An exact rolling window; `max` is at most 10,000.
    Sliding,
}

/// What to do when the counter store cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnBackendError {
    /// Refuse the call.
    #[default]
    Closed,
    /// Let the call through uncounted.
    Open,
}

/// What a matched rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    Allow,
    Deny {
        reason: Option<String>,
    },
    RequireApproval {
        timeout_secs: u64,
        /// `approval_hold`: how long a call is held open before it is
        /// handed back (still pending); `None` takes the deployment's
        /// default.
        hold_secs: Option<u64>,
    },
}

/// The keyword of an action as written in a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActionName {
    Allow,
    Deny,
    RequireApproval,
}

/// One entry of a rule's `limits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Limit {
    pub pointer: String,
    pub counter: String,
    pub window: Window,
    pub max: u64,
    pub scope: Scope,
    /// JSON pointer into the arguments; `None` costs one unit per call.
    pub cost: Option<String>,
    pub algorithm: Algorithm,
    pub on_backend_error: OnBackendError,
}

/// A rule's compiled `arguments` schema.
#[derive(Debug)]
pub(crate) struct ArgumentSchema {
    pub pointer: String,
    pub schema: Value,
    pub validator: jsonschema::Validator,
}

/// One entry of a section (`tools`, `resources` or `prompts`).
#[derive(Debug)]
pub(crate) struct Rule {
    pub kind: Kind,
    pub key: String,
    pub pointer: String,
    pub action: Action,
    pub arguments: Option<ArgumentSchema>,
    pub limits: Vec<Limit>,
    /// `audit_arguments`: audit events keep the call's argument values.
    pub audit_arguments: bool,
}

/// What the document says about one [`Kind`] of target.
#[derive(Debug)]
pub(crate) struct Section {
    pub default: DefaultAction,
    /// Where `default` was read: `/default`, or `/default/resources` in the
    /// object form.
    pub default_pointer: String,
    /// `(pattern, pointer)` for each `hide` entry that applies to this kind.
    pub hide: Vec<(String, String)>,
    /// Every key of the section except `"*"`.
    pub rules: Vec<Rule>,
    /// The `"*"` rule's limits, applied after every allowed call's own.
    pub every_call: Vec<Limit>,
}

/// A document that passed validation.
#[derive(Debug)]
pub(crate) struct Document {
    pub tools: Section,
    pub resources: Section,
    pub prompts: Section,
    /// `extensions`: method names outside MCP, forwarded as sent.
    pub extensions: Vec<String>,
}

impl Document {
    pub(crate) fn sections(&self) -> [(Kind, &Section); 3] {
        [
            (Kind::Tool, &self.tools),
            (Kind::Resource, &self.resources),
            (Kind::Prompt, &self.prompts),
        ]
    }
}

/// A keyword a document may use for a value, and what it means.
pub(crate) trait Named: Copy + 'static {
    const NAMES: &'static [(&'static str, Self)];

    /// Reads the keyword; the error is a message that names the field.
    fn parse(value: &Value, field: &str) -> Result<Self, String> {
        let names: Vec<&str> = Self::NAMES.iter().map(|(name, _)| *name).collect();
        match value {
            Value::String(s) => Self::NAMES
                .iter()
                .find(|(name, _)| name == s)
                .map(|(_, v)| *v)
                .ok_or_else(|| format!("unknown {field} {s:?}{}", suggest::hint(s, &names))),
            other => Err(format!(
                "{field} must be one of {}, not {}",
                suggest::list(&names),
                describe(other)
            )),
        }
    }
}

impl Named for DefaultAction {
    const NAMES: &'static [(&'static str, Self)] = &[("allow", Self::Allow), ("deny", Self::Deny)];
}

impl Named for Scope {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("grant", Self::Grant),
        ("session", Self::Session),
        ("account", Self::Account),
        ("server", Self::Server),
    ];
}

impl Named for Algorithm {
    const NAMES: &'static [(&'static str, Self)] =
        &[("fixed", Self::Fixed), ("sliding", Self::Sliding)];
}

impl Named for OnBackendError {
    const NAMES: &'static [(&'static str, Self)] =
        &[("closed", Self::Closed), ("open", Self::Open)];
}

impl Named for ActionName {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("allow", Self::Allow),
        ("deny", Self::Deny),
        ("require_approval", Self::RequireApproval),
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn named_values_parse_and_suggest() {
        assert_eq!(Scope::parse(&json!("grant"), "scope"), Ok(Scope::Grant));
        assert_eq!(Scope::parse(&json!("server"), "scope"), Ok(Scope::Server));
        assert_eq!(
            Scope::parse(&json!("acount"), "scope"),
            Err("unknown scope \"acount\"; did you mean `account`?".to_owned())
        );
        assert_eq!(
            Algorithm::parse(&json!(true), "algorithm"),
            Err("algorithm must be one of `fixed` or `sliding`, not the boolean true".to_owned())
        );
        assert_eq!(
            ActionName::parse(&json!("require-approval"), "action"),
            Err("unknown action \"require-approval\"; did you mean `require_approval`?".to_owned())
        );
        assert_eq!(
            OnBackendError::parse(&json!("open"), "on_backend_error"),
            Ok(OnBackendError::Open)
        );
        assert_eq!(
            DefaultAction::parse(&json!("deny"), "default"),
            Ok(DefaultAction::Deny)
        );
    }

    #[test]
    fn defaults_are_the_safe_ones() {
        assert_eq!(Algorithm::default(), Algorithm::Fixed);
        assert_eq!(OnBackendError::default(), OnBackendError::Closed);
    }

    #[test]
    fn named_values_serialise_in_snake_case() {
        assert_eq!(
            serde_json::to_value(Scope::Account).unwrap(),
            json!("account")
        );
        assert_eq!(
            serde_json::to_value(Algorithm::Sliding).unwrap(),
            json!("sliding")
        );
        assert_eq!(
            serde_json::to_value(OnBackendError::Open).unwrap(),
            json!("open")
        );
        assert_eq!(
            serde_json::to_value(DefaultAction::Allow).unwrap(),
            json!("allow")
        );
    }
}
