//! Risk classification: what a tool does (its category), how much harm a
//! call can do (its risk), what else a reviewer should know (flags), and the
//! evidence for each (reasons). The rules are data (`rules.rs`); `judge.rs`
//! walks them. The same definition always gets the same verdict.

mod judge;
pub mod rules;
mod tokens;

use serde::{Deserialize, Serialize};

pub use judge::classify;

/// What a tool does, by its worst effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Only reads or computes.
    Read,
    /// Creates or changes state.
    Write,
    /// Runs code, commands or queries the caller supplies.
    Execute,
    /// Deletes, cancels or overwrites: hard or impossible to undo.
    Destructive,
    /// Moves money or bills someone.
    Financial,
}

/// How much harm one call can do, least first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
    Critical,
}

/// What else a reviewer should know about a tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flag {
    /// Takes or handles credentials (passwords, tokens, keys).
    Credentials,
    /// Reaches beyond the server: the web, any URL, third parties.
    OpenWorld,
    /// Runs code, commands or queries.
    ExecutesCode,
    /// Has an unusually large number of parameters.
    ManyParameters,
    /// A server annotation says otherwise than the name or description.
    AnnotationContradicts,
    /// No rule recognised the tool.
    Unrecognised,
}

/// What a reason points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Evidence {
    /// A word of the tool's name, lowercase.
    NameToken(String),
    /// A word or phrase of the title or description, lowercase.
    DescriptionPhrase(String),
    /// An annotation and its value, e.g. `readOnlyHint: true`.
    Annotation(String),
    /// A property of the input schema, as written, or the property count.
    SchemaProperty(String),
}

/// One rule that contributed to a verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// The rule's stable id (a row of `rules::RULES`).
    pub id: &'static str,
    pub text: String,
    pub evidence: Evidence,
}

/// The classifier's answer for one tool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub category: Category,
    pub risk: Risk,
    /// Sorted, without repeats.
    pub flags: Vec<Flag>,
    /// In the order the rules were applied: name, description, schema,
    /// annotations, fallback.
    pub reasons: Vec<Reason>,
}

/// Whether the account trusts a server's own annotations. Annotations come
/// from the party being policed: they may always raise risk, and may lower
/// it only for a server the account marks as trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    Untrusted,
    Trusted,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Execute => "execute",
            Self::Destructive => "destructive",
            Self::Financial => "financial",
        }
    }

    /// Every category, least severe first.
    pub const ALL: [Category; 5] = [
        Self::Read,
        Self::Write,
        Self::Execute,
        Self::Destructive,
        Self::Financial,
    ];

    /// The risk a tool of this category starts at, before flags.
    pub fn base_risk(self) -> Risk {
        match self {
            Self::Read => Risk::Low,
            Self::Write => Risk::Medium,
            Self::Execute | Self::Destructive => Risk::High,
            Self::Financial => Risk::Critical,
        }
    }
}

impl Risk {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    fn raised(self) -> Self {
        match self {
            Self::Low => Self::Medium,
            Self::Medium => Self::High,
            Self::High | Self::Critical => Self::Critical,
        }
    }
}

impl Verdict {
    /// The reason a rule with this id gave, if it fired.
    pub fn reason(&self, id: &str) -> Option<&Reason> {
        self.reasons.iter().find(|r| r.id == id)
    }
}

#[cfg(test)]
mod tests;
