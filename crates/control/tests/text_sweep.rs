//! Odd text everywhere: NUL, lone surrogates, a 1 MB string, a merely long
//! one, C0 and C1 controls, bidi overrides, combining marks, emoji and
//! noncharacters, in every text field of every write route, every query
//! parameter and every path parameter. Never a 5xx; a refusal is
//! problem+json naming the input; what is accepted reads back exactly as sent.
//!
//! The routes come from the OpenAPI document: a write route, or a text field
//! of one, that the table below does not cover fails the test, so the sweep
//! cannot fall behind the API.

#![allow(clippy::unwrap_used)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use common::{Response, Tenant, TestApp, PASSWORD};
use serde_json::{json, Value};
use sqlx::PgPool;

/// One odd text, as the content of a JSON string literal (escapes allowed,
/// so a lone surrogate can be sent), and what it decodes to.
struct Payload {
    name: &'static str,
    json: String,
    /// `None` when it is not Unicode text at all.
    text: Option<String>,
}

fn payload(name: &'static str, text: &str) -> Payload {
    let quoted = serde_json::to_string(text).unwrap();
    Payload {
        name,
        json: quoted[1..quoted.len() - 1].to_owned(),
        text: Some(text.to_owned()),
    }
}

fn payloads() -> Vec<Payload> {
    vec![
        payload("nul", "a\u{0}b"),
        Payload {
            name: "lone surrogate",
            json: r"a\ud800b".to_owned(),
            text: None,
        },
        payload("1 MB", &"x".repeat(1024 * 1024)),
        payload("long", &"é".repeat(5000)),
        payload("c0", "a\u{1}\u{7}\t\n\u{1b}[31m\u{1f}\u{7f}b"),
        payload("c1", "a\u{80}\u{85}\u{9b}\u{9f}b"),
        payload("bidi", "a\u{202e}b\u{2066}c\u{2069}\u{200f}d"),
        payload("combining", "e\u{301}\u{308}\u{20dd}z\u{35c}\u{361}"),
        payload("emoji", "😀 👩\u{200d}👩\u{200d}👧 🇫🇷"),
        // A surrogate pair escape is one character, U+1F600.
        Payload {
            name: "pair escape",
            json: r"\ud83d\ude00x".to_owned(),
            text: Some("😀x".to_owned()),
        },
        payload(
            "noncharacters",
            "\u{feff}\u{200b}\u{fffe}\u{ffff}\u{10ffff}",
        ),
    ]
}

/// What the server may do to a value it accepts, as documented.
#[derive(Clone, Copy)]
enum Normal {
    Exact,
    /// Emails are stored lower-cased.
    Lowercase,
    /// URLs are stored in their WHATWG serialisation (percent-encoded).
    Url,
}

