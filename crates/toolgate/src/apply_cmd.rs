//! `toolgate apply -f DIR`: policy as code. Makes an account's servers'
//! policies match the files in a directory, through the control plane's API.
//!
//! Each `DIR/<server name>.json` is the policy of the account's server of
//! that name (`*.cases.json` files, the cases of `toolgate policy test`, are
//! skipped). Everything is checked before anything is written: every file
//! must be a valid policy and name an existing server. A file equal to the
//! live policy (as JSON values: key order and spacing do not count) is left
//! alone, so a second `apply` writes nothing and creates no version.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::json_diff::{diff, Change};

/// A file of expected decisions, beside the policies.
const CASES_SUFFIX: &str = ".cases.json";

#[derive(clap::Args)]
pub struct ApplyArgs {
    /// The directory of policy files, one `<server name>.json` per server.
    #[arg(short = 'f', long = "file", value_name = "DIR")]
    dir: PathBuf,
    /// The control plane's base URL.
    #[arg(
        long,
        env = "TOOLGATE_URL",
        default_value = "http://127.0.0.1:8080",
        value_name = "URL"
    )]
    url: String,
    /// A management API key of the account (`POST /v1/api-keys`).
    #[arg(long, env = "TOOLGATE_API_KEY", hide_env_values = true)]
    api_key: String,
    /// Print what would change (a diff per server, and the simulation of
    /// each change on recorded traffic) without writing anything.
    #[arg(long)]
    dry_run: bool,
}

/// One policy file, read and validated.
struct PolicyFile {
    path: PathBuf,
    server: String,
    document: Value,
}

/// A file matched to its server, with the server's live policy.
struct Plan {
    file: PolicyFile,
    server_id: String,
    /// `(version, document)`; `None` when the server has no policy yet.
    live: Option<(i64, Value)>,
    changes: Vec<Change>,
}

pub async fn apply(args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let files = match read_dir(&args.dir)? {
        Ok(files) => files,
        Err(problems) => {
            for problem in &problems {
                eprintln!("{problem}");
            }
            eprintln!(
                "nothing applied: {} problem(s) in {}",
                problems.len(),
                args.dir.display()
            );
            return Ok(ExitCode::from(1));
        }
    };
    let api = Api::new(&args.url, &args.api_key)?;
    let servers = api.servers().await?;
    let missing: Vec<&PolicyFile> = files
        .iter()
        .filter(|f| !servers.iter().any(|(name, _)| *name == f.server))
        .collect();
    if !missing.is_empty() {
        for file in &missing {
            eprintln!(
                "{}: the account has no server named {:?} (register it first, or rename the file)",
                file.path.display(),
                file.server
            );
        }
        eprintln!("nothing applied: {} file(s) name no server", missing.len());
        return Ok(ExitCode::from(1));
    }

    let mut plans = Vec::with_capacity(files.len());
    for file in files {
        let server_id = servers
            .iter()
            .find(|(name, _)| *name == file.server)
            .map(|(_, id)| id.clone())
            .unwrap_or_default();
        let live = api.live_policy(&server_id).await?;
        let changes = match &live {
            Some((_, document)) => diff(document, &file.document),
            None => diff(&Value::Null, &file.document),
        };
        plans.push(Plan {
            file,
            server_id,
            live,
            changes,
        });
    }

    let changed = plans.iter().filter(|p| !p.changes.is_empty()).count();
    for plan in &plans {
        let name = &plan.file.server;
        if plan.changes.is_empty() {
            println!("{name}: unchanged");
            continue;
        }
        if args.dry_run {
            match &plan.live {
                Some((version, _)) => {
                    println!("{name}: would change (live version {version}):")
                }
                None => println!("{name}: has no policy; would set it to the file:"),
            }
            if plan.live.is_some() {
                for change in &plan.changes {
                    println!("  {change}");
                }
            } else {
                println!("  + {}", plan.file.document);
            }
            match api.simulate(&plan.server_id, &plan.file.document).await? {
                Simulation::Report(report) => print_simulation(&report),
                Simulation::Unavailable => println!(
                    "  simulation unavailable: this control plane cannot replay recorded calls"
                ),
                Simulation::Failed(why) => println!("  simulation failed: {why}"),
            }
            continue;
        }
        match api.put_policy(&plan.server_id, &plan.file.document).await {
            Ok(version) => println!("{name}: applied as version {version}"),
            Err(error) => {
                eprintln!("{name}: not applied: {error:#}");
                eprintln!("stopped: servers listed above as applied keep their new policy");
                return Ok(ExitCode::from(1));
            }
        }
    }
    let verb = if args.dry_run {
        "would change"
    } else {
        "changed"
    };
    println!("{changed} of {} server(s) {verb}", plans.len());
    Ok(ExitCode::SUCCESS)
}

/// Every policy file of `dir`, or every problem found in them.
fn read_dir(dir: &Path) -> anyhow::Result<Result<Vec<PolicyFile>, Vec<String>>> {
    let entries = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read the policy directory {}", dir.display()))?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let path = entry
            .with_context(|| format!("cannot read the policy directory {}", dir.display()))?
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_file() && name.ends_with(".json") && !name.ends_with(CASES_SUFFIX) {
            paths.push(path);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Ok(Err(vec![format!(
            "{}: no policy files (expected <server name>.json)",
            dir.display()
        )]));
    }
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        let server = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if let Err(errors) = toolgate_policy::parse_str(&text) {
            for error in errors {
                problems.push(format!("{}: {error}", path.display()));
            }
            continue;
        }
        // Valid, so it is JSON.
        let document: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        files.push(PolicyFile {
            path,
            server,
            document,
        });
    }
    Ok(if problems.is_empty() {
        Ok(files)
    } else {
        Err(problems)
    })
}

