//! A discovery attempt: open a conversation, list every page of tools, then
//! the resources and prompts the server advertises, all within the bounds.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use toolgate_catalog::ToolDefinition;
use toolgate_mcp::headers::Era;
use toolgate_netguard::OutboundGuard;
use url::Url;

use crate::failure::{Failure, Status};
use crate::limits::{Budget, Limits};
use crate::session::Session;

/// A resource or prompt as its list shows it: what a person needs to judge
/// it, nothing the server merely decorates it with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    /// The prompt's name, or the resource's name (its URI when it has none).
    pub name: String,
    /// The resource's URI (what a policy's `resources` section names).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, rename = "mimeType", skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// A prompt's arguments, as listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Value>,
}

impl Listed {
    /// The name a policy matches: a resource's URI, a prompt's name.
    pub fn key(&self) -> &str {
        self.uri.as_deref().unwrap_or(&self.name)
    }
}

/// What an upstream offers.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub era: Era,
    /// In the server's order, each name once.
    pub tools: Vec<ToolDefinition>,
    /// Empty when the server does not advertise resources.
    pub resources: Vec<Listed>,
    pub prompts: Vec<Listed>,
    /// What was left out and why (an entry without a name, a list that
    /// failed beside the tools), for a person to read.
    pub notes: Vec<String>,
}

/// Runs discovery attempts. Cheap to clone; one per process is enough.
#[derive(Clone)]
pub struct Discoverer {
    client: reqwest::Client,
    guard: OutboundGuard,
    limits: Limits,
}

impl std::fmt::Debug for Discoverer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discoverer")
            .field("guard", &self.guard)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}

