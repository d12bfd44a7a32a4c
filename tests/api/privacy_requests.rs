//! Subject access and erasure, end to end through a real SMTP server: the e-mail proof (single use,
//! 15 minutes), the access export (everything of the person, nothing of another; signed 24-hour link;
//! JSON and HTML), erasure by crypto-shredding (unreadable in a copy taken before; orders and payments
//! intact; holds defer it and the sweep completes it), staff-raised requests, guest-data retention.

use crate::support::TestApp;
use crate::support::smtp::SmtpSink;
use reqwest::Method;
use serde_json::{Value, json};

const ADA: &str = "ada.lovelace@example.org";

async fn app_with(sink: &SmtpSink) -> TestApp {
    TestApp::builder().smtp(sink).start().await
}

/// A paid order of Ada's (the German details of the shop helpers): its id, number and access token.
async fn ada_orders(app: &TestApp, key: &str) -> (String, String, String) {
    let cart = app.ready_cart().await;
    let placed: Value = app.place(&cart, key, "pm_card_visa").await.json().await.unwrap();
    (
        placed["order"]["id"].as_str().unwrap().to_owned(),
        placed["order"]["number"].as_str().unwrap().to_owned(),
        placed["access_token"].as_str().unwrap().to_owned(),
    )
}

/// Grace's order: another shopper, with values of her own.
async fn grace_order(app: &TestApp) {
    let cart = app.new_cart().await;
    assert_eq!(app.add(&cart, "MUG-SAND", 1).await.0, 200);
    let details = json!({
        "email": "grace.hopper@example.org",
        "shipping_address": {"name": "Grace Hopper", "line1": "1 Compiler Way", "city": "Hamburg", "postal_code": "20095", "country": "DE"},
        "shipping_method": "standard"
    });
    assert_eq!(app.details(&cart, details).await.0, 200);
    assert_eq!(app.place(&cart, "grace", "pm_card_visa").await.status(), 201);
}

async fn ask_proof(app: &TestApp, email: &str) -> (u16, Value) {
    app.post_json("/v1/privacy/proofs", &json!({ "email": email })).await
}

fn token_of(m: &crate::support::smtp::Received) -> String {
    let link = m.link("http").expect("a link");
    link.split("token=").nth(1).expect("a token in the link").to_owned()
}

async fn session(app: &TestApp, token: &str) -> (u16, Value) {
    app.post_json("/v1/privacy/sessions", &json!({ "token": token })).await
}

/// A privacy session for `email` through the mailed proof link (the `nth` proof mail to it).
async fn proven(app: &TestApp, sink: &SmtpSink, email: &str, nth: usize) -> String {
    assert_eq!(ask_proof(app, email).await.0, 202);
    let mail = sink.wait_for_mail(email, "Confirm it is you", nth).await;
    let (s, body) = session(app, &token_of(&mail)).await;
    assert_eq!(s, 201, "{body}");
    body["session_token"].as_str().unwrap().to_owned()
}

async fn raise(app: &TestApp, session: &str, kind: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/v1/privacy/requests"))
        .bearer_auth(session)
        .json(&json!({ "kind": kind }))
        .send()
        .await
        .unwrap();
    let s = res.status().as_u16();
    (s, res.json().await.unwrap_or(Value::Null))
}

