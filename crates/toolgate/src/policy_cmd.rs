//! `toolgate policy check` and `toolgate policy eval`: policy files, offline.
//! (`toolgate policy test` is in `policy_test_cmd`.)

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use toolgate_policy::{CompiledPolicy, DefaultAction, PolicyError};

/// Validates the policy in `path`. Prints a summary and returns success, or
/// prints every error as `POINTER: message` on stderr and returns exit code 1.
pub fn check(path: &Path) -> anyhow::Result<ExitCode> {
    let policy = match load(path)? {
        Ok(policy) => policy,
        Err(errors) => return Ok(report(path, &errors)),
    };
    let default = match policy.default_action() {
        DefaultAction::Allow => "allow",
        DefaultAction::Deny => "deny",
    };
    println!(
        "ok: {} is a valid policy (default {default}; tool rules: {}, hide entries: {}, counters: {})",
        path.display(),
        policy.rule_count(),
        policy.hide_count(),
        policy.counters().len(),
    );
    Ok(ExitCode::SUCCESS)
}

/// Prints, as pretty JSON on stdout, the decision the policy in `path` makes
/// for a call of `tool` with `args` (a JSON value; `{}` when absent); with
/// `explain`, the decision's trace as text instead. An invalid policy is
/// reported as by [`check`] and exits 1.
pub fn eval(
    path: &Path,
    tool: &str,
    args: Option<&str>,
    explain: bool,
) -> anyhow::Result<ExitCode> {
    let arguments: serde_json::Value = match args {
        None => serde_json::json!({}),
        Some(text) => serde_json::from_str(text).context("--args is not valid JSON")?,
    };
    let policy = match load(path)? {
        Ok(policy) => policy,
        Err(errors) => return Ok(report(path, &errors)),
    };
    if explain {
        print!(
            "{}",
            crate::explain_text::render(&policy.explain(tool, &arguments))
        );
        return Ok(ExitCode::SUCCESS);
    }
    let decision = policy.decide(tool, &arguments);
    println!("{}", serde_json::to_string_pretty(&decision)?);
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn load(path: &Path) -> anyhow::Result<Result<CompiledPolicy, Vec<PolicyError>>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read policy file {}", path.display()))?;
    Ok(toolgate_policy::parse_str(&text))
}

pub(crate) fn report(path: &Path, errors: &[PolicyError]) -> ExitCode {
    for error in errors {
        eprintln!("{error}");
    }
    let plural = if errors.len() == 1 { "" } else { "s" };
    eprintln!("{} error{plural} in {}", errors.len(), path.display());
    ExitCode::from(1)
}
