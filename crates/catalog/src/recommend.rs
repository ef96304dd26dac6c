//! The policy we recommend for a server's current tools: reads allowed,
//! writes and executions rate-limited (executions with their arguments
//! checked against the tool's own schema), destructive and financial tools
//! held for a person's approval (with a spend cap where the tool takes an
//! amount), and `"default": "deny"` so a tool added later is not silently
//! open. The document is a valid version "1" policy (`toolgate_policy::parse`).

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::{Category, Flag, Risk, ToolDefinition, Verdict};

/// Writes per grant per hour, shared by every writing tool of the server.
pub const WRITES_PER_HOUR: u64 = 60;
/// Executions per grant per hour, shared by every executing tool.
pub const EXECUTIONS_PER_HOUR: u64 = 10;
/// Spend cap per account per day, in the amount argument's units (usually
/// cents); shared by every financial tool whose amount is an integer.
pub const SPEND_PER_DAY: u64 = 100_000;

/// What the recommendation does with one tool, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ToolAdvice {
    pub tool: String,
    pub category: Category,
    pub risk: Risk,
    /// `allow`, `limit`, `require_approval`, or `deny` (left to the
    /// document's default: see the explanation).
    pub action: String,
    pub explanation: String,
}

/// A policy document and the advice behind each of its rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Recommendation {
    /// A valid version "1" policy document.
    pub policy: Value,
    /// One entry per tool given, sorted by name.
    pub tools: Vec<ToolAdvice>,
}

/// Recommends a policy for these tools and their verdicts.
pub fn recommend(tools: &[(ToolDefinition, Verdict)]) -> Recommendation {
    let mut sorted: Vec<&(ToolDefinition, Verdict)> = tools.iter().collect();
    // Stable: among tools with one name, the first given is advised first.
    sorted.sort_by(|a, b| a.0.name.cmp(&b.0.name));
    let mut rules = Map::new();
    let mut seen = BTreeSet::new();
    let mut advice = Vec::with_capacity(sorted.len());
    for (tool, verdict) in sorted {
        let (action, explanation, rule) = if !seen.insert(tool.name.as_str()) {
            (
                "deny",
                "another tool of this server has the same name; only the first is \
                 recommended, and the gateway cannot tell them apart"
                    .to_owned(),
                None,
            )
        } else if let Some(problem) = unusable_key(&tool.name) {
            (
                "deny",
                format!(
                    "{problem}, so it cannot be a key of the policy without matching other \
                     tools; it is left to the default (deny). Add a rule by hand if the \
                     tool is wanted"
                ),
                None,
            )
        } else {
            let (action, explanation, rule) = advise(tool, verdict);
            (action, explanation, Some(rule))
        };
        if let Some(rule) = rule {
            rules.insert(tool.name.clone(), rule);
        }
        advice.push(ToolAdvice {
            tool: tool.name.clone(),
            category: verdict.category,
            risk: verdict.risk,
            action: action.to_owned(),
            explanation,
        });
    }
    Recommendation {
        policy: json!({ "version": "1", "default": "deny", "tools": Value::Object(rules) }),
        tools: advice,
    }
}

/// The rule for one tool: its action, why, and the rule object.
fn advise(tool: &ToolDefinition, verdict: &Verdict) -> (&'static str, String, Value) {
    let contradicted = verdict.flags.contains(&Flag::AnnotationContradicts);
    let credentials = verdict.flags.contains(&Flag::Credentials);
    match verdict.category {
        // What it reads may be a secret (keys, tokens, the environment): a
        // person sees each call before the agent sees the answer.
        Category::Read if credentials => (
            "require_approval",
            "reads, but what it reads may be credentials: each call waits for a person's \
             approval"
                .to_owned(),
            json!({ "action": "require_approval" }),
        ),
        // The server's own annotation says it does more than read: limit it
        // like a write until a person has looked.
        Category::Read if contradicted => (
            "limit",
            format!(
                "reads, by its name, but the server's annotations say otherwise: allowed, \
                 limited like a write ({WRITES_PER_HOUR} an hour per agent) until reviewed"
            ),
            json!({ "limits": [limit("writes", WRITES_PER_HOUR, "hour", "grant")] }),
        ),
        Category::Read => ("allow", "reads only: allowed".to_owned(), json!({})),
        Category::Write => (
            "limit",
            format!(
                "changes state: allowed, at most {WRITES_PER_HOUR} writes an hour per agent \
                 (shared by the server's writing tools)"
            ),
            json!({ "limits": [limit("writes", WRITES_PER_HOUR, "hour", "grant")] }),
        ),
        Category::Execute => {
            let mut rule = json!({
                "limits": [limit("executions", EXECUTIONS_PER_HOUR, "hour", "grant")]
            });
            let mut explanation = format!(
                "runs code, commands or queries: allowed, at most {EXECUTIONS_PER_HOUR} an \
                 hour per agent"
            );
            match accepted_schema(tool.input_schema.as_ref()) {
                Ok(schema) => {
                    rule["arguments"] = schema;
                    explanation.push_str(", arguments checked against the tool's input schema");
                }
                Err(why) => {
                    explanation.push_str("; arguments not checked: ");
                    explanation.push_str(why);
                }
            }
            ("limit", explanation, rule)
        }
        Category::Destructive | Category::Financial => {
            let what = if verdict.category == Category::Financial {
                "moves money"
            } else {
                "deletes, cancels or overwrites"
            };
            let mut rule = json!({ "action": "require_approval" });
            let mut explanation = format!("{what}: each call waits for a person's approval");
            if verdict.category == Category::Financial {
                match amount_pointer(tool.input_schema.as_ref()) {
                    Some(pointer) => {
                        rule["limits"] = json!([{
                            "counter": "spend", "window": "day", "max": SPEND_PER_DAY,
                            "scope": "account", "cost": pointer
                        }]);
                        explanation.push_str(&format!(
                            ", and the account spends at most {SPEND_PER_DAY} a day through \
                             \"{pointer}\" (in the argument's units, across tools)"
                        ));
                    }
                    None => explanation
                        .push_str("; no spend cap: the tool takes no integer amount argument"),
                }
            }
            ("require_approval", explanation, rule)
        }
    }
}

