//! What one gateway request came to, recorded once when it is answered: on
//! its span (`decision`) and as Prometheus series by account, server and
//! decision.
//!
//! Labels are ids the gateway resolved itself (never the slug or name from
//! the URL, which anyone can vary), so the series stay bounded by the
//! accounts and servers that exist.
//!
//! The request counter and the duration histogram are kept here, in
//! [`RequestSeries`], rather than in the `metrics` recorder: a gateway holds
//! a series for every account, server and decision it has served, and the
//! recorder keeps for each a key with its own copies of the label strings
//! (twice: counter and histogram), a buffer of raw samples until its next
//! upkeep (1 KiB once a histogram is touched) and the aggregated histogram
//! with a third copy of the labels: about 2.5 KiB per series. Here a series
//! is its ids and its counts, and the ids are formatted only when `/metrics`
//! is rendered, as the same text the recorder would write.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{OnceLock, RwLock};
use std::time::{Duration, Instant};

use toolgate_store::ids::{AccountId, ServerId};

use crate::error::GatewayError;
use crate::upstream::UpstreamError;

/// Gateway `POST` requests, by `account`, `server` and `decision`.
pub const REQUESTS_METRIC: &str = "toolgate_gateway_requests_total";
/// Seconds from the request to the response headers (a streamed answer's
/// body is not included), by `account`, `server` and `decision`.
pub const DURATION_METRIC: &str = "toolgate_gateway_request_duration_seconds";
/// Requests the upstream failed, by `account`, `server` and `kind`.
pub const UPSTREAM_ERRORS_METRIC: &str = "toolgate_gateway_upstream_errors_total";

/// The label for requests that failed before their account or server was
/// known (an unknown URL, a bad token).
const UNRESOLVED: &str = "unknown";

/// Histogram buckets (upper bounds, seconds) for every `…_seconds` metric:
/// from a fraction of a millisecond (a refusal answered locally) to the slow
/// upstream calls.
pub const LATENCY_BUCKETS: [f64; 15] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

/// A request's decision. A batch counts once, under its most restrictive
/// message: the variants are ordered from least to most restrictive.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RequestDecision {
    /// Sent to the upstream (any method, or an allowed `tools/call`).
    #[default]
    Forwarded,
    /// A `tools/call` held for a person's approval.
    Approval,
    /// A `tools/call` of a tool the policy does not know.
    UnknownTool,
    /// A method the protocol revision in use does not define and the policy
    /// does not list in `extensions`: answered `-32601`, or dropped.
    UnknownMethod,
    /// A `tools/call` whose arguments are not valid JSON.
    Invalid,
    /// A `tools/call` the policy denies.
    Refused,
    /// A `tools/call` refused by a rate limit.
    Limited,
    /// No or a wrong grant token, or a grant for another server.
    Unauthorized,
    /// Anything else the gateway could not complete (protocol errors,
    /// upstream failures, configuration not loadable).
    Error,
}

impl RequestDecision {
    pub fn label(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::Approval => "approval",
            Self::UnknownTool => "unknown_tool",
            Self::UnknownMethod => "unknown_method",
            Self::Invalid => "invalid",
            Self::Refused => "refused",
            Self::Limited => "limited",
            Self::Unauthorized => "unauthorized",
            Self::Error => "error",
        }
    }
}

/// What is known about a request so far.
#[derive(Debug, Default)]
pub struct RequestOutcome {
    target: Option<(AccountId, ServerId)>,
    decision: RequestDecision,
}

impl RequestOutcome {
    pub fn resolved(&mut self, account: AccountId, server: ServerId) {
        self.target = Some((account, server));
    }

    /// Raises the decision to `decision` if that is more restrictive.
    pub fn raise(&mut self, decision: RequestDecision) {
        self.decision = self.decision.max(decision);
    }