fn print_simulation(report: &Value) {
    let events = report["events"].as_u64().unwrap_or(0);
    let totals = |side: &str| {
        report[side]["totals"]
            .as_object()
            .map(|totals| {
                let mut parts: Vec<String> =
                    totals.iter().map(|(k, v)| format!("{k} {v}")).collect();
                parts.sort();
                parts.join(", ")
            })
            .unwrap_or_default()
    };
    println!("  simulated on {events} recorded call(s):");
    println!("    live:      {}", totals("live"));
    println!("    candidate: {}", totals("candidate"));
    let changes = report["changes"].as_array().cloned().unwrap_or_default();
    if changes.is_empty() {
        println!("    no recorded call would be decided differently");
    }
    for change in changes {
        let text = |key: &str| match &change[key] {
            Value::String(s) => s.clone(),
            Value::Null => "-".to_owned(),
            other => other.to_string(),
        };
        println!(
            "    {} x {} {:?}: {} -> {} (rule {})",
            text("count"),
            text("kind"),
            text("tool"),
            text("from"),
            text("to"),
            text("rule")
        );
    }
    if let Some(unjudged) = report["unjudged"].as_array().filter(|u| !u.is_empty()) {
        println!(
            "    {} group(s) of calls could not be judged (see the API's `unjudged`)",
            unjudged.len()
        );
    }
}

/// What `POST …/policy/simulate` answered.
enum Simulation {
    Report(Value),
    /// The control plane has no such route (404 or 405).
    Unavailable,
    Failed(String),
}

/// The control plane's API, as an API key of one account.
struct Api {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    fn new(url: &str, key: &str) -> anyhow::Result<Self> {
        if key.trim().is_empty() {
            anyhow::bail!("no API key: pass --api-key or set TOOLGATE_API_KEY");
        }
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Self {
            client,
            base: format!("{}/v1", url.trim_end_matches('/')),
            key: key.to_owned(),
        })
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> anyhow::Result<(StatusCode, Value)> {
        let response = request
            .bearer_auth(&self.key)
            .send()
            .await
            .with_context(|| format!("cannot reach the control plane at {}", self.base))?;
        let status = response.status();
        let body = response.json::<Value>().await.unwrap_or(Value::Null);
        if status == StatusCode::UNAUTHORIZED {
            anyhow::bail!("the control plane refused the API key: {}", detail(&body));
        }
        Ok((status, body))
    }

    /// Every server of the account: `(name, id)`.
    async fn servers(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut servers = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{}/servers?limit=200", self.base);
            if let Some(cursor) = &cursor {
                url.push_str("&cursor=");
                url.push_str(cursor);
            }
            let (status, body) = self.send(self.client.get(&url)).await?;
            if !status.is_success() {
                anyhow::bail!("listing servers failed: {status}: {}", detail(&body));
            }
            for server in body["items"].as_array().into_iter().flatten() {
                if let (Some(name), Some(id)) = (server["name"].as_str(), server["id"].as_str()) {
                    servers.push((name.to_owned(), id.to_owned()));
                }
            }
            match body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(servers),
            }
        }
    }

    async fn live_policy(&self, server: &str) -> anyhow::Result<Option<(i64, Value)>> {
        let url = format!("{}/servers/{server}/policy", self.base);
        let (status, mut body) = self.send(self.client.get(&url)).await?;
        match status {
            StatusCode::NOT_FOUND => Ok(None),
            s if s.is_success() => Ok(Some((
                body["version"].as_i64().unwrap_or_default(),
                body["policy"].take(),
            ))),
            s => anyhow::bail!(
                "reading server {server}'s policy failed: {s}: {}",
                detail(&body)
            ),
        }
    }

    /// The simulation of `document` on the server's recorded calls.
    async fn simulate(&self, server: &str, document: &Value) -> anyhow::Result<Simulation> {
        let url = format!("{}/servers/{server}/policy/simulate", self.base);
        let request = self.client.post(&url).json(&json!({"document": document}));
        let (status, body) = self.send(request).await?;
        match status {
            StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => Ok(Simulation::Unavailable),
            s if s.is_success() => Ok(Simulation::Report(body)),
            s => Ok(Simulation::Failed(format!("{s}: {}", detail(&body)))),
        }
    }

    async fn put_policy(&self, server: &str, document: &Value) -> anyhow::Result<i64> {
        let url = format!("{}/servers/{server}/policy", self.base);
        let (status, body) = self.send(self.client.put(&url).json(document)).await?;
        if !status.is_success() {
            anyhow::bail!("{status}: {}", detail(&body));
        }
        Ok(body["version"].as_i64().unwrap_or_default())
    }
}

/// A problem+json answer in one line: its detail, then each error.
fn detail(body: &Value) -> String {
    let mut text = body["detail"].as_str().unwrap_or("no detail").to_owned();
    for error in body["errors"].as_array().into_iter().flatten() {
        text.push_str(&format!(
            "; {}: {}",
            error["path"].as_str().unwrap_or(""),
            error["message"].as_str().unwrap_or("")
        ));
    }
    text
}
