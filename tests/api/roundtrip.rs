//! Every raw write with positional binds, round-tripped: distinct values in every column, written
//! through the store's statement, read back column by column through diesel's typed (named-column)
//! reads. Two binds swapped in a statement (`ship_line1` and `ship_line2`, `amount_captured` and
//! `amount_refunded`) fail here even where every other test would pass.

use crate::support::TestApp;
use chrono::NaiveDateTime;
use leancart::billing::model::PaymentRow;
use leancart::checkout::model::CartRow;
use leancart::privacy::sealing::{Field, Sealed};
use serde_json::{Value, json};

fn at(s: u32) -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2026, 1, 2).and_then(|d| d.and_hms_micro_opt(3, 4, s, 5)).unwrap()
}

/// A stored field with a distinct value (the statement binds it as text; no key is needed to tell
/// whether it landed in its column).
fn s<T>(text: &str) -> Option<Sealed<T>> {
    Some(Sealed::from_stored(format!("s1.{text}")))
}

/// A cart's columns by name, sealed fields as stored (for comparing, in a test only).
fn cart_columns(c: &CartRow) -> Vec<(&'static str, String)> {
    let o = |v: Option<&str>| v.unwrap_or("NULL").to_owned();
    vec![
        ("id", c.id.clone()),
        ("token_hash", c.token_hash.clone()),
        ("status", c.status.clone()),
        ("currency", c.currency.clone()),
        ("email", o(c.email.as_ref().map(Sealed::stored))),
        ("ship_name", o(c.ship_name.as_ref().map(Sealed::stored))),
        ("ship_line1", o(c.ship_line1.as_ref().map(Sealed::stored))),
        ("ship_line2", o(c.ship_line2.as_ref().map(Sealed::stored))),
        ("ship_city", o(c.ship_city.as_ref().map(Sealed::stored))),
        ("ship_region", o(c.ship_region.as_deref())),
        ("ship_postal_code", o(c.ship_postal_code.as_ref().map(Sealed::stored))),
        ("ship_country", o(c.ship_country.as_deref())),
        ("ship_phone", o(c.ship_phone.as_ref().map(Sealed::stored))),
        ("shipping_method", o(c.shipping_method.as_deref())),
        ("is_gift", c.is_gift.to_string()),
        ("recipient_consent_at", format!("{:?}", c.recipient_consent_at)),
        ("created_at", c.created_at.to_string()),
        ("updated_at", c.updated_at.to_string()),
        ("subject_id", o(c.subject_id.as_deref())),
        ("account_id", o(c.account_id.as_deref())),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cart_row_round_trips_through_insert_and_update() {
    let app = TestApp::spawn().await;
    let mut row = CartRow {
        id: "cart_RoundTrip0000000000000001".into(),
        token_hash: "th-1".into(),
        status: "open".into(),
        currency: "USD".into(),
        email: s("e1@example.org"),
        ship_name: s("Name One"),
        ship_line1: s("Line One"),
        ship_line2: s("Line Two"),
        ship_city: s("City"),
        ship_region: Some("Region".into()),
        ship_postal_code: s("PC1"),
        ship_country: Some("US".into()),
        ship_phone: s("+1 555 0100"),
        shipping_method: Some("express".into()),
        is_gift: true,
        recipient_consent_at: Some(at(1)),
        created_at: at(2),
        updated_at: at(3),
        subject_id: Some("sub_one".into()),
        account_id: Some("acct_one".into()),
    };
    let inserted = row.clone();
    let back = app
        .state
        .db
        .run(move |c| {
            leancart::checkout::store::insert_cart(c, &inserted)?;
            Ok(leancart::checkout::store::find_cart(c, &inserted.id)?)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cart_columns(&back), cart_columns(&row), "INSERT INTO carts");

    // Every changeable column changed, each to a value of its own.
    row.status = "checked_out".into();
    row.email = s("e2@example.org");
    row.ship_name = s("Name Two");
    row.ship_line1 = s("Line Three");
    row.ship_line2 = s("Line Four");
    row.ship_city = s("Town");
    row.ship_region = Some("State".into());
    row.ship_postal_code = s("PC2");
    row.ship_country = Some("CA".into());
    row.ship_phone = s("+1 555 0199");
    row.subject_id = Some("sub_two".into());
    row.shipping_method = Some("standard".into());
    row.is_gift = false;
    row.recipient_consent_at = Some(at(4));
    row.updated_at = at(5);
    let updated = row.clone();
    let back = app
        .state
        .db
        .run(move |c| {
            leancart::checkout::store::update_cart(c, &updated)?;
            Ok(leancart::checkout::store::find_cart(c, &updated.id)?)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cart_columns(&back), cart_columns(&row), "UPDATE carts");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payment_row_round_trips_through_insert_and_update() {
    let app = TestApp::spawn().await;
    let mut row = PaymentRow {
        id: "pay_RoundTrip000000000000001".into(),
        order_id: None,
        processor: "stripe".into(),
        payment_intent_id: Some("pi_one".into()),
        payment_method_id: "pm_one".into(),
        charge_id: Some("ch_one".into()),
        status: "pending".into(),
        capture_method: "automatic".into(),
        amount: 3000,
        amount_captured: 2000,
        amount_refunded: 1000,
        currency: "USD".into(),
        card_brand: Some("visa".into()),
        card_last4: Some("4242".into()),
        card_exp_month: Some(7),
        card_exp_year: Some(2031),
        failure_code: Some("fc_one".into()),
        disputed: true,
        created_at: at(1),
        updated_at: at(2),
    };
    let inserted = row.clone();
    let back = app
        .state
        .db
        .run(move |c| {
            leancart::billing::store::insert_payment(c, &inserted)?;
            Ok(leancart::billing::store::find_payment(c, &inserted.id)?)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(format!("{back:?}"), format!("{row:?}"), "INSERT INTO payments");

    row.payment_intent_id = Some("pi_two".into());
    row.charge_id = Some("ch_two".into());
    row.status = "succeeded".into();
    row.amount_captured = 2900;
    row.amount_refunded = 700;
    row.card_brand = Some("mastercard".into());
    row.card_last4 = Some("4444".into());
    row.card_exp_month = Some(9);
    row.card_exp_year = Some(2032);
    row.failure_code = Some("fc_two".into());
    row.disputed = false;
    row.updated_at = at(3);
    let updated = row.clone();
    let back = app
        .state
        .db
        .run(move |c| {
            leancart::billing::store::update_payment(c, &updated)?;
            Ok(leancart::billing::store::find_payment(c, &updated.id)?)
        })
        .await
        .unwrap()
        .unwrap();
    assert_eq!(format!("{back:?}"), format!("{row:?}"), "UPDATE payments");
}

/// The placement statement (one writable CTE on PostgreSQL, step by step on SQLite) writes the order,
/// its lines and its totals: each column is read back against what the cart said.
#[tokio::test(flavor = "multi_thread")]
async fn an_order_row_round_trips_through_placement() {
    let app = TestApp::spawn().await;
    let cart = app.new_cart().await;
    assert_eq!(app.add(&cart, "TEE-BLK-M", 2).await.0, 200);
    assert_eq!(app.add(&cart, "MUG-SAND", 1).await.0, 200);
    let details = json!({
        "email": "order.roundtrip@example.org",
        "shipping_method": "express",
        "phone": "+1 555 0123",
        "shipping_address": {"name": "Ship Name", "line1": "First Line", "line2": "Second Line",
                             "city": "Shipcity", "region": "CA", "postal_code": "94103", "country": "US"}
    });
    let (s, view) = app.details(&cart, details).await;
    assert_eq!(s, 200, "{view}");
    let placed: Value = app.place(&cart, "roundtrip", "pm_card_visa").await.json().await.unwrap();
    let id = placed["order"]["id"].as_str().unwrap().to_owned();
    let (order, lines) = app
        .state
        .db
        .run(move |c| {
            let o = leancart::orders::store::find_order(c, &id)?.unwrap();
            let l = leancart::orders::store::lines_of(c, &id)?;
            Ok((o, l))
        })
        .await
        .unwrap();
    let key = app.state.vault.key_of(order.subject_id.as_deref().unwrap()).await.unwrap().unwrap().key;
    let d = order.sealed().open(Some(&key));
    let got = vec![
        ("email", d.email.unwrap().expose().to_owned()),
        ("ship_name", d.name.unwrap().expose().to_owned()),
        ("ship_line1", d.line1.unwrap().expose().to_owned()),
        ("ship_line2", d.line2.unwrap().expose().to_owned()),
        ("ship_city", d.city.unwrap().expose().to_owned()),
        ("ship_region", order.ship_region.clone().unwrap()),
        ("ship_postal_code", d.postal_code.unwrap().expose().to_owned()),
        ("ship_country", order.ship_country.clone().unwrap()),
        ("ship_phone", d.phone.unwrap().expose().to_owned()),
        ("shipping_method", order.shipping_method.clone().unwrap()),
        ("cart_id", order.cart_id.clone()),
        ("currency", order.currency.clone()),
    ];
    let want = vec![
        ("email", "order.roundtrip@example.org".to_owned()),
        ("ship_name", "Ship Name".into()),
        ("ship_line1", "First Line".into()),
        ("ship_line2", "Second Line".into()),
        ("ship_city", "Shipcity".into()),
        ("ship_region", "CA".into()),
        ("ship_postal_code", "94103".into()),
        ("ship_country", "US".into()),
        ("ship_phone", "+15550123".into()),
        ("shipping_method", "express".into()),
        ("cart_id", cart.id.clone()),
        ("currency", "USD".into()),
    ];
    assert_eq!(got, want, "INSERT INTO orders (personal and reference columns)");
    let email = leancart::kernel::pii::Email::parse("order.roundtrip@example.org").unwrap();
    let subject = app.state.vault.find_subject(&email).await.unwrap();
    assert_eq!(
        (order.subject_id.clone(), order.number.starts_with("LC-")),
        (subject, true),
        "INSERT INTO orders (the subject and the number, both text, in their places)"
    );
    assert!(order.ship_line1.as_ref().unwrap().open(&key, Field::ShipLine2).is_none(), "sealed per field");
    let t = &view["totals"];
    let amount = |k: &str| t[k]["amount"].as_i64().unwrap();
    assert_eq!(
        [order.subtotal, order.shipping_total, order.tax_total, order.discount_total, order.total],
        [amount("subtotal"), amount("shipping"), amount("tax"), amount("discount"), amount("total")],
        "INSERT INTO orders (totals)"
    );
    let distinct: std::collections::BTreeSet<i64> =
        [order.subtotal, order.shipping_total, order.tax_total, order.total].into();
    assert_eq!(distinct.len(), 4, "the totals differ, so a swap would show");
    // Lines: each column against the cart's line.
    let cart_lines = view["lines"].as_array().unwrap();
    assert_eq!(lines.len(), cart_lines.len());
    for l in &lines {
        let c = cart_lines.iter().find(|c| c["variant_id"] == l.variant_id.as_str()).unwrap();
        assert_eq!(
            (
                l.sku.as_str(),
                l.unit_price,
                i64::from(l.quantity),
                l.line_total,
                l.quantity_refunded,
                l.order_id.as_str()
            ),
            (
                c["sku"].as_str().unwrap(),
                c["unit_price"]["amount"].as_i64().unwrap(),
                c["quantity"].as_i64().unwrap(),
                c["line_total"]["amount"].as_i64().unwrap(),
                0,
                order.id.as_str()
            ),
            "INSERT INTO order_lines"
        );
    }
}

/// `update_payment_if_unchanged.sql`: every column written, and only while the row is as expected.
#[tokio::test(flavor = "multi_thread")]
async fn a_payment_compare_and_set_round_trips() {
    let app = TestApp::spawn().await;
    let row = PaymentRow {
        id: "pay_RoundTrip000000000000002".into(),
        order_id: None,
        processor: "stripe".into(),
        payment_intent_id: None,
        payment_method_id: "pm_two".into(),
        charge_id: None,
        status: "pending".into(),
        capture_method: "manual".into(),
        amount: 5000,
        amount_captured: 0,
        amount_refunded: 0,
        currency: "EUR".into(),
        card_brand: None,
        card_last4: None,
        card_exp_month: None,
        card_exp_year: None,
        failure_code: None,
        disputed: false,
        created_at: at(1),
        updated_at: at(2),
    };
    let mut next = row.clone();
    next.payment_intent_id = Some("pi_three".into());
    next.charge_id = Some("ch_three".into());
    next.status = "requires_capture".into();
    next.amount_captured = 4100;
    next.amount_refunded = 300;
    next.card_brand = Some("amex".into());
    next.card_last4 = Some("0005".into());
    next.card_exp_month = Some(11);
    next.card_exp_year = Some(2033);
    next.failure_code = Some("fc_three".into());
    next.disputed = true;
    next.updated_at = at(3);
    let (first, written) = (row.clone(), next.clone());
    let (stale, fresh, back) = app
        .state
        .db
        .run(move |c| {
            use leancart::billing::store::{find_payment, insert_payment, update_payment_if_unchanged};
            insert_payment(c, &first)?;
            let stale = update_payment_if_unchanged(c, &written, "pending", at(9))?;
            let fresh = update_payment_if_unchanged(c, &written, "pending", at(2))?;
            Ok((stale, fresh, find_payment(c, &written.id)?))
        })
        .await
        .unwrap();
    assert!(!stale && fresh, "written only while unchanged");
    assert_eq!(format!("{:?}", back.unwrap()), format!("{next:?}"), "UPDATE payments … WHERE unchanged");
}

/// What a placement writes besides the order and its lines — the pending payment (PostgreSQL: inside
/// the placement's one statement, with a bind list of its own), the history entries, the receipt in the
/// outbox, the Idempotency-Key record — and what a staff cancellation's move writes, column by column.
#[tokio::test(flavor = "multi_thread")]
async fn a_placements_other_rows_round_trip() {
    use diesel::prelude::*;
    let app = TestApp::staff().await;
    let cart = app.ready_cart().await;
    let placed: Value = app.place(&cart, "roundtrip-rest", "pm_card_mastercard").await.json().await.unwrap();
    let id = placed["order"]["id"].as_str().unwrap().to_owned();
    let cancel = format!("/v1/admin/orders/{id}/cancel");
    let (s, _) = app.admin(reqwest::Method::POST, &cancel, Some(json!({"reason": "customer asked"}))).await;
    assert_eq!(s, 200);
    let oid = id.clone();
    let (order, payment, events, outbox, key) = app
        .state
        .db
        .run(move |c| {
            use leancart::db::schema::idempotency_keys;
            use leancart::idempotency::Record;
            let order = leancart::orders::store::find_order(c, &oid)?.unwrap();
            let payment = leancart::billing::store::find_payment(c, order.payment_id.as_deref().unwrap())?.unwrap();
            let events = leancart::orders::store::events_of(c, &oid)?;
            let outbox = leancart::orders::store::outbox_for(c, &oid)?;
            let key: Vec<Record> = idempotency_keys::table.select(Record::as_select()).load(c)?;
            Ok((order, payment, events, outbox, key))
        })
        .await
        .unwrap();
    // The payment as placement wrote it, then as the processor's answer and the refund left it.
    assert_eq!(
        (
            payment.order_id.as_deref(),
            payment.processor.as_str(),
            payment.payment_method_id.as_str(),
            payment.capture_method.as_str(),
            payment.amount,
            payment.currency.as_str(),
            payment.card_brand.as_deref(),
            payment.amount_captured,
            payment.amount_refunded,
        ),
        (
            Some(id.as_str()),
            "stripe",
            "pm_card_mastercard",
            "automatic",
            order.total,
            order.currency.as_str(),
            Some("mastercard"),
            order.total,
            order.total,
        ),
        "INSERT INTO payments (placement)"
    );
    assert!(payment.created_at < payment.updated_at, "created, then settled and refunded");
    assert!((payment.created_at - order.created_at).num_seconds().abs() < 5);
    // History: placed by the shopper, paid on the processor's word, cancelled by staff (the staff
    // note sealed under the customer's key).
    let customer = app.state.vault.key_of(order.subject_id.as_deref().unwrap()).await.unwrap().unwrap();
    let opened: Vec<String> =
        events.iter().map(|e| leancart::orders::service::read_note(&e.reason, Some(&customer.key))).collect();
    assert!(leancart::privacy::sealing::is_sealed(&events[2].reason));
    let notes = |r: &str| opened[events.iter().position(|e| e.reason == r).unwrap()].as_str();
    let steps: Vec<(Option<&str>, &str, &str, &str, &str)> = events
        .iter()
        .map(|e| {
            (e.from_status.as_deref(), e.to_status.as_str(), e.actor.as_str(), notes(&e.reason), e.order_id.as_str())
        })
        .collect();
    assert_eq!(
        steps,
        [
            (None, "pending_payment", "shopper", "order placed", id.as_str()),
            (Some("pending_payment"), "paid", "processor", "payment succeeded", id.as_str()),
            (Some("paid"), "cancelled", "staff", "customer asked", id.as_str()),
        ],
        "INSERT INTO order_events / move_order"
    );
    assert!(events.windows(2).all(|w| w[0].created_at <= w[1].created_at));
    assert_eq!((order.status.as_str(), order.reserved_until), ("cancelled", None), "UPDATE orders (move)");
    assert!(order.updated_at >= events[2].created_at, "moved (then its stock released) after the entry");
    assert_eq!(outbox, [("order_confirmation".to_owned(), "pending".to_owned())], "INSERT INTO outbox");
    // The key's record: claimed for this order, completed with 201, sealed token, its lifetime.
    assert_eq!(key.len(), 1);
    let k = &key[0];
    assert_eq!(
        (k.scope.as_str(), k.state.as_str(), k.response_status, k.response_body.as_deref(), k.resource_id.as_deref()),
        ("orders", "completed", Some(201), None, Some(id.as_str())),
        "INSERT/UPDATE idempotency_keys"
    );
    assert_eq!(k.key_hash.len(), 64);
    assert_ne!(k.key_hash, k.request_hash);
    assert!(k.sealed_secret.as_deref().is_some_and(|s| !s.contains("ot_")));
    assert_eq!(k.expires_at - k.created_at, chrono::Duration::hours(24));
    // On PostgreSQL these rows came from the one-statement shortcut; on SQLite from the general path.
    let shortcut = crate::support::logs::all()
        .lines()
        .any(|l| l.contains("placement settled in one statement") && l.contains(&id));
    let postgres = matches!(crate::support::db::backend(), crate::support::db::Backend::Postgres);
    assert_eq!(shortcut, postgres, "the shortcut runs where it exists, and only there");
}
