//! What one careless or hostile client could do to everyone else: hoard stock, double a refund, block
//! another shopper's Idempotency-Key — and the small leaks: unaudited reads, cacheable answers.

use crate::support::TestApp;
use crate::support::shop::Cart;
use serde_json::{Value, json};

async fn placed(app: &TestApp, cart: &Cart, key: &str) -> Value {
    let res = app.place(cart, key, "pm_card_visa").await;
    assert_eq!(res.status(), 201);
    res.json().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refund_never_counts_a_line_twice_nor_exceeds_what_was_paid() {
    let app = TestApp::staff().await;
    let cart = app.new_cart().await;
    assert_eq!(app.add(&cart, "MUG-SAND", 1).await.0, 200);
    assert_eq!(app.details(&cart, crate::support::shop::german_details()).await.0, 200);
    let order = placed(&app, &cart, "dup-refund").await;
    let id = order["order"]["id"].as_str().unwrap().to_owned();
    let line = order["order"]["lines"][0]["id"].as_str().unwrap().to_owned();
    let stock = app.stock("MUG-SAND").await;
    let refunds = format!("/v1/admin/orders/{id}/refunds");

    // The same 1-unit line twice in one refund: refused, nothing refunded or restocked.
    let (s, body) = app
        .admin(
            reqwest::Method::POST,
            &refunds,
            Some(
                json!({"lines": [{"line_id": line, "quantity": 1}, {"line_id": line, "quantity": 1}], "restock": true}),
            ),
        )
        .await;
    assert_eq!((s, body["code"].as_str()), (422, Some("validation_failed")), "{body}");
    assert_eq!(body["errors"][0]["code"], "duplicate");
    assert_eq!(app.stock("MUG-SAND").await, stock);

    // Two refunds of the one unit at once: one goes through, the other finds nothing left.
    let line_refund = json!({"lines": [{"line_id": line, "quantity": 1}], "restock": true});
    let (a, b) = tokio::join!(
        app.admin(reqwest::Method::POST, &refunds, Some(line_refund.clone())),
        app.admin(reqwest::Method::POST, &refunds, Some(line_refund.clone()))
    );
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 422], "{a:?} {b:?}");
    assert_eq!(app.stock("MUG-SAND").await, stock + 1, "restocked once");
    let (_, view) = app.admin(reqwest::Method::GET, &format!("/v1/admin/orders/{id}"), None).await;
    assert_eq!(view["order"]["lines"][0]["quantity_refunded"], 1);
    let refunded = view["order"]["payment"]["amount_refunded"]["amount"].as_i64().unwrap();
    let total = view["order"]["totals"]["total"]["amount"].as_i64().unwrap();
    assert!(refunded <= total);

    // Amount refunds at once: together never more than what was paid.
    let cart = app.ready_cart().await;
    let order = placed(&app, &cart, "race-refund").await;
    let id = order["order"]["id"].as_str().unwrap().to_owned();
    let total = order["order"]["totals"]["total"]["amount"].as_i64().unwrap();
    let refunds = format!("/v1/admin/orders/{id}/refunds");
    let part = json!({"amount": total * 2 / 3});
    let answers = futures_util::future::join_all(
        (0..4).map(|_| app.admin(reqwest::Method::POST, &refunds, Some(part.clone()))).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(answers.iter().filter(|(s, _)| *s == 200).count(), 1, "{answers:?}");
    let (_, view) = app.admin(reqwest::Method::GET, &format!("/v1/admin/orders/{id}"), None).await;
    assert_eq!(view["order"]["payment"]["amount_refunded"]["amount"], total * 2 / 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_belongs_to_the_client_that_sent_it() {
    let app = TestApp::spawn().await;
    // Mallory uses the key first, for her own cart.
    let mallory = app.ready_cart().await;
    let hers = placed(&app, &mallory, "order-1").await;
    // The shopper's placement with the same key is a new order, not a 422 nor Mallory's replay.
    let shopper = app.ready_cart().await;
    let res = app.place(&shopper, "order-1", "pm_card_visa").await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let theirs: Value = res.json().await.unwrap();
    assert_ne!(theirs["order"]["id"], hers["order"]["id"]);
    // Each replays their own.
    let again: Value = app.place(&shopper, "order-1", "pm_card_visa").await.json().await.unwrap();
    assert_eq!(again["order"]["id"], theirs["order"]["id"]);
    assert_eq!(again["access_token"], theirs["access_token"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_cannot_be_hoarded() {
    let app = TestApp::builder()
        .set("LEANCART_MAX_UNPAID_ORDERS_PER_CLIENT", "2")
        .set("LEANCART_ACTION_HOLD_SECS", "120")
        .set("LEANCART_MAX_UNITS_PER_ORDER", "5")
        .start()
        .await;
    // An order waiting for 3-D Secure holds its stock only for the short hold.
    let cart_of_first = app.ready_cart().await;
    let res = app.place(&cart_of_first, "3ds-1", "pm_card_authenticationRequired").await;
    assert_eq!(res.status(), 201);
    let first: Value = res.json().await.unwrap();
    let id = first["order"]["id"].as_str().unwrap().to_owned();
    let order = leancart::orders::service::find(&app.state, &id).await.unwrap();
    assert_eq!(order.status, "awaiting_payment_action");
    let held_for = order.reserved_until.unwrap() - leancart::kernel::time::now();
    assert!(held_for <= chrono::Duration::seconds(121) && held_for > chrono::Duration::seconds(60), "{held_for}");
    // A second unpaid order is allowed, a third refused with Retry-After.
    let cart = app.ready_cart().await;
    assert_eq!(app.place(&cart, "3ds-2", "pm_card_authenticationRequired").await.status(), 201);
    let cart = app.ready_cart().await;
    let res = app.place(&cart, "3ds-3", "pm_card_authenticationRequired").await;
    assert_eq!(res.status(), 429);
    let retry: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    let body = crate::support::expect_problem(res, 429, "too_many_unpaid_orders").await;
    assert!(body["detail"].is_string());
    // A retry of a placement already made still gets its answer (a replay reserves nothing).
    let retry = app.place(&cart_of_first, "3ds-1", "pm_card_authenticationRequired").await;
    assert_eq!(retry.status(), 201);
    assert_eq!(retry.headers()["idempotent-replayed"], "true");
    // The unpaid orders lapse: their stock comes back and the client may order again.
    app.state.clock.advance(chrono::Duration::seconds(180));
    leancart::app::sweep_once(&app.state).await;
    assert_eq!(app.order_status(&id).await, "cancelled");
    assert_eq!(app.place(&cart, "3ds-3", "pm_card_visa").await.status(), 201);
    // An order of more units than one order may hold.
    let big = app.new_cart().await;
    assert_eq!(app.add(&big, "TEE-BLK-M", 6).await.0, 200);
    assert_eq!(app.details(&big, crate::support::shop::german_details()).await.0, 200);
    let res = app.place(&big, "big", "pm_card_visa").await;
    crate::support::expect_problem(res, 422, "order_too_large").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn carts_and_placements_are_rate_limited_per_client() {
    let app = TestApp::builder()
        .set("LEANCART_RATE_LIMIT_CARTS_PER_MINUTE", "3")
        .set("LEANCART_RATE_LIMIT_ORDERS_PER_MINUTE", "2")
        .start()
        .await;
    let mut carts = Vec::new();
    for _ in 0..3 {
        carts.push(app.new_cart().await);
    }
    let res = app.client.post(app.url("/v1/carts")).send().await.unwrap();
    assert_eq!(res.status(), 429);
    assert!(res.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    crate::support::expect_problem(res, 429, "rate_limited").await;
    // Reads are not limited.
    assert_eq!(app.get("/v1/products").await.status(), 200);
    // Placements: two, then 429 (before anything is reserved).
    for (i, cart) in carts.iter().enumerate().take(2) {
        assert_eq!(app.add(cart, "MUG-SAND", 1).await.0, 200);
        assert_eq!(app.details(cart, crate::support::shop::german_details()).await.0, 200);
        assert_eq!(app.place(cart, &format!("rl-{i}"), "pm_card_visa").await.status(), 201);
    }
    let stock = app.stock("MUG-SAND").await;
    assert_eq!(app.add(&carts[2], "MUG-SAND", 1).await.0, 200);
    assert_eq!(app.details(&carts[2], crate::support::shop::german_details()).await.0, 200);
    let res = app.place(&carts[2], "rl-2", "pm_card_visa").await;
    crate::support::expect_problem(res, 429, "rate_limited").await;
    assert_eq!(app.stock("MUG-SAND").await, stock);
}

/// E-mail proofs and privacy sessions are limited per client address (mail sent on a stranger's
/// behalf, links guessed): the answer to the eleventh in a minute is a 429 before any work.
#[tokio::test(flavor = "multi_thread")]
async fn privacy_proofs_and_sessions_are_rate_limited_per_client() {
    let app = TestApp::builder().set("LEANCART_RATE_LIMIT_PRIVACY_PER_MINUTE", "3").start().await;
    for _ in 0..2 {
        let (s, _) = app.post_json("/v1/privacy/proofs", &serde_json::json!({"email": "someone@example.org"})).await;
        assert_eq!(s, 202);
    }
    let (s, _) = app.post_json("/v1/privacy/sessions", &serde_json::json!({"token": "pp_guess"})).await;
    assert_eq!(s, 422);
    let res = app
        .client
        .post(app.url("/v1/privacy/sessions"))
        .json(&serde_json::json!({"token": "pp_guess"}))
        .send()
        .await
        .unwrap();
    crate::support::expect_problem(res, 429, "rate_limited").await;
    // The rest of the shop is not limited by it.
    assert_eq!(app.post_json("/v1/carts", &serde_json::json!({})).await.0, 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn abandoned_carts_are_purged() {
    let app = TestApp::spawn().await;
    let old = app.ready_cart().await;
    let fresh = app.new_cart().await;
    // A cart an order came from, reopened by a decline and then abandoned.
    let declined = app.ready_cart().await;
    assert_eq!(app.place(&declined, "declined", "pm_card_chargeDeclined").await.status(), 402);
    // Nothing is purged before its time (14 days untouched).
    app.state.clock.advance(chrono::Duration::days(13) + chrono::Duration::hours(23));
    leancart::app::sweep_once(&app.state).await;
    for cart in [&old, &fresh, &declined] {
        assert_eq!(app.cart_call(cart, reqwest::Method::GET, "", None).await.0, 200);
    }
    app.state.clock.advance(chrono::Duration::hours(2));
    leancart::app::sweep_once(&app.state).await;
    for cart in [&old, &fresh] {
        assert_eq!(app.cart_call(cart, reqwest::Method::GET, "", None).await.0, 404);
    }
    let (_, left) = app.cart_call(&declined, reqwest::Method::GET, "", None).await;
    assert_eq!(left["status"], "checked_out");
    assert!(left["details"]["email"].is_null() && left["lines"].as_array().unwrap().is_empty(), "{left}");
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_reads_are_audited_and_nothing_personal_is_cached() {
    let app = TestApp::staff().await;
    let cart = app.ready_cart().await;
    let res = app.cart_call(&cart, reqwest::Method::GET, "", None).await;
    assert_eq!(res.0, 200);
    let order = placed(&app, &cart, "audit").await;
    let id = order["order"]["id"].as_str().unwrap().to_owned();
    let (_, view) = app.admin(reqwest::Method::GET, &format!("/v1/admin/orders/{id}"), None).await;
    let payment = view["payment_id"].as_str().unwrap().to_owned();
    let audits_before = audit_count(&app, &payment).await;
    let (s, _) = app.admin(reqwest::Method::GET, &format!("/v1/admin/payments/{payment}"), None).await;
    assert_eq!(s, 200);
    assert_eq!(audit_count(&app, &payment).await, audits_before + 1, "the payment read is audited");
    let order_audits = audit_count(&app, &id).await;
    let (s, page) = app.admin(reqwest::Method::GET, "/v1/admin/orders?limit=5", None).await;
    assert_eq!(s, 200);
    assert!(page["data"].as_array().unwrap().iter().any(|o| o["id"] == id.as_str()));
    assert_eq!(audit_count(&app, &id).await, order_audits + 1, "a search records each order it showed");
    // Answers with tokens or personal data are never cached.
    for res in [
        app.client.post(app.url("/v1/carts")).send().await.unwrap(),
        app.client
            .get(app.url(&format!("/v1/orders/{id}")))
            .bearer_auth(order["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
        app.client
            .get(app.url(&format!("/v1/admin/orders/{id}")))
            .bearer_auth(app.admin_token().await)
            .send()
            .await
            .unwrap(),
    ] {
        assert_eq!(res.headers()["cache-control"], "no-store");
    }
}

async fn audit_count(app: &TestApp, subject: &str) -> i64 {
    let s = subject.to_owned();
    app.state.db.run(move |c| Ok(leancart::audit::count_for(c, &s)?)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_overwrites_deleted_data() {
    if !matches!(crate::support::db::backend(), crate::support::db::Backend::Sqlite) {
        return;
    }
    let app = TestApp::spawn().await;
    #[derive(diesel::QueryableByName)]
    struct On {
        #[diesel(sql_type = diesel::sql_types::Integer)]
        secure_delete: i32,
    }
    let on: i32 = app
        .state
        .db
        .run(|c| Ok(diesel::RunQueryDsl::get_result::<On>(diesel::sql_query("PRAGMA secure_delete"), c)?.secure_delete))
        .await
        .unwrap();
    assert_eq!(on, 1);
}
