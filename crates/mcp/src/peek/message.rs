//! A validated JSON-RPC message, borrowing from the body it was read from.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::ambiguity::{first_inexact_number, scan, Ambiguity, Scan};
use super::wire::{WireMessage, WireMeta, WireParams, WireParamsObject};
use super::PeekError;
use crate::id::Id;
use crate::json_text::{decode_string, JsonKind};

/// `tools/call`: the only method that counts as a call for policy.
pub const TOOLS_CALL: &str = "tools/call";
/// `tools/list`.
pub const TOOLS_LIST: &str = "tools/list";
/// `initialize` (legacy era; must not be batched).
pub const INITIALIZE: &str = "initialize";
/// `resources/read`: its `Mcp-Name` is `params.uri`.
pub const RESOURCES_READ: &str = "resources/read";
/// `prompts/get`: its `Mcp-Name` is `params.name`.
pub const PROMPTS_GET: &str = "prompts/get";
/// `resources/subscribe`: asks for updates of `params.uri`.
pub const RESOURCES_SUBSCRIBE: &str = "resources/subscribe";
/// `resources/unsubscribe`.
pub const RESOURCES_UNSUBSCRIBE: &str = "resources/unsubscribe";
/// `resources/list`.
pub const RESOURCES_LIST: &str = "resources/list";
/// `resources/templates/list`.
pub const RESOURCE_TEMPLATES_LIST: &str = "resources/templates/list";
/// `completion/complete`: completes an argument of the prompt or resource
/// template its `params.ref` names.
pub const COMPLETION_COMPLETE: &str = "completion/complete";
/// `prompts/list`.
pub const PROMPTS_LIST: &str = "prompts/list";
/// `server/discover` (2026-07-28).
pub const SERVER_DISCOVER: &str = "server/discover";

/// What a JSON-RPC message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    /// Has `method` and `id`: expects a response.
    Request,
    /// Has `method` and no `id`.
    Notification,
    /// Has `result`.
    Response,
    /// Has `error`.
    ErrorResponse,
}

/// A progress token (`params._meta.progressToken`): a string or a number.
pub type ProgressToken<'a> = Id<'a>;

/// One JSON-RPC message as the gateway sees it.
#[derive(Debug, Clone)]
pub struct Message<'a> {
    kind: MessageKind,
    id: Option<Id<'a>>,
    method: Option<Cow<'a, str>>,
    params: Option<Params<'a>>,
    result: Option<&'a RawValue>,
    error: Option<&'a RawValue>,
}

/// The parts of `params` the gateway reads. `None` fields were absent or, for
/// non-`tools/call` methods, not strings.
#[derive(Debug, Clone, Default)]
pub struct Params<'a> {
    is_array: bool,
    name: Option<Cow<'a, str>>,
    uri: Option<Cow<'a, str>>,
    reference: Option<Reference>,
    arguments: Option<&'a RawValue>,
    /// What the peek's walk over `arguments` found.
    arguments_scan: Scan,
    protocol_version: Option<Cow<'a, str>>,
    meta: Option<Meta<'a>>,
}

/// `params._meta`, when it is present.
#[derive(Debug, Clone, Default)]
pub struct Meta<'a> {
    progress_token: Option<ProgressToken<'a>>,
    protocol_version: Option<Cow<'a, str>>,
    has_client_capabilities: bool,
}

/// The policy-relevant part of a `tools/call` request.
#[derive(Debug, Clone, Copy)]
pub struct ToolCall<'m> {
    name: &'m str,
    arguments: Option<&'m RawValue>,
    scan: &'m Scan,
}

impl<'a> Message<'a> {
    /// Request, notification, response or error response.
    pub fn kind(&self) -> MessageKind {
        self.kind
    }
    /// The id, exactly as sent; `None` for notifications and for error
    /// responses whose id is `null`.
    pub fn id(&self) -> Option<&Id<'a>> {
        self.id.as_ref()
    }
    /// The method of a request or notification.
    pub fn method(&self) -> Option<&str> {
        self.method.as_deref()
    }
    /// Whether this is a request or notification for `method`.
    pub fn is_method(&self, method: &str) -> bool {
        self.method.as_deref() == Some(method)
    }
    /// What the gateway read from `params`, when present.
    pub fn params(&self) -> Option<&Params<'a>> {
        self.params.as_ref()
    }
    /// `params._meta`, when present.
    pub fn meta(&self) -> Option<&Meta<'a>> {
        self.params.as_ref().and_then(|p| p.meta.as_ref())
    }
    /// The raw `result` of a response.
    pub fn result(&self) -> Option<&'a RawValue> {
        self.result
    }
    /// The raw `error` object of an error response.
    pub fn error(&self) -> Option<&'a RawValue> {
        self.error
    }
    /// The tool name and arguments, for a `tools/call` request.
    pub fn tool_call(&self) -> Option<ToolCall<'_>> {
        if self.kind != MessageKind::Request || !self.is_method(TOOLS_CALL) {
            return None;
        }
        let params = self.params.as_ref()?;
        Some(ToolCall {
            name: params.name.as_deref()?,
            arguments: params.arguments,
            scan: &params.arguments_scan,
        })
    }
}

