//! Remove entries from a list result (`tools/list`, `resources/list`,
//! `resources/templates/list`, `prompts/list`), leaving everything else as
//! sent.
//!
//! Only the list's array is rebuilt; every other member of the message and of
//! the result (`nextCursor`, `_meta`, `ttlMs`, unknown fields) and every kept
//! entry is copied as its original JSON text, in the original order.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use crate::json_text::{decode_string, write_string, JsonKind};

/// The rewritten message and what happened to its tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilteredToolsList {
    /// The message to send on.
    pub body: Bytes,
    /// Tools kept.
    pub kept: usize,
    /// Tools removed (including entries without a string `name`).
    pub removed: usize,
}

/// Which list a result carries: the member of `result` that holds it, and
/// the member of each entry that names it for the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListKind {
    /// `tools`, `resources`, `resourceTemplates` or `prompts`.
    pub member: &'static str,
    /// `name`, `uri` or `uriTemplate`.
    pub key: &'static str,
}

impl ListKind {
    /// `tools/list`: `result.tools[].name`.
    pub const TOOLS: Self = Self {
        member: "tools",
        key: "name",
    };
    /// `resources/list`: `result.resources[].uri`.
    pub const RESOURCES: Self = Self {
        member: "resources",
        key: "uri",
    };
    /// `resources/templates/list`: `result.resourceTemplates[].uriTemplate`.
    pub const RESOURCE_TEMPLATES: Self = Self {
        member: "resourceTemplates",
        key: "uriTemplate",
    };
    /// `prompts/list`: `result.prompts[].name`.
    pub const PROMPTS: Self = Self {
        member: "prompts",
        key: "name",
    };
    /// Every list the gateway filters.
    pub const ALL: [Self; 4] = [
        Self::TOOLS,
        Self::RESOURCES,
        Self::RESOURCE_TEMPLATES,
        Self::PROMPTS,
    ];

    /// The quoted member name, to find candidate messages cheaply.
    pub fn needle(self) -> &'static str {
        match self.member {
            "tools" => "\"tools\"",
            "resources" => "\"resources\"",
            "resourceTemplates" => "\"resourceTemplates\"",
            _ => "\"prompts\"",
        }
    }
}

/// How to rewrite besides removing tools.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FilterOptions {
    /// Replace an existing `cacheScope` with `"private"`: a list filtered per
    /// grant must not be shared across authorization contexts (2026-07-28).
    pub private_cache_scope: bool,
}

/// Why a message could not be filtered. The proxy must not forward such a
/// message unfiltered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolsListError {
    /// Not valid JSON, or a repeated member.
    #[error("tools/list response is not valid JSON: {0}")]
    Json(String),
    /// A batch array; filter each response on its own.
    #[error("tools/list response must be a single JSON-RPC message, not a batch")]
    Batch,
    /// Not a JSON object.
    #[error("tools/list response must be a JSON object")]
    NotAnObject,
    /// `result` is not an object.
    #[error("tools/list \"result\" must be an object")]
    ResultNotAnObject,
    /// `result.tools` (or the list's other member) is not an array.
    #[error("list \"result.{0}\" must be an array")]
    NotAnArray(&'static str),
}

/// Removes the tools for which `keep(name)` is false from a `tools/list`
/// response message. Tool entries without a string `name` are removed too:
/// the policy cannot judge them. Error responses and results without `tools`
/// come back unchanged; a message with nothing removed comes back as the
/// original bytes.
pub fn filter_tools_list<F: Fn(&str) -> bool>(
    message: &[u8],
    keep: F,
) -> Result<FilteredToolsList, ToolsListError> {
    filter_tools_list_with(message, keep, FilterOptions::default())
}

/// [`filter_tools_list`] with [`FilterOptions`].
pub fn filter_tools_list_with<F: Fn(&str) -> bool>(
    message: &[u8],
    keep: F,
    options: FilterOptions,
) -> Result<FilteredToolsList, ToolsListError> {
    filter_list_with(message, ListKind::TOOLS, keep, options)
}

/// Removes the entries of `list` for which `keep(key)` is false, as
/// [`filter_tools_list`] does for tools: entries without a string key are
/// removed too, and a message without the list comes back unchanged.
pub fn filter_list_with<F: Fn(&str) -> bool>(
    message: &[u8],
    list: ListKind,
    keep: F,
    options: FilterOptions,
) -> Result<FilteredToolsList, ToolsListError> {
    filter_list_by_entry(message, list, |key, _| keep(key), options)
}