    /// Records the decision on the request's span and in the metrics.
    pub fn finish(mut self, span: &tracing::Span, error: Option<&GatewayError>, started: Instant) {
        if let Some(error) = error {
            self.raise(match error {
                GatewayError::Unauthorized(_) | GatewayError::WrongServer => {
                    RequestDecision::Unauthorized
                }
                _ => RequestDecision::Error,
            });
            if let GatewayError::Upstream { error, .. } = error {
                let (account, server) = match self.target {
                    Some((account, server)) => (account.to_string(), server.to_string()),
                    None => (UNRESOLVED.to_owned(), UNRESOLVED.to_owned()),
                };
                metrics::counter!(
                    UPSTREAM_ERRORS_METRIC,
                    "account" => account,
                    "server" => server,
                    "kind" => upstream_kind(error)
                )
                .increment(1);
            }
        }
        span.record("decision", self.decision.label());
        RequestSeries::global().record(self.target, self.decision, started.elapsed());
    }
}

/// Which series a request counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SeriesKey {
    /// `None`: not resolved, labelled [`UNRESOLVED`].
    target: Option<(AccountId, ServerId)>,
    decision: RequestDecision,
}

impl SeriesKey {
    /// `account="…",server="…",decision="…"`; ids need no escaping.
    fn labels(&self) -> String {
        let (account, server) = match self.target {
            Some((account, server)) => (account.to_string(), server.to_string()),
            None => (UNRESOLVED.to_owned(), UNRESOLVED.to_owned()),
        };
        format!(
            "account=\"{account}\",server=\"{server}\",decision=\"{}\"",
            self.decision.label()
        )
    }
}

/// One series' counts: its requests (the counter and the histogram's
/// `_count`), their summed duration and the histogram buckets.
#[derive(Default)]
struct Series {
    count: AtomicU64,
    sum_nanos: AtomicU64,
    /// Requests per bucket of [`LATENCY_BUCKETS`], each counted once, in the
    /// first bucket it fits (rendered cumulatively); slower ones only count
    /// in `+Inf`, which is `count`.
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
}

impl Series {
    fn record(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        if let Some(bucket) = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .and_then(|at| self.buckets.get(at))
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        // Last, and released: a renderer that reads it sees the bucket too.
        self.count.fetch_add(1, Ordering::Release);
    }
}

/// The gateway's request series ([`REQUESTS_METRIC`] and [`DURATION_METRIC`]),
/// by account, server and decision.
#[derive(Default)]
pub struct RequestSeries {
    series: RwLock<HashMap<SeriesKey, Series>>,
}

impl RequestSeries {
    /// The process's series, which `/metrics` renders.
    pub fn global() -> &'static Self {
        static GLOBAL: OnceLock<RequestSeries> = OnceLock::new();
        GLOBAL.get_or_init(Self::default)
    }

    fn record(
        &self,
        target: Option<(AccountId, ServerId)>,
        decision: RequestDecision,
        elapsed: Duration,
    ) {
        let key = SeriesKey { target, decision };
        {
            let series = self
                .series
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            if let Some(series) = series.get(&key) {
                series.record(elapsed);
                return;
            }
        }
        self.series
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default()
            .record(elapsed);
    }

    /// Appends the series in the Prometheus text format, as the `metrics`
    /// recorder writes its own: one block per metric, nothing when no
    /// request was served.
    pub fn render(&self, out: &mut String) {
        let series = self
            .series
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if series.is_empty() {
            return;
        }
        // About 2 KiB of text per series.
        out.reserve(series.len() * 2048);
        let _ = writeln!(out, "# TYPE {REQUESTS_METRIC} counter");
        for (key, counts) in series.iter() {
            let count = counts.count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{REQUESTS_METRIC}{{{}}} {count}", key.labels());
        }
        out.push('\n');
        let _ = writeln!(out, "# TYPE {DURATION_METRIC} histogram");
        for (key, counts) in series.iter() {
            let labels = key.labels();
            // `count` first: every request it counts is in the buckets read
            // after it (see `Series::record`); requests recorded meanwhile
            // are cut off so that no bucket exceeds `+Inf`.
            let count = counts.count.load(Ordering::Acquire);
            let mut below = 0;
            for (bound, bucket) in LATENCY_BUCKETS.iter().zip(&counts.buckets) {
                below += bucket.load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "{DURATION_METRIC}_bucket{{{labels},le=\"{bound}\"}} {}",
                    below.min(count)
                );
            }
            let sum = Duration::from_nanos(counts.sum_nanos.load(Ordering::Relaxed)).as_secs_f64();
            let _ = writeln!(
                out,
                "{DURATION_METRIC}_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(out, "{DURATION_METRIC}_sum{{{labels}}} {sum}");
            let _ = writeln!(out, "{DURATION_METRIC}_count{{{labels}}} {count}");
        }
        out.push('\n');
    }
}