/// Where an accepted value reads back.
#[derive(Clone, Copy)]
enum Read {
    /// Not stored, or write-only.
    Nothing,
    /// In the write's own response, at this pointer.
    Response(&'static str),
    /// From GET of this path (`{id}`: the target or the created resource),
    /// at this pointer (`{at}`: the field's pointer in the body).
    Get(&'static str, &'static str),
    /// In the array at this pointer of GET of this path.
    Listed(&'static str, &'static str),
    /// The password logs in.
    Login,
}

/// One text field of a write route, and how to put a payload in it.
struct Case {
    /// `METHOD /path` as the OpenAPI document spells it.
    op: &'static str,
    /// The request body property this case covers (`""`: a free-form body).
    field: &'static str,
    /// The payload's place in the base body: a pointer, whose last segment
    /// `{key}` means the payload is an object key there.
    at: &'static str,
    /// Around the payload, so the rest of the value is valid (`{n}`: a
    /// number unique to the request).
    prefix: &'static str,
    suffix: &'static str,
    normal: Normal,
    read: Read,
}

const fn case(op: &'static str, field: &'static str, at: &'static str, read: Read) -> Case {
    Case {
        op,
        field,
        at,
        prefix: "",
        suffix: "",
        normal: Normal::Exact,
        read,
    }
}

const fn wrapped(
    op: &'static str,
    field: &'static str,
    at: &'static str,
    (prefix, suffix): (&'static str, &'static str),
    normal: Normal,
    read: Read,
) -> Case {
    Case {
        op,
        field,
        at,
        prefix,
        suffix,
        normal,
        read,
    }
}

const SIGNUP: &str = "POST /v1/signup";
const LOGIN: &str = "POST /v1/login";
const SESSION: &str = "POST /v1/session";
const SIGNUP_VERIFY: &str = "POST /v1/signup/verify";
const ACCOUNT: &str = "PATCH /v1/account";
const API_KEY: &str = "POST /v1/api-keys";
const SERVER: &str = "POST /v1/servers";
const SERVER_PATCH: &str = "PATCH /v1/servers/{id}";
const POLICY: &str = "PUT /v1/servers/{id}/policy";
const SHADOW: &str = "PUT /v1/servers/{id}/policy/shadow";
const SIMULATE: &str = "POST /v1/servers/{id}/policy/simulate";
const GRANT: &str = "POST /v1/grants";
const APPROVE: &str = "POST /v1/approvals/{id}/approve";
const PIN: &str = "POST /v1/servers/{id}/tools/{name}/pin";
const DENY: &str = "POST /v1/approvals/{id}/deny";
const SWITCH: &str = "POST /v1/me/switch";
const SESSION_SWITCH: &str = "POST /v1/session/switch";
const MY_PASSWORD: &str = "POST /v1/me/password";
const MEMBER: &str = "PATCH /v1/members/{id}";
const HANDOVER: &str = "POST /v1/account/handover";
const INVITE: &str = "POST /v1/invitations";
const ACCEPT: &str = "POST /v1/invitations/accept";
const RESET: &str = "POST /v1/password-reset";
const RESET_CONFIRM: &str = "POST /v1/password-reset/confirm";
/// A user id no account has: the body is read before the member is looked up.
const NOBODY: &str = "usr_0190d0f0a0b07c008000000000000001";
const EXPLAIN: &str = "POST /v1/servers/{id}/policy/explain";

const EMAIL: (&str, &str) = ("u", "@n{n}.example.com");
const URL: (&str, &str) = ("https://93.184.216.34/mcp/", "");
const POLICY_READ: Read = Read::Get("/v1/servers/{id}/policy", "/policy{at}");
const SHADOW_READ: Read = Read::Get("/v1/servers/{id}/policy/shadow", "/shadow/policy{at}");

const CASES: &[Case] = &[
    wrapped(
        SIGNUP,
        "/email",
        "/email",
        EMAIL,
        Normal::Lowercase,
        Read::Response("/user/email"),
    ),
    wrapped(
        SIGNUP,
        "/password",
        "/password",
        ("long enough ", ""),
        Normal::Exact,
        Read::Login,
    ),
    case(
        SIGNUP,
        "/account",
        "/account",
        Read::Response("/account/name"),
    ),
    wrapped(
        LOGIN,
        "/email",
        "/email",
        EMAIL,
        Normal::Exact,
        Read::Nothing,
    ),
    case(LOGIN, "/password", "/password", Read::Nothing),
    wrapped(
        SESSION,
        "/email",
        "/email",
        EMAIL,
        Normal::Exact,
        Read::Nothing,
    ),
    case(SESSION, "/password", "/password", Read::Nothing),
    case(SESSION, "/account", "/account", Read::Nothing),
    case(LOGIN, "/account", "/account", Read::Nothing),
    case(SWITCH, "/account_id", "/account_id", Read::Nothing),
    case(SESSION_SWITCH, "/account_id", "/account_id", Read::Nothing),
    // The current password is never right here, so nothing ever changes.
    case(
        MY_PASSWORD,
        "/current_password",
        "/current_password",
        Read::Nothing,
    ),
    case(MY_PASSWORD, "/new_password", "/new_password", Read::Nothing),
    case(MEMBER, "/role", "/role", Read::Nothing),
    case(HANDOVER, "/to", "/to", Read::Nothing),
    case(HANDOVER, "/then", "/then", Read::Nothing),
    wrapped(
        INVITE,
        "/email",
        "/email",
        EMAIL,
        Normal::Lowercase,
        Read::Response("/email"),
    ),
    case(INVITE, "/role", "/role", Read::Nothing),
    case(ACCEPT, "/token", "/token", Read::Nothing),
    case(ACCEPT, "/password", "/password", Read::Nothing),
    case(RESET, "/email", "/email", Read::Nothing),
    case(RESET_CONFIRM, "/token", "/token", Read::Nothing),
    case(RESET_CONFIRM, "/password", "/password", Read::Nothing),
    case(SIGNUP_VERIFY, "/token", "/token", Read::Nothing),
    case(ACCOUNT, "/name", "/name", Read::Get("/v1/account", "/name")),
    // A closed set (generic, slack): every payload is refused at its pointer.
    case(
        ACCOUNT,
        "/approval_webhook_format",
        "/approval_webhook_format",
        Read::Get("/v1/account", "/approval_webhook_format"),
    ),
    wrapped(
        ACCOUNT,
        "/approval_webhook_url",
        "/approval_webhook_url",
        URL,
        Normal::Url,
        Read::Get("/v1/account", "/approval_webhook_url"),
    ),
    case(API_KEY, "/name", "/name", Read::Response("/name")),
    case(API_KEY, "/role", "/role", Read::Nothing),
    case(
        SERVER,
        "/name",
        "/name",
        Read::Get("/v1/servers/{id}", "/name"),
    ),
    wrapped(
        SERVER,
        "/url",
        "/url",
        URL,
        Normal::Url,
        Read::Get("/v1/servers/{id}", "/url"),
    ),
    case(
        SERVER,
        "/headers",
        "/headers/{key}",
        Read::Listed("/v1/servers/{id}", "/header_names"),
    ),
    case(SERVER, "/headers", "/headers/x-key", Read::Nothing),
    case(SERVER, "/new_tools", "/new_tools", Read::Nothing),
    case(SERVER_PATCH, "/new_tools", "/new_tools", Read::Nothing),
    // Only a hash as listed is one; text that is not is refused at /hash.
    case(PIN, "/hash", "/hash", Read::Nothing),
    case(
        SERVER_PATCH,
        "/name",
        "/name",
        Read::Get("/v1/servers/{id}", "/name"),
    ),
    wrapped(
        SERVER_PATCH,
        "/url",
        "/url",
        URL,
        Normal::Url,
        Read::Get("/v1/servers/{id}", "/url"),
    ),
    case(
        SERVER_PATCH,
        "/headers",
        "/headers/{key}",
        Read::Listed("/v1/servers/{id}", "/header_names"),
    ),
    case(SERVER_PATCH, "/headers", "/headers/x-key", Read::Nothing),
    case(POLICY, "", "/tools/{key}", POLICY_READ),
    case(POLICY, "", "/hide/0", POLICY_READ),
    case(POLICY, "", "/tools/t/reason", POLICY_READ),
    case(POLICY, "", "/tools/t/limits/0/counter", POLICY_READ),
    case(
        POLICY,
        "",
        "/tools/t/arguments/properties/{key}",
        POLICY_READ,
    ),
    case(POLICY, "", "/tools/t/arguments/description", POLICY_READ),
    case(SHADOW, "", "/tools/{key}", SHADOW_READ),
    case(SHADOW, "", "/tools/t/reason", SHADOW_READ),
    case(SHADOW, "", "/tools/t/limits/0/counter", SHADOW_READ),
    case(SIMULATE, "/since", "/since", Read::Nothing),
    case(SIMULATE, "/until", "/until", Read::Nothing),
    case(EXPLAIN, "/tool", "/tool", Read::Response("/name")),
    case(EXPLAIN, "/grant", "/grant", Read::Nothing),
    case(EXPLAIN, "/kind", "/kind", Read::Nothing),
    case(
        GRANT,
        "/name",
        "/name",
        Read::Get("/v1/grants/{id}", "/name"),
    ),
    case(GRANT, "/servers", "/servers/0", Read::Nothing),
    case(GRANT, "/expires_at", "/expires_at", Read::Nothing),
    case(
        APPROVE,
        "/reason",
        "/reason",
        Read::Get("/v1/approvals/{id}", "/reason"),
    ),
    case(
        DENY,
        "/reason",
        "/reason",
        Read::Get("/v1/approvals/{id}", "/reason"),
    ),
];

/// The body a case's payload goes into: valid as it stands.
fn base_body(op: &str, n: usize) -> Value {
    let email = format!("s{n}@example.com");
    match op {
        SIGNUP => json!({"email": email, "password": PASSWORD, "account": "Acme"}),
        LOGIN | SESSION => json!({"email": email, "password": PASSWORD}),
        SIGNUP_VERIFY => json!({"token": "t"}),
        ACCOUNT => json!({}),
        API_KEY | GRANT => json!({"name": "n"}),
        SERVER => {
            json!({"name": format!("s{n}"), "url": "https://93.184.216.34/mcp", "headers": {}})
        }
        SERVER_PATCH => json!({"headers": {}}),
        SIMULATE => json!({"document": {"version": "1", "default": "deny"}}),
        POLICY | SHADOW => json!({
            "version": "1",
            "default": "deny",
            "hide": ["h"],
            "tools": {"t": {
                "action": "deny",
                "arguments": {"type": "object", "properties": {}},
                "limits": [{"counter": "c", "window": "minute", "max": 1, "scope": "grant"}]
            }}
        }),
        APPROVE | DENY | PIN | SWITCH | SESSION_SWITCH | MEMBER => json!({}),
        MY_PASSWORD => json!({
            "current_password": "not the password at all",
            "new_password": "a different passphrase 42",
        }),
        HANDOVER => json!({"to": NOBODY, "then": "viewer"}),
        INVITE => json!({"email": email, "role": "viewer"}),
        ACCEPT => json!({"token": "tgi_unknown", "password": PASSWORD}),
        RESET => json!({"email": email}),
        RESET_CONFIRM => json!({"token": "tgr_unknown", "password": PASSWORD}),
        EXPLAIN => json!({"tool": "t", "arguments": {}}),
        other => panic!("the sweep has no body for {other}: add it to `base_body` and CASES"),
    }
}

/// A placeholder that serialises without escapes, replaced in the JSON text.
const HOLE: &str = "\u{2603}HOLE\u{2603}";

/// Puts `value` at `at` in `body`, as a value or (last segment `{key}`) a key.
fn place(body: &mut Value, at: &str, value: Value) {
    let (parent, last) = at.rsplit_once('/').unwrap();
    if body.pointer(parent).is_none() {
        // An optional array the base body leaves out.
        let (grand, name) = parent.rsplit_once('/').unwrap();
        body.pointer_mut(grand).unwrap()[name] = json!([]);
    }
    let target = body.pointer_mut(parent).unwrap();
    match (last, target) {
        ("{key}", Value::Object(map)) => {
            map.insert(HOLE.to_owned(), value);
        }
        (key, Value::Object(map)) => {
            map.insert(key.to_owned(), value);
        }
        (index, Value::Array(items)) => {
            let i: usize = index.parse().unwrap();
            if i < items.len() {
                items[i] = value;
            } else {
                items.push(value);
            }
        }
        _ => panic!("cannot place at {at}"),
    }
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

fn is_problem(r: &Response) -> bool {
    r.headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v == "application/problem+json")
        && r.body["status"] == r.status.as_u16()
}

fn error_paths(r: &Response) -> Vec<String> {
    r.body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["path"].as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Where a write goes: its path, who sends it, and the id of what it changes.
struct Target {
    path: String,
    token: String,
    id: Option<String>,
}

async fn target(app: &TestApp, t: &Tenant, op: &str) -> Target {
    let at = |path: String, id: Option<String>| Target {
        path,
        token: t.token.clone(),
        id,
    };
    match op {
        SIGNUP | LOGIN | SESSION | SIGNUP_VERIFY | ACCOUNT | API_KEY | SERVER | GRANT | SWITCH
        | SESSION_SWITCH | MY_PASSWORD | HANDOVER | INVITE | ACCEPT | RESET | RESET_CONFIRM => {
            at(op.split_once(' ').unwrap().1.to_owned(), None)
        }
        SERVER_PATCH => at(
            format!("/v1/servers/{}", t.server),
            Some(t.server.to_string()),
        ),
        POLICY => at(
            format!("/v1/servers/{}/policy", t.server),
            Some(t.server.to_string()),
        ),
        MEMBER => at(format!("/v1/members/{NOBODY}"), None),
        SHADOW => at(
            format!("/v1/servers/{}/policy/shadow", t.server),
            Some(t.server.to_string()),
        ),
        SIMULATE => at(
            format!("/v1/servers/{}/policy/simulate", t.server),
            Some(t.server.to_string()),
        ),
        EXPLAIN => at(
            format!("/v1/servers/{}/policy/explain", t.server),
            Some(t.server.to_string()),
        ),
        PIN => at(
            format!("/v1/servers/{}/tools/t/pin", t.server),
            Some(t.server.to_string()),
        ),
        APPROVE | DENY => {
            let id = app
                .hold(t, json!({"amount": 1}), Duration::from_secs(600))
                .await
                .to_string();
            let action = if op == APPROVE { "approve" } else { "deny" };
            at(format!("/v1/approvals/{id}/{action}"), Some(id))
        }
        other => panic!("the sweep cannot reach {other}: add it to `target`"),
    }
}

async fn send_text(app: &TestApp, method: &str, path: &str, token: &str, body: String) -> Response {
    let request = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    app.send(request).await
}

/// What became of a payload that passed.
#[derive(PartialEq)]
enum Outcome {
    Refused,
    Stored,
    Accepted,
}

/// Sends one payload in one field and checks the answer; returns a line
/// describing a failure, if any.
async fn sweep_one(
    app: &TestApp,
    t: &Tenant,
    c: &Case,
    p: &Payload,
    n: usize,
) -> Result<Outcome, String> {
    let what = format!("{} {} <- {}", c.op, c.at, p.name);
    let target = target(app, t, c.op).await;
    let mut body = base_body(c.op, n);
    place(&mut body, c.at, json!(HOLE));
    let prefix = c.prefix.replace("{n}", &n.to_string());
    let suffix = c.suffix.replace("{n}", &n.to_string());
    let is_key = c.at.ends_with("/{key}");
    if is_key {
        // The key's value must be valid on its own.
        let policy = c.op == POLICY || c.op == SHADOW;
        let value = if policy && c.at.starts_with("/tools/") && !c.at.contains("/arguments") {
            json!({})
        } else if policy {
            json!({"type": "string"})
        } else {
            json!("v")
        };
        let (parent, _) = c.at.rsplit_once('/').unwrap();
        body.pointer_mut(parent).unwrap()[HOLE] = value;
    }
    let text = serde_json::to_string(&body).unwrap().replacen(
        HOLE,
        &format!("{prefix}{}{suffix}", p.json),
        1,
    );
    let method = c.op.split_once(' ').unwrap().0;
    let r = send_text(app, method, &target.path, &target.token, text).await;

    if r.status.is_server_error() {
        return Err(format!("{what}: {} {}", r.status, r.raw));
    }
    let sent = p.text.as_ref().map(|s| format!("{prefix}{s}{suffix}"));
    let (parent, _) = c.at.rsplit_once('/').unwrap();
    // The pointer a refusal must name.
    let pointer = match (&sent, is_key) {
        (Some(key), true) => format!("{parent}/{}", escape(key)),
        (None, true) => parent.to_owned(),
        (_, false) => c.at.to_owned(),
    };
    if !r.status.is_success() {
        if !is_problem(&r) {
            return Err(format!(
                "{what}: {} is not problem+json: {}",
                r.status, r.raw
            ));
        }
        let paths = error_paths(&r);
        let named = paths
            .iter()
            .any(|path| *path == pointer || path.starts_with(&format!("{pointer}/")));
        return match (p.name, r.status.as_u16()) {
            ("1 MB", 413) => Ok(Outcome::Refused),
            ("lone surrogate", 400) | ("nul", 422) if named => Ok(Outcome::Refused),
            ("lone surrogate" | "nul" | "1 MB", _) => Err(format!(
                "{what}: {} {:?} (expected {pointer})",
                r.status, paths
            )),
            (_, 401) if matches!(c.op, LOGIN | SESSION | MY_PASSWORD) => Ok(Outcome::Refused),
            // No such token: refused as unusable, whatever its text.
            (_, 400) if matches!(c.op, SIGNUP_VERIFY | ACCEPT | RESET_CONFIRM) => {
                Ok(Outcome::Refused)
            }
            (_, 422) if named => Ok(Outcome::Refused),
            (_, 422) if c.field.is_empty() && r.status == StatusCode::UNPROCESSABLE_ENTITY => {
                // A policy refused for what the payload made of it elsewhere
                // (e.g. a tool key shadowing the rule) still names a pointer.
                if paths.is_empty() {
                    Err(format!("{what}: 422 names nothing"))
                } else {
                    Ok(Outcome::Refused)
                }
            }
            _ => Err(format!(
                "{what}: {} {:?} (expected 422 at {pointer})",
                r.status, paths
            )),
        };
    }

    // Accepted: it must be something storable, stored as sent.
    let Some(sent) = sent else {
        return Err(format!("{what}: accepted text that is not Unicode"));
    };
    if matches!(p.name, "nul" | "1 MB") {
        return Err(format!("{what}: accepted {}", r.status));
    }
    let expected = match c.normal {
        Normal::Exact => sent.clone(),
        Normal::Lowercase => sent.to_lowercase(),
        Normal::Url => url::Url::parse(&sent).unwrap().to_string(),
    };
    let id = target
        .id
        .clone()
        .or_else(|| r.body["id"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let token = if c.op == SIGNUP {
        r.body["token"].as_str().unwrap().to_owned()
    } else {
        target.token.clone()
    };
    let stored = match c.read {
        Read::Nothing => return Ok(Outcome::Accepted),
        Read::Response(pointer) => r.body.pointer(pointer).cloned(),
        Read::Get(path, pointer) => {
            let got = app.get(&path.replace("{id}", &id), &token).await;
            if is_key {
                let object = got.body.pointer(&pointer.replace("{at}", parent));
                let has = object
                    .and_then(Value::as_object)
                    .is_some_and(|o| o.contains_key(&expected));
                return if has {
                    Ok(Outcome::Stored)
                } else {
                    Err(format!("{what}: key not stored as sent: {}", got.raw))
                };
            }
            got.body.pointer(&pointer.replace("{at}", c.at)).cloned()
        }
        Read::Listed(path, pointer) => {
            let got = app.get(&path.replace("{id}", &id), &token).await;
            let listed = got
                .body
                .pointer(pointer)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            return if listed.contains(&json!(expected)) {
                Ok(Outcome::Stored)
            } else {
                Err(format!("{what}: not listed: {}", got.raw))
            };
        }
        Read::Login => {
            let email = r.body["user"]["email"].clone();
            let login = app
                .call(
                    Method::POST,
                    "/v1/login",
                    None,
                    Some(json!({"email": email, "password": sent})),
                )
                .await;
            return if login.status == StatusCode::OK {
                Ok(Outcome::Stored)
            } else {
                Err(format!("{what}: cannot log in: {}", login.raw))
            };
        }
    };
    if stored != Some(json!(expected)) {
        let shown = stored.map(|v| v.to_string().chars().take(200).collect::<String>());
        return Err(format!("{what}: stored {shown:?}"));
    }
    Ok(Outcome::Stored)
}

/// Every `METHOD /path` of the OpenAPI document, with its operation.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if method != "parameters" {
                ops.push((method.to_uppercase(), path.clone(), op.clone()));
            }
        }
    }
    ops
}

