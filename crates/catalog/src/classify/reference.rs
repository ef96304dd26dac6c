//! The rule table as Markdown, for `docs/catalog.md` (a test keeps the doc
//! in step with the table).

use std::fmt::Write;

use super::rules::{Effect, On, HINT_OUTCOMES, MANY_PARAMETERS, RULES};

/// Every reason the classifier can give: one row per rule, then what an
/// annotation's reason may add.
pub fn reasons_markdown() -> String {
    let mut out = String::from(
        "| id | looks at | effect | reason text (`{}` is the evidence) | matches |\n|---|---|---|---|---|\n",
    );
    for rule in RULES {
        let on = match rule.on {
            On::Name if rule.effect == Effect::MoneyNoun => "name words",
            On::Name => {
                "name words (or the description's first sentence, when the name has no verb)"
            }
            On::Description => "title and description",
            On::Property => "input schema property names",
            On::PropertyCount => "input schema property count",
            On::Annotation => "annotation",
            On::Fallback => "nothing else matched",
        };
        let effect = match rule.effect {
            Effect::Verb(category) => format!("category {}", category.as_str()),
            Effect::MoneyNoun => "write, execute or destructive → financial".to_owned(),
            Effect::AtLeast(category) => format!("category at least {}", category.as_str()),
            Effect::Flag(flag) => format!("flag `{}`", flag_name(flag)),
            Effect::Executes => {
                "flag `executes_code`; a write or unrecognised tool → execute".to_owned()
            }
            Effect::AmountArgument => "spend-cap argument".to_owned(),
            Effect::ReadOnlyHint | Effect::DestructiveHint | Effect::OpenWorldHint => {
                "see the outcomes below".to_owned()
            }
            Effect::Unrecognised => "category write, risk medium, flag `unrecognised`".to_owned(),
        };
        let matches = if rule.on == On::PropertyCount {
            format!("more than {MANY_PARAMETERS}")
        } else {
            rule.terms
                .iter()
                .map(|t| format!("`{t}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            out,
            "| `{}` | {on} | {effect} | {} | {matches} |",
            rule.id,
            rule.text.replace('|', "\\|")
        );
    }
    out.push_str("\nAn annotation's reason ends with one of:\n\n| outcome | when | added text |\n|---|---|---|\n");
    for outcome in HINT_OUTCOMES {
        let _ = writeln!(
            out,
            "| `{}` | {} | `{}` |",
            outcome.id, outcome.when, outcome.text
        );
    }
    out
}

fn flag_name(flag: super::Flag) -> String {
    serde_json::to_value(flag)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
