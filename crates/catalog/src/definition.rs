//! A tool definition as an upstream advertises it in `tools/list`, reduced to
//! the fields that say what the tool does, and a hash over their canonical
//! form: the same definition always hashes the same, whatever the key order
//! or white space it was sent with, and any change to what an agent or a
//! reviewer reads (name, title, description, schemas, annotations) changes it.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use toolgate_strictjson::canonical::canonical_text;

/// The parts of a `tools/list` entry that define a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolDefinition {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        rename = "inputSchema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub input_schema: Option<Value>,
    #[serde(
        rename = "outputSchema",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub output_schema: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DefinitionError {
    #[error("a tool must be a JSON object")]
    NotAnObject,
    #[error("a tool must have a non-empty string `name`")]
    MissingName,
    #[error("`{0}` must be a string")]
    NotAString(&'static str),
    #[error("`{0}` must be a JSON object")]
    NotAnObjectField(&'static str),
}

/// What differs between two definitions of one tool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    Title,
    Description,
    InputSchema,
    OutputSchema,
    Annotations,
}

/// `sha256:` and 64 lowercase hex digits over the canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ContentHash(String);

impl ContentHash {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl ToolDefinition {
    /// Reads one entry of a `tools/list` result. Fields that do not define
    /// what the tool does (`icons`, `_meta`, `execution`, unknown ones) are
    /// left out; `null` counts as absent.
    pub fn from_wire(tool: &Value) -> Result<Self, DefinitionError> {
        let object = tool.as_object().ok_or(DefinitionError::NotAnObject)?;
        let name = match object.get("name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => return Err(DefinitionError::MissingName),
        };
        let text = |field: &'static str| match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(DefinitionError::NotAString(field)),
        };
        let object_field = |field: &'static str| match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value @ Value::Object(_)) => Ok(Some(value.clone())),
            Some(_) => Err(DefinitionError::NotAnObjectField(field)),
        };
        // 2026-07-28 allows any JSON Schema, booleans included, for the schemas.
        let schema = |field: &'static str| match object.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(value @ (Value::Object(_) | Value::Bool(_))) => Ok(Some(value.clone())),
            Some(_) => Err(DefinitionError::NotAnObjectField(field)),
        };
        Ok(Self {
            name,
            title: text("title")?,
            description: text("description")?,
            input_schema: schema("inputSchema")?,
            output_schema: schema("outputSchema")?,
            annotations: object_field("annotations")?,
        })
    }

    /// The title a person sees: `title`, else `annotations.title`, else the name.
    pub fn display_title(&self) -> &str {
        self.title
            .as_deref()
            .or_else(|| {
                self.annotations
                    .as_ref()
                    .and_then(|a| a.get("title"))
                    .and_then(Value::as_str)
            })
            .unwrap_or(&self.name)
    }

    /// The definition as canonical JSON: object keys sorted by their UTF-8
    /// bytes, no white space, absent fields left out.
    pub fn canonical_json(&self) -> String {
        canonical_text(&serde_json::to_value(self).unwrap_or(Value::Null))
    }

    pub fn content_hash(&self) -> ContentHash {
        let digest = Sha256::digest(self.canonical_json().as_bytes());
        ContentHash(format!("sha256:{}", hex::encode(digest)))
    }

    /// What changed from `older` to `self` (the name is the tool's identity
    /// and is not compared).
    pub fn changes_from(&self, older: &Self) -> Vec<Change> {
        let mut changes = Vec::new();
        if self.title != older.title {
            changes.push(Change::Title);
        }
        if self.description != older.description {
            changes.push(Change::Description);
        }
        if !same_json(&self.input_schema, &older.input_schema) {
            changes.push(Change::InputSchema);
        }
        if !same_json(&self.output_schema, &older.output_schema) {
            changes.push(Change::OutputSchema);
        }
        if !same_json(&self.annotations, &older.annotations) {
            changes.push(Change::Annotations);
        }
        changes
    }
}