impl Discoverer {
    /// A discoverer whose every connection `guard` admits.
    pub fn new(guard: OutboundGuard, limits: Limits) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            // A redirect could lead anywhere, including past the guard.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(limits.deadline)
            // A backstop: the attempt's own deadline cuts it first.
            .timeout(limits.deadline)
            // Names are resolved by the guard, and only the addresses it
            // admitted are dialled.
            .dns_resolver(Arc::new(guard.clone()))
            .user_agent(concat!("Toolgate-Discovery/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self {
            client,
            guard,
            limits,
        })
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Asks the MCP server at `url` what it offers, sending `headers` (its
    /// credentials) on every request.
    pub async fn discover(
        &self,
        url: &str,
        headers: &BTreeMap<String, String>,
    ) -> Result<Discovered, Failure> {
        let url = toolgate_netguard::parse_url(url)
            .map_err(|e| Failure::new(Status::Error, format!("the server's URL: {e}")))?;
        // A literal address skips the resolver, so it is checked here.
        self.guard.admit_literal(&url).map_err(|refused| {
            Failure::new(
                Status::RefusedAddress,
                format!("the upstream's address is not allowed: {refused}"),
            )
        })?;
        let headers = header_map(headers)?;
        match tokio::time::timeout(self.limits.deadline, self.converse(&url, &headers)).await {
            Ok(outcome) => outcome,
            Err(_) => Err(Failure::new(
                Status::Timeout,
                format!(
                    "the upstream did not finish answering within {} ms",
                    self.limits.deadline.as_millis()
                ),
            )),
        }
    }

    async fn converse(&self, url: &Url, headers: &HeaderMap) -> Result<Discovered, Failure> {
        let budget = Budget::new(self.limits.max_bytes);
        let mut session = Session::open(&self.client, url, headers, budget).await?;
        let outcome = self.list_everything(&mut session).await;
        session.close().await;
        outcome
    }

    async fn list_everything(&self, session: &mut Session<'_>) -> Result<Discovered, Failure> {
        let mut notes = Vec::new();
        let raw_tools = self
            .list_all(session, "tools/list", "tools", self.limits.max_tools)
            .await?;
        let mut tools = Vec::with_capacity(raw_tools.len());
        let mut names = HashSet::new();
        for (index, raw) in raw_tools.iter().enumerate() {
            match ToolDefinition::from_wire(raw) {
                Ok(tool) if names.insert(tool.name.clone()) => tools.push(tool),
                Ok(tool) => notes.push(format!(
                    "tool #{index}: {:?} is listed more than once; the first is kept",
                    shorten(&tool.name)
                )),
                Err(error) => notes.push(format!("tool #{index} is left out: {error}")),
            }
        }
        // Both eras declare what the server offers; what it does not
        // declare is not asked for.
        let advertises = |what: &str| session.capabilities.get(what).is_some_and(|c| !c.is_null());
        let (has_resources, has_prompts) = (advertises("resources"), advertises("prompts"));
        let resources = if has_resources {
            self.list_side(session, "resources/list", "resources", &mut notes)
                .await?
        } else {
            Vec::new()
        };
        let prompts = if has_prompts {
            self.list_side(session, "prompts/list", "prompts", &mut notes)
                .await?
        } else {
            Vec::new()
        };
        Ok(Discovered {
            era: session.era,
            tools,
            resources,
            prompts,
            notes,
        })
    }

    /// Resources or prompts: a failure to list them is a note beside the
    /// tools, not the attempt's failure, unless the attempt's own bounds are
    /// spent (then nothing more can be read).
    async fn list_side(
        &self,
        session: &mut Session<'_>,
        method: &str,
        field: &str,
        notes: &mut Vec<String>,
    ) -> Result<Vec<Listed>, Failure> {
        match self
            .list_all(session, method, field, self.limits.max_listed)
            .await
        {
            Ok(raw) => {
                let mut listed = Vec::with_capacity(raw.len());
                for (index, entry) in raw.iter().enumerate() {
                    match listed_of(entry, field == "resources") {
                        Some(item) => listed.push(item),
                        None => notes.push(format!(
                            "{field} #{index} is left out: it has no name{}",
                            if field == "resources" { " or uri" } else { "" }
                        )),
                    }
                }
                Ok(listed)
            }
            Err(failure) if failure.status == Status::Timeout => Err(failure),
            Err(failure)
                if failure.status == Status::TooLarge && session.budget.remaining() == 0 =>
            {
                Err(failure)
            }
            Err(failure) => {
                notes.push(format!("{method} failed: {}", failure.detail));
                Ok(Vec::new())
            }
        }
    }

    /// Every page of a list, up to `max_items` entries.
    async fn list_all(
        &self,
        session: &mut Session<'_>,
        method: &str,
        field: &str,
        max_items: usize,
    ) -> Result<Vec<Value>, Failure> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut seen_cursors = HashSet::new();
        for _ in 0..self.limits.max_pages {
            let params = match &cursor {
                Some(cursor) => json!({"cursor": cursor}),
                None => json!({}),
            };
            let mut result = session.call(method, params).await?;
            let page = match result.get_mut(field).map(Value::take) {
                Some(Value::Array(page)) => page,
                _ => {
                    return Err(Failure::new(
                        Status::NotMcp,
                        format!("the upstream's {method} result has no `{field}` array"),
                    ))
                }
            };
            if items.len() + page.len() > max_items {
                return Err(Failure::new(
                    Status::TooLarge,
                    format!("the upstream lists more than {max_items} {field}"),
                ));
            }
            items.extend(page);
            cursor = match result.get("nextCursor") {
                Some(Value::String(next)) => Some(next.clone()),
                _ => return Ok(items),
            };
            if let Some(next) = &cursor {
                if !seen_cursors.insert(next.clone()) {
                    return Err(Failure::new(
                        Status::Error,
                        format!("the upstream's {method} repeats a cursor: its pages never end"),
                    ));
                }
            }
        }
        Err(Failure::new(
            Status::TooLarge,
            format!(
                "the upstream's {method} has more than {} pages",
                self.limits.max_pages
            ),
        ))
    }
}

/// A resource (`uri` required) or prompt (`name` required) entry.
fn listed_of(entry: &Value, is_resource: bool) -> Option<Listed> {
    let text = |field: &str| entry.get(field).and_then(Value::as_str).map(str::to_owned);
    let uri = if is_resource {
        Some(text("uri").filter(|u| !u.is_empty())?)
    } else {
        None
    };
    let name = match (text("name").filter(|n| !n.is_empty()), &uri) {
        (Some(name), _) => name,
        (None, Some(uri)) => uri.clone(),
        (None, None) => return None,
    };
    Some(Listed {
        name,
        uri,
        title: text("title"),
        description: text("description"),
        mime_type: text("mimeType"),
        arguments: entry.get("arguments").filter(|a| a.is_array()).cloned(),
    })
}

fn header_map(headers: &BTreeMap<String, String>) -> Result<HeaderMap, Failure> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let invalid = || {
            Failure::new(
                Status::Error,
                format!("the stored header {:?} cannot be sent", shorten(name)),
            )
        };
        let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid())?;
        let mut value = HeaderValue::from_str(value).map_err(|_| invalid())?;
        value.set_sensitive(true);
        map.insert(name, value);
    }
    Ok(map)
}

/// At most 80 characters of upstream text, for a note.
fn shorten(text: &str) -> String {
    text.chars().take(80).collect()
}
