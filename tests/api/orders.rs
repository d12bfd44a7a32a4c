//! Order placement and lifecycle: payment outcomes, idempotency, no oversell, stock release,
//! the state machine, shopper access, staff operations.

use crate::support::resources::{Order, PlacedOrder, Problem, StaffOrder, from, read};
use crate::support::shop::german_details;
use crate::support::stripe::eventually;
use crate::support::{TestApp, expect_problem, logs};
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread")]
async fn happy_path_pays_reserves_and_queues_the_receipt() {
    let app = TestApp::spawn().await;
    let before = app.stock("TEE-BLK-M").await;
    let cart = app.ready_cart().await;
    let res = app.place(&cart, "happy-1", "pm_card_visa").await;
    assert_eq!(res.status(), 201);
    let typed: PlacedOrder = read(res).await;
    let o = &typed.order;
    assert_eq!(o.status, "paid");
    assert!(o.id.starts_with("ord_") && o.number.starts_with("LC-1"));
    assert_eq!((o.totals.total.amount, o.totals.total.currency.as_str()), (8205, "USD"));
    let payment = o.payment.as_ref().expect("the payment");
    assert_eq!((payment.card_brand.as_deref(), payment.card_last4.as_deref()), (Some("visa"), Some("4242")));
    assert_eq!((o.email.as_deref(), o.customer_erased), (Some("ada.lovelace@example.org"), false));
    assert_eq!(o.lines.iter().map(|l| l.quantity).sum::<i32>(), 3);
    assert!(typed.next_action.is_none());
    assert!(o.updated_at >= o.created_at);
    assert_eq!(app.stock("TEE-BLK-M").await, before - 2);
    // The cart is checked out.
    let (s, body) = app.add(&cart, "TEE-BLK-M", 1).await;
    assert_eq!((s, body["code"].as_str()), (409, Some("cart_checked_out")));
    // The shopper reads the order with its token, and nothing more than they gave (the typed read
    // refuses any field the contract does not name).
    let token = typed.access_token.as_str();
    let res = app.client.get(app.url(&format!("/v1/orders/{}", o.id))).bearer_auth(token).send().await.unwrap();
    let mine: Order = read(res).await;
    assert_eq!((&mine.number, &mine.status), (&o.number, &o.status));
    assert_eq!(mine.phone, None);
    assert_eq!(mine.shipping_address.as_ref().map(|a| a.country.as_str()), Some("DE"));
    // The receipt waits in the outbox as a reference, not a copy of personal data.
    let oid = o.id.clone();
    let outbox = app.state.db.run(move |c| Ok(leancart::orders::store::outbox_for(c, &oid)?)).await.unwrap();
    assert_eq!(outbox, vec![("order_confirmation".to_owned(), "pending".to_owned())]);
    // The history: placed, then paid on the processor's word.
    let oid = o.id.clone();
    let history = app.state.db.run(move |c| Ok(leancart::orders::store::events_of(c, &oid)?)).await.unwrap();
    let steps: Vec<(Option<&str>, &str, &str, &str)> = history
        .iter()
        .map(|e| (e.from_status.as_deref(), e.to_status.as_str(), e.actor.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(steps[1..], [(Some("pending_payment"), "paid", "processor", "payment succeeded")]);
    assert_eq!(steps[0].1, "pending_payment");
    // The same request again is the same answer, replayed.
    let again = app.place(&cart, "happy-1", "pm_card_visa").await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: PlacedOrder = read(again).await;
    assert_eq!((&again.order.id, &again.order.status, &again.access_token), (&o.id, &o.status, &typed.access_token));
    // The exact amount was charged once.
    assert_eq!(app.sandbox().inspect(|e| e.charges.values().map(|c| c.amount_captured).sum::<i64>()), 8205);
    // No personal data in the log.
    let log = logs::all();
    assert!(!log.contains("ada.lovelace@example.org") && !log.contains("Analytical Row") && !log.contains(token));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_decline_fails_the_order_releases_stock_and_reopens_the_cart() {
    let app = TestApp::spawn().await;
    let expired = app.tokenize("4000000000000069").await;
    let before = app.stock("TEE-BLK-M").await;
    for (i, (pm, code)) in [
        ("pm_card_chargeDeclined", "card_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        (expired.as_str(), "expired_card"),
    ]
    .into_iter()
    .enumerate()
    {
        let cart = app.ready_cart().await;
        let res = app.place(&cart, &format!("decline-{i}"), pm).await;
        let problem = expect_problem(res, 402, code).await;
        let order_id = problem["extra"]["order"]["id"].as_str().unwrap().to_owned();
        assert_eq!(problem["extra"]["order"]["status"], "payment_failed");
        assert_eq!(app.order_status(&order_id).await, "payment_failed");
        assert_eq!(app.stock("TEE-BLK-M").await, before, "stock released after {code}");
        // The shopper can try again with another card and a new key.
        let res = app.place(&cart, &format!("decline-{i}-retry"), "pm_card_visa").await;
        assert_eq!(res.status(), 201);
        let placed: PlacedOrder = read(res).await;
        assert_eq!(placed.order.status, "paid");
        app.set_stock("TEE-BLK-M", before as i32).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn three_d_secure_then_paid_or_failed() {
    let app = TestApp::spawn().await;
    let before = app.stock("MUG-SAND").await;
    for (complete, expected) in [(true, "paid"), (false, "payment_failed")] {
        let cart = app.ready_cart().await;
        let res = app.place(&cart, &format!("3ds-{complete}"), "pm_card_authenticationRequired").await;
        assert_eq!(res.status(), 201);
        let placed: PlacedOrder = read(res).await;
        assert_eq!(placed.order.status, "awaiting_payment_action");
        let next = placed.next_action.as_ref().expect("where the shopper authenticates");
        assert_eq!(next.kind, "redirect_to_url");
        assert!(next.client_secret.as_deref().unwrap().contains("_secret_"));
        let action = if complete { "complete" } else { "fail" };
        let res = app.client.post(next.url.replace('?', &format!("/{action}?"))).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let id = placed.order.id.clone();
        eventually("the webhook settles the order", || async { app.order_status(&id).await == expected }).await;
    }
    assert_eq!(app.stock("MUG-SAND").await, before - 1, "only the paid order keeps its stock");
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_replay_conflict_in_flight_and_missing_key() {
    let app = TestApp::spawn().await;
    let cart = app.ready_cart().await;
    let first = app.place(&cart, "same-key", "pm_card_visa").await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    let again = app.place(&cart, "same-key", "pm_card_visa").await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["order"]["id"], first["order"]["id"]);
    assert_eq!(again["access_token"], first["access_token"], "the replay returns the same access");
    assert_eq!(app.sandbox_count("intents"), 1, "no second charge");
    // Same key, different body.
    let res = app.place(&cart, "same-key", "pm_card_mastercard").await;
    expect_problem(res, 422, "idempotency_key_reused").await;
    // No key.
    let res = app
        .client
        .post(app.url("/v1/orders"))
        .bearer_auth(&cart.token)
        .json(&json!({"cart_id": cart.id, "payment_method": "pm_card_visa"}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 400, "idempotency_key_missing").await;
    // In flight: the processor is slow; a second request with the same key meanwhile gets 409.
    let cart2 = app.ready_cart().await;
    app.sandbox_post("/v1/sandbox/faults", &[("delay_next", "1"), ("delay_ms", "1500")]).await;
    let slow = {
        let client = app.client.clone();
        let url = app.url("/v1/orders");
        let (id, token) = (cart2.id.clone(), cart2.token.clone());
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", "slow-key")
                .json(&json!({"cart_id": id, "payment_method": "pm_card_visa"}))
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let res = app.place(&cart2, "slow-key", "pm_card_visa").await;
    expect_problem(res, 409, "idempotency_key_in_flight").await;
    assert_eq!(slow.await.unwrap(), 201);
    // A declined placement replays as the same problem.
    let cart3 = app.ready_cart().await;
    let a = app.place(&cart3, "declined-key", "pm_card_chargeDeclined").await;
    let a = expect_problem(a, 402, "card_declined").await;
    let b = app.place(&cart3, "declined-key", "pm_card_chargeDeclined").await;
    assert_eq!(b.headers()["idempotent-replayed"], "true");
    let b = expect_problem(b, 402, "card_declined").await;
    assert_eq!(a, b);
}

#[tokio::test(flavor = "multi_thread")]
async fn fifty_buyers_ten_units_exactly_ten_orders() {
    let app = TestApp::builder().set("LEANCART_DB_POOL_SIZE", "8").start().await;
    app.set_stock("LAMP-WHT", 10).await;
    let mut carts = Vec::new();
    for _ in 0..50 {
        let cart = app.new_cart().await;
        assert_eq!(app.add(&cart, "LAMP-WHT", 1).await.0, 200);
        assert_eq!(app.details(&cart, german_details()).await.0, 200);
        carts.push(cart);
    }
    let mut tasks = Vec::new();
    for (i, cart) in carts.into_iter().enumerate() {
        let client = app.client.clone();
        let url = app.url("/v1/orders");
        tasks.push(tokio::spawn(async move {
            let res = client
                .post(url)
                .bearer_auth(&cart.token)
                .header("Idempotency-Key", format!("buyer-{i}"))
                .json(&json!({"cart_id": cart.id, "payment_method": "pm_card_visa"}))
                .send()
                .await
                .unwrap();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            (status, body)
        }));
    }
    let mut paid = 0;
    let mut refused = 0;
    for t in tasks {
        let (status, body) = t.await.unwrap();
        match status {
            201 => {
                assert_eq!(body["order"]["status"], "paid");
                paid += 1;
            }
            409 => {
                assert_eq!(body["code"], "insufficient_stock");
                refused += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((paid, refused), (10, 40));
    assert_eq!(app.stock("LAMP-WHT").await, 0, "never negative, never oversold");
    assert_eq!(app.sandbox_count("charges"), 10);
}

#[tokio::test(flavor = "multi_thread")]
async fn unpaid_reservations_are_released_and_nothing_stays_in_limbo() {
    let app = TestApp::builder().set("LEANCART_STRIPE_TIMEOUT_SECS", "1").start().await;
    let before = app.stock("TEE-BLK-M").await;
    // 3-D Secure never completed: after the reservation time the payment is canceled, stock returns.
    let cart = app.ready_cart().await;
    let placed: Value = app.place(&cart, "abandoned", "pm_card_authenticationRequired").await.json().await.unwrap();
    let abandoned = placed["order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.stock("TEE-BLK-M").await, before - 2);
    // Not before its time.
    app.state.clock.advance(chrono::Duration::seconds(60));
    leancart::app::sweep_once(&app.state).await;
    assert_eq!(app.order_status(&abandoned).await, "awaiting_payment_action");
    assert_eq!(app.stock("TEE-BLK-M").await, before - 2);
    app.state.clock.advance(chrono::Duration::hours(1));
    leancart::app::sweep_once(&app.state).await;
    assert_eq!(app.order_status(&abandoned).await, "cancelled");
    assert_eq!(app.stock("TEE-BLK-M").await, before);
    // Processor unreachable: the order stays pending_payment with its stock, then the sweep settles it.
    let cart = app.ready_cart().await;
    app.sandbox_post("/v1/sandbox/faults", &[("fail_next", "3")]).await;
    let res = app.place(&cart, "processor-down", "pm_card_visa").await;
    assert_eq!(res.status(), 201);
    let placed: Value = res.json().await.unwrap();
    assert_eq!(placed["order"]["status"], "pending_payment");
    let pending = placed["order"]["id"].as_str().unwrap().to_owned();
    assert_eq!(app.stock("TEE-BLK-M").await, before - 2);
    app.state.clock.advance(chrono::Duration::seconds(61));
    leancart::app::sweep_once(&app.state).await;
    assert_eq!(app.order_status(&pending).await, "paid");
    assert_eq!(app.stock("TEE-BLK-M").await, before - 2);
    // Declines release at once (covered above); expired reservations of paid orders are untouched.
    app.state.clock.advance(chrono::Duration::hours(1));
    leancart::app::sweep_once(&app.state).await;
    assert_eq!(app.order_status(&pending).await, "paid");
    assert_eq!(app.stock("TEE-BLK-M").await, before - 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_is_invisible_without_its_token() {
    let app = TestApp::spawn().await;
    let cart = app.ready_cart().await;
    let placed: Value = app.place(&cart, "private", "pm_card_visa").await.json().await.unwrap();
    let id = placed["order"]["id"].as_str().unwrap();
    let url = app.url(&format!("/v1/orders/{id}"));
    expect_problem(app.client.get(&url).send().await.unwrap(), 401, "unauthorized").await;
    expect_problem(app.client.get(&url).bearer_auth(&cart.token).send().await.unwrap(), 404, "not_found").await;
    expect_problem(app.client.get(&url).bearer_auth("ot_00").send().await.unwrap(), 404, "not_found").await;
    let other = app.url("/v1/orders/ord_0000000000000000000000");
    expect_problem(
        app.client.get(&other).bearer_auth(placed["access_token"].as_str().unwrap()).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    // Without a staff session the staff API is closed.
    expect_problem(app.client.get(app.url("/v1/admin/orders")).send().await.unwrap(), 401, "unauthorized").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn staff_cancel_refund_and_illegal_transitions() {
    let app = TestApp::staff().await;
    let before = app.stock("TEE-BLK-M").await;
    // Cancel a paid, unfulfilled order: refunded in full, restocked.
    let cart = app.ready_cart().await;
    let placed: PlacedOrder = read(app.place(&cart, "to-cancel", "pm_card_visa").await).await;
    let id = placed.order.id.clone();
    let (s, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/admin/orders/{id}/cancel"),
            Some(json!({"reason": "customer asked"})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let cancelled: StaffOrder = from(&body);
    assert_eq!(cancelled.order.status, "cancelled");
    assert_eq!(cancelled.order.payment.as_ref().map(|p| p.amount_refunded.amount), Some(8205));
    assert_eq!(cancelled.payment_id.as_deref().map(|p| p.starts_with("pay_")), Some(true));
    assert_eq!(app.stock("TEE-BLK-M").await, before);
    let history: Vec<(Option<&str>, &str, &str, &str)> = cancelled
        .history
        .iter()
        .map(|e| (e.from_status.as_deref(), e.to_status.as_str(), e.actor.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        history,
        [
            (None, "pending_payment", "shopper", "order placed"),
            (Some("pending_payment"), "paid", "processor", "payment succeeded"),
            (Some("paid"), "cancelled", "staff", "customer asked")
        ]
    );
    assert!(cancelled.history.windows(2).all(|w| w[0].at <= w[1].at));
    // Illegal: cancelling twice, refunding a cancelled order beyond what was paid.
    let (s, body) = app
        .admin(reqwest::Method::POST, &format!("/v1/admin/orders/{id}/cancel"), Some(json!({"reason": "again"})))
        .await;
    assert_eq!((s, body["code"].as_str()), (409, Some("illegal_transition")));

    // Partial refund by line, then the rest by amount.
    let cart = app.ready_cart().await;
    let placed: PlacedOrder = read(app.place(&cart, "to-refund", "pm_card_visa").await).await;
    let id = placed.order.id.clone();
    let tee_line = placed.order.lines.iter().find(|l| l.sku == "TEE-BLK-M").unwrap().id.clone();
    let (s, body) = app
        .admin(
            reqwest::Method::POST,
            &format!("/v1/admin/orders/{id}/refunds"),
            Some(json!({"lines": [{"line_id": tee_line, "quantity": 1}], "restock": true})),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let partly: StaffOrder = from(&body);
    assert_eq!(partly.order.status, "partially_refunded");
    // 25.00 plus its share of the 13.10 tax over 68.95 of taxable value: 4.75.
    assert_eq!(partly.order.payment.as_ref().map(|p| p.amount_refunded.amount), Some(2500 + 475));
    let tee = partly.order.lines.iter().find(|l| l.sku == "TEE-BLK-M").unwrap();
    assert_eq!((tee.quantity, tee.quantity_refunded), (2, 1));
    let (s, body) = app
        .admin(reqwest::Method::POST, &format!("/v1/admin/orders/{id}/refunds"), Some(json!({"amount": 8205 - 2975})))
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(from::<StaffOrder>(&body).order.status, "refunded");
    let (s, body) =
        app.admin(reqwest::Method::POST, &format!("/v1/admin/orders/{id}/refunds"), Some(json!({"amount": 1}))).await;
    assert_eq!((s, body["code"].as_str()), (409, Some("order_not_refundable")));
    let (s, body) = app
        .admin(reqwest::Method::POST, &format!("/v1/admin/orders/{id}/cancel"), Some(json!({"reason": "late"})))
        .await;
    assert_eq!((s, body["code"].as_str()), (409, Some("illegal_transition")));

    // Refunding an unpaid order is refused.
    let cart = app.ready_cart().await;
    let failed = app.place(&cart, "unpaid", "pm_card_chargeDeclined").await;
    let failed = expect_problem(failed, 402, "card_declined").await;
    let fid = failed["extra"]["order"]["id"].as_str().unwrap();
    let (s, body) = app
        .admin(reqwest::Method::POST, &format!("/v1/admin/orders/{fid}/refunds"), Some(json!({"amount": 100})))
        .await;
    assert_eq!((s, body["code"].as_str()), (409, Some("order_not_refundable")));
    let (s, body) =
        app.admin(reqwest::Method::POST, &format!("/v1/admin/orders/{fid}/cancel"), Some(json!({"reason": "x"}))).await;
    assert_eq!((s, body["code"].as_str()), (409, Some("illegal_transition")));

    // Search by number and e-mail; every staff read is audited.
    let number = &placed.order.number;
    let (s, body) = app.admin(reqwest::Method::GET, &format!("/v1/admin/orders?number={number}"), None).await;
    assert_eq!((s, body["data"].as_array().unwrap().len()), (200, 1));
    let (_, body) =
        app.admin(reqwest::Method::GET, "/v1/admin/orders?email=ada.lovelace@example.org&limit=2", None).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 2);
    assert_eq!(body["has_more"], true);
    let (_, body) = app.admin(reqwest::Method::GET, "/v1/admin/orders?status=refunded", None).await;
    assert_eq!(body["data"].as_array().unwrap().len(), 1);
    let oid = id.clone();
    let audited = app.state.db.run(move |c| Ok(leancart::audit::count_for(c, &oid)?)).await.unwrap();
    assert!(audited >= 2, "staff reads of the order are recorded");
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_capture_is_captured_by_staff() {
    let app = TestApp::builder().set("LEANCART_PAYMENT_CAPTURE", "manual").start().await;
    let cart = app.ready_cart().await;
    let placed: PlacedOrder = read(app.place(&cart, "manual", "pm_card_visa").await).await;
    let authorized = placed.order.payment.as_ref().map(|p| p.status.as_str());
    assert_eq!((placed.order.status.as_str(), authorized), ("paid", Some("requires_capture")));
    let id = &placed.order.id;
    let (s, body) = app.admin(reqwest::Method::POST, &format!("/v1/admin/orders/{id}/capture"), Some(json!({}))).await;
    assert_eq!(s, 200, "{body}");
    let captured: StaffOrder = from(&body);
    assert_eq!(captured.order.payment.as_ref().map(|p| p.status.as_str()), Some("succeeded"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paid_cart_forgets_the_shoppers_details() {
    let app = TestApp::spawn().await;
    let cart = app.ready_cart().await;
    assert_eq!(app.place(&cart, "forget", "pm_card_visa").await.status(), 201);
    let id = cart.id.clone();
    let row = app.state.db.run(move |c| Ok(leancart::checkout::store::find_cart(c, &id)?)).await.unwrap().unwrap();
    assert!(row.email.is_none() && row.ship_name.is_none() && row.ship_line1.is_none() && row.ship_country.is_none());
    assert_eq!(row.status, "checked_out");
}

#[tokio::test(flavor = "multi_thread")]
async fn processor_refusals_are_not_reported_as_declines() {
    let app = TestApp::spawn().await;
    let before = app.stock("TEE-BLK-M").await;
    let cart = app.ready_cart().await;
    let res = app.place(&cart, "unknown-pm", "pm_doesnotexist").await;
    let problem = expect_problem(res, 422, "payment_method_invalid").await;
    assert_eq!(problem["extra"]["order"]["status"], "payment_failed");
    assert_eq!(app.stock("TEE-BLK-M").await, before, "stock released");
    // The cart can be retried with a valid payment method.
    let res = app.place(&cart, "unknown-pm-retry", "pm_card_visa").await;
    assert_eq!(res.status(), 201);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_line_out_of_stock_refuses_the_whole_order_and_takes_nothing() {
    let app = TestApp::spawn().await;
    let cart = app.new_cart().await;
    assert_eq!(app.add(&cart, "TEE-BLK-M", 2).await.0, 200);
    assert_eq!(app.add(&cart, "LAMP-WHT", 1).await.0, 200);
    assert_eq!(app.details(&cart, german_details()).await.0, 200);
    let tees = app.stock("TEE-BLK-M").await;
    // The lamp sells out between adding it and placing the order.
    app.set_stock("LAMP-WHT", 0).await;
    let res = app.place(&cart, "out-of-stock-1", "pm_card_visa").await;
    assert_eq!(res.status().as_u16(), 409);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["code"], "insufficient_stock");
    assert_eq!(body["extra"]["variant_id"], app.variant("LAMP-WHT").await);
    assert_eq!(app.stock("TEE-BLK-M").await, tees, "the other line's units are not taken");
    assert_eq!(app.stock("LAMP-WHT").await, 0);
    assert_eq!(app.sandbox_count("charges"), 0, "nothing charged");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_orders_sharing_variants_in_any_line_order_all_go_through() {
    let app = TestApp::builder().set("LEANCART_DB_POOL_SIZE", "8").start().await;
    let mut carts = Vec::new();
    for i in 0..16 {
        let cart = app.new_cart().await;
        let (first, second) = if i % 2 == 0 { ("TEE-BLK-M", "LAMP-WHT") } else { ("LAMP-WHT", "TEE-BLK-M") };
        assert_eq!(app.add(&cart, first, 1).await.0, 200);
        assert_eq!(app.add(&cart, second, 1).await.0, 200);
        assert_eq!(app.details(&cart, german_details()).await.0, 200);
        carts.push(cart);
    }
    app.set_stock("TEE-BLK-M", 100).await;
    app.set_stock("LAMP-WHT", 100).await;
    let orders = carts.iter().enumerate().map(|(i, cart)| (cart, format!("shared-{i}"))).collect();
    for (status, _) in app.place_at_once(orders).await {
        assert_eq!(status, 201, "no deadlock, no lost order");
    }
    assert_eq!(app.stock("TEE-BLK-M").await, 84);
    assert_eq!(app.stock("LAMP-WHT").await, 84);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_order_of_more_lines_than_one_statement_batch_keeps_every_line() {
    // PostgreSQL places an order of up to one statement batch of lines in one statement; a larger one goes
    // step by step, lines in batches. All of them must land, once.
    let app = TestApp::staff().await;
    let skus = [
        "TEE-BLK-S",
        "TEE-BLK-M",
        "TEE-BLK-L",
        "TEE-WHT-M",
        "TOTE-NAT",
        "TOTE-BLK",
        "MUG-SAND",
        "MUG-SLATE",
        "BEANIE-GRY",
        "BEANIE-NVY",
        "SOCK-M",
    ];
    let cart = app.new_cart().await;
    let mut before = Vec::new();
    for sku in skus {
        assert_eq!(app.add(&cart, sku, 1).await.0, 200, "{sku}");
        before.push(app.stock(sku).await);
    }
    assert_eq!(app.details(&cart, german_details()).await.0, 200);
    let res = app.place(&cart, "many-lines-1", "pm_card_visa").await;
    assert_eq!(res.status(), 201);
    let placed: Value = res.json().await.unwrap();
    let order = &placed["order"];
    assert_eq!(order["status"], "paid");
    let mut got: Vec<&str> = order["lines"].as_array().unwrap().iter().map(|l| l["sku"].as_str().unwrap()).collect();
    got.sort_unstable();
    let mut want = skus.to_vec();
    want.sort_unstable();
    assert_eq!(got, want);
    for (sku, was) in skus.iter().zip(before) {
        assert_eq!(app.stock(sku).await, was - 1, "{sku}");
    }
    let id = order["id"].as_str().unwrap().to_owned();
    let (s, body) = app.admin(reqwest::Method::GET, &format!("/v1/admin/orders/{id}"), None).await;
    assert_eq!(s, 200);
    let history: Vec<(&str, &str)> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["to_status"].as_str().unwrap(), e["actor"].as_str().unwrap()))
        .collect();
    assert_eq!(history, vec![("pending_payment", "shopper"), ("paid", "processor")]);
    assert_eq!(body["order"]["lines"].as_array().unwrap().len(), skus.len());
    let oid = id.clone();
    let outbox = app.state.db.run(move |c| Ok(leancart::orders::store::outbox_for(c, &oid)?)).await.unwrap();
    assert_eq!(outbox, vec![("order_confirmation".to_owned(), "pending".to_owned())]);
    // A replay answers the same order with the same lines, and the webhook changes nothing.
    let again: Value = app.place(&cart, "many-lines-1", "pm_card_visa").await.json().await.unwrap();
    assert_eq!(again["order"]["id"], order["id"]);
    assert_eq!(again["order"]["lines"].as_array().unwrap().len(), skus.len());
    assert_eq!(again["order"]["status"], "paid");
}

#[tokio::test(flavor = "multi_thread")]
async fn one_cart_placed_twice_at_once_makes_one_order() {
    // Two placements of the same cart with different Idempotency-Keys race: one order, one charge, the
    // stock taken once; the other is told the cart was checked out.
    let app = TestApp::builder().set("LEANCART_DB_POOL_SIZE", "8").start().await;
    for round in 0..4 {
        let before = app.stock("TEE-BLK-M").await;
        let cart = app.ready_cart().await;
        let orders = vec![(&cart, format!("twice-{round}-0")), (&cart, format!("twice-{round}-1"))];
        let mut outcomes: Vec<(u16, Option<String>)> = app
            .place_at_once(orders)
            .await
            .into_iter()
            .map(|(status, body)| (status, body["code"].as_str().map(str::to_owned)))
            .collect();
        outcomes.sort();
        assert_eq!(outcomes, vec![(201, None), (409, Some("cart_checked_out".to_owned()))], "round {round}");
        assert_eq!(app.stock("TEE-BLK-M").await, before - 2, "round {round}: stock taken once");
    }
    assert_eq!(app.sandbox_count("charges"), 4, "one charge per cart");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_request_twice_at_once_makes_one_order() {
    // The same Idempotency-Key and body sent twice at once (a client retrying too eagerly): one order,
    // one charge, the stock taken once; the other answer is the same order replayed or "in flight".
    let app = TestApp::builder().set("LEANCART_DB_POOL_SIZE", "8").start().await;
    for round in 0..4 {
        let before = app.stock("TEE-BLK-M").await;
        let cart = app.ready_cart().await;
        let mut orders = Vec::new();
        for (status, body) in app.place_at_once(vec![(&cart, format!("same-{round}")); 2]).await {
            match status {
                201 => orders.push(body["order"]["id"].as_str().unwrap().to_owned()),
                409 => assert_eq!(body["code"], "idempotency_key_in_flight", "round {round}: {body}"),
                other => panic!("round {round}: {other} {body}"),
            }
        }
        assert!(!orders.is_empty(), "round {round}: one of them placed the order");
        orders.dedup();
        assert_eq!(orders.len(), 1, "round {round}: one order");
        assert_eq!(app.stock("TEE-BLK-M").await, before - 2, "round {round}: stock taken once");
    }
    assert_eq!(app.sandbox_count("charges"), 4, "one charge per cart");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_three_line_orders_in_every_line_order_all_go_through() {
    // Every permutation of three shared variants, four times over, placed at once: each placement locks
    // the variants in the same (id) order whatever the order of its lines, so none waits on another in a
    // cycle.
    let app = TestApp::builder().set("LEANCART_DB_POOL_SIZE", "8").start().await;
    let skus = ["TEE-BLK-M", "LAMP-WHT", "MUG-SAND"];
    let perms = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];
    let mut carts = Vec::new();
    for i in 0..24 {
        let cart = app.new_cart().await;
        for &j in &perms[i % perms.len()] {
            assert_eq!(app.add(&cart, skus[j], 1).await.0, 200);
        }
        assert_eq!(app.details(&cart, german_details()).await.0, 200);
        carts.push(cart);
    }
    for sku in skus {
        app.set_stock(sku, 100).await;
    }
    let orders = carts.iter().enumerate().map(|(i, cart)| (cart, format!("perm-{i}"))).collect();
    for (status, _) in app.place_at_once(orders).await {
        assert_eq!(status, 201, "no deadlock, no lost order");
    }
    for sku in skus {
        assert_eq!(app.stock(sku).await, 76, "{sku}");
    }
}

/// A placement whose process died after creating the order (its key left in flight) is resumed by a
/// retry once the key is stale (`idempotency::store::STALE_SECS`): the same order, the same token, one
/// charge — and before that, the retry is told to wait.
#[tokio::test(flavor = "multi_thread")]
async fn a_placement_left_in_flight_is_resumed_once_stale() {
    let app = TestApp::spawn().await;
    let cart = app.ready_cart().await;
    app.sandbox_post("/v1/sandbox/faults", &[("delay_next", "1"), ("delay_ms", "1500")]).await;
    let first = {
        let request = app.place_request(&cart, "stalled", "pm_card_visa");
        tokio::spawn(async move { request.send().await.unwrap() })
    };
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let res = app.place(&cart, "stalled", "pm_card_visa").await;
    let waiting: Problem = read(res).await;
    assert_eq!((waiting.status, waiting.code.as_str()), (409, "idempotency_key_in_flight"));
    // Two minutes later by the shop's clock the first attempt counts as dead: the retry takes over.
    app.state.clock.advance(chrono::Duration::seconds(leancart::idempotency::store::STALE_SECS + 1));
    let res = app.place(&cart, "stalled", "pm_card_visa").await;
    assert_eq!(res.status(), 201);
    assert_eq!(res.headers()["idempotent-replayed"], "true");
    let resumed: PlacedOrder = read(res).await;
    let first: PlacedOrder = read(first.await.unwrap()).await;
    assert_eq!((&resumed.order.id, &resumed.access_token), (&first.order.id, &first.access_token));
    assert_eq!(first.order.status, "paid");
    // Whatever the resumed answer said, the key now replays the paid order.
    let res = app.place(&cart, "stalled", "pm_card_visa").await;
    let last: PlacedOrder = read(res).await;
    assert_eq!((&last.order.id, last.order.status.as_str()), (&first.order.id, "paid"));
    assert_eq!(app.sandbox_count("intents"), 1, "one charge");
}

/// An Idempotency-Key lives for the configured time (24 h): until then a different request with it is
/// refused; after that it is forgotten (purged by the sweep) and the key is free again.
#[tokio::test(flavor = "multi_thread")]
async fn an_idempotency_key_expires_with_its_lifetime() {
    let app = TestApp::spawn().await;
    let cart = app.ready_cart().await;
    let res = app.place(&cart, "daily", "pm_card_chargeDeclined").await;
    let declined: Problem = read(res).await;
    assert_eq!(declined.code, "card_declined");
    app.state.clock.advance(chrono::Duration::hours(23));
    let res = app.place(&cart, "daily", "pm_card_visa").await;
    let reused: Problem = read(res).await;
    assert_eq!((reused.status, reused.code.as_str()), (422, "idempotency_key_reused"));
    app.state.clock.advance(chrono::Duration::hours(2));
    leancart::app::sweep_once(&app.state).await;
    let res = app.place(&cart, "daily", "pm_card_visa").await;
    assert_eq!(res.status(), 201);
    assert!(res.headers().get("idempotent-replayed").is_none());
    let placed: PlacedOrder = read(res).await;
    assert_eq!(placed.order.status, "paid");
}
