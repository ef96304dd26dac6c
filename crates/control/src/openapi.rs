//! The OpenAPI 3.1 document, generated from the same route table that the
//! router is built from, so the two cannot drift apart.

use std::sync::OnceLock;

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi as OpenApiDoc;
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::routes::TAG_OPS;
use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Toolgate control plane",
        description = "Accounts, upstream MCP servers, agent grants and policies. \
            Errors are RFC 9457 problem+json. Lists are cursor-paginated.",
    ),
    modifiers(&BearerAuth),
    security(("bearer" = [])),
    components(schemas(crate::error::Problem, crate::error::FieldError)),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApiDoc) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A session token from /v1/signup or /v1/login, or a management API key (tgk_…)"))
                    .build(),
            ),
        );
    }
}

/// Every documented route, with the document describing them.
pub fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::routes::health::router())
        .routes(routes!(openapi_json))
        .nest("/v1", crate::v1_router())
}

pub fn document() -> &'static OpenApiDoc {
    static DOC: OnceLock<OpenApiDoc> = OnceLock::new();
    DOC.get_or_init(|| api_router().split_for_parts().1)
}

/// This document.
#[utoipa::path(get, path = "/v1/openapi.json", tag = TAG_OPS, security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
async fn openapi_json() -> Json<&'static OpenApiDoc> {
    Json(document())
}
