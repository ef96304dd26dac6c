//! An MCP load generator: the handshake first (`initialize`, then
//! `notifications/initialized`, keeping the session id if any), then
//! `tools/call echo` with a fixed number of calls in flight, each on its own
//! keep-alive connection. Prints one JSON object with throughput, latency
//! percentiles and the error count.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use clap::{Parser, Subcommand};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::json;
use toolgate_testkit::percentile;

const PROTOCOL_VERSION: &str = "2025-06-18";

#[derive(Parser)]
#[command(about = "MCP load generator for Toolgate benchmarks")]
struct Args {
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand)]
enum Mode {
    /// Handshake, then `tools/call echo` in a loop for a duration.
    Run(Load),
    /// One stateless `tools/call echo` per account (each loads that account's
    /// configuration), then a second call on some of them (warm).
    Accounts {
        /// The gateway's base URL, e.g. http://127.0.0.1:8090
        #[arg(long)]
        base: String,
        /// Lines of `SLUG<TAB>TOKEN`, as `toolgate-seed accounts` writes them.
        #[arg(long)]
        file: String,
        /// Calls in flight.
        #[arg(long, default_value_t = 1)]
        concurrency: usize,
        /// How many accounts get a second (warm) call.
        #[arg(long, default_value_t = 1000)]
        warm: usize,
    },
}

/// Where requests go: `host:port` and the path.
#[derive(Clone)]
struct Endpoint {
    authority: String,
    path: String,
}

impl Endpoint {
    fn parse(url: &str) -> anyhow::Result<Endpoint> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| anyhow!("only http:// URLs are supported: {url}"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        Ok(Endpoint {
            authority: authority.to_owned(),
            path: path.to_owned(),
        })
    }
}

struct Reply {
    status: StatusCode,
    session: Option<String>,
    body: Bytes,
}

impl Reply {
    /// A call that failed: non-2xx, a JSON-RPC error, or a result with `isError`.
    fn failed(&self) -> bool {
        !self.status.is_success()
            || memchr::memmem::find(&self.body, b"\"error\":").is_some()
            || memchr::memmem::find(&self.body, b"\"isError\":true").is_some()
    }
}

struct Connection {
    sender: http1::SendRequest<Full<Bytes>>,
    authority: String,
}

impl Connection {
    async fn open(authority: &str) -> anyhow::Result<Connection> {
        let stream = tokio::net::TcpStream::connect(authority)
            .await
            .with_context(|| format!("connecting to {authority}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection {
            sender,
            authority: authority.to_owned(),
        })
    }

    async fn post(
        &mut self,
        path: &str,
        token: Option<&str>,
        session: Option<&str>,
        body: Bytes,
    ) -> anyhow::Result<Reply> {
        let mut request = Request::post(path)
            .header("host", &self.authority)
            .header("content-type", "application/json")
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", PROTOCOL_VERSION);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        self.sender.ready().await?;
        let response = self
            .sender
            .send_request(request.body(Full::new(body))?)
            .await?;
        let status = response.status();
        let session = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.into_body().collect().await?.to_bytes();
        Ok(Reply {
            status,
            session,
            body,
        })
    }
}

/// A `tools/call` body; `params` is serialised once and reused.
fn call_body(id: u64, params: &str) -> Bytes {
    Bytes::from(format!(
        r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{params}}}"#
    ))
}

/// The `params` of `tools/call echo {"text": "hello"}`.
const ECHO_PARAMS: &str = r#"{"name":"echo","arguments":{"text":"hello"}}"#;

/// `initialize` then `notifications/initialized`; the session id, if any.
async fn handshake(endpoint: &Endpoint, token: Option<&str>) -> anyhow::Result<Option<String>> {
    let mut connection = Connection::open(&endpoint.authority).await?;
    let initialize = json!({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": PROTOCOL_VERSION, "capabilities": {},
        "clientInfo": {"name": "toolgate-load", "version": env!("CARGO_PKG_VERSION")}}});
    let reply = connection
        .post(
            &endpoint.path,
            token,
            None,
            Bytes::from(initialize.to_string()),
        )
        .await?;
    if reply.failed() {
        bail!(
            "initialize failed: {} {}",
            reply.status,
            String::from_utf8_lossy(&reply.body)
        );
    }
    let session = reply.session;
    let initialized = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;
    let reply = connection
        .post(
            &endpoint.path,
            token,
            session.as_deref(),
            Bytes::from_static(initialized.as_bytes()),
        )
        .await?;
    if !reply.status.is_success() {
        bail!("notifications/initialized answered {}", reply.status);
    }
    Ok(session)
}

#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    error_sample: Option<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.errors += other.errors;
        if self.error_sample.is_none() {
            self.error_sample = other.error_sample;
        }
    }

    fn record_error(&mut self, what: String) {
        self.errors += 1;
        if self.error_sample.is_none() {
            self.error_sample = Some(what.chars().take(300).collect());
        }
    }
}

#[derive(clap::Args)]
struct Load {
    /// The MCP endpoint, e.g. http://127.0.0.1:8080/mcp/bench/allow-all
    #[arg(long)]
    url: String,
    /// A bearer token sent on every request.
    #[arg(long)]
    token: Option<String>,
    /// Calls in flight (one connection each).
    #[arg(long, default_value_t = 1)]
    concurrency: usize,
    /// Seconds measured.
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Seconds run before measuring starts.
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// The tool called.
    #[arg(long, default_value = "echo")]
    tool: String,
    /// The call's arguments, as JSON.
    #[arg(long, default_value = r#"{"text":"hello"}"#)]
    arguments: String,
}