/// The proof link: the same answer for a known and an unknown address (mail only to the known one);
/// single use; 15 minutes; no second link while one is valid; and the session it opens is needed.
#[tokio::test(flavor = "multi_thread")]
async fn the_email_proof_link_is_single_use_and_expires() {
    let sink = SmtpSink::start(0);
    let app = app_with(&sink).await;
    ada_orders(&app, "ada-1").await;
    let known = ask_proof(&app, ADA).await;
    let unknown = ask_proof(&app, "nobody@example.org").await;
    assert_eq!(known, unknown, "no enumeration: same status and body");
    assert_eq!(known.0, 202);
    let mail = sink.wait_for_mail(ADA, "Confirm it is you", 0).await;
    let token = token_of(&mail);
    assert!(token.starts_with("pp_"));
    // No second link while this one is valid.
    assert_eq!(ask_proof(&app, ADA).await.0, 202);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(sink.count(ADA, "Confirm it is you"), 1);
    assert_eq!(sink.count("nobody@example.org", ""), 0);
    // Requests need a session.
    assert_eq!(raise(&app, "ps_not-a-session", "access").await.0, 401);
    // Single use.
    let (s, body) = session(&app, &token).await;
    assert_eq!(s, 201);
    assert!(body["session_token"].as_str().unwrap().starts_with("ps_"));
    let (s, again) = session(&app, &token).await;
    assert_eq!((s, again["code"].as_str()), (422, Some("link_invalid")));
    // 15 minutes: a link used after 16 is refused like an unknown one.
    app.state.clock.advance(chrono::Duration::minutes(16));
    leancart::app::sweep_once(&app.state).await;
    assert_eq!(ask_proof(&app, ADA).await.0, 202);
    let late = token_of(&sink.wait_for_mail(ADA, "Confirm it is you", 1).await);
    app.state.clock.advance(chrono::Duration::minutes(16));
    let (s, body) = session(&app, &late).await;
    assert_eq!((s, body["code"].as_str()), (422, Some("link_invalid")));
    assert_eq!(session(&app, "pp_unknown").await.0, 422);
    // The session itself expires after an hour.
    let fresh = proven(&app, &sink, ADA, 2).await;
    app.state.clock.advance(chrono::Duration::minutes(61));
    assert_eq!(raise(&app, &fresh, "access").await.0, 401);
}

/// The access export: requested once (a second request while its link is valid is the same one),
/// mailed as a signed link; the JSON holds every order and datum of the person and nothing of
/// another; the HTML page the same, escaped; a changed signature or an expired link is refused.
#[tokio::test(flavor = "multi_thread")]
async fn the_access_export_holds_everything_of_the_person_and_nothing_of_another() {
    let sink = SmtpSink::start(0);
    let app = app_with(&sink).await;
    let (_, first, _) = ada_orders(&app, "ada-1").await;
    let (_, second, _) = ada_orders(&app, "ada-2").await;
    grace_order(&app).await;
    let open_cart = app.ready_cart().await;
    let ps = proven(&app, &sink, ADA, 0).await;
    let (s, request) = raise(&app, &ps, "access").await;
    assert_eq!((s, request["kind"].as_str(), request["status"].as_str()), (201, Some("access"), Some("done")));
    let (s, again) = raise(&app, &ps, "access").await;
    assert_eq!((s, &again["id"]), (200, &request["id"]), "in flight: the same request");
    let mail = sink.wait_for_mail(ADA, "Your data export is ready", 0).await;
    let link = mail.link(&app.base).expect("the export link");
    assert!(link.contains("signature=") && link.contains("expires="));
    let export: Value = app.client.get(&link).send().await.unwrap().json().await.unwrap();
    assert_eq!(export["erased"], false);
    let numbers: Vec<&str> =
        export["orders"].as_array().unwrap().iter().map(|o| o["number"].as_str().unwrap()).collect();
    assert_eq!(numbers, [first.as_str(), second.as_str()], "every order of hers, and only hers");
    let o = &export["orders"][0];
    assert_eq!(o["email"], ADA);
    assert_eq!(o["shipping_address"]["name"], "Ada Lovelace");
    assert_eq!(o["shipping_address"]["line1"], "12 Analytical Row");
    assert!(o["history"].as_array().is_some_and(|h| !h.is_empty()));
    assert_eq!(export["open_carts"].as_array().unwrap().len(), 1);
    assert_eq!(export["open_carts"][0]["id"], open_cart.id.as_str());
    let text = export.to_string();
    assert!(
        !text.contains("Grace") && !text.contains("grace.hopper") && !text.contains("Compiler"),
        "nothing of Grace"
    );
    assert!(export["what_we_hold_and_why"].as_array().is_some_and(|a| !a.is_empty()));
    // The same as a page.
    let res = app.client.get(format!("{link}&format=html")).send().await.unwrap();
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = res.text().await.unwrap();
    assert!(html.contains("Ada Lovelace") && html.contains(&first) && !html.contains("Grace"));
    // Tampered with, or expired: refused.
    let tampered = if link.ends_with('0') {
        format!("{}1", &link[..link.len() - 1])
    } else {
        format!("{}0", &link[..link.len() - 1])
    };
    assert_eq!(app.client.get(&tampered).send().await.unwrap().status(), 404);
    app.state.clock.advance(chrono::Duration::hours(25));
    assert_eq!(app.client.get(&link).send().await.unwrap().status(), 404);
}

