//! The audit trail: every `tools/call` decision of the account's gateways,
//! newest first, as pages or as one NDJSON export.

use axum::body::Body;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sqlx::PgPool;
use toolgate_store::audit::{self, AuditCursor, AuditDecision, AuditEvent, AuditFilter};
use toolgate_store::ids::AccountId;
use toolgate_store::page::{DEFAULT_LIMIT, MAX_LIMIT};
use toolgate_store::Page;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::Auth;
use crate::error::{ApiError, Violations};
use crate::extract::ApiQuery;
use crate::permissions::Permission;
use crate::routes::time;
use crate::routes::TAG_AUDIT;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_audit))
        .routes(routes!(export_audit))
}

/// Whether argument values leave the API: only for roles that may read
/// them (the rule's `audit_arguments` decides whether they were kept).
#[derive(Clone, Copy)]
struct Redact(bool);

impl Redact {
    fn for_caller(auth: &Auth) -> Self {
        Redact(!auth.can(Permission::ReadAuditArguments))
    }

    fn apply(self, event: &mut AuditEvent) {
        if self.0 {
            event.arguments = None;
        }
    }
}

/// Rows fetched per query while exporting.
const EXPORT_PAGE: i64 = 1000;

/// Filters shared by the list and the export. Each bad one is reported
/// (422) with the parameter's name as the error's `path`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// A server id (`srv_…`).
    server: Option<String>,
    /// A grant id (`grt_…`).
    grant: Option<String>,
    /// An exact tool name.
    tool: Option<String>,
    /// `allowed`, `refused`, `unknown_tool`, `limited`, `limit_unavailable`,
    /// `approval_required`, `approval_approved`, `approval_denied`,
    /// `approval_timed_out`, `approval_abandoned` or `approval_pending`.
    decision: Option<String>,
    /// Events at or after this time (RFC 3339).
    since: Option<String>,
    /// Events before this time (RFC 3339).
    until: Option<String>,
    /// The `next_cursor` of the previous page (list only).
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50; list only).
    limit: Option<i64>,
}

pub(super) fn parsed<T: std::str::FromStr>(
    violations: &mut Violations,
    name: &str,
    value: Option<&str>,
    what: &str,
) -> Option<T> {
    let value = value?;
    violations.check(
        name,
        value
            .parse()
            .map_err(|_| format!("{value:?} is not {what}")),
    )
}

impl AuditParams {
    fn filter(&self) -> Result<(AuditFilter, Option<AuditCursor>, i64), ApiError> {
        let mut v = Violations::default();
        let server = parsed(&mut v, "server", self.server.as_deref(), "a server id");
        let grant = parsed(&mut v, "grant", self.grant.as_deref(), "a grant id");
        let decision = self.decision.as_deref().and_then(|d| {
            v.check(
                "decision",
                AuditDecision::parse(d).ok_or_else(|| {
                    let names: Vec<&str> = AuditDecision::ALL.iter().map(|d| d.as_str()).collect();
                    format!("{d:?} is not one of {}", names.join(", "))
                }),
            )
        });
        let since = time(&mut v, "since", self.since.as_deref());
        let until = time(&mut v, "until", self.until.as_deref());
        if let (Some(since), Some(until)) = (since, until) {
            if until <= since {
                v.add("until", "must be after since");
            }
        }
        let cursor = self.cursor.as_deref().and_then(|c| {
            v.check(
                "cursor",
                AuditCursor::parse(c)
                    .ok_or_else(|| "pass the next_cursor of a previous page".to_owned()),
            )
        });
        if self.limit.is_some_and(|l| !(1..=MAX_LIMIT).contains(&l)) {
            v.add("limit", format!("must be between 1 and {MAX_LIMIT}"));
        }
        if self.tool.as_deref().is_some_and(str::is_empty) {
            v.add("tool", "must not be empty");
        }
        v.into_result()?;
        let filter = AuditFilter {
            server,
            grant,
            tool: self.tool.clone(),
            decision,
            since,
            until,
        };
        Ok((filter, cursor, self.limit.unwrap_or(DEFAULT_LIMIT)))
    }
}

/// The account's audit events, newest first. Ids of other accounts filter
/// to nothing.
#[utoipa::path(get, path = "/audit", tag = TAG_AUDIT, params(AuditParams),
    responses(
        (status = 200, body = Page<AuditEvent>),
        (status = 422, description = "A filter is malformed; `errors[].path` names it", body = crate::error::Problem),
    ))]
async fn list_audit(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Json<Page<AuditEvent>>, ApiError> {
    let (filter, cursor, limit) = params.filter()?;
    let mut page = audit::list(&state.pool, auth.account_id, &filter, cursor, limit).await?;
    let redact = Redact::for_caller(&auth);
    page.items.iter_mut().for_each(|event| redact.apply(event));
    Ok(Json(page))
}

/// Every matching event as newline-delimited JSON (one event per line,
/// newest first), streamed.
#[utoipa::path(get, path = "/audit/export", tag = TAG_AUDIT, params(AuditParams),
    responses(
        (status = 200, description = "One event per line", content_type = "application/x-ndjson", body = AuditEvent),
        (status = 422, description = "A filter is malformed; `errors[].path` names it", body = crate::error::Problem),
    ))]
async fn export_audit(
    State(state): State<AppState>,
    auth: Auth,
    ApiQuery(params): ApiQuery<AuditParams>,
) -> Result<Response, ApiError> {
    let (filter, cursor, _) = params.filter()?;
    let redact = Redact::for_caller(&auth);
    let stream = export_stream(state.pool.clone(), auth.account_id, filter, cursor, redact);
    Ok((
        [(header::CONTENT_TYPE, "application/x-ndjson")],
        Body::from_stream(stream),
    )
        .into_response())
}

/// Pages through the events, one query per [`EXPORT_PAGE`] rows, so the
/// export never holds more than one page.
fn export_stream(
    pool: PgPool,
    account: AccountId,
    filter: AuditFilter,
    cursor: Option<AuditCursor>,
    redact: Redact,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    futures_util::stream::unfold(Some(cursor), move |next| {
        let pool = pool.clone();
        let filter = filter.clone();
        async move {
            let after = next?;
            match audit::list(&pool, account, &filter, after, EXPORT_PAGE).await {
                Ok(page) => {
                    let mut out = Vec::with_capacity(page.items.len() * 400);
                    for mut event in page.items {
                        redact.apply(&mut event);
                        if serde_json::to_writer(&mut out, &event).is_ok() {
                            out.push(b'\n');
                        }
                    }
                    let following = page
                        .next_cursor
                        .as_deref()
                        .and_then(AuditCursor::parse)
                        .map(Some);
                    Some((Ok(Bytes::from(out)), following))
                }
                Err(err) => {
                    // The status is sent; breaking the body is the only way
                    // left to tell the client the export is incomplete.
                    tracing::error!(error = %err, "audit export failed");
                    Some((Err(std::io::Error::other("audit export failed")), None))
                }
            }
        }
    })
}
