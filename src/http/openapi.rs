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
    components(schemas(
        Problem,
        FieldError,
        crate::catalog::model::ProductId,
        crate::catalog::model::VariantId,
        crate::checkout::model::CartId,
        crate::orders::model::OrderId,
        crate::orders::model::OrderLineId,
        crate::billing::model::PaymentId,
        crate::orders::model::OrderStatus,
        crate::shipping::country::CountryCode,
        crate::kernel::pii::Email,
        crate::kernel::pii::PersonName,
        crate::kernel::pii::Phone,
        crate::kernel::pii::AddressText,
        crate::kernel::pii::PostalCode,
    )),
    modifiers(&AdminToken),
    tags(
        (name = "catalog", description = "Products and variants"),
        (name = "checkout", description = "Carts and checkout details"),
        (name = "orders", description = "Order placement, shopper access and staff operations"),
        (name = "billing", description = "Payment processor webhooks and staff views of payments"),
        (name = "operations", description = "Health and readiness"),
        (name = "staff", description = "Staff sign-in (password and authenticator) and, for admins, managing staff"),
    )
)]
pub struct ApiDoc;

/// The staff API's bearer token as an OpenAPI security scheme.
struct AdminToken;

impl utoipa::Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        for (name, what) in [
            ("cart_token", "The cart token (ct_…) from POST /v1/carts"),
            ("order_token", "The order access token (ot_…) from POST /v1/orders"),
            ("privacy_session", "The privacy session token (ps_…) from POST /v1/privacy/sessions"),
            ("account_session", "A shopper's account session token (sa_…) from POST /v1/sessions"),
            ("partner_key", "A fulfillment partner's API key (lc_live_…), issued by `leancart partner key issue`"),
            ("staff_session", "A member of staff's session token (ss_…) from POST /v1/staff/sessions"),
        ] {
            components.add_security_scheme(
                name,
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(what)).build()),
            );
        }
    }
}

/// One walk: from the 201 answer of `POST {path}`, links (name, operation id) that take the `id`
/// parameter from `id` (a runtime expression into the answer).
struct Walk {
    path: &'static str,
    id: &'static str,
    links: &'static [(&'static str, &'static str)],
}

const WALKS: &[Walk] = &[
    Walk {
        path: "/v1/carts",
        id: "$response.body#/cart/id",
        links: &[
            ("GetCart", "get_cart"),
            ("AddLine", "add_line"),
            ("SetDetails", "set_details"),
            ("ShippingMethods", "shipping_methods"),
        ],
    },
    Walk { path: "/v1/orders", id: "$response.body#/order/id", links: &[("GetOrder", "get_order")] },
];

/// OpenAPI links: how a client (or a stateful fuzzer) walks a checkout from the document — from the new
/// cart to its operations, and from the placed order to the order. Added once the routes are in the
/// document (`app::api`).
pub fn add_links(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::link::LinkBuilder;
    for walk in WALKS {
        let Some(item) = openapi.paths.paths.get_mut(walk.path) else { continue };
        let Some(op) = item.post.as_mut() else { continue };
        let Some(RefOr::T(response)) = op.responses.responses.get_mut("201") else { continue };
        for (name, operation) in walk.links {
            let link = LinkBuilder::new().operation_id(*operation).parameter("id", walk.id).build();
            response.links.insert((*name).to_owned(), RefOr::T(link));
        }
    }
}

/// The answers every operation can give besides its own, as problem documents: a request the guard or
/// the extractors refuse, a missing credential, an unknown id, and `default` for the rest (timeouts,
/// limits, outages) — so that the document names every status a client can meet. Added once the routes
/// are in the document (`app::api`), where each operation's parameters, body and security are known.
pub fn add_common_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::ParameterIn;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |what: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/problem+json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("Problem"))).build(),
                )
                .build(),
        )
    };
    for item in openapi.paths.paths.values_mut() {
        let ops = [&mut item.get, &mut item.put, &mut item.post, &mut item.delete, &mut item.patch];
        for op in ops.into_iter().flatten() {
            let mut add = |status: &str, what: &str| {
                op.responses.responses.entry(status.to_owned()).or_insert_with(|| problem(what));
            };
            add(
                "default",
                "A problem document (RFC 9457) with a stable `code`: a refused request (card data, \
                 NUL, malformed path), a body too large, a timeout, a rate limit, contention or an outage",
            );
            add(
                "422",
                "The request was refused: card data (`card_data_not_accepted`), NUL characters, or a \
                 field that is missing, unknown or invalid",
            );
            if op.request_body.is_some() {
                add("400", "The body is not valid JSON");
                add("415", "The body is not JSON");
            }
            if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                add("401", "No credential, or not the right one");
            }
            let has_path_id = op.parameters.iter().flatten().any(|p| match p {
                RefOr::T(p) => p.parameter_in == ParameterIn::Path,
                RefOr::Ref(_) => false,
            });
            if has_path_id {
                add("404", "No such resource (or not reachable with this credential)");
            }
        }
    }
}

/// What the shop's policy fixes at start-up, published as enums: the shipping methods a shopper may
/// choose (`DetailsInput.shipping_method`, the same list `set_details` checks against). Applied to the
/// document served at `/openapi.json` (`app::router`), since the policy is data, not code.
pub fn publish_policy(doc: &mut serde_json::Value, policy: &crate::shipping::policy::ShopPolicy) {
    let codes: Vec<serde_json::Value> =
        policy.shipping_methods.iter().map(|m| serde_json::Value::String(m.code.clone())).collect();
    let method = &mut doc["components"]["schemas"]["DetailsInput"]["properties"]["shipping_method"];
    if method.is_object() {
        let mut choices = codes;
        choices.push(serde_json::Value::Null); // the field is optional (only shippable goods need it)
        method["enum"] = serde_json::Value::Array(choices);
    }
}