/// Whether a schema lets a string in anywhere.
fn takes_text(doc: &Value, schema: &Value) -> bool {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap();
        return takes_text(doc, &doc["components"]["schemas"][name]);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    types.contains(&"string")
        || (types.contains(&"array") && takes_text(doc, &schema["items"]))
        || (types.contains(&"object")
            && (schema["additionalProperties"].is_object() || schema["properties"].is_object()))
        || ["oneOf", "anyOf", "allOf"]
            .iter()
            .filter_map(|k| schema[k].as_array())
            .flatten()
            .any(|s| takes_text(doc, s))
}

/// `(op, field)` for every text field of every request body in the document.
fn documented_fields(doc: &Value) -> BTreeSet<(String, String)> {
    let mut fields = BTreeSet::new();
    for (method, path, op) in operations(doc) {
        let Some(schema) = op.pointer("/requestBody/content/application~1json/schema") else {
            continue;
        };
        let name = format!("{method} {path}");
        let resolved = match schema["$ref"].as_str() {
            Some(r) => doc["components"]["schemas"][r.rsplit('/').next().unwrap()].clone(),
            None => schema.clone(),
        };
        match resolved["properties"].as_object() {
            Some(properties) => {
                for (field, property) in properties {
                    if takes_text(doc, property) {
                        fields.insert((name.clone(), format!("/{field}")));
                    }
                }
            }
            // A free-form document: every string in it is a field.
            None => {
                fields.insert((name, String::new()));
            }
        }
    }
    fields
}

