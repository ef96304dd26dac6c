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
