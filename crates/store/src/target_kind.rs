//! What an audit event or approval names: a tool, a resource or a prompt.

use serde::{Deserialize, Serialize};

/// The kind of target of a gateway decision. Its name (the tool's name, the
/// resource's URI or the prompt's name) is stored beside it as `tool`.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    sqlx::Type,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum TargetKind {
    /// A `tools/call`.
    #[default]
    Tool,
    /// A `resources/read`, by URI.
    Resource,
    /// A `prompts/get`.
    Prompt,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stored_enum::assert_stored_as;

    #[test]
    fn kinds_are_stored_and_serialised_by_one_name_and_default_to_tool() {
        let all = [TargetKind::Tool, TargetKind::Resource, TargetKind::Prompt];
        let names = ["tool", "resource", "prompt"];
        assert_stored_as(&all, &names);
        for (kind, name) in all.iter().zip(names) {
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
        }
        assert_eq!(TargetKind::default(), TargetKind::Tool);
    }
}