/// Equal as canonical JSON (so key order never counts as a change).
fn same_json(a: &Option<Value>, b: &Option<Value>) -> bool {
    let canonical = |v: &Option<Value>| v.as_ref().map(canonical_text);
    canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(value: Value) -> ToolDefinition {
        ToolDefinition::from_wire(&value).expect("a valid tool")
    }

    #[test]
    fn key_order_and_white_space_do_not_change_the_hash() {
        let a: Value = serde_json::from_str(
            r#"{"name":"get","description":"d","inputSchema":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}}"#,
        )
        .expect("json");
        let b: Value = serde_json::from_str(
            r#"{ "inputSchema": { "properties": { "b": {"type":"integer"}, "a": {"type":"string"} }, "type": "object" },
                "description": "d", "name": "get" }"#,
        )
        .expect("json");
        assert_eq!(tool(a).content_hash(), tool(b).content_hash());
    }

    #[test]
    fn fields_that_do_not_define_the_tool_are_left_out() {
        let plain = tool(json!({"name": "get", "description": "d"}));
        let decorated = tool(
            json!({"name": "get", "description": "d", "icons": [{"src": "x"}],
            "_meta": {"k": 1}, "execution": {"taskSupport": "optional"}, "title": null}),
        );
        assert_eq!(plain, decorated);
        assert_eq!(plain.content_hash(), decorated.content_hash());
    }

    #[test]
    fn every_defining_field_changes_the_hash_and_is_named() {
        let base = json!({"name": "t", "title": "T", "description": "d",
            "inputSchema": {"type": "object"}, "outputSchema": {"type": "object"},
            "annotations": {"readOnlyHint": true}});
        let original = tool(base.clone());
        for (field, replacement, change) in [
            ("title", json!("T2"), Change::Title),
            ("description", json!("d2"), Change::Description),
            (
                "inputSchema",
                json!({"type": "object", "required": ["x"]}),
                Change::InputSchema,
            ),
            (
                "outputSchema",
                json!({"type": "array"}),
                Change::OutputSchema,
            ),
            (
                "annotations",
                json!({"readOnlyHint": false}),
                Change::Annotations,
            ),
        ] {
            let mut changed = base.clone();
            changed[field] = replacement;
            let changed = tool(changed);
            assert_ne!(changed.content_hash(), original.content_hash(), "{field}");
            assert_eq!(changed.changes_from(&original), vec![change], "{field}");
        }
    }

    #[test]
    fn hashes_have_one_shape() {
        let hash = tool(json!({"name": "x"})).content_hash();
        let hex = hash.as_str().strip_prefix("sha256:").expect("prefix");
        assert_eq!(hex.len(), 64);
        assert!(hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }

    #[test]
    fn malformed_entries_are_refused_precisely() {
        assert_eq!(
            ToolDefinition::from_wire(&json!([])),
            Err(DefinitionError::NotAnObject)
        );
        assert_eq!(
            ToolDefinition::from_wire(&json!({"name": ""})),
            Err(DefinitionError::MissingName)
        );
        assert_eq!(
            ToolDefinition::from_wire(&json!({"name": "x", "description": 3})),
            Err(DefinitionError::NotAString("description"))
        );
        assert_eq!(
            ToolDefinition::from_wire(&json!({"name": "x", "annotations": "no"})),
            Err(DefinitionError::NotAnObjectField("annotations"))
        );
        assert!(ToolDefinition::from_wire(&json!({"name": "x", "inputSchema": true})).is_ok());
    }

    #[test]
    fn the_display_title_prefers_title_then_annotation_then_name() {
        assert_eq!(
            tool(json!({"name": "n", "title": "A", "annotations": {"title": "B"}})).display_title(),
            "A"
        );
        assert_eq!(
            tool(json!({"name": "n", "annotations": {"title": "B"}})).display_title(),
            "B"
        );
        assert_eq!(tool(json!({"name": "n"})).display_title(), "n");
    }

    proptest::proptest! {
        #[test]
        fn the_hash_is_deterministic_for_any_text(name in "[a-z_]{1,20}", description in ".{0,200}") {
            let a = tool(json!({"name": name, "description": description}));
            let b = tool(json!({"description": description, "name": name}));
            proptest::prop_assert_eq!(a.content_hash(), b.content_hash());
        }
    }
}
