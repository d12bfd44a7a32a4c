//! Every route's access policy, in one table. A route that is not here is refused; a test walks the
//! router and the OpenAPI document against this table, and calls each route as each kind of caller.

use super::Permission::{self, *};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Anyone (the catalog, health, login, registration, webhooks signed by the processor).
    Public,
    /// Whoever holds the resource's own credential — a cart or order token, a signed or single-use
    /// link — which the handler checks (the credential is the authorization: 404 without it).
    TokenHolder,
    /// A signed-in shopper; record-level checks in the handler through `access::decide`.
    Shopper,
    /// A member of staff whose role holds the permission (and, but for `OwnAccount`, whose session
    /// showed the second factor).
    Staff(Permission),
    /// A partner's API key, with this scope when one is named.
    Partner(Option<&'static str>),
}

use Policy::*;

/// (method, route as matched, policy).
pub const ROUTES: &[(&str, &str, Policy)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/openapi.json", Public),
    // Catalog and guest checkout.
    ("GET", "/v1/products", Public),
    ("GET", "/v1/products/{id}", Public),
    ("POST", "/v1/carts", Public),
    ("GET", "/v1/carts/{id}", TokenHolder),
    ("PUT", "/v1/carts/{id}/details", TokenHolder),
    ("POST", "/v1/carts/{id}/lines", TokenHolder),
    ("PUT", "/v1/carts/{id}/lines/{variant_id}", TokenHolder),
    ("DELETE", "/v1/carts/{id}/lines/{variant_id}", TokenHolder),
    ("GET", "/v1/carts/{id}/shipping-methods", TokenHolder),
    ("POST", "/v1/orders", TokenHolder),
    ("GET", "/v1/orders/{id}", TokenHolder),
    ("POST", "/v1/webhooks/stripe", Public),
    // Privacy requests by e-mail proof.
    ("POST", "/v1/privacy/proofs", Public),
    ("POST", "/v1/privacy/sessions", TokenHolder),
    ("POST", "/v1/privacy/requests", TokenHolder),
    ("GET", "/v1/privacy/requests/{id}", TokenHolder),
    ("GET", "/v1/privacy/exports/{id}", TokenHolder),
    // Shopper accounts.
    ("POST", "/v1/accounts", Public),
    ("POST", "/v1/carts/{id}/account", TokenHolder),
    ("POST", "/v1/sessions", Public),
    ("POST", "/v1/password-resets", Public),
    ("POST", "/v1/password-resets/complete", TokenHolder),
    ("GET", "/v1/account", Shopper),
    ("DELETE", "/v1/sessions/current", Shopper),
    ("DELETE", "/v1/sessions", Shopper),
    ("POST", "/v1/account/password", Shopper),
    ("GET", "/v1/account/orders", Shopper),
    ("GET", "/v1/account/orders/{id}", Shopper),
    ("POST", "/v1/account/privacy-requests", Shopper),
    ("POST", "/v1/account/claims", Shopper),
    ("POST", "/v1/account/claims/complete", Shopper),
    ("POST", "/v1/account/second-factor", Shopper),
    ("POST", "/v1/account/second-factor/confirm", Shopper),
    ("DELETE", "/v1/account/second-factor", Shopper),
    // Staff: their own sign-in.
    ("POST", "/v1/staff/setup", TokenHolder),
    ("POST", "/v1/staff/sessions", Public),
    ("GET", "/v1/staff/me", Staff(OwnAccount)),
    ("DELETE", "/v1/staff/sessions/current", Staff(OwnAccount)),
    ("POST", "/v1/staff/second-factor", Staff(OwnAccount)),
    ("POST", "/v1/staff/second-factor/confirm", Staff(OwnAccount)),
    // Staff: the work.
    ("GET", "/v1/admin/orders", Staff(OrdersSearch)),
    ("GET", "/v1/admin/orders/{id}", Staff(OrderRead)),
    ("POST", "/v1/admin/orders/{id}/cancel", Staff(OrderCancel)),
    ("POST", "/v1/admin/orders/{id}/refunds", Staff(OrderRefund)),
    ("POST", "/v1/admin/orders/{id}/capture", Staff(OrderCapture)),
    ("GET", "/v1/admin/payments/{id}", Staff(PaymentRead)),
    ("GET", "/v1/admin/webhook-events", Staff(WebhookEventsRead)),
    ("POST", "/v1/admin/privacy/requests", Staff(PrivacyRequests)),
    ("GET", "/v1/admin/privacy/requests/{id}", Staff(PrivacyRequests)),
    ("GET", "/v1/admin/staff", Staff(StaffManage)),
    ("POST", "/v1/admin/staff", Staff(StaffManage)),
    ("PATCH", "/v1/admin/staff/{id}", Staff(StaffManage)),
    ("DELETE", "/v1/admin/staff/{id}", Staff(StaffManage)),
    ("POST", "/v1/admin/staff/{id}/setup-link", Staff(StaffManage)),
    ("POST", "/v1/admin/staff/{id}/second-factor/reset", Staff(StaffManage)),
    // Admin: partners, rules, fulfillments.
    ("GET", "/v1/admin/partners", Staff(PartnersManage)),
    ("POST", "/v1/admin/partners", Staff(PartnersManage)),
    ("PATCH", "/v1/admin/partners/{id}", Staff(PartnersManage)),
    ("POST", "/v1/admin/partners/{id}/keys", Staff(PartnersManage)),
    ("DELETE", "/v1/admin/partner-keys/{id}", Staff(PartnersManage)),
    ("GET", "/v1/admin/partners/{id}/keys/{key_id}/preview", Staff(PartnersManage)),
    ("GET", "/v1/admin/routing-rules", Staff(PartnersManage)),
    ("POST", "/v1/admin/routing-rules", Staff(PartnersManage)),
    ("DELETE", "/v1/admin/routing-rules/{id}", Staff(PartnersManage)),
    ("GET", "/v1/admin/fulfillments", Staff(FulfillmentsRead)),
    ("POST", "/v1/admin/fulfillments/{id}/assign", Staff(PartnersManage)),
    // Partners.
    ("GET", "/v1/partner/whoami", Partner(None)),
    ("GET", "/v1/partner/fulfillments", Partner(Some("orders:read"))),
    ("GET", "/v1/partner/fulfillments/{reference}", Partner(Some("orders:read"))),
    ("GET", "/v1/partner/exports/fulfillments.csv", Partner(Some("orders:read"))),
    ("GET", "/v1/partner/exports/fulfillments.ndjson", Partner(Some("orders:read"))),
    ("POST", "/v1/partner/fulfillments/ack", Partner(Some("orders:read"))),
    ("POST", "/v1/partner/fulfillments/{reference}/shipments", Partner(Some("shipments:write"))),
    ("POST", "/v1/partner/fulfillments/{reference}/delivered", Partner(Some("shipments:write"))),
    ("POST", "/v1/partner/fulfillments/{reference}/exception", Partner(Some("shipments:write"))),
];

/// The policy of a route (`None`: the route has none, and is refused).
pub fn of(method: &str, route: &str) -> Option<Policy> {
    ROUTES.iter().find(|(m, r, _)| *m == method && *r == route).map(|(_, _, p)| *p)
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_policy_per_route() {
        let mut seen = std::collections::HashSet::new();
        for (m, r, _) in super::ROUTES {
            assert!(seen.insert((m, r)), "{m} {r} twice");
        }
    }
}
