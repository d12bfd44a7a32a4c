//! Authorization as one mechanism, walked: every route of the router has a policy (and a route
//! without one is refused); every route keeps to its policy for every kind of caller — nobody, a
//! shopper, each staff role with and without the second factor, a partner; a shopper reaches nothing
//! of another's through any route; finance sees no address, e-mail or phone anywhere.

use crate::support::TestApp;
use crate::support::shop::Cart;
use leancart::access::policy::{self, Policy, ROUTES};
use leancart::access::{Role, grants};
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const PASSPHRASE: &str = "correct horse battery staple";

/// A concrete path for a route, its parameters filled with `id`.
fn concrete(route: &str, id: &str) -> String {
    route.split('/').map(|seg| if seg.starts_with('{') { id } else { seg }).collect::<Vec<_>>().join("/")
}

async fn shopper(app: &TestApp, email: &str) -> String {
    let (s, body) =
        app.call(Method::POST, "/v1/accounts", None, Some(json!({"email": email, "password": PASSPHRASE}))).await;
    assert_eq!(s, 201, "{body}");
    body["session"]["session_token"].as_str().unwrap().to_owned()
}

async fn partner_key(app: &TestApp) -> String {
    let now = app.state.clock.now();
    app.state
        .db
        .run(move |c| {
            use leancart::partners::{keys, store};
            store::insert_partner(c, "ptn_walk", "Nordlager GmbH", now)?;
            let issued = leancart::db::dialect::write_transaction(c, |c| {
                keys::issue(c, "ptn_walk", &["orders:read".to_owned()], None, now)
            })?;
            Ok(issued.token.expose().to_owned())
        })
        .await
        .unwrap()
}

async fn send(app: &TestApp, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
    app.call(method, path, token, body).await
}