impl<'a> Params<'a> {
    /// `params` was a JSON array (by-position parameters; not used by MCP).
    pub fn is_array(&self) -> bool {
        self.is_array
    }
    /// `params.name` (tools, prompts), when a string.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// `params.uri` (resources), when a string.
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }
    /// `params.ref` of `completion/complete`, when well formed.
    pub fn reference(&self) -> Option<&Reference> {
        self.reference.as_ref()
    }
    /// `params.arguments`, raw; `None` when absent or `null`.
    pub fn arguments(&self) -> Option<&'a RawValue> {
        self.arguments
    }
    /// A repeated key (at any depth) or excessive nesting in an object
    /// `params.arguments`: arguments no one can judge for the upstream.
    pub fn arguments_ambiguity(&self) -> Option<&Ambiguity> {
        self.arguments_scan.ambiguity.as_deref()
    }
    /// Whether [`Params::arguments_inexact_number`] has anything to check:
    /// some number in the arguments is not a short integer.
    pub fn arguments_have_unsettled_numbers(&self) -> bool {
        self.arguments.is_some() && self.arguments_scan.unsettled_numbers
    }
    /// The first number in `params.arguments` whose value the policy would
    /// read differently from the literal sent. Walks the arguments again,
    /// but only when the peek saw a number other than a short integer.
    pub fn arguments_inexact_number(&self) -> Option<Ambiguity> {
        let raw = self
            .arguments
            .filter(|_| self.arguments_scan.unsettled_numbers)?;
        first_inexact_number(raw.get())
    }
    /// `params.protocolVersion` (legacy `initialize`), when a string.
    pub fn protocol_version(&self) -> Option<&str> {
        self.protocol_version.as_deref()
    }
    /// `params._meta`, when present.
    pub fn meta(&self) -> Option<&Meta<'a>> {
        self.meta.as_ref()
    }
}

impl<'a> Meta<'a> {
    /// `progressToken`: the request wants `notifications/progress`.
    pub fn progress_token(&self) -> Option<&ProgressToken<'a>> {
        self.progress_token.as_ref()
    }
    /// `io.modelcontextprotocol/protocolVersion` (2026-07-28 requests).
    pub fn protocol_version(&self) -> Option<&str> {
        self.protocol_version.as_deref()
    }
    /// Whether `io.modelcontextprotocol/clientCapabilities` is present.
    pub fn has_client_capabilities(&self) -> bool {
        self.has_client_capabilities
    }
}

impl<'m> ToolCall<'m> {
    /// The tool's name.
    pub fn name(&self) -> &'m str {
        self.name
    }
    /// The raw `arguments` object; `None` when absent or `null`.
    pub fn arguments(&self) -> Option<&'m RawValue> {
        self.arguments
    }
    /// A repeated key (at any depth, compared after unescaping) or excessive
    /// nesting in the arguments, with its pointer: the call must be refused,
    /// since the upstream may read another value than the one judged.
    pub fn ambiguity(&self) -> Option<&'m Ambiguity> {
        self.scan.ambiguity.as_deref()
    }
    /// The first number in the arguments that the policy would read as a
    /// different value from the literal sent (and forwarded). Only worth
    /// asking when the policy reads argument values; costs nothing when the
    /// arguments hold no number but short integers.
    pub fn inexact_number(&self) -> Option<Ambiguity> {
        let raw = self.arguments.filter(|_| self.scan.unsettled_numbers)?;
        first_inexact_number(raw.get())
    }
    /// Whether [`ToolCall::inexact_number`] has anything to check: some
    /// number in the arguments is not a short integer.
    pub fn has_unsettled_numbers(&self) -> bool {
        self.scan.unsettled_numbers
    }
    /// The arguments parsed, `{}` when absent. Only needed when a policy
    /// inspects them; allowed calls are forwarded as the original bytes.
    pub fn arguments_value(&self) -> Result<serde_json::Value, serde_json::Error> {
        match self.arguments {
            Some(raw) => serde_json::from_str(raw.get()),
            None => Ok(serde_json::Value::Object(serde_json::Map::new())),
        }
    }
}

