//! Payments through the async-stripe client against the sandbox over HTTP, signed webhooks, and the
//! card-number guard.

use crate::support::stripe::eventually;
use crate::support::{TestApp, expect_problem, logs};
use leancart::billing::model::PaymentStatus;
use leancart::billing::service::NewPayment;
use leancart::billing::signature;
use leancart::kernel::money::Money;
use serde_json::{Value, json};

fn usd(amount: i64) -> Money {
    Money::new(amount, "USD".parse().unwrap())
}

fn payment(pm: &str, amount: i64) -> NewPayment {
    NewPayment { order_id: None, amount: usd(amount), payment_method: pm.to_owned(), description: None }
}

async fn status_of(app: &TestApp, id: &str) -> PaymentStatus {
    app.state.billing.find(&app.state.db, id).await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread")]
async fn successful_payment_keeps_only_processor_ids_and_card_summary() {
    let app = TestApp::spawn().await;
    let pm = app.tokenize("4242424242424242").await;
    let out = app.state.billing.pay(&app.state.db, payment(&pm, 2599)).await.unwrap();
    let p = &out.payment;
    assert_eq!(p.status(), PaymentStatus::Succeeded);
    assert!(p.payment_intent_id.as_deref().unwrap().starts_with("pi_"));
    assert!(p.charge_id.as_deref().unwrap().starts_with("ch_"));
    assert_eq!((p.amount, p.amount_captured), (2599, 2599));
    assert_eq!(p.card_brand.as_deref(), Some("visa"));
    assert_eq!(p.card_last4.as_deref(), Some("4242"));
    assert_eq!((p.card_exp_month, p.card_exp_year), (Some(12), Some(2034)));
    assert_eq!(app.sandbox_count("charges"), 1);
    // The webhooks for it arrive, verify and are recorded once.
    let pi = p.payment_intent_id.clone().unwrap();
    eventually("payment_intent.succeeded recorded", || async {
        let rows = app.state.db.run(|c| Ok(leancart::billing::store::list_events(c, None, 100)?)).await.unwrap();
        rows.iter().any(|r| {
            r.event_type == "payment_intent.succeeded"
                && r.object_id.as_deref() == Some(pi.as_str())
                && r.outcome == "applied"
        })
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_decline_is_a_failed_payment_with_a_clear_code() {
    let app = TestApp::spawn().await;
    let expired = app.tokenize("4000000000000069").await;
    let generic = app.tokenize("4000000000000002").await;
    let funds = app.tokenize("4000000000009995").await;
    for (pm, code) in [
        ("pm_card_chargeDeclined", "card_declined"),
        ("pm_card_chargeDeclinedInsufficientFunds", "insufficient_funds"),
        (generic.as_str(), "card_declined"),
        (funds.as_str(), "insufficient_funds"),
        (expired.as_str(), "expired_card"),
    ] {
        let out = app.state.billing.pay(&app.state.db, payment(pm, 1000)).await.unwrap();
        assert_eq!(out.payment.status(), PaymentStatus::Failed, "{pm}");
        assert_eq!(out.decline.as_ref().map(|d| d.code), Some(code), "{pm}");
        assert_eq!(out.payment.failure_code.as_deref(), Some(code));
        assert!(out.payment.payment_intent_id.is_some());
    }
    assert_eq!(app.sandbox_count("charges"), 0, "no money moved");
    // An unknown payment method is refused as such.
    let err = app.state.billing.pay(&app.state.db, payment("pm_doesnotexist", 1000)).await.unwrap_err();
    assert_eq!(err.code(), "payment_method_invalid");
    let err = app.state.billing.pay(&app.state.db, payment("pm_../../v1/refunds", 1000)).await.unwrap_err();
    assert_eq!(err.code(), "validation_failed");
}

#[tokio::test(flavor = "multi_thread")]
async fn three_d_secure_required_then_completed_or_failed() {
    let app = TestApp::spawn().await;
    for (complete, expected) in [(true, PaymentStatus::Succeeded), (false, PaymentStatus::Failed)] {
        let out = app.state.billing.pay(&app.state.db, payment("pm_card_authenticationRequired", 4200)).await.unwrap();
        assert_eq!(out.payment.status(), PaymentStatus::RequiresAction);
        let next = out.next_action.clone().expect("a 3-D Secure URL");
        let url = next.url;
        assert!(url.contains("/v1/sandbox/3ds/"));
        assert!(next.client_secret.as_deref().unwrap().contains("_secret_"));
        let pi = out.payment.payment_intent_id.clone().unwrap();
        let action = if complete { "complete" } else { "fail" };
        let (status, _) = app.sandbox_post(&format!("/v1/sandbox/3ds/{pi}/{action}"), &[]).await;
        assert_eq!(status, 200);
        let id = out.payment.id.clone();
        // The webhook settles the payment.
        eventually("3-D Secure outcome applied", || async { status_of(&app, &id).await == expected }).await;
        if !complete {
            let p = app.state.billing.find(&app.state.db, &id).await.unwrap();
            assert_eq!(p.failure_code.as_deref(), Some("authentication_failed"));
        }
    }
    assert_eq!(app.sandbox_count("charges"), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn manual_capture_then_partial_capture() {
    let app = TestApp::builder().set("LEANCART_PAYMENT_CAPTURE", "manual").start().await;
    let out = app.state.billing.pay(&app.state.db, payment("pm_card_visa", 5000)).await.unwrap();
    assert_eq!(out.payment.status(), PaymentStatus::RequiresCapture);
    assert_eq!(out.payment.amount_captured, 0);
    let captured = app.state.billing.capture(&app.state.db, &out.payment.id, Some(4000)).await.unwrap();
    assert_eq!(captured.status(), PaymentStatus::Succeeded);
    assert_eq!(captured.amount_captured, 4000);
    let again = app.state.billing.capture(&app.state.db, &out.payment.id, None).await.unwrap_err();
    assert_eq!(again.code(), "payment_not_capturable");
    // An authorization can also be canceled instead of captured.
    let other = app.state.billing.pay(&app.state.db, payment("pm_card_mastercard", 3000)).await.unwrap();
    let canceled = app.state.billing.cancel(&app.state.db, &other.payment.id).await.unwrap();
    assert_eq!(canceled.status(), PaymentStatus::Canceled);
    assert_eq!(other.payment.card_brand.as_deref(), Some("mastercard"));
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_then_full_refund() {
    let app = TestApp::spawn().await;
    let out = app.state.billing.pay(&app.state.db, payment("pm_card_visa", 10_000)).await.unwrap();
    let id = out.payment.id.clone();
    let r1 = app.state.billing.refund(&app.state.db, &id, Some(2_500), None).await.unwrap();
    assert_eq!((r1.amount, r1.status.as_str()), (2_500, "succeeded"));
    assert!(r1.processor_refund_id.as_deref().unwrap().starts_with("re_"));
    let too_much = app.state.billing.refund(&app.state.db, &id, Some(9_000), None).await.unwrap_err();
    assert_eq!(too_much.code(), "refund_exceeds_payment");
    let r2 = app.state.billing.refund(&app.state.db, &id, None, Some("requested_by_customer".into())).await.unwrap();
    assert_eq!(r2.amount, 7_500);
    let p = app.state.billing.find(&app.state.db, &id).await.unwrap();
    assert_eq!(p.amount_refunded, 10_000);
    let nothing_left = app.state.billing.refund(&app.state.db, &id, None, None).await.unwrap_err();
    assert_eq!(nothing_left.code(), "refund_exceeds_payment");
    assert_eq!(app.sandbox_count("refunds"), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_after_timeout_charges_exactly_once() {
    let app = TestApp::builder().set("LEANCART_STRIPE_TIMEOUT_SECS", "1").start().await;
    // The sandbox processes the first request but answers after the client has given up.
    let (s, _) = app.sandbox_post("/v1/sandbox/faults", &[("delay_next", "1"), ("delay_ms", "1600")]).await;
    assert_eq!(s, 200);
    let out = app.state.billing.pay(&app.state.db, payment("pm_card_visa", 1234)).await.unwrap();
    assert_eq!(out.payment.status(), PaymentStatus::Succeeded);
    assert_eq!(app.sandbox_count("intents"), 1, "the retry replayed the first PaymentIntent");
    assert_eq!(app.sandbox_count("charges"), 1, "exactly one charge");

    // Two 500s are retried with the same key.
    app.sandbox_post("/v1/sandbox/faults", &[("fail_next", "2")]).await;
    let out = app.state.billing.pay(&app.state.db, payment("pm_card_visa", 1500)).await.unwrap();
    assert_eq!(out.payment.status(), PaymentStatus::Succeeded);
    assert_eq!(app.sandbox_count("charges"), 2);

    // The processor is down for longer than the retries: the payment stays pending, never in limbo:
    // the reconciliation sweep settles it once the processor answers again.
    app.sandbox_post("/v1/sandbox/faults", &[("fail_next", "3")]).await;
    let out = app.state.billing.pay(&app.state.db, payment("pm_card_visa", 1700)).await.unwrap();
    assert!(out.unresolved);
    assert_eq!(out.payment.status(), PaymentStatus::Pending);
    let settled = app.state.billing.reconcile(&app.state.db, app.state.clock.now(), 10).await.unwrap();
    assert_eq!(settled, 1);
    assert_eq!(status_of(&app, &out.payment.id).await, PaymentStatus::Succeeded);
    assert_eq!(app.sandbox_count("charges"), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn sandbox_speaks_stripe_as_async_stripe_understands_it() {
    use stripe_core::balance_transaction::ListBalanceTransaction;
    use stripe_core::event::ListEvent;
    use stripe_core::payout::ListPayout;
    use stripe_core::refund::{CreateRefund, RetrieveRefund};
    use stripe_payment::payment_method::{CreatePaymentMethod, CreatePaymentMethodCardDetailsParams};

    let app = TestApp::spawn().await;
    let client = app.stripe_client();
    let pm = CreatePaymentMethod::new()
        .type_(stripe_payment::payment_method::CreatePaymentMethodType::Card)
        .card(stripe_payment::payment_method::CreatePaymentMethodCard::CardDetailsParams(
            CreatePaymentMethodCardDetailsParams {
                cvc: Some("123".into()),
                exp_month: 11,
                exp_year: 2033,
                networks: None,
                number: "5555555555554444".into(),
            },
        ))
        .send(&client)
        .await
        .unwrap();
    let card = pm.card.unwrap();
    assert_eq!((card.brand.as_str(), card.last4.as_str(), card.exp_month), ("mastercard", "4444", 11));

    let pi = stripe_core::payment_intent::CreatePaymentIntent::new(2000, stripe_types::Currency::USD)
        .payment_method(pm.id.to_string())
        .confirm(true)
        .send(&client)
        .await
        .unwrap();
    assert_eq!(pi.status, stripe_shared::PaymentIntentStatus::Succeeded);
    let refund = CreateRefund::new().payment_intent(pi.id.to_string()).amount(500).send(&client).await.unwrap();
    let again = RetrieveRefund::new(refund.id.clone()).send(&client).await.unwrap();
    assert_eq!(again.amount, 500);

    // Declines come back in Stripe's error format.
    let err = stripe_core::payment_intent::CreatePaymentIntent::new(2000, stripe_types::Currency::USD)
        .payment_method("pm_card_chargeDeclinedInsufficientFunds")
        .confirm(true)
        .send(&client)
        .await
        .unwrap_err();
    match err {
        stripe::StripeError::Stripe(e, 402) => {
            assert_eq!(e.decline_code.as_deref(), Some("insufficient_funds"));
            assert!(e.payment_intent.is_some());
        }
        other => panic!("unexpected {other:?}"),
    }

    // Balance transactions with the fee model, a payout, cursor pagination.
    let (s, payout) = app.sandbox_post("/v1/sandbox/payouts", &[]).await;
    assert_eq!(s, 200);
    let txns = ListBalanceTransaction::new().payout(payout["id"].as_str().unwrap()).send(&client).await.unwrap();
    let charge = txns.data.iter().find(|t| t.type_.as_str() == "charge").unwrap();
    assert_eq!((charge.amount, charge.fee), (2000, 2000 * 29 / 1000 + 30));
    assert_eq!(payout["amount"].as_i64().unwrap(), (2000 - 88) - 500);
    let page1 = ListBalanceTransaction::new().limit(1).send(&client).await.unwrap();
    assert!(page1.has_more);
    let page2 =
        ListBalanceTransaction::new().limit(1).starting_after(page1.data[0].id.as_str()).send(&client).await.unwrap();
    assert_ne!(page1.data[0].id, page2.data[0].id);
    let payouts = ListPayout::new().send(&client).await.unwrap();
    assert_eq!(payouts.data.len(), 1);
    let events = ListEvent::new().limit(100).send(&client).await.unwrap();
    assert!(events.data.iter().any(|e| e.type_.as_str() == "payment_intent.succeeded"));

    // Idempotency: same key + same params replays; same key + different params is an error.
    let body = [("amount", "777"), ("currency", "usd"), ("payment_method", "pm_card_visa"), ("confirm", "true")];
    let send = |amount: &'static str| {
        let mut form = body.to_vec();
        form[0] = ("amount", amount);
        app.client
            .post(format!("{}/v1/payment_intents", app.sandbox().base_url()))
            .bearer_auth("sk_test_x")
            .header("Idempotency-Key", "same-key")
            .form(&form)
            .send()
    };
    let a: Value = send("777").await.unwrap().json().await.unwrap();
    let b = send("777").await.unwrap();
    assert_eq!(b.headers()["idempotent-replayed"], "true");
    let b: Value = b.json().await.unwrap();
    assert_eq!(a["id"], b["id"]);
    let c = send("778").await.unwrap();
    assert_eq!(c.status(), 400);
    let c: Value = c.json().await.unwrap();
    assert_eq!(c["error"]["type"], "idempotency_error");

    // A secret key is required.
    let res = app.client.get(format!("{}/v1/events", app.sandbox().base_url())).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

fn signed(secret: &str, t: i64, body: &Value) -> (String, String) {
    let payload = body.to_string();
    (signature::header(secret, t, payload.as_bytes()), payload)
}

async fn deliver(app: &TestApp, sig: Option<&str>, payload: &str) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url("/v1/webhooks/stripe"))
        .header("content-type", "application/json")
        .body(payload.to_owned());
    if let Some(s) = sig {
        req = req.header("stripe-signature", s);
    }
    req.send().await.unwrap()
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test(flavor = "multi_thread")]
async fn webhook_signatures_good_bad_stale_and_rotated() {
    let app = TestApp::builder().set("STRIPE_WEBHOOK_SECRET", "whsec_current,whsec_previous").start().await;
    let event = json!({"id": "evt_sigtest1", "type": "customer.created", "created": now(), "data": {"object": {"id": "cus_1"}}});
    let (good, payload) = signed("whsec_current", now(), &event);
    let res = deliver(&app, Some(&good), &payload).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body, json!({"received": true, "duplicate": false}));

    let event2 = json!({"id": "evt_sigtest2", "type": "customer.created", "created": now(), "data": {"object": {"id": "cus_2"}}});
    let (rotated, payload2) = signed("whsec_previous", now(), &event2);
    assert_eq!(deliver(&app, Some(&rotated), &payload2).await.status(), 200, "any configured secret verifies");

    let (wrong, payload3) = signed("whsec_attacker", now(), &event2);
    expect_problem(deliver(&app, Some(&wrong), &payload3).await, 400, "invalid_signature").await;
    let (stale, payload4) = signed("whsec_current", now() - 301, &event2);
    expect_problem(deliver(&app, Some(&stale), &payload4).await, 400, "stale_signature").await;
    expect_problem(deliver(&app, None, &payload).await, 400, "invalid_signature").await;
    // Tampered body with a valid signature of another body.
    expect_problem(deliver(&app, Some(&good), &payload.replace("cus_1", "cus_9")).await, 400, "invalid_signature")
        .await;
    // Several v1 signatures: one valid is enough.
    let multi = format!("{good},v1={}", "00".repeat(32));
    let res = deliver(&app, Some(&multi), &payload).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["duplicate"], true, "the same event id is not processed again");
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicate_and_out_of_order_webhooks_converge() {
    let app = TestApp::builder().set("STRIPE_WEBHOOK_SECRET", "whsec_order").start().await;
    // The sandbox's own deliveries are switched off for this test: we play the processor.
    app.sandbox_post("/v1/sandbox/faults", &[("drop_webhooks", "1000")]).await;
    let req = payment("pm_card_visa", 3100);
    let row = app.state.billing.new_payment_row(&req);
    let insert = row.clone();
    app.state.db.run(move |c| Ok(leancart::billing::store::insert_payment(c, &insert)?)).await.unwrap();

    let pi = "pi_outoforder0000000001";
    let intent = |status: &str| json!({"id": pi, "object": "payment_intent", "status": status, "amount": 3100, "amount_received": if status == "succeeded" { 3100 } else { 0 }, "latest_charge": "ch_ooo1", "metadata": {"leancart_payment_id": row.id}});
    // `succeeded` arrives before leancart saw any response and before the older `requires_action`.
    let succeeded = json!({"id": "evt_ooo_2", "type": "payment_intent.succeeded", "created": now(), "data": {"object": intent("succeeded")}});
    let older = json!({"id": "evt_ooo_1", "type": "payment_intent.requires_action", "created": now() - 5, "data": {"object": intent("requires_action")}});
    for (event, dup) in [(&succeeded, false), (&older, false), (&succeeded, true), (&succeeded, true)] {
        let (sig, payload) = signed("whsec_order", now(), event);
        let res = deliver(&app, Some(&sig), &payload).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["duplicate"], dup);
    }
    let p = app.state.billing.find(&app.state.db, &row.id).await.unwrap();
    assert_eq!(p.status(), PaymentStatus::Succeeded, "a late, older event never undoes a later state");
    assert_eq!(p.payment_intent_id.as_deref(), Some(pi));
    assert_eq!(p.amount_captured, 3100);
    // Then the refund and dispute events are applied once each.
    let refunded = json!({"id": "evt_ooo_3", "type": "charge.refunded", "created": now(), "data": {"object": {"id": "ch_ooo1", "payment_intent": pi, "amount_refunded": 1000}}});
    let disputed = json!({"id": "evt_ooo_4", "type": "charge.dispute.created", "created": now(), "data": {"object": {"id": "dp_1", "payment_intent": pi, "charge": "ch_ooo1"}}});
    for e in [&refunded, &refunded, &disputed] {
        let (sig, payload) = signed("whsec_order", now(), e);
        assert_eq!(deliver(&app, Some(&sig), &payload).await.status(), 200);
    }
    let p = app.state.billing.find(&app.state.db, &row.id).await.unwrap();
    assert_eq!(p.amount_refunded, 1000);
    assert!(p.disputed);
}

const TEST_CARDS: &[&str] =
    &["4242424242424242", "4000000000000002", "4000000000009995", "5555555555554444", "378282246310005"];

#[tokio::test(flavor = "multi_thread")]
async fn card_numbers_are_refused_everywhere_and_never_kept() {
    let app = TestApp::spawn().await;
    let mut responses = String::new();
    // Tokenized in the sandbox (the browser's job): fine, the number never reaches leancart.
    for n in ["4242424242424242", "4000000000000002", "4000000000009995"] {
        let pm = app.tokenize(n).await;
        let _ = app.state.billing.pay(&app.state.db, payment(&pm, 900)).await;
    }
    // Sent to leancart in any field of any request: refused before any handler.
    let bodies = [
        json!({"note": "4242 4242 4242 4242"}),
        json!({"shipping_address": {"line1": "4000-0000-0000-0002"}}),
        json!({"metadata": {"x": "5555555555554444"}}),
        json!({"name": "Jo", "nested": [{"deep": {"card": 378282246310005_i64}}]}),
    ];
    for (i, body) in bodies.iter().enumerate() {
        for path in ["/v1/products", "/v1/not-a-route", "/v1/admin/webhook-events"] {
            let res = app.client.post(app.url(path)).json(body).send().await.unwrap();
            let problem = expect_problem(res, 422, "card_data_not_accepted").await;
            assert!(problem["detail"].as_str().unwrap().contains("tokenize"), "{i}");
            responses.push_str(&problem.to_string());
        }
    }
    for q in [
        "/v1/products?cursor=4242424242424242",
        "/v1/products?note=4000%200000%200000%200002",
        "/v1/products?x=5555+5555+5555+4444",
    ] {
        let problem = expect_problem(app.get(q).await, 422, "card_data_not_accepted").await;
        responses.push_str(&problem.to_string());
    }
    let form =
        app.post_raw("/v1/products", "application/x-www-form-urlencoded", "card%5Bnumber%5D=4242424242424242").await;
    responses.push_str(&expect_problem(form, 422, "card_data_not_accepted").await.to_string());
    // Things that look numeric but are not cards pass the guard.
    for ok in ["/v1/products?limit=5", "/v1/products/prod_0000000000000000000000"] {
        assert_ne!(app.get(ok).await.status(), 422);
    }
    let (_, list) = app.get_json("/v1/products?limit=100").await;
    responses.push_str(&list.to_string());

    let dump = app.db.dump();
    let log = logs::all();
    for n in TEST_CARDS {
        assert!(!dump.contains(n), "card number {n} found in the database");
        assert!(!log.contains(n), "card number {n} found in the log");
        assert!(!responses.contains(n), "card number {n} echoed in a response");
    }
    assert!(log.contains("refused a request that contained card data"));
}
