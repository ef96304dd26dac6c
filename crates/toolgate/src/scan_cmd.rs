//! `toolgate scan URL`: what an MCP server offers and how risky each tool
//! looks, without a database — discovery as the control plane runs it, the
//! classifier as it judges an untrusted server, and optionally the policy
//! it would recommend.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use serde_json::{json, Value};
use toolgate_catalog::{classify, recommend, ToolDefinition, Trust, Verdict};
use toolgate_discovery::{Discovered, Discoverer, Era, Limits};
use toolgate_netguard::OutboundGuard;

#[derive(clap::Args)]
pub struct ScanArgs {
    /// The server's MCP endpoint (Streamable HTTP).
    pub url: String,
    /// A header sent on every request, `'Name: value'` (repeatable), e.g.
    /// the server's `Authorization`.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Print definitions, content hashes and verdicts as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write the recommended policy document to this file.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Allow loopback and private addresses (refused by default, as the
    /// control plane refuses them unless TOOLGATE_ALLOW_PRIVATE_UPSTREAMS).
    #[arg(long)]
    pub allow_private: bool,
}

/// Widest a table column grows; longer text is cut with `…`.
const MAX_COLUMN: usize = 48;

pub fn scan(args: &ScanArgs) -> anyhow::Result<ExitCode> {
    let headers = parse_headers(&args.headers)?;
    let discoverer = Discoverer::new(OutboundGuard::new(args.allow_private), Limits::default())
        .context("cannot start the HTTP client")?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let found = match runtime.block_on(discoverer.discover(&args.url, &headers)) {
        Ok(found) => found,
        Err(failure) => {
            eprintln!(
                "error: cannot list the tools of {}: {}: {}",
                terminal_safe(&args.url),
                failure.status,
                terminal_safe(&failure.detail)
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    let judged: Vec<(ToolDefinition, Verdict)> = found
        .tools
        .iter()
        .map(|tool| (tool.clone(), classify(tool, Trust::Untrusted)))
        .collect();
    if let Some(path) = &args.policy {
        write_policy(path, &judged)?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&as_json(&found, &judged))?
        );
    } else {
        print!("{}", table(&judged));
        for note in &found.notes {
            eprintln!("note: {}", terminal_safe(note));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `Name: value` pairs, as curl takes them.
fn parse_headers(raw: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut headers = BTreeMap::new();
    for header in raw {
        let Some((name, value)) = header.split_once(':') else {
            anyhow::bail!("--header {header:?} is not 'Name: value'");
        };
        let name = name.trim();
        anyhow::ensure!(!name.is_empty(), "--header {header:?} has no name");
        headers.insert(name.to_owned(), value.trim().to_owned());
    }
    Ok(headers)
}

fn write_policy(path: &Path, judged: &[(ToolDefinition, Verdict)]) -> anyhow::Result<()> {
    let recommendation = recommend(judged);
    let mut text = serde_json::to_string_pretty(&recommendation.policy)?;
    text.push('\n');
    std::fs::write(path, text)
        .with_context(|| format!("cannot write the policy to {}", path.display()))?;
    eprintln!("wrote the recommended policy to {}", path.display());
    Ok(())
}

fn era_name(era: Era) -> &'static str {
    match era {
        Era::Legacy => "legacy",
        Era::Modern => "modern",
    }
}

fn as_json(found: &Discovered, judged: &[(ToolDefinition, Verdict)]) -> Value {
    let tools: Vec<Value> = judged
        .iter()
        .map(|(tool, verdict)| {
            json!({
                "definition": tool,
                "hash": tool.content_hash().as_str(),
                "verdict": verdict,
            })
        })
        .collect();
    json!({
        "era": era_name(found.era),
        "tools": tools,
        "resources": found.resources.iter().map(listed).collect::<Vec<_>>(),
        "prompts": found.prompts.iter().map(listed).collect::<Vec<_>>(),
        "notes": found.notes,
    })
}

fn listed(item: &toolgate_discovery::Listed) -> Value {
    json!({
        "name": item.name,
        "uri": item.uri,
        "title": item.title,
        "description": item.description,
    })
}

/// One line per tool: name, category, risk and the first reason, in
/// columns. Upstream text is made terminal-safe first.
fn table(judged: &[(ToolDefinition, Verdict)]) -> String {
    let rows: Vec<[String; 4]> = judged
        .iter()
        .map(|(tool, verdict)| {
            [
                cut(&terminal_safe(&tool.name)),
                verdict.category.as_str().to_owned(),
                verdict.risk.as_str().to_owned(),
                verdict
                    .reasons
                    .first()
                    .map(|r| terminal_safe(&r.text))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["TOOL", "CATEGORY", "RISK", "REASON"].map(str::to_owned);
    let widths: Vec<usize> = (0..3)
        .map(|i| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in std::iter::once(&header).chain(&rows) {
        let _ = writeln!(
            out,
            "{:<w0$}  {:<w1$}  {:<w2$}  {}",
            row[0],
            row[1],
            row[2],
            row[3],
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
        );
    }
    let plural = if rows.len() == 1 { "" } else { "s" };
    let _ = writeln!(out, "{} tool{plural}", rows.len());
    out
}

fn cut(text: &str) -> String {
    if text.chars().count() <= MAX_COLUMN {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(MAX_COLUMN - 1).collect();
    short.push('…');
    short
}

/// `text` with every character that could move the cursor, change colours,
/// reorder what follows or hide itself written as `\u{…}` instead: a hostile
/// server must not be able to drive the terminal through its tool names.
pub fn terminal_safe(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if is_unsafe(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c,
            // Bidirectional embeddings, overrides, isolates and marks.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}'
            // Zero-width characters and separators that break lines.
            | '\u{200b}'..='\u{200d}' | '\u{2028}' | '\u{2029}' | '\u{feff}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_drives_a_terminal() {
        assert_eq!(
            terminal_safe("a\u{1b}[2Jb\u{9b}c\u{202e}d\né"),
            "a\\u{1b}[2Jb\\u{9b}c\\u{202e}d\\u{a}é"
        );
    }

    #[test]
    fn headers_are_name_colon_value() {
        let parsed = parse_headers(&["Authorization: Bearer x:y".to_owned()]).unwrap();
        assert_eq!(parsed["Authorization"], "Bearer x:y");
        assert!(parse_headers(&["no colon".to_owned()]).is_err());
        assert!(parse_headers(&[": v".to_owned()]).is_err());
    }
}