/// What `completion/complete` completes: a prompt's argument, or a resource
/// template's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reference {
    Prompt(String),
    Resource(String),
}

impl Reference {
    /// `{"type":"ref/prompt","name":…}` or `{"type":"ref/resource","uri":…}`;
    /// anything else (a repeated key included: serde refuses duplicate
    /// fields, escaped or not) names nothing.
    fn read(raw: &RawValue) -> Option<Self> {
        #[derive(serde::Deserialize)]
        struct Wire {
            #[serde(rename = "type")]
            kind: String,
            name: Option<String>,
            uri: Option<String>,
        }
        let wire: Wire = serde_json::from_str(raw.get()).ok()?;
        match (wire.kind.as_str(), wire.name, wire.uri) {
            ("ref/prompt", Some(name), None) => Some(Self::Prompt(name)),
            ("ref/resource", None, Some(uri)) => Some(Self::Resource(uri)),
            _ => None,
        }
    }
}

/// Turns the raw members into a [`Message`], or says precisely what is wrong.
pub(crate) fn validate(wire: WireMessage<'_>) -> Result<Message<'_>, PeekError> {
    // Read the id first so that every later error can echo it.
    let (id, id_is_null) = match wire.id {
        None => (None, false),
        Some(raw) => match JsonKind::of(raw) {
            JsonKind::Null => (None, true),
            JsonKind::String | JsonKind::Number => (Id::from_raw(raw), false),
            kind => {
                return Err(invalid_request(
                    None,
                    format!(
                        "\"id\" must be a string or a number, found {}",
                        kind.describe()
                    ),
                ))
            }
        },
    };
    let id_present = wire.id.is_some();
    let fail = |detail: String| invalid_request(id.as_ref(), detail);

    match wire.jsonrpc {
        None => return Err(fail("missing \"jsonrpc\": \"2.0\"".into())),
        Some(raw) if decode_string(raw).as_deref() != Some("2.0") => {
            return Err(fail(format!(
                "\"jsonrpc\" must be \"2.0\", found {}",
                raw.get()
            )));
        }
        Some(_) => {}
    }

    if let Some(raw_method) = wire.method {
        let Some(method) = decode_string(raw_method) else {
            let kind = JsonKind::of(raw_method).describe();
            return Err(fail(format!("\"method\" must be a string, found {kind}")));
        };
        if wire.result.is_some() || wire.error.is_some() {
            return Err(fail(
                "a request must not carry \"result\" or \"error\"".into(),
            ));
        }
        if id_is_null {
            return Err(fail("\"id\" must not be null".into()));
        }
        let params = match wire.params {
            None => None,
            Some(WireParams::Array) => Some(Params {
                is_array: true,
                ..Params::default()
            }),
            Some(WireParams::Other(kind)) => {
                return Err(fail(format!(
                    "\"params\" must be an object or an array, found {}",
                    kind.describe()
                )));
            }
            Some(WireParams::Object(object)) => Some(read_params(object, id.as_ref())?),
        };
        let kind = if id_present {
            MessageKind::Request
        } else {
            MessageKind::Notification
        };
        let message = Message {
            kind,
            id,
            method: Some(method),
            params,
            result: None,
            error: None,
        };
        check_method_params(&message)?;
        return Ok(message);
    }

    let kind = match (wire.result, wire.error) {
        (Some(_), Some(_)) => {
            return Err(fail(
                "a response must not carry both \"result\" and \"error\"".into(),
            ));
        }
        (None, None) => {
            return Err(fail(
                "the message has no \"method\", \"result\" or \"error\"".into(),
            ));
        }
        (Some(_), None) => MessageKind::Response,
        (None, Some(error)) => {
            if JsonKind::of(error) != JsonKind::Object {
                let found = JsonKind::of(error).describe();
                return Err(fail(format!("\"error\" must be an object, found {found}")));
            }
            MessageKind::ErrorResponse
        }
    };
    if !id_present {
        return Err(fail("a response must carry an \"id\"".into()));
    }
    if id_is_null && kind == MessageKind::Response {
        return Err(fail(
            "\"id\" must not be null in a successful response".into(),
        ));
    }
    Ok(Message {
        kind,
        id,
        method: None,
        params: None,
        result: wire.result,
        error: wire.error,
    })
}

fn read_params<'a>(
    object: WireParamsObject<'a>,
    id: Option<&Id<'_>>,
) -> Result<Params<'a>, PeekError> {
    let meta = match object.meta {
        None => None,
        Some(WireMeta::Other(kind)) => {
            let detail = format!(
                "\"params._meta\" must be an object, found {}",
                kind.describe()
            );
            return Err(invalid_params(id, detail));
        }
        Some(WireMeta::Object(meta)) => {
            let progress_token = match meta.progress_token {
                None => None,
                Some(raw) => Some(Id::from_raw(raw).ok_or_else(|| {
                    let found = JsonKind::of(raw).describe();
                    invalid_params(
                        id,
                        format!(
                            "\"_meta.progressToken\" must be a string or a number, found {found}"
                        ),
                    )
                })?),
            };
            let protocol_version = match meta.protocol_version {
                None => None,
                Some(raw) => Some(decode_string(raw).ok_or_else(|| {
                    invalid_params(
                        id,
                        "\"_meta.io.modelcontextprotocol/protocolVersion\" must be a string".into(),
                    )
                })?),
            };
            let has_client_capabilities = meta.client_capabilities.is_some();
            Some(Meta {
                progress_token,
                protocol_version,
                has_client_capabilities,
            })
        }
    };
    let arguments = object
        .arguments
        .filter(|raw| JsonKind::of(raw) != JsonKind::Null);
    // Walked here, for every method, so that whatever the gateway judges by
    // its arguments (today `tools/call`) reads them through one check.
    let arguments_scan = arguments
        .filter(|raw| JsonKind::of(raw) == JsonKind::Object)
        .map(|raw| scan(raw.get()))
        .unwrap_or_default();
    Ok(Params {
        is_array: false,
        name: object.name.and_then(decode_string),
        uri: object.uri.and_then(decode_string),
        reference: object.reference.and_then(Reference::read),
        arguments,
        arguments_scan,
        protocol_version: object.protocol_version.and_then(decode_string),
        meta,
    })
}

