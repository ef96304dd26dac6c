//! `toolgate policy test FILE CASES`: expected decisions, checked offline,
//! the way teams keep OPA or promtool tests in CI.
//!
//! CASES is JSON: `{"cases": [...]}` or the array alone. Each case:
//! `{"name"?, "kind"?, "tool", "arguments"?, "expect", "refusal"?,
//! "reason"?, "pointer"?}` where `expect` is `allow`, `refuse` or
//! `require_approval`; `refusal` (`hidden`, `unknown` or `denied`) and
//! `reason` (a substring of the refusal's reason) only go with `refuse`;
//! `pointer` is the pointer of the part of the policy that must decide.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Deserialize;
use serde_json::Value;
use toolgate_policy::{CompiledPolicy, Decision, Kind, RefusalKind};

use crate::explain_text::decision_line;
use crate::policy_cmd::{load, report};

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CasesFile {
    Object(Cases),
    List(Vec<Case>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Cases {
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    name: Option<String>,
    #[serde(default)]
    kind: KindIn,
    tool: String,
    #[serde(default)]
    arguments: Value,
    expect: Expect,
    refusal: Option<Refusal>,
    reason: Option<String>,
    pointer: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum KindIn {
    #[default]
    Tool,
    Resource,
    Prompt,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Expect {
    Allow,
    Refuse,
    RequireApproval,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Refusal {
    Hidden,
    Unknown,
    Denied,
}

/// Runs every case of `cases` against the policy in `policy`: exit 0 when
/// all pass; else each failure on stderr and exit 1.
pub fn run(policy: &Path, cases: &Path) -> anyhow::Result<ExitCode> {
    let compiled = match load(policy)? {
        Ok(compiled) => compiled,
        Err(errors) => return Ok(report(policy, &errors)),
    };
    let text = std::fs::read_to_string(cases)
        .with_context(|| format!("cannot read cases file {}", cases.display()))?;
    let list = match serde_json::from_str::<CasesFile>(&text) {
        Ok(CasesFile::Object(Cases { cases })) | Ok(CasesFile::List(cases)) => cases,
        Err(_) => {
            // Untagged enums lose the reason: read as the object form again
            // (or the array, when it is one) for an error that says where.
            let error = if text.trim_start().starts_with('[') {
                serde_json::from_str::<Vec<Case>>(&text).err()
            } else {
                serde_json::from_str::<Cases>(&text).err()
            };
            let why = error.map_or_else(|| "not a cases file".to_owned(), |e| e.to_string());
            anyhow::bail!(
                "{} is not a cases file: {why} (expected {{\"cases\": [{{\"tool\": ..., \"expect\": \
                 \"allow\"|\"refuse\"|\"require_approval\", ...}}]}})",
                cases.display()
            );
        }
    };
    if list.is_empty() {
        anyhow::bail!("{} has no cases", cases.display());
    }
    let mut failures = 0;
    for (i, case) in list.iter().enumerate() {
        let label = match &case.name {
            Some(name) => format!("case {} ({name:?})", i + 1),
            None => format!("case {}", i + 1),
        };
        if let Err(problems) = check(&compiled, case) {
            failures += 1;
            eprintln!("FAIL {label}: {} {:?}", noun(case.kind), case.tool);
            for problem in problems {
                eprintln!("     {problem}");
            }
        }
    }
    if failures > 0 {
        eprintln!(
            "{failures} of {} cases failed ({} against {})",
            list.len(),
            cases.display(),
            policy.display()
        );
        return Ok(ExitCode::from(1));
    }
    println!(
        "ok: {} cases pass ({} against {})",
        list.len(),
        cases.display(),
        policy.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn noun(kind: KindIn) -> &'static str {
    match kind {
        KindIn::Tool => "tool",
        KindIn::Resource => "resource",
        KindIn::Prompt => "prompt",
    }
}

/// What is wrong with the policy's decision for `case`, if anything.
fn check(policy: &CompiledPolicy, case: &Case) -> Result<(), Vec<String>> {
    if case.expect != Expect::Refuse && (case.refusal.is_some() || case.reason.is_some()) {
        return Err(vec![
            "the case is malformed: `refusal` and `reason` only go with \"expect\": \"refuse\""
                .to_owned(),
        ]);
    }
    let kind = match case.kind {
        KindIn::Tool => Kind::Tool,
        KindIn::Resource => Kind::Resource,
        KindIn::Prompt => Kind::Prompt,
    };
    let explanation = policy.explain_of(kind, &case.tool, &case.arguments);
    let decision = &explanation.decision;
    let mut problems = Vec::new();
    let got = match decision {
        Decision::Allow { .. } => Expect::Allow,
        Decision::Refuse { .. } => Expect::Refuse,
        Decision::RequireApproval { .. } => Expect::RequireApproval,
    };
    let expected = match (case.expect, case.refusal) {
        (Expect::Refuse, Some(refusal)) => format!("refuse ({})", refusal_name(refusal)),
        (expect, _) => expect_name(expect).to_owned(),
    };
    if got != case.expect {
        problems.push(format!(
            "expected {expected}, got {}",
            decision_line(decision)
        ));
    } else if let Decision::Refuse { reason, kind, .. } = decision {
        if let Some(refusal) = case.refusal {
            if refusal_kind(refusal) != *kind {
                problems.push(format!(
                    "expected {expected}, got {}",
                    decision_line(decision)
                ));
            }
        }
        if let Some(part) = &case.reason {
            if !reason.contains(part.as_str()) {
                problems.push(format!(
                    "expected the reason to contain {part:?}, got {reason:?}"
                ));
            }
        }
    }
    if let Some(pointer) = &case.pointer {
        if *pointer != explanation.decided_by {
            problems.push(format!(
                "expected {pointer} to decide, got {}",
                explanation.decided_by
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    problems.push(format!("decided by {}", explanation.decided_by));
    for error in &explanation.schema_errors {
        let at = if error.path.is_empty() {
            "(arguments)"
        } else {
            &error.path
        };
        problems.push(format!("schema error at {at}: {}", error.message));
    }
    Err(problems)
}

fn expect_name(expect: Expect) -> &'static str {
    match expect {
        Expect::Allow => "allow",
        Expect::Refuse => "refuse",
        Expect::RequireApproval => "require_approval",
    }
}

fn refusal_name(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::Hidden => "hidden",
        Refusal::Unknown => "unknown",
        Refusal::Denied => "denied",
    }
}

fn refusal_kind(refusal: Refusal) -> RefusalKind {
    match refusal {
        Refusal::Hidden => RefusalKind::Hidden,
        Refusal::Unknown => RefusalKind::Unknown,
        Refusal::Denied => RefusalKind::Denied,
    }
}
