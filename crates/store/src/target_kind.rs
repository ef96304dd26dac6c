//! What an audit event or approval names: a tool, a resource or a prompt.

use serde::{Deserialize, Serialize};

/// The kind of target of a gateway decision. Its name (the tool's name, the
/// resource's URI or the prompt's name) is stored beside it as `tool`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// A `tools/call`.
    #[default]
    Tool,
    /// A `resources/read`, by URI.
    Resource,
    /// A `prompts/get`.
    Prompt,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tool => "tool",
            Self::Resource => "resource",
            Self::Prompt => "prompt",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Tool, Self::Resource, Self::Prompt]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_default_to_tool() {
        for kind in [TargetKind::Tool, TargetKind::Resource, TargetKind::Prompt] {
            assert_eq!(TargetKind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
        }
        assert_eq!(TargetKind::parse("file"), None);
        assert_eq!(TargetKind::default(), TargetKind::Tool);
    }
}