/// Erasure by crypto-shredding. Held while an order is not delivered (the requester is told why);
/// the sweep carries it out once the hold ends. Then: the person's data is unreadable in a copy taken
/// before (that copy and the keyring as it is now), their open cart and unsent mail are gone, orders
/// and payments stay complete and read "erased customer", staff no longer find them by e-mail, their
/// export is empty, and they get a confirmation.
#[tokio::test(flavor = "multi_thread")]
async fn erasure_shreds_the_person_and_keeps_the_accounts() {
    use leancart::privacy::sealing::Field;
    let sink = SmtpSink::start(0);
    let app = app_with(&sink).await;
    let (id, number, token) = ada_orders(&app, "ada-1").await;
    grace_order(&app).await;
    let cart = app.ready_cart().await;
    let ps = proven(&app, &sink, ADA, 0).await;
    let (_, access) = raise(&app, &ps, "access").await;
    let export_link = sink.wait_for_mail(ADA, "Your data export is ready", 0).await.link(&app.base).unwrap();
    assert_eq!(access["status"], "done");

    // Held: the paid order is not delivered yet.
    let (s, held) = raise(&app, &ps, "erasure").await;
    assert_eq!((s, held["status"].as_str()), (201, Some("deferred")));
    assert!(held["hold_reason"].as_str().unwrap().contains(&number), "{held}");
    let (s, same) = raise(&app, &ps, "erasure").await;
    assert_eq!((s, &same["id"]), (200, &held["id"]), "in flight: the same request");
    leancart::app::sweep_once(&app.state).await;
    let get = |rid: String| {
        let (app, ps) = (&app, ps.clone());
        async move {
            let res =
                app.client.get(app.url(&format!("/v1/privacy/requests/{rid}"))).bearer_auth(ps).send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<Value>().await.unwrap())
        }
    };
    let rid = held["id"].as_str().unwrap().to_owned();
    assert_eq!(get(rid.clone()).await.1["status"], "deferred", "still held");

    // A copy of the data as a backup taken now would hold it.
    let oid = id.clone();
    let before = app.state.db.run(move |c| Ok(leancart::orders::store::find_order(c, &oid)?.unwrap())).await.unwrap();
    let subject = before.subject_id.clone().unwrap();
    let dump_before = app.db.dump();
    // The hold ends: staff cancel the order (refunded in full); the sweep erases.
    let (s, _) = app
        .admin(Method::POST, &format!("/v1/admin/orders/{id}/cancel"), Some(json!({"reason": "customer left"})))
        .await;
    assert_eq!(s, 200);
    leancart::app::sweep_once(&app.state).await;
    assert_eq!(get(rid).await.0, 401, "the session ended with the erasure");
    let (s, _) =
        app.admin(Method::GET, &format!("/v1/admin/privacy/requests/{}", held["id"].as_str().unwrap()), None).await;
    assert_eq!(s, 200);

    // Unreadable everywhere: the key is gone, so the copy from before opens no more.
    assert!(app.state.vault.key_of(&subject).await.unwrap().is_none());
    assert!(before.sealed().open(None).email.is_none());
    let keyring =
        leancart::db::Db::connect_keyring(&app.state.config.keyring_url, 1, std::time::Duration::from_secs(5)).unwrap();
    let fresh_vault = leancart::privacy::vault::Vault::new(
        std::sync::Arc::new(leancart::privacy::keyring::open(&app.state.config).unwrap()),
        keyring,
    );
    assert!(fresh_vault.key_of(&subject).await.unwrap().is_none(), "not in the keyring either");
    assert!(dump_before.contains(before.email.stored()), "the copy holds the sealed value…");
    assert!(!dump_before.contains(ADA) && !dump_before.contains("Analytical"), "…and never the plaintext");
    assert!(
        before
            .email
            .open(
                &leancart::privacy::sealing::DataKey::generate(&app.state.vault.keys().master, "x").unwrap().0,
                Field::Email
            )
            .is_none()
    );

    // The accounts stay: the order, its lines, totals and payment; "erased customer".
    let res = app.client.get(app.url(&format!("/v1/orders/{id}"))).bearer_auth(&token).send().await.unwrap();
    let order: Value = res.json().await.unwrap();
    assert_eq!((order["customer_erased"].as_bool(), order["email"].is_null()), (Some(true), true));
    assert_eq!(order["number"], number.as_str());
    assert_eq!(order["totals"]["total"]["amount"].as_i64(), Some(before.total));
    assert!(order["shipping_address"].is_null() && !order["lines"].as_array().unwrap().is_empty());
    assert_eq!(order["payment"]["status"], "succeeded");
    let (_, staff) = app.admin(Method::GET, &format!("/v1/admin/orders/{id}"), None).await;
    assert_eq!(staff["order"]["customer_erased"], true);
    assert!(
        staff["history"].as_array().unwrap().iter().any(|e| e["reason"].as_str().is_some_and(|r| r.contains("erased"))),
        "the staff note about her went with her"
    );
    let (_, found) = app.admin(Method::GET, &format!("/v1/admin/orders?email={ADA}"), None).await;
    assert!(found["data"].as_array().unwrap().is_empty(), "the blind-index entry is gone");
    let (_, grace) = app.admin(Method::GET, "/v1/admin/orders?email=grace.hopper@example.org", None).await;
    assert_eq!(grace["data"][0]["email"], "grace.hopper@example.org", "another person untouched");
    // Her open cart is gone; her export is empty; she was told.
    let res = app.client.get(app.url(&format!("/v1/carts/{}", cart.id))).bearer_auth(&cart.token).send().await.unwrap();
    assert_eq!(res.status(), 404);
    let export: Value = app.client.get(&export_link).send().await.unwrap().json().await.unwrap();
    assert_eq!((export["erased"].as_bool(), export["orders"].as_array().map(Vec::len)), (Some(true), Some(0)));
    let confirmation = sink.wait_for_mail(ADA, "Your personal data was erased", 0).await;
    assert!(confirmation.text().contains("can no longer be read"));
    // A new proof for her address: nothing is held, nothing is sent.
    assert_eq!(ask_proof(&app, ADA).await.0, 202);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(sink.count(ADA, "Confirm it is you"), 1);
}