fn upstream_kind(error: &UpstreamError) -> &'static str {
    match error {
        UpstreamError::Unreachable(_) => "unreachable",
        UpstreamError::Timeout(_) => "timeout",
        UpstreamError::Forbidden(_) => "forbidden",
        UpstreamError::InvalidResponse(_) => "invalid_response",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_keeps_its_most_restrictive_decision() {
        let mut outcome = RequestOutcome::default();
        outcome.raise(RequestDecision::Refused);
        outcome.raise(RequestDecision::Forwarded);
        outcome.raise(RequestDecision::UnknownTool);
        assert_eq!(outcome.decision, RequestDecision::Refused);
        outcome.raise(RequestDecision::Limited);
        assert_eq!(outcome.decision, RequestDecision::Limited);
    }

    #[test]
    fn series_render_as_a_counter_and_a_cumulative_histogram() {
        let series = RequestSeries::default();
        let mut empty = String::new();
        series.render(&mut empty);
        assert_eq!(empty, "", "nothing before the first request");

        let (account, server) = (AccountId::new(), ServerId::new());
        let target = Some((account, server));
        let forwarded = RequestDecision::Forwarded;
        for millis in [0, 3, 3, 40_000] {
            series.record(target, forwarded, Duration::from_millis(millis));
        }
        series.record(
            None,
            RequestDecision::Unauthorized,
            Duration::from_micros(100),
        );
        let mut text = String::new();
        series.render(&mut text);

        let ours = format!("account=\"{account}\",server=\"{server}\",decision=\"forwarded\"");
        let line = |line: String| {
            assert!(text.lines().any(|l| l == line), "{line} not in\n{text}");
        };
        line("# TYPE toolgate_gateway_requests_total counter".to_owned());
        line(format!("toolgate_gateway_requests_total{{{ours}}} 4"));
        line(
            "toolgate_gateway_requests_total{account=\"unknown\",server=\"unknown\",decision=\"unauthorized\"} 1"
                .to_owned(),
        );
        line("# TYPE toolgate_gateway_request_duration_seconds histogram".to_owned());
        let bucket = |le: &str, count: u64| {
            format!(
                "toolgate_gateway_request_duration_seconds_bucket{{{ours},le=\"{le}\"}} {count}"
            )
        };
        line(bucket("0.0005", 1));
        line(bucket("0.0025", 1));
        line(bucket("0.005", 3));
        line(bucket("30", 3));
        line(bucket("+Inf", 4));
        line(format!(
            "toolgate_gateway_request_duration_seconds_sum{{{ours}}} 40.006"
        ));
        line(format!(
            "toolgate_gateway_request_duration_seconds_count{{{ours}}} 4"
        ));
        let buckets = text
            .lines()
            .filter(|l| l.starts_with("toolgate_gateway_request_duration_seconds_bucket"))
            .count();
        assert_eq!(buckets, 2 * (LATENCY_BUCKETS.len() + 1));
    }
}
