//! The OpenAPI 3.1 document. Paths are registered together with their routes (utoipa-axum), so the
//! document cannot miss a route; this adds the document-level information.

use crate::error::{FieldError, Problem};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "leancart",
        description = "Privacy-first checkout and order API. Collects only the fields each purpose needs; \
                       never accepts card data; every error is RFC 9457 problem+json with a stable `code`."
    ),
    components(schemas(Problem, FieldError)),
    tags(
        (name = "catalog", description = "Products and variants"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;
