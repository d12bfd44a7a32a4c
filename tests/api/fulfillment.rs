//! Fulfillment partners: routing and split orders; each partner sees only its own work, with exactly
//! the fields its key is granted; JSON, CSV and NDJSON agree; acknowledging; shipments moving the order
//! on (idempotently) and mailing the shopper; the purpose's window; erasure; every read audited;
//! signed notices to the partner's endpoint, retried, never sent twice.

use crate::support::TestApp;
use crate::support::shop::Cart;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::BTreeSet;

struct Shop {
    app: TestApp,
    /// Partner A (tees, a carrier that needs the phone) and B (mugs).
    a: String,
    b: String,
}

async fn shop_with(app: TestApp) -> Shop {
    let a = app
        .admin(Method::POST, "/v1/admin/partners", Some(json!({"name": "Nordlager", "carrier_needs_phone": true})))
        .await;
    assert_eq!(a.0, 201, "{}", a.1);
    let b = app.admin(Method::POST, "/v1/admin/partners", Some(json!({"name": "Mug Logistics"}))).await;
    let (a, b) = (a.1["partner"]["id"].as_str().unwrap().to_owned(), b.1["partner"]["id"].as_str().unwrap().to_owned());
    let rule =
        |p: &str, priority: i32, sku: Option<&str>| json!({"partner_id": p, "priority": priority, "sku_prefix": sku});
    assert_eq!(app.admin(Method::POST, "/v1/admin/routing-rules", Some(rule(&b, 1, Some("MUG-")))).await.0, 201);
    assert_eq!(app.admin(Method::POST, "/v1/admin/routing-rules", Some(rule(&a, 5, None))).await.0, 201);
    Shop { app, a, b }
}

async fn key(app: &TestApp, partner: &str, scopes: &[&str]) -> String {
    let (s, body) =
        app.admin(Method::POST, &format!("/v1/admin/partners/{partner}/keys"), Some(json!({"scopes": scopes}))).await;
    assert_eq!(s, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// A paid order of a tee and a mug to Berlin (international from the US), with a phone (express).
async fn order(app: &TestApp, key: &str) -> (String, String) {
    let cart: Cart = app.new_cart().await;
    assert_eq!(app.add(&cart, "TEE-BLK-M", 2).await.0, 200);
    assert_eq!(app.add(&cart, "MUG-SAND", 1).await.0, 200);
    let mut details = crate::support::shop::german_details();
    details["phone"] = json!("+49 30 1234567");
    details["shipping_method"] = json!("express");
    let (s, body) = app.details(&cart, details).await;
    assert_eq!(s, 200, "{body}");
    let placed: Value = app.place(&cart, key, "pm_card_visa").await.json().await.unwrap();
    assert_eq!(placed["order"]["status"], "paid", "{placed}");
    (placed["order"]["id"].as_str().unwrap().to_owned(), placed["access_token"].as_str().unwrap().to_owned())
}

async fn route(app: &TestApp) -> usize {
    leancart::fulfillment::service::route_once(&app.state, 100).await.unwrap()
}

async fn partner_get(app: &TestApp, token: &str, path: &str) -> (u16, Value, String) {
    let res = app.client.get(app.url(path)).bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    let text = res.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null), text)
}

