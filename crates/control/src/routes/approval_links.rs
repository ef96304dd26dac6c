//! `/approvals/{id}`: the stable address of one approval, which hand-back
//! answers and webhook messages link to. The dashboard will serve it; until
//! then it redirects to the API resource (which needs the reviewer's
//! credentials). A GET only ever shows: deciding is a POST, so a link
//! preview (a chat app unfurling the link) can never approve anything.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use toolgate_store::ids::ApprovalId;

use crate::error::ApiError;
use crate::extract::PathId;
use crate::routes::TAG_APPROVALS;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(approval_link))
}

/// Where a reviewer opens an approval: redirects (303) to
/// `/v1/approvals/{id}` until the dashboard serves this page.
#[utoipa::path(get, path = "/approvals/{id}", tag = TAG_APPROVALS, security(()),
    params(("id" = ApprovalId, Path)),
    responses(
        (status = 303, description = "See the approval in the API", headers(("location" = String))),
        (status = 404, description = "Not an approval id", body = crate::error::Problem),
    ))]
async fn approval_link(PathId(id): PathId<ApprovalId>) -> Result<Response, ApiError> {
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, format!("/v1/approvals/{id}"))],
    )
        .into_response())
}