async fn run(load: Load) -> anyhow::Result<()> {
    let Load {
        url,
        token,
        concurrency,
        duration,
        warmup,
        tool,
        arguments,
    } = load;
    let arguments: serde_json::Value =
        serde_json::from_str(&arguments).context("--arguments must be JSON")?;
    let params: Arc<str> = json!({"name": tool, "arguments": arguments})
        .to_string()
        .into();
    let endpoint = Endpoint::parse(&url)?;
    let session = handshake(&endpoint, token.as_deref()).await?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(warmup);
    let until = measure_from + Duration::from_secs_f64(duration);
    let mut workers = Vec::with_capacity(concurrency);
    for worker in 0..concurrency {
        let endpoint = endpoint.clone();
        let token = token.clone();
        let session = session.clone();
        let params = params.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut connection = Connection::open(&endpoint.authority).await?;
            let mut id = (worker as u64) << 32;
            loop {
                let sent = Instant::now();
                if sent >= until {
                    break;
                }
                id += 1;
                let outcome = connection
                    .post(
                        &endpoint.path,
                        token.as_deref(),
                        session.as_deref(),
                        call_body(id, &params),
                    )
                    .await;
                let done = Instant::now();
                let measured = sent >= measure_from && done <= until;
                match outcome {
                    Ok(reply) => {
                        if measured {
                            if reply.failed() {
                                tally.record_error(format!(
                                    "{} {}",
                                    reply.status,
                                    String::from_utf8_lossy(&reply.body)
                                ));
                            } else {
                                let us = done.duration_since(sent).as_micros();
                                tally
                                    .latencies_us
                                    .push(u32::try_from(us).unwrap_or(u32::MAX));
                            }
                        }
                    }
                    Err(error) => {
                        if measured {
                            tally.record_error(format!("transport: {error:#}"));
                        }
                        connection = Connection::open(&endpoint.authority).await?;
                    }
                }
            }
            anyhow::Ok(tally)
        }));
    }
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await??);
    }
    tally.latencies_us.sort_unstable();
    let ok = tally.latencies_us.len() as f64;
    let lat = &tally.latencies_us;
    let report = json!({
        "url": url,
        "concurrency": concurrency,
        "duration_s": duration,
        "calls": tally.latencies_us.len() as u64 + tally.errors,
        "errors": tally.errors,
        "throughput": ok / duration,
        "p50_us": percentile(lat, 50.0),
        "p90_us": percentile(lat, 90.0),
        "p99_us": percentile(lat, 99.0),
        "max_us": percentile(lat, 100.0),
        "session": session.is_some(),
        "error_sample": tally.error_sample,
    });
    println!("{report}");
    Ok(())
}

async fn accounts(
    base: String,
    file: String,
    concurrency: usize,
    warm: usize,
) -> anyhow::Result<()> {
    let endpoint = Endpoint::parse(&base)?;
    let text = std::fs::read_to_string(&file).with_context(|| format!("reading {file}"))?;
    let accounts: Arc<Vec<(String, String)>> = Arc::new(
        text.lines()
            .filter_map(|line| line.split_once('\t'))
            .map(|(slug, token)| (format!("/mcp/{slug}/tools"), token.to_owned()))
            .collect(),
    );
    let started = Instant::now();
    let cold = pass(&endpoint, accounts.clone(), accounts.len(), concurrency).await?;
    let cold_elapsed = started.elapsed().as_secs_f64();
    let warm = pass(
        &endpoint,
        accounts.clone(),
        warm.min(accounts.len()),
        concurrency,
    )
    .await?;
    let report = json!({
        "accounts": accounts.len(),
        "concurrency": concurrency,
        "errors": cold.errors + warm.errors,
        "error_sample": cold.error_sample.or(warm.error_sample),
        "cold_pass_s": cold_elapsed,
        "cold_p50_us": percentile(&cold.latencies_us, 50.0),
        "cold_p90_us": percentile(&cold.latencies_us, 90.0),
        "cold_p99_us": percentile(&cold.latencies_us, 99.0),
        "warm_calls": warm.latencies_us.len(),
        "warm_p50_us": percentile(&warm.latencies_us, 50.0),
        "warm_p90_us": percentile(&warm.latencies_us, 90.0),
        "warm_p99_us": percentile(&warm.latencies_us, 99.0),
    });
    println!("{report}");
    Ok(())
}

/// One stateless call for each of the first `count` accounts.
async fn pass(
    endpoint: &Endpoint,
    accounts: Arc<Vec<(String, String)>>,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Tally> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let accounts = accounts.clone();
        let next = next.clone();
        let authority = endpoint.authority.clone();
        workers.push(tokio::spawn(async move {
            let mut tally = Tally::default();
            let mut connection = Connection::open(&authority).await?;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let (path, token) = &accounts[i];
                let sent = Instant::now();
                match connection
                    .post(path, Some(token), None, call_body(i as u64, ECHO_PARAMS))
                    .await
                {
                    Ok(reply) if !reply.failed() => {
                        let us = sent.elapsed().as_micros();
                        tally
                            .latencies_us
                            .push(u32::try_from(us).unwrap_or(u32::MAX));
                    }
                    Ok(reply) => tally.record_error(format!(
                        "{path}: {} {}",
                        reply.status,
                        String::from_utf8_lossy(&reply.body)
                    )),
                    Err(error) => {
                        tally.record_error(format!("{path}: transport: {error:#}"));
                        connection = Connection::open(&authority).await?;
                    }
                }
            }
            anyhow::Ok(tally)
        }));
    }
    let mut tally = Tally::default();
    for worker in workers {
        tally.merge(worker.await??);
    }
    tally.latencies_us.sort_unstable();
    Ok(tally)
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match args.mode {
            Mode::Run(load) => run(load).await,
            Mode::Accounts {
                base,
                file,
                concurrency,
                warm,
            } => accounts(base, file, concurrency, warm).await,
        }
    })
}
