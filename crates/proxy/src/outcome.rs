//! What one gateway request came to, recorded once when it is answered: on
//! its span (`decision`) and as Prometheus series by account, server and
//! decision.
//!
//! Labels are ids the gateway resolved itself (never the slug or name from
//! the URL, which anyone can vary), so the series stay bounded by the
//! accounts and servers that exist.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use metrics::{Counter, Histogram};
use toolgate_store::ids::{AccountId, ServerId};

use crate::error::GatewayError;
use crate::snapshot::ServerConfig;
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

/// A request's decision. A batch counts once, under its most restrictive
/// message: the variants are ordered from least to most restrictive.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RequestDecision {
    /// Sent to the upstream (any method, or an allowed `tools/call`).
    #[default]
    Forwarded,
    /// A `tools/call` held for a person's approval.
    Approval,
    /// A `tools/call` of a tool the policy does not know.
    UnknownTool,
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

/// How many [`RequestDecision`]s there are.
const DECISIONS: usize = RequestDecision::Error as usize + 1;

impl RequestDecision {
    pub fn label(self) -> &'static str {
        match self {
            Self::Forwarded => "forwarded",
            Self::Approval => "approval",
            Self::UnknownTool => "unknown_tool",
            Self::Invalid => "invalid",
            Self::Refused => "refused",
            Self::Limited => "limited",
            Self::Unauthorized => "unauthorized",
            Self::Error => "error",
        }
    }
}

/// One server's request series, each registered on its first use (a
/// decision never taken shows no series), then recorded without building a
/// labelled key on every request.
#[derive(Default)]
pub struct ServerMetrics {
    by_decision: [OnceLock<(Counter, Histogram)>; DECISIONS],
}

impl ServerMetrics {
    fn series(
        &self,
        account: AccountId,
        server: ServerId,
        decision: RequestDecision,
    ) -> &(Counter, Histogram) {
        self.by_decision[decision as usize]
            .get_or_init(|| series(account.to_string(), server.to_string(), decision))
    }
}

fn series(account: String, server: String, decision: RequestDecision) -> (Counter, Histogram) {
    let decision = decision.label();
    let histogram = metrics::histogram!(
        DURATION_METRIC,
        "account" => account.clone(),
        "server" => server.clone(),
        "decision" => decision
    );
    let counter = metrics::counter!(
        REQUESTS_METRIC,
        "account" => account,
        "server" => server,
        "decision" => decision
    );
    (counter, histogram)
}

/// What is known about a request so far.
#[derive(Default)]
pub struct RequestOutcome {
    target: Option<(AccountId, Arc<ServerConfig>)>,
    decision: RequestDecision,
}

impl RequestOutcome {
    pub fn resolved(&mut self, account: AccountId, server: Arc<ServerConfig>) {
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
                let (account, server) = self.labels();
                metrics::counter!(
                    UPSTREAM_ERRORS_METRIC,
                    "account" => account,
                    "server" => server,
                    "kind" => upstream_kind(error)
                )
                .increment(1);
            }
        }
        let decision = self.decision;
        span.record("decision", decision.label());
        let elapsed = started.elapsed().as_secs_f64();
        match &self.target {
            Some((account, server)) => {
                let (counter, histogram) = server.metrics.series(*account, server.id, decision);
                histogram.record(elapsed);
                counter.increment(1);
            }
            None => {
                let (counter, histogram) =
                    series(UNRESOLVED.to_owned(), UNRESOLVED.to_owned(), decision);
                histogram.record(elapsed);
                counter.increment(1);
            }
        }
    }

    fn labels(&self) -> (String, String) {
        match &self.target {
            Some((account, server)) => (account.to_string(), server.id.to_string()),
            None => (UNRESOLVED.to_owned(), UNRESOLVED.to_owned()),
        }
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
}