/// [`filter_list_with`], where `keep` also gets each entry's JSON text
/// (to judge a tool by its whole definition, not its name alone).
pub fn filter_list_by_entry<F: Fn(&str, &str) -> bool>(
    message: &[u8],
    list: ListKind,
    keep: F,
    options: FilterOptions,
) -> Result<FilteredToolsList, ToolsListError> {
    let text = std::str::from_utf8(message).map_err(|err| ToolsListError::Json(err.to_string()))?;
    match text.trim_start().as_bytes().first() {
        Some(b'{') => {}
        Some(b'[') => return Err(ToolsListError::Batch),
        _ => {
            return Err(match serde_json::from_str::<IgnoredAny>(text) {
                Err(err) => ToolsListError::Json(err.to_string()),
                Ok(_) => ToolsListError::NotAnObject,
            })
        }
    }
    let unchanged = || FilteredToolsList {
        body: Bytes::copy_from_slice(message),
        kept: 0,
        removed: 0,
    };
    let top = parse_members(text)?;
    let Some(result) = top.get("result") else {
        return Ok(unchanged());
    };
    if JsonKind::of(result) != JsonKind::Object {
        return Err(ToolsListError::ResultNotAnObject);
    }
    let result_members = parse_members(result.get())?;
    let Some(tools) = result_members.get(list.member) else {
        return Ok(unchanged());
    };
    if JsonKind::of(tools) != JsonKind::Array {
        return Err(ToolsListError::NotAnArray(list.member));
    }
    let tools: Vec<&RawValue> = json(serde_json::from_str(tools.get()))?;
    let total = tools.len();
    let mut kept = Vec::with_capacity(total);
    for tool in tools {
        if JsonKind::of(tool) != JsonKind::Object {
            continue;
        }
        let entry = parse_members(tool.get())?;
        let name = entry.get(list.key);
        if name
            .and_then(decode_string)
            .is_some_and(|name| keep(&name, tool.get()))
        {
            kept.push(tool);
        }
    }
    let removed = total - kept.len();
    let rescope = options.private_cache_scope
        && result_members
            .get("cacheScope")
            .is_some_and(|scope| decode_string(scope).as_deref() != Some("private"));
    if removed == 0 && !rescope {
        return Ok(FilteredToolsList {
            kept: kept.len(),
            ..unchanged()
        });
    }

    let mut out = Vec::with_capacity(message.len());
    write_object(&mut out, &top.0, |out, key, _| {
        if key != "result" {
            return false;
        }
        write_object(out, &result_members.0, |out, key, _| match key {
            _ if key == list.member => {
                out.push(b'[');
                for (i, tool) in kept.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(tool.get().as_bytes());
                }
                out.push(b']');
                true
            }
            "cacheScope" if rescope => {
                out.extend_from_slice(b"\"private\"");
                true
            }
            _ => false,
        });
        true
    });
    Ok(FilteredToolsList {
        body: Bytes::from(out),
        kept: kept.len(),
        removed,
    })
}

/// Writes `{"k":v,…}`; `replace` may write a member's value itself and return
/// true, else the raw value is copied.
fn write_object(
    out: &mut Vec<u8>,
    members: &[(Cow<'_, str>, &RawValue)],
    mut replace: impl FnMut(&mut Vec<u8>, &str, &RawValue) -> bool,
) {
    out.push(b'{');
    for (i, (key, value)) in members.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_string(out, key);
        out.push(b':');
        if !replace(out, key, value) {
            out.extend_from_slice(value.get().as_bytes());
        }
    }
    out.push(b'}');
}

fn json<T>(result: Result<T, serde_json::Error>) -> Result<T, ToolsListError> {
    result.map_err(|err| ToolsListError::Json(err.to_string()))
}

fn parse_members(text: &str) -> Result<Members<'_>, ToolsListError> {
    json(serde_json::from_str(text))
}

/// An object's members in order, values raw. A repeated key is an error:
/// clients would read the last copy, so filtering one copy is not enough.
struct Members<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'a> Members<'a> {
    fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members: Vec<(Cow<'de, str>, &'de RawValue)> = Vec::new();
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    if members.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format_args!("duplicate member `{key}`")));
                    }
                    members.push((key, map.next_value()?));
                }
                Ok(Members(members))
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

#[cfg(test)]
mod tests;
