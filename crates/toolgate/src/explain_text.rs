//! An [`Explanation`] as text a person reads in a terminal.

use std::fmt::Write as _;

use toolgate_policy::{Decision, Explanation, LimitSource, RuleRole, RuleSource, RuleTrace};

/// One line saying what the decision is.
pub fn decision_line(decision: &Decision) -> String {
    match decision {
        Decision::Allow { limits } if limits.is_empty() => "allow".to_owned(),
        Decision::Allow { limits } => format!("allow, counting {} limit(s)", limits.len()),
        Decision::RequireApproval {
            timeout_secs,
            limits,
            ..
        } => format!(
            "require_approval (a person has {timeout_secs} s to decide), counting {} limit(s)",
            limits.len()
        ),
        Decision::Refuse { reason, kind, .. } => {
            let kind = serde_json::to_value(kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            format!("refuse ({kind}): {reason}")
        }
    }
}

/// The whole trace.
pub fn render(e: &Explanation) -> String {
    let mut out = String::new();
    let noun = match e.kind {
        toolgate_policy::Kind::Tool => "tool",
        toolgate_policy::Kind::Resource => "resource",
        toolgate_policy::Kind::Prompt => "prompt",
    };
    let _ = writeln!(out, "{noun} {:?}", e.name);
    let _ = writeln!(out, "decision:   {}", decision_line(&e.decision));
    let _ = writeln!(out, "decided by: {}", e.decided_by);
    let _ = writeln!(
        out,
        "listed:     {}",
        if e.visible {
            "yes"
        } else {
            "no (absent from the list; a call is answered as an unknown target)"
        }
    );
    let _ = writeln!(out, "\nmatched, highest precedence first:");
    for (i, trace) in e.matched.iter().enumerate() {
        let _ = writeln!(
            out,
            "  {}. {:<11} {}  {}\n     {}",
            i + 1,
            role(trace.role),
            trace.pointer,
            source(trace),
            trace.why
        );
    }
    if !e.not_matched.is_empty() {
        let _ = writeln!(out, "\nnot matched:");
        for trace in &e.not_matched {
            let _ = writeln!(out, "  {}  {}: {}", trace.pointer, source(trace), trace.why);
        }
    }
    if !e.schema_errors.is_empty() {
        let _ = writeln!(out, "\nargument schema errors:");
        for error in &e.schema_errors {
            let at = if error.path.is_empty() {
                "(arguments)"
            } else {
                &error.path
            };
            let _ = writeln!(
                out,
                "  at {at}: {}\n     (policy {})",
                error.message, error.pointer
            );
        }
    }
    if !e.limits.is_empty() {
        let _ = writeln!(out, "\nlimits:");
        for limit in &e.limits {
            let window = limit
                .window
                .unit_name()
                .map_or_else(|| format!("{} s", limit.window.secs()), str::to_owned);
            let cost = limit
                .cost
                .map_or_else(|| "?".to_owned(), |cost| cost.to_string());
            let from = match limit.from {
                LimitSource::Rule => "the rule's own",
                LimitSource::EveryCall => "from \"*\"",
            };
            let scope = serde_json::to_value(limit.scope)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let counted = if limit.counted {
                "counted"
            } else {
                "not counted"
            };
            let _ = writeln!(
                out,
                "  counter {:?} ({from}, {}): costs {cost} of {} per {window}, per {scope}; {counted}",
                limit.counter, limit.pointer, limit.max
            );
            if let Some(problem) = &limit.problem {
                let _ = writeln!(out, "     {problem}");
            }
        }
        let _ = writeln!(
            out,
            "  (current usage is not known offline: ask the API, POST /v1/servers/{{id}}/policy/explain)"
        );
    }
    out
}

fn role(role: RuleRole) -> &'static str {
    match role {
        RuleRole::Decides => "DECIDES",
        RuleRole::Outranked => "outranked",
        RuleRole::AddsLimits => "adds limits",
        RuleRole::NotApplied => "not applied",
        RuleRole::NoMatch => "no match",
    }
}

fn source(trace: &RuleTrace) -> String {
    match trace.source {
        RuleSource::HideExact => format!("hide {:?}", trace.key),
        RuleSource::HideGlob => format!("hide glob {:?}", trace.key),
        RuleSource::Exact => format!("exact key {:?}", trace.key),
        RuleSource::Glob => format!("glob {:?}", trace.key),
        RuleSource::EveryCall => "\"*\"".to_owned(),
        RuleSource::Default => format!("default {}", trace.key),
    }
}
