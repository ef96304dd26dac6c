//! `toolgate policy check` and `toolgate policy eval`, run as the real binary.

use std::path::PathBuf;
use std::process::{Command, Output};

const SEED: &str = r#"{"version":"1","default":"deny","tools":{"start_dicom_import_job":{"limits":[{"counter":"start_dicom_import_job_rate","window":"minute","max":10,"scope":"grant"}]}}}"#;

/// Writes `contents` to a fresh file owned by this test.
fn policy_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("toolgate-policy-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write policy file");
    path
}

fn toolgate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_toolgate"))
        .args(args)
        .output()
        .expect("run toolgate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn check_accepts_the_seed_example() {
    let path = policy_file("seed.json", SEED);
    let out = toolgate(&["policy", "check", path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("ok: "),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_lists_every_mistake_with_its_pointer() {
    let three_mistakes = r#"{
        "version": "1",
        "default": "deny",
        "tools": {
            "search": {"limits": [{"counter": "c", "window": "minutes", "max": 10, "scope": "grant"}]},
            "delete_*": {"action": "deny", "reasn": "no deletions"},
            "charge": {"limits": [{"counter": "spend", "window": "day", "max": -5, "scope": "account"}]}
        }
    }"#;
    let path = policy_file("three-mistakes.json", three_mistakes);
    let out = toolgate(&["policy", "check", path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    for pointer in [
        "/tools/search/limits/0/window: ",
        "/tools/delete_*/reasn: ",
        "/tools/charge/limits/0/max: ",
    ] {
        assert!(
            lines.iter().any(|line| line.starts_with(pointer)),
            "no line starts with {pointer:?} in:\n{stderr}"
        );
    }
    assert!(stderr.contains("did you mean `minute`?"), "{stderr}");
    assert!(stderr.contains("did you mean `reason`?"), "{stderr}");
    assert!(stderr.contains("3 errors"), "{stderr}");
}

#[test]
fn check_reports_malformed_json_at_the_root() {
    let path = policy_file("broken.json", "{\"version\": ");
    let out = toolgate(&["policy", "check", path.to_str().expect("utf-8 path")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("(root): not valid JSON"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn eval_prints_the_decision_as_json() {
    let path = policy_file("eval-seed.json", SEED);
    let path = path.to_str().expect("utf-8 path");

    let out = toolgate(&["policy", "eval", path, "--tool", "start_dicom_import_job"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(decision["decision"], "allow");
    assert_eq!(
        decision["limits"][0]["counter"],
        "start_dicom_import_job_rate"
    );
    assert_eq!(decision["limits"][0]["cost"], 1);

    let out = toolgate(&[
        "policy",
        "eval",
        path,
        "--tool",
        "drop_tables",
        "--args",
        "{\"x\": 1}",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let decision: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON on stdout");
    assert_eq!(decision["decision"], "refuse");
    assert_eq!(decision["kind"], "unknown");
    assert_eq!(decision["pointer"], "/default");

    let out = toolgate(&["policy", "eval", path, "--tool", "x", "--args", "{not json"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("--args is not valid JSON"));
}

const LAYERED: &str = r#"{
    "version": "1",
    "default": "deny",
    "hide": ["debug_*"],
    "tools": {
        "get_*": {},
        "get_user*": {"action": "require_approval"},
        "delete_*": {"action": "deny", "reason": "Deletion is not permitted for agents"},
        "create_charge": {
            "arguments": {"type": "object", "properties": {"amount": {"type": "integer", "maximum": 50000}}},
            "limits": [{"counter": "spend", "window": "day", "max": 1000000, "scope": "account", "cost": "/amount"}]
        },
        "*": {"limits": [{"counter": "calls", "window": 60, "max": 600, "scope": "grant"}]}
    }
}"#;

#[test]
fn eval_explain_prints_the_trace() {
    let path = policy_file("explain.json", LAYERED);
    let path = path.to_str().expect("utf-8 path");
    let out = toolgate(&[
        "policy",
        "eval",
        path,
        "--tool",
        "get_username",
        "--explain",
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("decided by: /tools/get_user*"), "{stdout}");
    assert!(
        stdout.contains("1. DECIDES     /tools/get_user*"),
        "{stdout}"
    );
    assert!(stdout.contains("2. outranked   /tools/get_*"), "{stdout}");
    assert!(
        stdout.contains("\"get_username\" does not start with \"delete_\""),
        "{stdout}"
    );
    assert!(stdout.contains("counter \"calls\""), "{stdout}");

    let out = toolgate(&[
        "policy",
        "eval",
        path,
        "--tool",
        "create_charge",
        "--args",
        r#"{"amount": 60000}"#,
        "--explain",
    ]);
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("at /amount: 60000 is greater than the maximum of 50000"),
        "{stdout}"
    );
    assert!(
        stdout.contains("(policy /tools/create_charge/arguments/properties/amount/maximum)"),
        "{stdout}"
    );
}

#[test]
fn policy_test_passes_when_every_case_holds() {
    let policy = policy_file("tested.json", LAYERED);
    let cases = policy_file(
        "tested.cases.json",
        r#"{"cases": [
            {"name": "reads are open", "tool": "get_issue", "expect": "allow"},
            {"tool": "get_username", "expect": "require_approval", "pointer": "/tools/get_user*"},
            {"tool": "debug_dump", "expect": "refuse", "refusal": "hidden"},
            {"tool": "delete_repo", "expect": "refuse", "refusal": "hidden", "reason": "not permitted"},
            {"tool": "list_repos", "expect": "refuse", "refusal": "unknown"},
            {"tool": "create_charge", "arguments": {"amount": 60000}, "expect": "refuse", "refusal": "denied", "reason": "/amount"},
            {"tool": "create_charge", "arguments": {"amount": 100}, "expect": "allow"},
            {"kind": "resource", "tool": "file:///etc/passwd", "expect": "refuse"}
        ]}"#,
    );
    let out = toolgate(&[
        "policy",
        "test",
        policy.to_str().expect("utf-8 path"),
        cases.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    assert!(
        text(&out.stdout).starts_with("ok: 8 cases pass"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn policy_test_lists_each_mismatch_and_exits_1() {
    let policy = policy_file("mismatch.json", LAYERED);
    // A bare array is a cases file too.
    let cases = policy_file(
        "mismatch.cases.json",
        r#"[
            {"name": "still fine", "tool": "get_issue", "expect": "allow"},
            {"name": "approval forgotten", "tool": "get_username", "expect": "allow"},
            {"tool": "delete_repo", "expect": "refuse", "reason": "audit first"},
            {"tool": "debug_dump", "expect": "refuse", "refusal": "denied"}
        ]"#,
    );
    let out = toolgate(&[
        "policy",
        "test",
        policy.to_str().expect("utf-8 path"),
        cases.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("FAIL case 2 (\"approval forgotten\"): tool \"get_username\""),
        "{stderr}"
    );
    assert!(
        stderr.contains("expected allow, got require_approval"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "expected the reason to contain \"audit first\", got \"Deletion is not permitted for agents\""
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("FAIL case 4: tool \"debug_dump\"")
            && stderr.contains("expected refuse (denied), got refuse (hidden)"),
        "{stderr}"
    );
    assert!(!stderr.contains("case 1"), "{stderr}");
    assert!(stderr.contains("3 of 4 cases failed"), "{stderr}");
}

#[test]
fn policy_test_names_a_malformed_cases_file() {
    let policy = policy_file("malformed.json", LAYERED);
    let cases = policy_file(
        "malformed.cases.json",
        r#"{"cases": [{"tool": "get_issue", "expect": "allowed"}]}"#,
    );
    let out = toolgate(&[
        "policy",
        "test",
        policy.to_str().expect("utf-8 path"),
        cases.to_str().expect("utf-8 path"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("is not a cases file: unknown variant `allowed`"),
        "{stderr}"
    );
}