fn keys_of(v: &Value) -> BTreeSet<String> {
    v.as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_partner_sees_only_its_own_work_with_only_the_granted_fields() {
    let Shop { app, a, b } = shop_with(TestApp::staff().await).await;
    let (order_id, _) = order(&app, "split-1").await;
    assert_eq!(route(&app).await, 1);
    assert_eq!(route(&app).await, 0, "routed once");
    let full_a = key(&app, &a, &["orders:read", "shipping.phone:read", "customs:read"]).await;
    let plain_a = key(&app, &a, &["orders:read"]).await;
    let phone_b = key(&app, &b, &["orders:read", "shipping.phone:read"]).await;

    // The split: A has the tees, B the mug; each record only its own lines.
    let (s, page_a, _) = partner_get(&app, &full_a, "/v1/partner/fulfillments").await;
    assert_eq!(s, 200, "{page_a}");
    let rec_a = page_a["data"][0].clone();
    assert_eq!(page_a["data"].as_array().unwrap().len(), 1);
    assert_eq!(
        rec_a["lines"],
        json!([{"sku": "TEE-BLK-M", "title": rec_a["lines"][0]["title"], "quantity": 2, "weight_grams": rec_a["lines"][0]["weight_grams"]}])
    );
    let (_, page_b, _) = partner_get(&app, &phone_b, "/v1/partner/fulfillments").await;
    let rec_b = page_b["data"][0].clone();
    assert_eq!(
        rec_b["lines"].as_array().unwrap().iter().map(|l| l["sku"].as_str().unwrap()).collect::<Vec<_>>(),
        ["MUG-SAND"]
    );

    // The exact key sets. A: carrier needs the phone, key holds it → phone; customs (DE from US) with scope.
    assert_eq!(
        keys_of(&rec_a),
        set(&["reference", "status", "created_at", "shipping_method", "recipient", "lines", "customs"])
    );
    assert_eq!(keys_of(&rec_a["recipient"]), set(&["name", "line1", "city", "postal_code", "country", "phone"]));
    assert_eq!(rec_a["recipient"]["phone"], "+49301234567");
    assert_eq!(keys_of(&rec_a["customs"]), set(&["currency", "total_value", "lines"]));
    // Without the scopes: neither.
    let (_, plain, _) = partner_get(&app, &plain_a, "/v1/partner/fulfillments").await;
    assert_eq!(
        keys_of(&plain["data"][0]),
        set(&["reference", "status", "created_at", "shipping_method", "recipient", "lines"])
    );
    assert!(!keys_of(&plain["data"][0]["recipient"]).contains("phone"));
    // B's carrier does not need the phone: not even a key with the scope gets it.
    assert!(!keys_of(&rec_b["recipient"]).contains("phone"));
    // Never the e-mail, totals, payment, the order's id or number.
    let placed_number =
        app.admin(Method::GET, &format!("/v1/admin/orders/{order_id}"), None).await.1["order"]["number"]
            .as_str()
            .unwrap()
            .to_owned();
    for text in [page_a.to_string(), page_b.to_string(), plain.to_string()] {
        for never in ["ada.lovelace@example.org", "pay_", "pi_", "total\":", &order_id, &placed_number] {
            if never == "total\":" {
                assert!(!text.contains("\"total\":"), "{text}");
            } else {
                assert!(!text.contains(never), "{never} in {text}");
            }
        }
    }
    let ref_a = rec_a["reference"].as_str().unwrap().to_owned();
    let ref_b = rec_b["reference"].as_str().unwrap().to_owned();
    assert_ne!(ref_a, ref_b);
    assert!(ref_a.starts_with("FR-"));

    // Cross-reads: B's references through A's key (and back) are not there, on every partner route.
    for (token, other) in [(&full_a, &ref_b), (&phone_b, &ref_a)] {
        assert_eq!(partner_get(&app, token, &format!("/v1/partner/fulfillments/{other}")).await.0, 404);
        for action in ["shipments", "delivered", "exception"] {
            let body = match action {
                "shipments" => json!({"carrier": "DHL", "tracking_number": "X1"}),
                "exception" => json!({"code": "lost"}),
                _ => json!({}),
            };
            let (s, _) = app
                .call(Method::POST, &format!("/v1/partner/fulfillments/{other}/{action}"), Some(token), Some(body))
                .await;
            assert!(s == 404 || s == 403, "{action} on another's: {s}");
        }
        let (s, ack) = app
            .call(Method::POST, "/v1/partner/fulfillments/ack", Some(token), Some(json!({"references": [other]})))
            .await;
        assert_eq!((s, ack["acknowledged"].clone()), (200, json!([])));
    }
    // A key without shipments:write cannot report one.
    let (s, body) = app
        .call(
            Method::POST,
            &format!("/v1/partner/fulfillments/{ref_a}/shipments"),
            Some(&plain_a),
            Some(json!({"carrier": "DHL", "tracking_number": "X1"})),
        )
        .await;
    assert_eq!(s, 403, "{body}");

    // CSV and NDJSON carry what the JSON API shows.
    let (s, _, ndjson) = partner_get(&app, &full_a, "/v1/partner/exports/fulfillments.ndjson").await;
    assert_eq!(s, 200);
    let lines: Vec<Value> = ndjson.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines, vec![rec_a.clone()]);
    let (s, _, csv) = partner_get(&app, &full_a, "/v1/partner/exports/fulfillments.csv").await;
    assert_eq!(s, 200);
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    assert_eq!(
        header,
        [
            "reference",
            "status",
            "created_at",
            "shipping_method",
            "name",
            "line1",
            "line2",
            "city",
            "region",
            "postal_code",
            "country",
            "phone",
            "sku",
            "title",
            "quantity",
            "weight_grams",
            "customs_currency",
            "customs_unit_value"
        ]
    );
    let row: Vec<&str> = rows.next().unwrap().split(',').collect();
    let col = |name: &str| row[header.iter().position(|h| *h == name).unwrap()];
    assert_eq!(col("reference"), ref_a);
    assert_eq!(col("name"), rec_a["recipient"]["name"].as_str().unwrap());
    assert_eq!(col("phone"), "+49301234567");
    assert_eq!(col("quantity"), "2");
    assert_eq!(col("customs_unit_value"), rec_a["customs"]["lines"][0]["unit_value"].to_string());
    assert!(rows.next().is_none());
    let (_, _, plain_csv) = partner_get(&app, &plain_a, "/v1/partner/exports/fulfillments.csv").await;
    assert!(!plain_csv.lines().next().unwrap().contains("phone") && !plain_csv.contains("+4930"));

    // Every read is in the audit log: one entry per export, its record naming the references.
    let exports: Vec<(String, String, String)> = app
        .state
        .db
        .run(|c| {
            use diesel::prelude::*;
            use leancart::db::schema::audit_log as l;
            Ok(l::table
                .filter(l::actor.eq("partner"))
                .order(l::seq.asc())
                .select((l::action, l::subject_id.assume_not_null(), l::actor_id.assume_not_null()))
                .load(c)?)
        })
        .await
        .unwrap();
    let csv_exports: Vec<&(String, String, String)> =
        exports.iter().filter(|e| e.0 == "fulfillments.export.csv").collect();
    assert_eq!(csv_exports.len(), 2, "{exports:?}");
    let carried = leancart::fulfillment::export::references_of(&app.state, &csv_exports[0].1).await.unwrap();
    assert_eq!(carried, std::slice::from_ref(&ref_a));
    assert!(exports.iter().any(|e| e.0 == "fulfillments.export.ndjson"));
    assert!(exports.iter().filter(|e| e.0 == "fulfillments.page").count() >= 3);

    // Acknowledged work leaves the next pull of `ready`; pulling again before is safe.
    let (_, again, _) = partner_get(&app, &full_a, "/v1/partner/fulfillments").await;
    assert_eq!(again["data"][0]["reference"], ref_a.as_str(), "the same reference, no duplicate");
    assert_eq!(again["data"].as_array().unwrap().len(), 1);
    let (s, ack) = app
        .call(Method::POST, "/v1/partner/fulfillments/ack", Some(&full_a), Some(json!({"references": [ref_a]})))
        .await;
    assert_eq!((s, ack["acknowledged"].clone()), (200, json!([ref_a])));
    let (_, after, _) = partner_get(&app, &full_a, "/v1/partner/fulfillments").await;
    assert_eq!(after["data"], json!([]));
    let (_, acked, _) = partner_get(&app, &full_a, "/v1/partner/fulfillments?status=acknowledged").await;
    assert_eq!(acked["data"][0]["reference"], ref_a.as_str());

    // The admin's preview of a key: exactly the fields it receives.
    let keys = app.admin(Method::GET, &format!("/v1/admin/fulfillments?order_id={order_id}"), None).await.1;
    assert_eq!(keys.as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn shipments_move_the_order_on_idempotently_and_mail_the_shopper() {
    let sink = crate::support::smtp::SmtpSink::start(0);
    let Shop { app, a, b } = shop_with(TestApp::builder().smtp(&sink).start().await).await;
    let (order_id, order_token) = order(&app, "ship-1").await;
    route(&app).await;
    let ka = key(&app, &a, &["orders:read", "shipments:write"]).await;
    let kb = key(&app, &b, &["orders:read", "shipments:write"]).await;
    let ref_of = |token: String| {
        let app = &app;
        async move {
            partner_get(app, &token, "/v1/partner/fulfillments").await.1["data"][0]["reference"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let (ra, rb) = (ref_of(ka.clone()).await, ref_of(kb.clone()).await);
    async fn ship(app: &TestApp, token: &str, reference: &str, body: Value) -> (u16, Value) {
        app.call(Method::POST, &format!("/v1/partner/fulfillments/{reference}/shipments"), Some(token), Some(body))
            .await
    }
    // Too many units, an unknown SKU: refused, nothing recorded.
    let (s, _) = ship(
        &app,
        &ka,
        &ra,
        json!({"carrier": "DHL", "tracking_number": "JJD1", "lines": [{"sku": "TEE-BLK-M", "quantity": 3}]}),
    )
    .await;
    assert_eq!(s, 422);
    let (s, _) = ship(
        &app,
        &ka,
        &ra,
        json!({"carrier": "DHL", "tracking_number": "JJD1", "lines": [{"sku": "MUG-SAND", "quantity": 1}]}),
    )
    .await;
    assert_eq!(s, 422, "B's line is not in A's fulfillment");
    // One tee of two: partially shipped; the order partially fulfilled.
    let one = json!({"carrier": "DHL", "tracking_number": "JJD1", "lines": [{"sku": "TEE-BLK-M", "quantity": 1}]});
    let (s, first) = ship(&app, &ka, &ra, one.clone()).await;
    assert_eq!((s, first["status"].as_str(), first["created"].as_bool()), (201, Some("partially_shipped"), Some(true)));
    let (s, repeat) = ship(&app, &ka, &ra, one).await;
    assert_eq!(
        (s, repeat["shipment_id"].clone(), repeat["created"].as_bool()),
        (200, first["shipment_id"].clone(), Some(false)),
        "the same tracking number is the same shipment"
    );
    assert_eq!(app.order_status(&order_id).await, "partially_fulfilled");
    // The rest, and B's mug: fulfilled.
    let (s, rest) = ship(&app, &ka, &ra, json!({"carrier": "DHL", "tracking_number": "JJD2"})).await;
    assert_eq!((s, rest["status"].as_str()), (201, Some("shipped")));
    assert_eq!(app.order_status(&order_id).await, "partially_fulfilled", "B has not shipped");
    let (s, _) = ship(&app, &kb, &rb, json!({"carrier": "UPS", "tracking_number": "1Z9"})).await;
    assert_eq!(s, 201);
    assert_eq!(app.order_status(&order_id).await, "fulfilled");
    let (s, closed) = ship(&app, &ka, &ra, json!({"carrier": "DHL", "tracking_number": "JJD3"})).await;
    assert_eq!((s, closed["code"].as_str()), (409, Some("fulfillment_not_open")));
    // Delivered (twice is once); an exception is a code.
    let delivered = app.call(Method::POST, &format!("/v1/partner/fulfillments/{ra}/delivered"), Some(&ka), None).await;
    assert_eq!((delivered.0, delivered.1["status"].as_str()), (200, Some("delivered")));
    assert_eq!(
        app.call(Method::POST, &format!("/v1/partner/fulfillments/{ra}/delivered"), Some(&ka), None).await.0,
        200
    );
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/partner/fulfillments/{rb}/exception"),
            Some(&kb),
            Some(json!({"code": "damaged"})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/partner/fulfillments/{rb}/exception"),
            Some(&kb),
            Some(json!({"code": "a free-text note"})),
        )
        .await;
    assert_eq!(s, 422);
    // The shopper's order shows it, and they were told, once per shipment.
    let res =
        app.client.get(app.url(&format!("/v1/orders/{order_id}"))).bearer_auth(&order_token).send().await.unwrap();
    assert_eq!(res.json::<Value>().await.unwrap()["status"], "fulfilled");
    // The confirmation and three shipping messages (the repeated tracking number sent none).
    let last = sink.wait_for_mail("ada.lovelace@example.org", "Your order LC-", 3).await;
    let _ = last;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let shipped = sink
        .messages()
        .into_iter()
        .filter(|m| m.header("Subject").is_some_and(|s| s.ends_with("has shipped")))
        .collect::<Vec<_>>();
    assert_eq!(shipped.len(), 3, "three shipments, three messages");
    assert!(shipped.iter().any(|m| m.text().contains("Tracking number: 1Z9")));
}

#[tokio::test(flavor = "multi_thread")]
async fn personal_fields_end_with_the_window_and_erasure_removes_the_record() {
    let Shop { app, a, .. } = shop_with(TestApp::staff().await).await;
    order(&app, "window-1").await;
    route(&app).await;
    let ka = key(&app, &a, &["orders:read", "shipments:write", "shipping.phone:read", "customs:read"]).await;
    let (_, page, _) = partner_get(&app, &ka, "/v1/partner/fulfillments").await;
    let reference = page["data"][0]["reference"].as_str().unwrap().to_owned();
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/partner/fulfillments/{reference}/shipments"),
            Some(&ka),
            Some(json!({"carrier": "DHL", "tracking_number": "W1"})),
        )
        .await;
    assert_eq!(s, 201);
    let (_, shipped, _) = partner_get(&app, &ka, &format!("/v1/partner/fulfillments/{reference}")).await;
    assert!(shipped["recipient"].is_object(), "within the window: {shipped}");
    app.state.clock.advance(chrono::Duration::days(31));
    let (s, late, _) = partner_get(&app, &ka, &format!("/v1/partner/fulfillments/{reference}")).await;
    assert_eq!(s, 200);
    assert_eq!(keys_of(&late), set(&["reference", "status", "lines"]), "{late}");
    let (_, _, csv) = partner_get(&app, &ka, "/v1/partner/exports/fulfillments.csv").await;
    assert!(!csv.contains("Lovelace") && csv.contains(&reference), "{csv}");

    // A second order, not shipped: its customer erased (held while open — the order is cancelled first).
    let (second, _) = order(&app, "window-2").await;
    route(&app).await;
    let (s, _) =
        app.admin(Method::POST, &format!("/v1/admin/orders/{second}/cancel"), Some(json!({"reason": "x"}))).await;
    assert_eq!(s, 200);
    let (_, all, _) = partner_get(&app, &ka, "/v1/partner/fulfillments?status=any").await;
    let cancelled = all["data"].as_array().unwrap().iter().find(|r| r["status"] == "cancelled").cloned().unwrap();
    assert_eq!(keys_of(&cancelled), set(&["reference", "status", "lines"]), "a cancelled parcel needs no address");
    let subject = app
        .state
        .vault
        .find_subject(&leancart::kernel::pii::Email::parse("ada.lovelace@example.org").unwrap())
        .await
        .unwrap()
        .unwrap();
    app.state.vault.shred(&subject).await.unwrap();
    let (_, after, _) = partner_get(&app, &ka, "/v1/partner/fulfillments?status=any").await;
    assert_eq!(after["data"], json!([]), "an erased customer is in no partner's view");
    let (_, _, ndjson) = partner_get(&app, &ka, "/v1/partner/exports/fulfillments.ndjson").await;
    assert!(ndjson.trim().is_empty(), "{ndjson}");
    assert_eq!(partner_get(&app, &ka, &format!("/v1/partner/fulfillments/{reference}")).await.0, 404);
}

/// A partner's endpoint for a test: records what it receives; answers 500 to the first `fail` calls.
struct Endpoint {
    url: String,
    received: std::sync::Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

async fn endpoint(fail: usize) -> Endpoint {
    use axum::http::HeaderMap;
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (r, c) = (received.clone(), calls.clone());
    let app = axum::Router::new().route(
        "/hooks",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let (r, c) = (r.clone(), c.clone());
            async move {
                if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < fail {
                    return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
                }
                let sig = headers.get("leancart-signature").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
                r.lock().unwrap().push((sig, body));
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Endpoint { url, received }
}

#[tokio::test(flavor = "multi_thread")]
async fn partners_are_told_by_signed_notices_retried_and_never_sent_twice() {
    let app = TestApp::builder().set("LEANCART_PARTNER_WEBHOOK_ALLOW_LOOPBACK_HTTP", "true").start().await;
    let hook = endpoint(1).await;
    // Plain HTTP elsewhere than this machine is refused.
    let (s, _) = app
        .admin(
            Method::POST,
            "/v1/admin/partners",
            Some(json!({"name": "X", "webhook_url": "http://wms.example/hooks"})),
        )
        .await;
    assert_eq!(s, 422);
    let (s, created) = app
        .admin(Method::POST, "/v1/admin/partners", Some(json!({"name": "Nordlager", "webhook_url": hook.url})))
        .await;
    assert_eq!(s, 201, "{created}");
    let partner = created["partner"]["id"].as_str().unwrap().to_owned();
    let secret = created["webhook_secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    assert!(!app.db.dump().contains(&secret), "the secret is kept sealed");
    let rule = json!({"partner_id": partner, "priority": 1});
    assert_eq!(app.admin(Method::POST, "/v1/admin/routing-rules", Some(rule)).await.0, 201);
    order(&app, "notice-1").await;
    route(&app).await;
    let client = reqwest::Client::new();
    // The first delivery fails (500): retried after the back-off, not before.
    let deliver = || leancart::fulfillment::notices::deliver_once(&app.state, &client);
    assert_eq!(deliver().await.unwrap(), (1, 0));
    assert_eq!(deliver().await.unwrap(), (0, 0), "not due yet");
    app.state.clock.advance(chrono::Duration::seconds(31));
    assert_eq!(deliver().await.unwrap(), (1, 1));
    app.state.clock.advance(chrono::Duration::hours(2));
    assert_eq!(deliver().await.unwrap(), (0, 0), "delivered once");
    let received = hook.received.lock().unwrap().clone();
    assert_eq!(received.len(), 1);
    let (sig, body) = &received[0];
    let notice: Value = serde_json::from_str(body).unwrap();
    assert_eq!(notice["type"], "fulfillment.ready");
    assert!(notice["reference"].as_str().unwrap().starts_with("FR-"));
    assert!(!body.contains("Lovelace") && !body.contains("ada."), "a notice carries no personal data");
    // The signature: t=…,v1=HMAC-SHA256(secret, "t.body").
    let t: i64 = sig.split(',').next().unwrap().strip_prefix("t=").unwrap().parse().unwrap();
    assert_eq!(sig, &leancart::fulfillment::notices::signature(&secret, t, body));
    let forged = leancart::fulfillment::notices::signature("whsec_wrong", t, body);
    assert_ne!(sig, &forged);
}

#[tokio::test(flavor = "multi_thread")]
async fn two_workers_never_deliver_one_notice_twice() {
    let app = TestApp::builder().set("LEANCART_PARTNER_WEBHOOK_ALLOW_LOOPBACK_HTTP", "true").start().await;
    let hook = endpoint(0).await;
    let (_, created) = app
        .admin(Method::POST, "/v1/admin/partners", Some(json!({"name": "Nordlager", "webhook_url": hook.url})))
        .await;
    let partner = created["partner"]["id"].as_str().unwrap().to_owned();
    app.admin(Method::POST, "/v1/admin/routing-rules", Some(json!({"partner_id": partner, "priority": 1}))).await;
    for n in 0..12 {
        order(&app, &format!("race-{n}")).await;
    }
    route(&app).await;
    // Several workers (as several processes would run) at once, on one database.
    let client = reqwest::Client::new();
    let rounds = (0..4).map(|_| leancart::fulfillment::notices::deliver_once(&app.state, &client));
    let results = futures_util::future::join_all(rounds).await;
    let delivered: usize = results.into_iter().map(|r| r.unwrap().1).sum();
    assert_eq!(delivered, 12);
    let received = hook.received.lock().unwrap().clone();
    let ids: BTreeSet<String> = received
        .iter()
        .map(|(_, b)| serde_json::from_str::<Value>(b).unwrap()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!((received.len(), ids.len()), (12, 12), "each notice exactly once");
}

#[tokio::test(flavor = "multi_thread")]
async fn unrouted_work_waits_for_an_admin_who_can_reassign_it() {
    let app = TestApp::staff().await;
    let (_, a) = app.admin(Method::POST, "/v1/admin/partners", Some(json!({"name": "A"}))).await;
    let (_, b) = app.admin(Method::POST, "/v1/admin/partners", Some(json!({"name": "B"}))).await;
    let (a, b) = (a["partner"]["id"].as_str().unwrap().to_owned(), b["partner"]["id"].as_str().unwrap().to_owned());
    // Only mugs have a rule: the tees wait, unassigned.
    let rule = json!({"partner_id": b, "priority": 1, "sku_prefix": "MUG-"});
    assert_eq!(app.admin(Method::POST, "/v1/admin/routing-rules", Some(rule)).await.0, 201);
    let (order_id, _) = order(&app, "assign-1").await;
    route(&app).await;
    let (_, list) = app.admin(Method::GET, &format!("/v1/admin/fulfillments?order_id={order_id}"), None).await;
    let waiting = list.as_array().unwrap().iter().find(|f| f["status"] == "unassigned").cloned().unwrap();
    assert_eq!(waiting["partner_id"], Value::Null);
    // Support may look (no personal data in the list), not assign.
    let support = app.staff_token(leancart::access::Role::Support).await;
    let (s, seen) = app.call(Method::GET, "/v1/admin/fulfillments", Some(&support), None).await;
    assert_eq!(s, 200);
    assert!(!seen.to_string().contains("Lovelace") && !seen.to_string().contains("ada."));
    let id = waiting["id"].as_str().unwrap();
    let (s, _) = app
        .call(
            Method::POST,
            &format!("/v1/admin/fulfillments/{id}/assign"),
            Some(&support),
            Some(json!({"partner_id": a})),
        )
        .await;
    assert_eq!(s, 403);
    let (s, assigned) =
        app.admin(Method::POST, &format!("/v1/admin/fulfillments/{id}/assign"), Some(json!({"partner_id": a}))).await;
    assert_eq!((s, assigned["status"].as_str()), (200, Some("ready")), "{assigned}");
    let ka = key(&app, &a, &["orders:read"]).await;
    let (_, page, _) = partner_get(&app, &ka, "/v1/partner/fulfillments").await;
    let first = page["data"][0]["reference"].as_str().unwrap().to_owned();
    assert_eq!(first, assigned["reference"].as_str().unwrap());
    // Moved on to B: a new reference; A's no longer opens anything.
    let (s, moved) =
        app.admin(Method::POST, &format!("/v1/admin/fulfillments/{id}/assign"), Some(json!({"partner_id": b}))).await;
    assert_eq!(s, 200);
    assert_ne!(moved["reference"], first.as_str());
    assert_eq!(partner_get(&app, &ka, &format!("/v1/partner/fulfillments/{first}")).await.0, 404);
    let kb = key(&app, &b, &["orders:read"]).await;
    let (_, b_page, _) = partner_get(&app, &kb, "/v1/partner/fulfillments").await;
    assert_eq!(b_page["data"].as_array().unwrap().len(), 2, "the mug and the tees");
}