/// Erasure removes unsent mail: an order confirmation not yet delivered (the SMTP server down) is
/// dropped, never sent after the person is gone.
#[tokio::test(flavor = "multi_thread")]
async fn erasure_drops_mail_not_yet_sent() {
    let sink = SmtpSink::start(1000);
    let app = TestApp::builder().smtp(&sink).manual_mail().start().await;
    let (id, _, _) = ada_orders(&app, "ada-1").await;
    leancart::mail::worker::run_once(&app.state).await.unwrap();
    let (s, _) = app.admin(Method::POST, &format!("/v1/admin/orders/{id}/cancel"), Some(json!({"reason": "x"}))).await;
    assert_eq!(s, 200);
    let (s, body) =
        app.admin(Method::POST, "/v1/admin/privacy/requests", Some(json!({"kind": "erasure", "email": ADA}))).await;
    assert_eq!((s, body["status"].as_str()), (201, Some("done")), "{body}");
    let rows = app.state.db.run(|c| Ok(leancart::mail::store::all(c)?)).await.unwrap();
    let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
    assert_eq!(kinds, ["privacy_erasure_done"], "the unsent confirmation is gone; the erasure's own notice stays");
}

/// Staff raise a request for a customer: audited; an address nobody used is refused.
#[tokio::test(flavor = "multi_thread")]
async fn staff_raise_requests_for_a_customer_audited() {
    let sink = SmtpSink::start(0);
    let app = app_with(&sink).await;
    ada_orders(&app, "ada-1").await;
    let (s, body) =
        app.admin(Method::POST, "/v1/admin/privacy/requests", Some(json!({"kind": "access", "email": ADA}))).await;
    assert_eq!((s, body["kind"].as_str()), (201, Some("access")));
    let mail = sink.wait_for_mail(ADA, "Your data export is ready", 0).await;
    assert!(mail.link(&app.base).is_some());
    let (s, body) = app
        .admin(
            Method::POST,
            "/v1/admin/privacy/requests",
            Some(json!({"kind": "access", "email": "nobody@example.org"})),
        )
        .await;
    assert_eq!((s, body["code"].as_str()), (422, Some("no_data_held")));
    let rid = body["id"].as_str().map(str::to_owned);
    assert!(rid.is_none());
    let audited = app
        .state
        .db
        .run(|c| {
            use diesel::prelude::*;
            use leancart::db::schema::audit_log;
            Ok(audit_log::table.select(audit_log::action).load::<String>(c)?)
        })
        .await
        .unwrap();
    assert!(audited.iter().any(|a| a == "privacy.request.access"), "{audited:?}");
    // Without the staff token: refused.
    let (s, _) = app.post_json("/v1/admin/privacy/requests", &json!({"kind": "access", "email": ADA})).await;
    assert_eq!(s, 401);
}