/// The requests the policy judges by what they name: `tools/call` and
/// `prompts/get` need a string `name` and, if any, object `arguments`;
/// `resources/read`, `resources/subscribe` and `resources/unsubscribe` a
/// string `uri`; `completion/complete` a `ref` naming one prompt or resource
/// template. The policy cannot judge a request it cannot name.
fn check_method_params(message: &Message<'_>) -> Result<(), PeekError> {
    let Some(method) = message.method() else {
        return Ok(());
    };
    let (field, takes_arguments) = match method {
        COMPLETION_COMPLETE => ("ref", false),
        TOOLS_CALL | PROMPTS_GET => ("name", true),
        RESOURCES_READ | RESOURCES_SUBSCRIBE | RESOURCES_UNSUBSCRIBE => ("uri", false),
        _ => return Ok(()),
    };
    let id = message.id.as_ref();
    if message.kind != MessageKind::Request {
        // A notification gets no answer, so a refusal could not be reported;
        // and a lax upstream might still run it.
        return Err(invalid_request(
            id,
            format!("{method} must be a request with an \"id\""),
        ));
    }
    let Some(params) = message.params.as_ref().filter(|p| !p.is_array) else {
        return Err(invalid_params(
            id,
            format!("{method} requires \"params\" to be an object"),
        ));
    };
    let named = match field {
        "uri" => params.uri.is_some(),
        "ref" => params.reference.is_some(),
        _ => params.name.is_some(),
    };
    if !named {
        let detail = if field == "ref" {
            format!(
                "{method} requires \"params.ref\" to be {{\"type\":\"ref/prompt\",\"name\":…}} \
                 or {{\"type\":\"ref/resource\",\"uri\":…}}, each key once"
            )
        } else {
            format!("{method} requires \"params.{field}\" to be a string")
        };
        return Err(invalid_params(id, detail));
    }
    if let Some(arguments) = params.arguments.filter(|_| takes_arguments) {
        if JsonKind::of(arguments) != JsonKind::Object {
            let found = JsonKind::of(arguments).describe();
            let detail = format!("\"params.arguments\" must be an object, found {found}");
            return Err(invalid_params(id, detail));
        }
    }
    Ok(())
}

pub(crate) fn invalid_request(id: Option<&Id<'_>>, detail: String) -> PeekError {
    PeekError::InvalidRequest {
        detail,
        id: id.map(|id| id.clone().into_owned()),
    }
}

fn invalid_params(id: Option<&Id<'_>>, detail: String) -> PeekError {
    PeekError::InvalidParams {
        detail,
        id: id.map(|id| id.clone().into_owned()),
    }
}