#[tokio::test(flavor = "multi_thread")]
async fn every_route_has_a_policy_and_keeps_to_it() {
    let app = TestApp::spawn().await;
    // The published document and the policy table name the same routes.
    let doc = app.get_json("/openapi.json").await.1;
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let method = method.to_uppercase();
            assert!(policy::of(&method, path).is_some(), "{method} {path} has no access policy");
            documented.insert((method, path.clone()));
        }
    }
    for (method, route, _) in ROUTES {
        assert!(
            documented.contains(&(method.to_string(), route.to_string())) || *route == "/openapi.json",
            "the policy table names {method} {route}, which the router does not have"
        );
    }

    let shopper = shopper(&app, "walker@example.org").await;
    let partner = partner_key(&app).await;
    for (method, route, policy) in ROUTES {
        let path = concrete(route, "x_0");
        let who = format!("{method} {route}");
        match policy {
            Policy::Public | Policy::TokenHolder => continue,
            Policy::Shopper => {
                assert_eq!(send(&app, method, &path, None).await.0, 401, "{who}: nobody");
                let staff = app.staff_token(Role::Admin).await;
                assert_eq!(send(&app, method, &path, Some(&staff)).await.0, 401, "{who}: a staff session");
                assert_eq!(send(&app, method, &path, Some(&partner)).await.0, 401, "{who}: a partner key");
            }
            Policy::Partner(_) => {
                assert_eq!(send(&app, method, &path, None).await.0, 401, "{who}: nobody");
                assert_eq!(send(&app, method, &path, Some(&shopper)).await.0, 401, "{who}: a shopper");
                let staff = app.staff_token(Role::Admin).await;
                assert_eq!(send(&app, method, &path, Some(&staff)).await.0, 401, "{who}: a staff session");
            }
            Policy::Staff(permission) => {
                assert_eq!(send(&app, method, &path, None).await.0, 401, "{who}: nobody");
                assert_eq!(send(&app, method, &path, Some(&shopper)).await.0, 401, "{who}: a shopper");
                assert_eq!(send(&app, method, &path, Some(&partner)).await.0, 401, "{who}: a partner key");
                for role in Role::ALL {
                    // A fresh member each time: a route may end the session (logging out).
                    let token = app.staff_token(role).await;
                    let (status, body) = send(&app, method, &path, Some(&token)).await;
                    if grants(role, *permission) {
                        assert!(status != 401 && status != 403, "{who}: {role:?} is let in, got {status} {body}");
                    } else {
                        assert_eq!(
                            (status, body["code"].as_str()),
                            (403, Some("role_not_permitted")),
                            "{who}: {role:?}"
                        );
                    }
                    let unverified = app.staff_session(role, false).await;
                    let (status, body) = send(&app, method, &path, Some(&unverified)).await;
                    if *permission == leancart::access::Permission::OwnAccount {
                        assert!(status != 401 && status != 403, "{who}: own account before the second factor");
                    } else {
                        assert_eq!(
                            (status, body["code"].as_str()),
                            (403, Some("second_factor_enrolment_required")),
                            "{who}: {role:?} without the second factor"
                        );
                    }
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_route_without_a_policy_is_refused() {
    use axum::body::Body;
    use tower::ServiceExt;
    let app = TestApp::spawn().await;
    let router = axum::Router::new()
        .route("/v1/forgotten", axum::routing::get(|| async { "personal data" }))
        .route("/v1/products", axum::routing::get(|| async { "listed" }))
        .route_layer(axum::middleware::from_fn_with_state(app.state.clone(), leancart::access::gate))
        .with_state(app.state.clone());
    let call = |path: &'static str| {
        let router = router.clone();
        async move {
            let res = router.oneshot(axum::http::Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
            res.status().as_u16()
        }
    };
    assert_eq!(call("/v1/forgotten").await, 403, "no policy: refused");
    assert_eq!(call("/v1/products").await, 200, "a listed public route passes");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_reaches_nothing_of_anothers_through_any_route() {
    let app = TestApp::spawn().await;
    let ada = shopper(&app, "ada.lovelace@example.org").await;
    let hedy = shopper(&app, "hedy@example.org").await;
    // Ada's cart and order, signed in.
    let res = app.client.post(app.url("/v1/carts")).bearer_auth(&ada).send().await.unwrap();
    let body: Value = res.json().await.unwrap();
    let cart =
        Cart { id: body["cart"]["id"].as_str().unwrap().to_owned(), token: body["token"].as_str().unwrap().to_owned() };
    assert_eq!(app.add(&cart, "TEE-BLK-M", 1).await.0, 200);
    assert_eq!(app.details(&cart, crate::support::shop::german_details()).await.0, 200);
    let placed: Value = app.place(&cart, "ada-walk", "pm_card_visa").await.json().await.unwrap();
    let order = placed["order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.call(Method::GET, &format!("/v1/account/orders/{order}"), Some(&ada), None).await.0, 200);
    let account_id = app.call(Method::GET, "/v1/account", Some(&ada), None).await.1["id"].as_str().unwrap().to_owned();

    // Hedy, on every route a shopper's session or a resource token opens, with each of Ada's ids.
    let mut walked = 0;
    for (method, route, policy) in ROUTES {
        if !matches!(policy, Policy::Shopper | Policy::TokenHolder) || route.contains("/staff/") {
            continue;
        }
        // Routes that would end Hedy's own session or change her account come last (below).
        if *method == "DELETE" && (route.ends_with("/sessions") || route.ends_with("/current")) {
            continue;
        }
        for id in [order.as_str(), cart.id.as_str(), account_id.as_str()] {
            let path = concrete(route, id);
            let (status, body) = send(&app, method, &path, Some(&hedy)).await;
            let text = body.to_string();
            assert!(!(200..300).contains(&status) || !route.contains('{'), "{method} {path}: {status} {text}");
            for ada_s in ["ada.lovelace@example.org", "Ada Lovelace", "Analytical Row", order.as_str()] {
                assert!(!text.contains(ada_s), "{method} {path} shows Hedy {ada_s}: {text}");
            }
            walked += 1;
        }
    }
    assert!(walked > 30, "{walked} calls");
    // Hedy's own views hold nothing of Ada's.
    let (_, mine) = app.call(Method::GET, "/v1/account/orders", Some(&hedy), None).await;
    assert_eq!(mine, json!([]));
    // Ada's session still works, and her order is still hers.
    let (s, hers) = app.call(Method::GET, &format!("/v1/account/orders/{order}"), Some(&ada), None).await;
    assert_eq!((s, hers["email"].as_str()), (200, Some("ada.lovelace@example.org")));
}

#[tokio::test(flavor = "multi_thread")]
async fn finance_never_sees_an_address_an_email_or_a_phone() {
    let app = TestApp::staff().await;
    let cart = app.new_cart().await;
    assert_eq!(app.add(&cart, "TEE-BLK-M", 2).await.0, 200);
    let mut details = crate::support::shop::german_details();
    details["phone"] = json!("+49 30 1234567");
    details["shipping_method"] = json!("express");
    details["shipping_address"]["line2"] = json!("Hinterhaus");
    let (s, body) = app.details(&cart, details).await;
    assert_eq!(s, 200, "{body}");
    let placed: Value = app.place(&cart, "finance-walk", "pm_card_visa").await.json().await.unwrap();
    let order = placed["order"]["id"].as_str().unwrap().to_owned();
    let line = placed["order"]["lines"][0]["id"].as_str().unwrap().to_owned();
    // Support notes the customer by name on a cancellation attempt and a refund.
    let support = app.staff_token(Role::Support).await;
    let (s, seen) = app.call(Method::GET, &format!("/v1/admin/orders/{order}"), Some(&support), None).await;
    assert_eq!((s, seen["order"]["email"].as_str()), (200, Some("ada.lovelace@example.org")), "support sees it");
    let finance = app.staff_token(Role::Finance).await;
    let refund =
        json!({"lines": [{"line_id": line, "quantity": 1}], "reason": "Ada Lovelace at 12 Analytical Row asked"});
    let (s, refunded) =
        app.call(Method::POST, &format!("/v1/admin/orders/{order}/refunds"), Some(&finance), Some(refund)).await;
    assert_eq!(s, 200, "{refunded}");
    let payment = refunded["payment_id"].as_str().unwrap().to_owned();

    // Every staff route, as finance: what it may call answers without a person in it; the rest refuse.
    let mut bodies = vec![refunded.to_string()];
    for (method, route, policy) in ROUTES {
        let Policy::Staff(_) = policy else { continue };
        let id = if route.contains("payments") { payment.as_str() } else { order.as_str() };
        let path = concrete(route, id);
        let body = match (*method, *route) {
            ("GET", "/v1/admin/orders") => None,
            ("POST", "/v1/admin/orders/{id}/capture") => Some(json!({})),
            ("POST", "/v1/admin/privacy/requests") => {
                Some(json!({"kind": "access", "email": "ada.lovelace@example.org"}))
            }
            ("POST", "/v1/admin/staff") => Some(json!({"email": "new@staff.example", "role": "support"})),
            ("POST", "/v1/admin/orders/{id}/cancel") => Some(json!({"reason": "Ada Lovelace asked"})),
            ("POST", "/v1/admin/orders/{id}/refunds") => Some(json!({"amount": 1, "reason": "Ada"})),
            ("DELETE", _) | ("GET", _) => None,
            _ => Some(json!({})),
        };
        let token = app.staff_token(Role::Finance).await;
        let (status, answer) =
            app.call(Method::from_bytes(method.as_bytes()).unwrap(), &path, Some(&token), body).await;
        assert_ne!(status, 500, "{method} {route}");
        bodies.push(answer.to_string());
    }
    let (_, events) = app.call(Method::GET, "/v1/admin/webhook-events", Some(&finance), None).await;
    bodies.push(events.to_string());
    let (s, order_view) = app.call(Method::GET, &format!("/v1/admin/orders/{order}"), Some(&finance), None).await;
    assert_eq!(s, 200);
    assert_eq!(order_view["order"]["number"], placed["order"]["number"], "order numbers and amounts: yes");
    assert_eq!(order_view["order"]["email"], Value::Null);
    assert_eq!(order_view["order"]["shipping_address"], Value::Null);
    let (s, _) = app.call(Method::GET, &format!("/v1/admin/payments/{payment}"), Some(&finance), None).await;
    assert_eq!(s, 200);
    for body in &bodies {
        for personal in ["ada.lovelace", "Lovelace", "Analytical", "Hinterhaus", "Berlin", "10115", "1234567"] {
            assert!(!body.contains(personal), "finance was shown {personal}: {body}");
        }
    }
}