/// Guest-data retention: a person whose every order closed longer ago than the schedule, with
/// nothing open, is erased by the sweep (quietly); a person with an order still open is not; the dry
/// run counts exactly the one due.
#[tokio::test(flavor = "multi_thread")]
async fn guest_data_is_erased_when_its_retention_ends() {
    use leancart::privacy::retention::{self, Category, Schedule};
    let sink = SmtpSink::start(0);
    let app = TestApp::builder().smtp(&sink).set("LEANCART_GUEST_DATA_RETENTION_SECS", "86400").start().await;
    let (id, _, token) = ada_orders(&app, "ada-1").await;
    grace_order(&app).await; // paid: still open
    let (s, _) = app.admin(Method::POST, &format!("/v1/admin/orders/{id}/cancel"), Some(json!({"reason": "x"}))).await;
    assert_eq!(s, 200);
    let due_at = |app: &TestApp, days: i64| {
        let schedule = Schedule::from_config(&app.state.config);
        let now = app.state.clock.now() + chrono::Duration::days(days);
        let db = app.state.db.clone();
        async move { db.run(move |c| retention::due(c, &schedule, now)).await }
    };
    let guest = |d: Vec<(Category, i64)>| d.into_iter().find(|(c, _)| *c == Category::GuestData).map(|(_, n)| n);
    assert_eq!(guest(due_at(&app, 0).await.unwrap()), Some(0), "not yet");
    assert_eq!(guest(due_at(&app, 2).await.unwrap()), Some(1), "Ada, not Grace");
    leancart::app::sweep_once(&app.state).await;
    let order: Value = app
        .client
        .get(app.url(&format!("/v1/orders/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["customer_erased"], false, "not before its time");
    app.state.clock.advance(chrono::Duration::days(2));
    leancart::app::sweep_once(&app.state).await;
    let order: Value = app
        .client
        .get(app.url(&format!("/v1/orders/{id}")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(order["customer_erased"], true);
    let (_, grace) = app.admin(Method::GET, "/v1/admin/orders?email=grace.hopper@example.org", None).await;
    assert_eq!(grace["data"][0]["email"], "grace.hopper@example.org");
    assert_eq!(guest(due_at(&app, 0).await.unwrap()), Some(0));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(sink.count(ADA, "Your personal data was erased"), 0, "retention erases quietly");
}
