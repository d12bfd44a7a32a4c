//! Carts and checkout details: server-side prices, stock checks, field minimisation per purpose.

use crate::support::resources::{Cart as CartView, from};
use crate::support::shop::german_details;
use crate::support::{TestApp, expect_problem};
use serde_json::{Value, json};

fn fields(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| (e["field"].as_str().unwrap().to_owned(), e["code"].as_str().unwrap().to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn cart_totals_come_from_the_catalog_and_the_policy() {
    let app = TestApp::spawn().await;
    let cart = app.ready_cart().await;
    let view = app.get_cart(&cart).await;
    let t = &view.totals;
    // 2 × 25.00 + 14.00 = 64.00; standard shipping for 800 g = 4.95; DE VAT 19 % on 68.95 = 13.10.
    let amounts = [&t.subtotal, &t.shipping, &t.tax, &t.discount, &t.total].map(|m| (m.amount, m.currency.as_str()));
    assert_eq!(amounts, [(6400, "USD"), (495, "USD"), (1310, "USD"), (0, "USD"), (8205, "USD")]);
    assert!(!t.prices_include_tax);
    assert!(view.missing.is_empty() && view.requires_shipping);
    assert_eq!(view.lines.len(), 2);
    assert_eq!(view.details.shipping_address.as_ref().map(|a| a.country.as_str()), Some("DE"));

    // Changing and removing lines recomputes everything.
    let mug = app.variant("MUG-SAND").await;
    let (s, body) =
        app.cart_call(&cart, reqwest::Method::PUT, &format!("/lines/{mug}"), Some(json!({"quantity": 3}))).await;
    assert_eq!(s, 200);
    let changed: CartView = from(&body);
    assert_eq!(changed.totals.subtotal.amount, 5000 + 3 * 1400);
    let (s, body) = app.cart_call(&cart, reqwest::Method::DELETE, &format!("/lines/{mug}"), None).await;
    assert_eq!(s, 200);
    let removed: CartView = from(&body);
    assert_eq!((removed.totals.subtotal.amount, removed.lines.len()), (5000, 1));
    // Free shipping over 75.00.
    app.add(&cart, "JACKET-M", 1).await;
    assert_eq!(app.get_cart(&cart).await.totals.shipping.amount, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn adding_a_line_answers_the_cart_as_it_now_is() {
    // On PostgreSQL the write and the read of an added line are one statement, whose read cannot see
    // its own write: every answer must still equal a fresh read, merged quantities and line order too.
    let app = TestApp::spawn().await;
    let cart = app.new_cart().await;
    let steps = [("TEE-BLK-M", 1), ("MUG-SAND", 2), ("TEE-BLK-M", 2), ("JACKET-M", 1), ("MUG-SAND", 1)];
    for (sku, quantity) in steps {
        let (s, added) = app.add(&cart, sku, quantity).await;
        assert_eq!(s, 200, "{added}");
        let (s, read) = app.cart_call(&cart, reqwest::Method::GET, "", None).await;
        assert_eq!(s, 200);
        assert_eq!(added, read, "after adding {quantity} × {sku}");
    }
    let read = app.get_cart(&cart).await;
    let lines: Vec<(i32, i64)> = read.lines.iter().map(|l| (l.quantity, l.unit_price.amount)).collect();
    // First added first; merged lines keep their place.
    assert_eq!(lines, [(3, 2500), (3, 1400), (1, lines[2].1)]);
    assert_eq!(read.totals.subtotal.amount, 3 * 2500 + 3 * 1400 + lines[2].1);
    assert!(read.lines.iter().all(|l| l.line_total.amount == l.unit_price.amount * i64::from(l.quantity)));
}

#[tokio::test(flavor = "multi_thread")]
async fn price_tampering_is_refused_not_obeyed() {
    let app = TestApp::spawn().await;
    let cart = app.new_cart().await;
    let v = app.variant("TEE-BLK-M").await;
    let (s, body) = app
        .cart_call(
            &cart,
            reqwest::Method::POST,
            "/lines",
            Some(json!({"variant_id": v, "quantity": 1, "unit_price": 1})),
        )
        .await;
    assert_eq!((s, body["code"].as_str()), (422, Some("unknown_field")));
    let mut d = german_details();
    d["total"] = json!(1);
    app.add(&cart, "TEE-BLK-M", 1).await;
    let (s, body) = app.details(&cart, d).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("unknown_field")));
    let res = app
        .client
        .post(app.url("/v1/orders"))
        .bearer_auth(&cart.token)
        .header("Idempotency-Key", "tamper")
        .json(&json!({"cart_id": cart.id, "payment_method": "pm_card_visa", "amount": 1}))
        .send()
        .await
        .unwrap();
    expect_problem(res, 422, "unknown_field").await;
    // The price is the catalog's.
    let (_, body) = app.cart_call(&cart, reqwest::Method::GET, "", None).await;
    assert_eq!(body["lines"][0]["unit_price"]["amount"], 2500);
}

#[tokio::test(flavor = "multi_thread")]
async fn stock_and_quantity_are_checked_on_every_change() {
    let app = TestApp::spawn().await;
    app.set_stock("WALLET-BRN", 3).await;
    let cart = app.new_cart().await;
    assert_eq!(app.add(&cart, "WALLET-BRN", 2).await.0, 200);
    let (s, body) = app.add(&cart, "WALLET-BRN", 2).await;
    assert_eq!((s, body["code"].as_str()), (409, Some("insufficient_stock")));
    assert_eq!(body["extra"]["available"], 3);
    let (s, _) = app.add(&cart, "WALLET-BRN", 0).await;
    assert_eq!(s, 422);
    let (s, body) = app
        .cart_call(
            &cart,
            reqwest::Method::POST,
            "/lines",
            Some(json!({"variant_id": "var_0000000000000000000000", "quantity": 1})),
        )
        .await;
    assert_eq!((s, fields(&body)), (422, vec![("variant_id".into(), "not_found".into())]));
}

#[tokio::test(flavor = "multi_thread")]
async fn address_fields_follow_the_destination() {
    let app = TestApp::spawn().await;
    let cart = app.new_cart().await;
    app.add(&cart, "TEE-BLK-M", 1).await;
    let with = |addr: Value| json!({"email": "a@example.com", "shipping_address": addr, "shipping_method": "standard"});
    // US: region and ZIP required.
    let (s, body) =
        app.details(&cart, with(json!({"name": "A B", "line1": "1 Main", "city": "Austin", "country": "US"}))).await;
    assert_eq!(s, 422);
    assert_eq!(
        fields(&body),
        vec![
            ("shipping_address.postal_code".into(), "required".into()),
            ("shipping_address.region".into(), "required".into())
        ]
    );
    let (s, _) = app.details(&cart, with(json!({"name": "A B", "line1": "1 Main", "city": "Austin", "region": "TX", "postal_code": "78701", "country": "US"}))).await;
    assert_eq!(s, 200);
    // GB, DE, FR, NL: no region; sending one is refused.
    for (country, postal) in [("GB", "SW1A 1AA"), ("DE", "10115"), ("FR", "75008"), ("NL", "1012 AB")] {
        let (s, body) = app
            .details(&cart, with(json!({"name": "A B", "line1": "1 Main", "city": "X", "region": "Somewhere", "postal_code": postal, "country": country})))
            .await;
        assert_eq!(
            (s, fields(&body)),
            (422, vec![("shipping_address.region".into(), "not_collected".into())]),
            "{country}"
        );
        let (s, _) = app
            .details(
                &cart,
                with(json!({"name": "A B", "line1": "1 Main", "city": "X", "postal_code": postal, "country": country})),
            )
            .await;
        assert_eq!(s, 200, "{country}");
    }
    // CA, JP, AU: region required; postal codes have their own shapes.
    for (country, region, postal) in [("CA", "ON", "K1A 0B1"), ("JP", "Tokyo", "100-0001"), ("AU", "NSW", "2000")] {
        let (s, body) = app
            .details(
                &cart,
                with(json!({"name": "A B", "line1": "1 Main", "city": "X", "postal_code": postal, "country": country})),
            )
            .await;
        assert_eq!((s, fields(&body)), (422, vec![("shipping_address.region".into(), "required".into())]), "{country}");
        let (s, body) = app.details(&cart, with(json!({"name": "A B", "line1": "1 Main", "city": "X", "region": region, "postal_code": postal, "country": country}))).await;
        assert_eq!(s, 200, "{country} {body}");
    }
    let (s, body) = app
        .details(
            &cart,
            with(json!({"name": "A B", "line1": "1 Main", "city": "X", "postal_code": "ABCDE", "country": "DE"})),
        )
        .await;
    assert_eq!((s, fields(&body)), (422, vec![("shipping_address.postal_code".into(), "invalid_format".into())]));
    // A sensible default elsewhere (Sweden).
    let (s, _) = app.details(&cart, with(json!({"name": "A B", "line1": "1 Main", "city": "Stockholm", "postal_code": "114 55", "country": "SE"}))).await;
    assert_eq!(s, 200);
    // Fields that no purpose needs do not exist.
    for extra in ["birth_date", "gender", "title", "company", "notes"] {
        let mut d = german_details();
        d[extra] = json!("x");
        let (s, body) = app.details(&cart, d).await;
        assert_eq!((s, body["code"].as_str()), (422, Some("unknown_field")), "{extra}");
        let mut d = german_details();
        d["shipping_address"][extra] = json!("x");
        let (s, body) = app.details(&cart, d).await;
        assert_eq!((s, body["code"].as_str()), (422, Some("unknown_field")), "address.{extra}");
    }
    // The e-mail is required for the receipt.
    let mut d = german_details();
    d.as_object_mut().unwrap().remove("email");
    let (s, body) = app.details(&cart, d).await;
    assert_eq!((s, fields(&body)), (422, vec![("email".into(), "required".into())]));
}

#[tokio::test(flavor = "multi_thread")]
async fn phone_only_when_the_carrier_needs_it() {
    let app = TestApp::spawn().await;
    let cart = app.new_cart().await;
    app.add(&cart, "TEE-BLK-M", 1).await;
    let mut d = german_details();
    d["phone"] = json!("+49 30 1234567");
    let (s, body) = app.details(&cart, d.clone()).await;
    assert_eq!((s, fields(&body)), (422, vec![("phone".into(), "not_collected".into())]));
    d["shipping_method"] = json!("express");
    let (s, body) = app.details(&cart, d.clone()).await;
    assert_eq!(s, 200);
    assert_eq!(body["details"]["phone"], "+49301234567");
    d.as_object_mut().unwrap().remove("phone");
    let (s, body) = app.details(&cart, d).await;
    assert_eq!((s, fields(&body)), (422, vec![("phone".into(), "required".into())]));
    // A method that does not serve the destination.
    let mut d = german_details();
    d["shipping_method"] = json!("economy-domestic");
    let (s, body) = app.details(&cart, d).await;
    assert_eq!((s, fields(&body)), (422, vec![("shipping_method".into(), "not_available".into())]));
    let (s, methods) = app.cart_call(&cart, reqwest::Method::GET, "/shipping-methods?country=DE", None).await;
    assert_eq!(s, 200);
    let codes: Vec<&str> = methods.as_array().unwrap().iter().map(|m| m["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["standard", "express"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_gift_needs_the_recipients_consent() {
    let app = TestApp::spawn().await;
    let cart = app.new_cart().await;
    app.add(&cart, "TEE-BLK-M", 1).await;
    let mut d = german_details();
    d["ship_to_someone_else"] = json!(true);
    let (s, body) = app.details(&cart, d.clone()).await;
    assert_eq!((s, fields(&body)), (422, vec![("recipient_consent_confirmed".into(), "required".into())]));
    d["recipient_consent_confirmed"] = json!(false);
    assert_eq!(app.details(&cart, d.clone()).await.0, 422);
    d["recipient_consent_confirmed"] = json!(true);
    let (s, body) = app.details(&cart, d).await;
    assert_eq!(s, 200);
    assert_eq!(body["details"]["ship_to_someone_else"], true);
    let res = app.place(&cart, "gift-1", "pm_card_visa").await;
    assert_eq!(res.status(), 201);
    let placed: Value = res.json().await.unwrap();
    assert_eq!(placed["order"]["ship_to_someone_else"], true);
    assert_eq!(placed["order"]["shipping_address"]["name"], "Ada Lovelace");
    // The consent is recorded with the order.
    let order = leancart::orders::service::find(&app.state, placed["order"]["id"].as_str().unwrap()).await.unwrap();
    assert!(order.is_gift && order.recipient_consent_at.is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn digital_goods_collect_only_an_email() {
    let app = TestApp::spawn().await;
    let cart = app.new_cart().await;
    app.add(&cart, "GIFT-25", 2).await;
    let (s, body) = app.details(&cart, german_details()).await;
    assert_eq!(s, 422);
    assert_eq!(
        fields(&body),
        vec![("shipping_address".into(), "not_collected".into()), ("shipping_method".into(), "not_collected".into())]
    );
    let (s, body) = app.details(&cart, json!({"email": "buyer@example.com"})).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["requires_shipping"], false);
    assert_eq!(body["missing"], json!([]));
    let res = app.place(&cart, "digital-1", "pm_card_visa").await;
    assert_eq!(res.status(), 201);
    let placed: Value = res.json().await.unwrap();
    assert_eq!(placed["order"]["status"], "paid");
    assert_eq!(placed["order"]["shipping_address"], Value::Null);
    assert_eq!(placed["order"]["totals"]["total"]["amount"], 5000);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cart_is_reachable_only_with_its_token() {
    let app = TestApp::spawn().await;
    let cart = app.ready_cart().await;
    let other = app.new_cart().await;
    let res = app.client.get(app.url(&format!("/v1/carts/{}", cart.id))).send().await.unwrap();
    expect_problem(res, 401, "unauthorized").await;
    let res =
        app.client.get(app.url(&format!("/v1/carts/{}", cart.id))).bearer_auth(&other.token).send().await.unwrap();
    expect_problem(res, 404, "not_found").await;
    let res = app.client.get(app.url(&format!("/v1/carts/{}", cart.id))).bearer_auth(&cart.token).send().await.unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_card_guard_holds_on_every_checkout_field() {
    let app = TestApp::spawn().await;
    let cart = app.new_cart().await;
    app.add(&cart, "TEE-BLK-M", 1).await;
    let card = "4242 4242 4242 4242";
    for (path, field) in
        [("name", card), ("line1", card), ("line2", "4000-0000-0000-0002"), ("city", "5555555555554444")]
    {
        let mut d = german_details();
        d["shipping_address"][path] = json!(field);
        let (s, body) = app.details(&cart, d).await;
        assert_eq!((s, body["code"].as_str()), (422, Some("card_data_not_accepted")), "{path}");
        assert!(!body.to_string().contains(&field.replace([' ', '-'], "")) && !body.to_string().contains(field));
    }
    let mut d = german_details();
    d["email"] = json!("4242424242424242@example.com");
    assert_eq!(app.details(&cart, d).await.1["code"], "card_data_not_accepted");
    app.details(&cart, german_details()).await;
    let res = app.place(&cart, "card-guard", "4242424242424242").await;
    expect_problem(res, 422, "card_data_not_accepted").await;
    let dump = app.db.dump();
    for n in ["4242424242424242", "4000000000000002", "5555555555554444"] {
        assert!(!dump.contains(n));
        assert!(!crate::support::logs::all().contains(n));
    }
}