#[sqlx::test(migrations = "../../migrations")]
async fn every_text_field_of_every_write_route(pool: PgPool) {
    let app = TestApp::new(pool);
    let doc = app
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await
        .body;
    let documented = documented_fields(&doc);
    let covered: BTreeSet<(String, String)> = CASES
        .iter()
        .map(|c| (c.op.to_owned(), c.field.to_owned()))
        .collect();
    let missing: Vec<_> = documented.difference(&covered).collect();
    assert!(
        missing.is_empty(),
        "text fields the sweep does not cover (add them to CASES): {missing:?}"
    );
    let stale: Vec<_> = covered.difference(&documented).collect();
    assert!(
        stale.is_empty(),
        "CASES name fields the API no longer has: {stale:?}"
    );

    let t = app.tenant("sweep@example.com").await;
    let mut failures = Vec::new();
    let mut stored = 0;
    let mut n = 0;
    for c in CASES {
        for p in &payloads() {
            n += 1;
            match sweep_one(&app, &t, c, p, n).await {
                Ok(outcome) => stored += usize::from(outcome == Outcome::Stored),
                Err(failure) => failures.push(failure),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Most odd text is storable: the sweep must have read much of it back.
    assert!(
        stored >= 60,
        "only {stored} values were stored and read back"
    );
}

/// `payload` percent-encoded for a URL; a lone surrogate as the bytes of its
/// (invalid) UTF-8-style encoding.
fn in_url(p: &Payload) -> String {
    let bytes = match &p.text {
        // A URI is at most 64 KiB (the `http` crate's limit, as hyper's):
        // the longest a request line can carry stands in for 1 MB.
        Some(_) if p.name == "1 MB" => vec![b'x'; 60_000],
        Some(text) => text.as_bytes().to_vec(),
        None => b"a\xed\xa0\x80b".to_vec(),
    };
    percent_encoding::percent_encode(&bytes, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[sqlx::test(migrations = "../../migrations")]
async fn every_query_and_path_parameter(pool: PgPool) {
    let app = TestApp::new(pool);
    let t = app.tenant("sweep@example.com").await;
    app.hold(&t, json!({"amount": 1}), Duration::from_secs(600))
        .await;
    let doc = app
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await
        .body;
    let mut failures = Vec::new();
    let mut swept = 0;
    for (method, path, op) in operations(&doc) {
        let parameters = op["parameters"].as_array().cloned().unwrap_or_default();
        for parameter in &parameters {
            let name = parameter["name"].as_str().unwrap();
            let place = parameter["in"].as_str().unwrap();
            for p in &payloads() {
                let encoded = in_url(p);
                let uri = match place {
                    "query" if method == "GET" => format!(
                        "{}?{name}={encoded}",
                        path.replace("{id}", &t.server.to_string())
                    ),
                    "path" => path.replace(&format!("{{{name}}}"), &encoded),
                    _ => continue,
                };
                swept += 1;
                let what = format!("{method} {path} {place} {name} <- {}", p.name);
                // Bodies are swept above; here, the least a write accepts.
                let body = (method != "GET" && method != "DELETE").then(|| json!({}));
                let m = Method::from_bytes(method.as_bytes()).unwrap();
                let r = app.call(m, &uri, Some(&t.token), body).await;
                let ok = match (place, p.name) {
                    _ if r.status.is_server_error() => false,
                    _ if r.status.is_success() => p.text.is_some() && p.name != "nul",
                    ("path", _) => r.status == StatusCode::NOT_FOUND && is_problem(&r),
                    ("query", "nul" | "lone surrogate") => {
                        r.status == StatusCode::UNPROCESSABLE_ENTITY
                            && is_problem(&r)
                            && error_paths(&r) == [name]
                    }
                    _ => r.status.is_client_error() && is_problem(&r),
                };
                if !ok {
                    let raw: String = r.raw.chars().take(300).collect();
                    failures.push(format!("{what}: {} {raw}", r.status));
                }
            }
        }
    }
    assert!(
        swept > 100,
        "only {swept} requests: did the document lose its parameters?"
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