fn limit(counter: &str, max: u64, window: &str, scope: &str) -> Value {
    json!({ "counter": counter, "window": window, "max": max, "scope": scope })
}

/// Why a name cannot be a policy key as it is, if it cannot: `*` is the
/// policy's wildcard (and has no escape), NUL cannot be stored.
fn unusable_key(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("the tool has an empty name")
    } else if name.contains('*') {
        Some("the name contains '*', which a policy reads as a wildcard")
    } else if name.contains('\0') {
        Some("the name contains the NUL character, which cannot be stored")
    } else {
        None
    }
}

/// The tool's input schema as an `arguments` schema, if the policy engine
/// accepts it (draft 2020-12, self-contained, no NUL).
fn accepted_schema(schema: Option<&Value>) -> Result<Value, &'static str> {
    let schema = schema.ok_or("the tool advertises no input schema")?;
    let probe = json!({ "version": "1", "tools": { "probe": { "arguments": schema } } });
    match toolgate_policy::parse(&probe) {
        Ok(_) => Ok(schema.clone()),
        Err(_) => Err("its input schema is not one the policy accepts (see docs/policy.md)"),
    }
}

/// A pointer to a top-level integer argument that holds an amount of
/// money. Only integers: a limit's cost must be a whole number, so a cap on
/// a decimal or string amount would refuse every call.
fn amount_pointer(schema: Option<&Value>) -> Option<String> {
    let properties = schema?.get("properties")?.as_object()?;
    let mut names: Vec<&String> = properties.keys().collect();
    names.sort();
    let amount_terms = crate::classify::rules::rule("schema.amount")?.terms;
    names
        .into_iter()
        .find(|name| {
            amount_terms.contains(&crate::classify::squashed(name).as_str())
                && properties[name.as_str()].get("type") == Some(&json!("integer"))
        })
        .map(|name| format!("/{}", name.replace('~', "~0").replace('/', "~1")))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::{classify, Trust};

    fn judged(tools: Vec<Value>) -> Vec<(ToolDefinition, Verdict)> {
        tools
            .into_iter()
            .map(|t| {
                let tool = ToolDefinition::from_wire(&t).expect("valid tool");
                let verdict = classify(&tool, Trust::Untrusted);
                (tool, verdict)
            })
            .collect()
    }

    fn valid(recommendation: &Recommendation) -> toolgate_policy::CompiledPolicy {
        toolgate_policy::parse(&recommendation.policy)
            .unwrap_or_else(|e| panic!("invalid policy {:#}: {e:?}", recommendation.policy))
    }

    #[test]
    fn a_read_of_credentials_waits_for_a_person() {
        let tools = judged(vec![
            json!({"name": "get-env", "description": "Returns all environment variables"}),
            json!({"name": "get_issue", "description": "Returns an issue"}),
        ]);
        let recommendation = recommend(&tools);
        valid(&recommendation);
        let doc = &recommendation.policy;
        assert_eq!(
            doc["tools"]["get-env"],
            json!({"action": "require_approval"})
        );
        assert_eq!(doc["tools"]["get_issue"], json!({}));
        let advice = &recommendation.tools[0];
        assert_eq!(advice.tool, "get-env");
        assert_eq!(advice.action, "require_approval");
        assert!(
            advice.explanation.contains("credentials"),
            "{}",
            advice.explanation
        );
    }

    #[test]
    fn each_category_gets_its_rule_and_the_default_denies() {
        let amount_schema = json!({"type": "object", "properties": {
            "amount": {"type": "integer"}, "currency": {"type": "string"}}, "required": ["amount"]});
        let tools = judged(vec![
            json!({"name": "get_issue"}),
            json!({"name": "get_secret_thing", "annotations": {"destructiveHint": true}}),
            json!({"name": "create_issue"}),
            json!({"name": "run_script", "inputSchema": {"type": "object", "properties": {"script": {"type": "string"}}}}),
            json!({"name": "delete_repo"}),
            json!({"name": "create_charge", "inputSchema": amount_schema}),
        ]);
        let recommendation = recommend(&tools);
        let policy = valid(&recommendation);
        let doc = &recommendation.policy;
        assert_eq!(doc["default"], "deny");
        assert_eq!(doc["tools"]["get_issue"], json!({}));
        assert_eq!(
            doc["tools"]["create_issue"]["limits"][0]["counter"],
            "writes"
        );
        assert_eq!(
            doc["tools"]["run_script"]["limits"][0]["counter"],
            "executions"
        );
        assert_eq!(
            doc["tools"]["run_script"]["arguments"]["properties"]["script"]["type"],
            "string"
        );
        assert_eq!(
            doc["tools"]["delete_repo"],
            json!({"action": "require_approval"})
        );
        assert_eq!(doc["tools"]["create_charge"]["action"], "require_approval");
        assert_eq!(
            doc["tools"]["create_charge"]["limits"][0]["cost"],
            "/amount"
        );
        let actions: Vec<&str> = recommendation
            .tools
            .iter()
            .map(|a| a.action.as_str())
            .collect();
        // Sorted by name: create_charge, create_issue, delete_repo, get_issue,
        // get_secret_thing (contradicted by its annotation), run_script.
        assert_eq!(
            actions,
            [
                "require_approval",
                "limit",
                "require_approval",
                "allow",
                "limit",
                "limit"
            ]
        );
        assert_eq!(
            doc["tools"]["get_secret_thing"]["limits"][0]["counter"],
            "writes"
        );
        // A tool added later is refused.
        assert!(!policy.visible("drop_database"));
        assert!(policy.visible("get_issue"));
        // A decimal amount gets no cap (it would refuse every call).
        let decimal = judged(vec![
            json!({"name": "create_charge", "inputSchema": {"type": "object",
            "properties": {"amount": {"type": "number"}}}}),
        ]);
        let recommendation = recommend(&decimal);
        valid(&recommendation);
        assert!(recommendation.policy["tools"]["create_charge"]
            .get("limits")
            .is_none());
        assert!(recommendation.tools[0].explanation.contains("no spend cap"));
    }

    #[test]
    fn a_schema_the_policy_refuses_is_left_out_with_a_reason() {
        let tools = judged(vec![json!({"name": "exec_sql", "inputSchema": {
            "type": "object", "properties": {"sql": {"$ref": "https://example.com/remote.json"}}}})]);
        let recommendation = recommend(&tools);
        valid(&recommendation);
        assert!(recommendation.policy["tools"]["exec_sql"]
            .get("arguments")
            .is_none());
        assert!(recommendation.tools[0]
            .explanation
            .contains("arguments not checked"));
    }

    #[test]
    fn hostile_names_keep_the_document_valid_and_closed() {
        let tools = judged(vec![
            json!({"name": "*"}),
            json!({"name": "get_*"}),
            json!({"name": "a\u{0}b"}),
            json!({"name": "\u{202e}kcatta"}),
            json!({"name": "~/../x\"y\\z"}),
            json!({"name": "get_same"}),
            json!({"name": "get_same", "description": "a second tool of one name"}),
            json!({"name": "x".repeat(5000)}),
        ]);
        let recommendation = recommend(&tools);
        let policy = valid(&recommendation);
        assert!(
            !policy.visible("get_anything"),
            "a '*' name must not open other tools"
        );
        assert!(!policy.visible("*"));
        assert!(policy.visible("~/../x\"y\\z"));
        assert!(policy.visible("\u{202e}kcatta"));
        let denied: Vec<&str> = recommendation
            .tools
            .iter()
            .filter(|a| a.action == "deny")
            .map(|a| a.tool.as_str())
            .collect();
        assert_eq!(denied, ["*", "a\u{0}b", "get_*", "get_same"]);
    }

    proptest::proptest! {
        #[test]
        fn any_names_give_a_valid_policy(names in proptest::collection::vec(".{1,20}", 0..12)) {
            let tools = judged(names.iter().map(|n| json!({"name": n, "inputSchema": {"type": "object"}})).collect());
            let recommendation = recommend(&tools);
            proptest::prop_assert!(toolgate_policy::parse(&recommendation.policy).is_ok());
            proptest::prop_assert_eq!(recommendation.tools.len(), names.len());
        }
    }
}
