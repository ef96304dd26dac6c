//! The Slack-compatible shape of webhook deliveries (an account's
//! `approval_webhook_format: slack`): an incoming-webhook message, `{text,
//! blocks}`, that a Slack channel (or anything that speaks the format) shows
//! to reviewers. Approve and deny buttons are links that open the approval's
//! page; deciding stays a deliberate act there, so a link preview can never
//! decide.
//!
//! Everything an agent or upstream chose (tool, server, argument values) is
//! escaped for Slack's markup and shortened to fit its limits.

use serde_json::{json, Value};
use toolgate_catalog::{classify, ToolDefinition, Trust};
use toolgate_store::approvals::Notification;

/// Longest argument summary, in characters.
const ARGUMENTS_SUMMARY: usize = 500;
/// Slack's limit on a header block's text.
const HEADER: usize = 150;
/// Longest name (tool, server) in a field.
const NAME: usize = 200;

/// The message for a new approval.
pub(super) fn approval_message(public_url: &str, n: &Notification) -> Value {
    let page = format!("{public_url}/approvals/{}", n.approval_id);
    let risk = risk_of(n);
    let tool = escape(&shorten(&n.tool, NAME));
    let server = escape(&shorten(&n.server_name, NAME));
    let arguments = escape(&shorten(&n.arguments.to_string(), ARGUMENTS_SUMMARY));
    let expires = n.expires_at.format("%Y-%m-%d %H:%M:%S UTC");
    json!({
        "text": format!("Approval needed: {tool} on {server} (risk: {risk}). Review: {page}"),
        "blocks": [
            {"type": "header", "text": {"type": "plain_text",
                "text": shorten(&format!("Approval needed: {}", n.tool), HEADER)}},
            {"type": "section", "fields": [
                {"type": "mrkdwn", "text": format!("*Tool*\n`{tool}`")},
                {"type": "mrkdwn", "text": format!("*Server*\n{server}")},
                {"type": "mrkdwn", "text": format!("*Risk*\n{risk}")},
                {"type": "mrkdwn", "text": format!("*Expires*\n{expires}")},
            ]},
            {"type": "section", "text": {"type": "mrkdwn",
                "text": format!("*Arguments*\n```{arguments}```")}},
            {"type": "actions", "block_id": format!("approval_{}", n.approval_id), "elements": [
                {"type": "button", "style": "primary", "action_id": "approve",
                 "text": {"type": "plain_text", "text": "Approve"},
                 "url": format!("{page}?decision=approve")},
                {"type": "button", "style": "danger", "action_id": "deny",
                 "text": {"type": "plain_text", "text": "Deny"},
                 "url": format!("{page}?decision=deny")},
            ]},
        ],
        "metadata": {"event_type": "approval_requested", "event_payload": {
            "event_id": super::event_id(n.approval_id.0),
            "approval_id": n.approval_id.to_string(),
        }},
    })
}

/// Any other account event, as a one-line message.
pub(super) fn event_message(event: &Value) -> Value {
    let kind = event["type"].as_str().unwrap_or("event");
    let data = &event["data"];
    let tool = data["tool"]
        .as_str()
        .or(data["name"].as_str())
        .unwrap_or("");
    let server = data["server_name"].as_str().unwrap_or("");
    json!({
        "text": format!("Toolgate {}: {} {}", escape(kind), escape(&shorten(tool, NAME)), escape(&shorten(server, NAME))).trim_end().to_owned(),
        "metadata": {"event_type": kind.replace('.', "_"), "event_payload": {
            "event_id": event["id"],
        }},
    })
}

/// The catalog's risk of the tool, if the catalog knows it.
fn risk_of(n: &Notification) -> String {
    let Some(definition) = &n.definition else {
        return "unknown (not in the catalog)".to_owned();
    };
    let definition: ToolDefinition =
        serde_json::from_value(definition.clone()).unwrap_or_else(|_| ToolDefinition {
            name: n.tool.clone(),
            title: None,
            description: None,
            input_schema: None,
            output_schema: None,
            annotations: None,
        });
    let trust = if n.server_trusted {
        Trust::Trusted
    } else {
        Trust::Untrusted
    };
    let verdict = classify(&definition, trust);
    match serde_json::to_value(verdict.risk) {
        Ok(Value::String(risk)) => risk,
        _ => "unknown".to_owned(),
    }
}

/// Slack's markup reserves `&`, `<` and `>`; backticks would end a code span.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('`', "'")
}

/// At most `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped_and_long_text_shortened() {
        assert_eq!(escape("<@here> & `x`"), "&lt;@here&gt; &amp; 'x'");
        assert_eq!(shorten("abcdef", 4), "abc…");
        assert_eq!(shorten("abc", 4), "abc");
        assert_eq!(shorten("ééééé", 3).chars().count(), 3);
    }
}
