//! Shopper accounts: register, log in, the account, log out here and everywhere; the same answer for
//! an unknown e-mail and a wrong password; session lifetimes; argon2id parameters and rehashing; the
//! account's e-mail and name sealed at rest.

use crate::support::TestApp;
use reqwest::Method;
use serde_json::{Value, json};

const PASSPHRASE: &str = "correct horse battery staple";

async fn call(app: &TestApp, method: Method, path: &str, token: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut req = app.client.request(method, app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

async fn register(app: &TestApp, email: &str) -> (u16, Value) {
    let body = json!({"email": email, "password": PASSPHRASE, "name": "Hedy Lamarr"});
    call(app, Method::POST, "/v1/accounts", None, Some(body)).await
}

async fn login(app: &TestApp, email: &str, password: &str) -> (u16, Value) {
    call(app, Method::POST, "/v1/sessions", None, Some(json!({"email": email, "password": password}))).await
}

#[tokio::test(flavor = "multi_thread")]
async fn register_log_in_read_and_log_out() {
    let app = TestApp::spawn().await;
    let (s, body) = register(&app, "hedy@example.org").await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(
        (body["account"]["email"].as_str(), body["account"]["name"].as_str()),
        (Some("hedy@example.org"), Some("Hedy Lamarr"))
    );
    let first = body["session"]["session_token"].as_str().unwrap().to_owned();
    assert!(first.starts_with("sa_"));
    let (s, again) = register(&app, "hedy@example.org").await;
    assert_eq!((s, again["code"].as_str()), (409, Some("account_exists")));
    let (s, session) = login(&app, "hedy@example.org", PASSPHRASE).await;
    assert_eq!(s, 201);
    let second = session["session_token"].as_str().unwrap().to_owned();
    let (s, me) = call(&app, Method::GET, "/v1/account", Some(&second), None).await;
    assert_eq!((s, me["email"].as_str()), (200, Some("hedy@example.org")));
    // Log out here: that session ends, the other goes on.
    assert_eq!(call(&app, Method::DELETE, "/v1/sessions/current", Some(&second), None).await.0, 204);
    assert_eq!(call(&app, Method::GET, "/v1/account", Some(&second), None).await.0, 401);
    assert_eq!(call(&app, Method::GET, "/v1/account", Some(&first), None).await.0, 200);
    // Log out everywhere.
    let (_, third) = login(&app, "hedy@example.org", PASSPHRASE).await;
    let third = third["session_token"].as_str().unwrap().to_owned();
    assert_eq!(call(&app, Method::DELETE, "/v1/sessions", Some(&first), None).await.0, 204);
    for token in [&first, &third] {
        assert_eq!(call(&app, Method::GET, "/v1/account", Some(token), None).await.0, 401);
    }
    // Stored: the password as an argon2id hash with OWASP's parameters; the e-mail and name sealed.
    let hash: String = app
        .state
        .db
        .run(|c| {
            use diesel::prelude::*;
            use leancart::db::schema::accounts;
            Ok(accounts::table.select(accounts::password_hash).first(c)?)
        })
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
    let dump = app.db.dump();
    assert!(!dump.contains("hedy@example.org") && !dump.contains("Lamarr") && !dump.contains(PASSPHRASE));
    assert!(!crate::support::logs::all().contains(PASSPHRASE));
}

/// The same status and body for an unknown e-mail and a wrong password; a short password refused
/// without composition rules.
#[tokio::test(flavor = "multi_thread")]
async fn login_does_not_tell_unknown_accounts_from_wrong_passwords() {
    let app = TestApp::spawn().await;
    assert_eq!(register(&app, "hedy@example.org").await.0, 201);
    let wrong = login(&app, "hedy@example.org", "not the passphrase at all").await;
    let unknown = login(&app, "nobody@example.org", PASSPHRASE).await;
    assert_eq!(wrong, unknown);
    assert_eq!((wrong.0, wrong.1["code"].as_str()), (401, Some("invalid_credentials")));
    let short =
        call(&app, Method::POST, "/v1/accounts", None, Some(json!({"email": "x@example.org", "password": "short1!A"})))
            .await;
    assert_eq!((short.0, short.1["errors"][0]["code"].as_str()), (422, Some("too_short")));
    let common = call(
        &app,
        Method::POST,
        "/v1/accounts",
        None,
        Some(json!({"email": "z@example.org", "password": "1QAZ2WSX3EDC"})),
    )
    .await;
    assert_eq!((common.0, common.1["errors"][0]["code"].as_str()), (422, Some("too_common")));
    let plain = json!({"email": "y@example.org", "password": "alllowercaseletters"});
    assert_eq!(call(&app, Method::POST, "/v1/accounts", None, Some(plain)).await.0, 201, "no composition rules");
}

/// A session unused for the idle lifetime ends; a used one ends at its absolute lifetime anyway.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_when_idle_and_at_their_absolute_lifetime() {
    let app = TestApp::builder()
        .set("LEANCART_SESSION_IDLE_SECS", "600")
        .set("LEANCART_SESSION_ABSOLUTE_SECS", "3600")
        .start()
        .await;
    let (_, body) = register(&app, "hedy@example.org").await;
    let token = body["session"]["session_token"].as_str().unwrap().to_owned();
    app.state.clock.advance(chrono::Duration::seconds(601));
    assert_eq!(call(&app, Method::GET, "/v1/account", Some(&token), None).await.0, 401, "idle");
    let (_, body) = login(&app, "hedy@example.org", PASSPHRASE).await;
    let token = body["session_token"].as_str().unwrap().to_owned();
    for _ in 0..7 {
        app.state.clock.advance(chrono::Duration::seconds(500));
        assert_eq!(call(&app, Method::GET, "/v1/account", Some(&token), None).await.0, 200, "kept alive by use");
    }
    app.state.clock.advance(chrono::Duration::seconds(200));
    assert_eq!(call(&app, Method::GET, "/v1/account", Some(&token), None).await.0, 401, "absolute");
}

/// A hash stored with weaker parameters is replaced by one with today's on the next login.
#[tokio::test(flavor = "multi_thread")]
async fn a_weaker_hash_is_replaced_at_login() {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
    let app = TestApp::spawn().await;
    assert_eq!(register(&app, "hedy@example.org").await.0, 201);
    let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(4096, 1, 1, None).unwrap())
        .hash_password(PASSPHRASE.as_bytes())
        .unwrap()
        .to_string();
    let stored = |app: &TestApp| {
        let db = app.state.db.clone();
        async move {
            db.run(|c| {
                use diesel::prelude::*;
                use leancart::db::schema::accounts;
                Ok(accounts::table.select(accounts::password_hash).first::<String>(c)?)
            })
            .await
            .unwrap()
        }
    };
    let w = weak.clone();
    app.state
        .db
        .run(move |c| {
            use diesel::prelude::*;
            use leancart::db::schema::accounts;
            Ok(diesel::update(accounts::table).set(accounts::password_hash.eq(w)).execute(c)?)
        })
        .await
        .unwrap();
    assert_eq!(stored(&app).await, weak);
    assert_eq!(login(&app, "hedy@example.org", PASSPHRASE).await.0, 201, "the old hash still verifies");
    let now = stored(&app).await;
    assert!(now.starts_with("$argon2id$v=19$m=19456,t=2,p=1$") && now != weak, "{now}");
    assert_eq!(login(&app, "hedy@example.org", PASSPHRASE).await.0, 201);
}

/// Changing the password asks for the current one, keeps this session and ends every other.
#[tokio::test(flavor = "multi_thread")]
async fn a_password_change_reauthenticates_and_ends_other_sessions() {
    let app = TestApp::spawn().await;
    let (_, body) = register(&app, "hedy@example.org").await;
    let here = body["session"]["session_token"].as_str().unwrap().to_owned();
    let (_, other) = login(&app, "hedy@example.org", PASSPHRASE).await;
    let other = other["session_token"].as_str().unwrap().to_owned();
    let change =
        |current: &str| json!({"current_password": current, "new_password": "frequency hopping spread spectrum"});
    let (s, body) =
        call(&app, Method::POST, "/v1/account/password", Some(&here), Some(change("a wrong current password"))).await;
    assert_eq!((s, body["errors"][0]["code"].as_str()), (422, Some("incorrect")));
    assert_eq!(call(&app, Method::POST, "/v1/account/password", Some(&here), Some(change(PASSPHRASE))).await.0, 204);
    assert_eq!(call(&app, Method::GET, "/v1/account", Some(&here), None).await.0, 200, "this session goes on");
    assert_eq!(call(&app, Method::GET, "/v1/account", Some(&other), None).await.0, 401, "every other ends");
    assert_eq!(login(&app, "hedy@example.org", PASSPHRASE).await.0, 401);
    assert_eq!(login(&app, "hedy@example.org", "frequency hopping spread spectrum").await.0, 201);
}

/// A forgotten password: the same answer for an unknown address; a single-use link valid for 15
/// minutes, mailed; using it ends every session; a second use, or one too late, is refused.
#[tokio::test(flavor = "multi_thread")]
async fn a_forgotten_password_is_reset_through_a_mailed_single_use_link() {
    let sink = crate::support::smtp::SmtpSink::start(0);
    let app = TestApp::builder().smtp(&sink).start().await;
    let (_, body) = register(&app, "hedy@example.org").await;
    let session = body["session"]["session_token"].as_str().unwrap().to_owned();
    let ask = |email: &str| call(&app, Method::POST, "/v1/password-resets", None, Some(json!({"email": email})));
    let known = ask("hedy@example.org").await;
    assert_eq!(known, ask("nobody@example.org").await, "no enumeration");
    assert_eq!(known.0, 202);
    let mail = sink.wait_for_mail("hedy@example.org", "Reset your password", 0).await;
    let text = mail.text();
    let token = text.split_whitespace().find(|w| w.starts_with("pr_")).expect("the code in the mail").to_owned();
    let complete = |token: &str, new: &str| {
        call(
            &app,
            Method::POST,
            "/v1/password-resets/complete",
            None,
            Some(json!({"token": token, "new_password": new})),
        )
    };
    let (s, body) = complete(&token, "short").await;
    assert_eq!((s, body["errors"][0]["code"].as_str()), (422, Some("too_short")));
    assert_eq!(complete(&token, "a brand new passphrase").await.0, 204);
    assert_eq!(call(&app, Method::GET, "/v1/account", Some(&session), None).await.0, 401, "every session ended");
    assert_eq!(login(&app, "hedy@example.org", "a brand new passphrase").await.0, 201);
    let (s, body) = complete(&token, "yet another passphrase").await;
    assert_eq!((s, body["code"].as_str()), (422, Some("link_invalid")), "single use");
    // 15 minutes.
    assert_eq!(ask("hedy@example.org").await.0, 202);
    let late = sink.wait_for_mail("hedy@example.org", "Reset your password", 1).await.text();
    let late = late.split_whitespace().find(|w| w.starts_with("pr_")).unwrap().to_owned();
    app.state.clock.advance(chrono::Duration::minutes(16));
    assert_eq!(complete(&late, "yet another passphrase").await.1["code"], "link_invalid");
    assert!(!app.db.dump().contains(&late), "the token is not kept in clear");
}

/// Failed logins are throttled per e-mail — an unknown one exactly like a known one — and per client
/// address, with waits that double; a 429 says how long; a success starts the e-mail's count over.
#[tokio::test(flavor = "multi_thread")]
async fn failed_logins_are_throttled_per_email_and_per_client() {
    let app = TestApp::spawn().await;
    assert_eq!(register(&app, "hedy@example.org").await.0, 201);
    for email in ["hedy@example.org", "nobody@example.org"] {
        for _ in 0..3 {
            assert_eq!(login(&app, email, "not the passphrase at all").await.0, 401);
        }
        let res = app
            .client
            .post(app.url("/v1/sessions"))
            .json(&json!({"email": email, "password": PASSPHRASE}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 429, "{email}: even the right password waits");
        assert!(res.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
        crate::support::expect_problem(res, 429, "rate_limited").await;
    }
    app.state.clock.advance(chrono::Duration::seconds(2));
    assert_eq!(login(&app, "hedy@example.org", PASSPHRASE).await.0, 201, "after the wait");
    assert_eq!(login(&app, "hedy@example.org", "wrong again, once").await.0, 401, "the count started over");
    assert_eq!(login(&app, "hedy@example.org", PASSPHRASE).await.0, 201);
    // The client address: ten failures over many e-mails, then it waits whatever the e-mail.
    app.state.clock.advance(chrono::Duration::minutes(20));
    for n in 0..10 {
        let _ = login(&app, &format!("spray{n}@example.org"), "not the passphrase at all").await;
    }
    assert_eq!(login(&app, "hedy@example.org", PASSPHRASE).await.0, 429, "the address is throttled");
}

/// A cart started signed in puts its order in the account's history; a guest's does not. Another
/// account never reads it (every shopper route tried with the other account's session: 404), and a
/// signed-in shopper asks for their export or erasure without an e-mail proof; erasure ends their
/// sessions.
#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_sees_their_own_orders_and_nobody_elses() {
    let sink = crate::support::smtp::SmtpSink::start(0);
    let app = TestApp::builder().smtp(&sink).start().await;
    let (_, hedy) = register(&app, "hedy@example.org").await;
    let hedy = hedy["session"]["session_token"].as_str().unwrap().to_owned();
    let (_, ada) = call(
        &app,
        Method::POST,
        "/v1/accounts",
        None,
        Some(json!({"email": "ada.lovelace@example.org", "password": PASSPHRASE})),
    )
    .await;
    let ada = ada["session"]["session_token"].as_str().unwrap().to_owned();
    // Ada's cart, started signed in.
    let res = app.client.post(app.url("/v1/carts")).bearer_auth(&ada).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let body: Value = res.json().await.unwrap();
    let cart = crate::support::shop::Cart {
        id: body["cart"]["id"].as_str().unwrap().to_owned(),
        token: body["token"].as_str().unwrap().to_owned(),
    };
    assert_eq!(app.add(&cart, "TEE-BLK-M", 1).await.0, 200);
    assert_eq!(app.details(&cart, crate::support::shop::german_details()).await.0, 200);
    let placed: Value = app.place(&cart, "ada-signed-in", "pm_card_visa").await.json().await.unwrap();
    let order = placed["order"]["id"].as_str().unwrap().to_owned();
    // And a guest order with the same address: not in her history.
    let guest = app.ready_cart().await;
    assert_eq!(app.place(&guest, "ada-guest", "pm_card_visa").await.status(), 201);
    let (s, mine) = call(&app, Method::GET, "/v1/account/orders", Some(&ada), None).await;
    let ids: Vec<&str> = mine.as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap()).collect();
    assert_eq!((s, ids), (200, vec![order.as_str()]));
    assert_eq!(mine[0]["email"], "ada.lovelace@example.org");
    assert_eq!(call(&app, Method::GET, &format!("/v1/account/orders/{order}"), Some(&ada), None).await.0, 200);
    // Hedy: every shopper route with Ada's order id, cart id or nothing of hers.
    let (s, theirs) = call(&app, Method::GET, "/v1/account/orders", Some(&hedy), None).await;
    assert_eq!((s, theirs.as_array().map(Vec::len)), (200, Some(0)));
    assert_eq!(call(&app, Method::GET, &format!("/v1/account/orders/{order}"), Some(&hedy), None).await.0, 404);
    assert_eq!(call(&app, Method::GET, &format!("/v1/orders/{order}"), Some(&hedy), None).await.0, 404);
    assert_eq!(call(&app, Method::GET, &format!("/v1/carts/{}", cart.id), Some(&hedy), None).await.0, 404);
    let (_, me) = call(&app, Method::GET, "/v1/account", Some(&hedy), None).await;
    assert_eq!(me["email"], "hedy@example.org");
    // Ada's export, signed in: no proof needed; then her erasure (held by the paid orders).
    let (s, access) =
        call(&app, Method::POST, "/v1/account/privacy-requests", Some(&ada), Some(json!({"kind": "access"}))).await;
    assert_eq!((s, access["kind"].as_str()), (201, Some("access")));
    assert!(
        sink.wait_for_mail("ada.lovelace@example.org", "Your data export is ready", 0).await.link(&app.base).is_some()
    );
    let (s, erasure) =
        call(&app, Method::POST, "/v1/account/privacy-requests", Some(&ada), Some(json!({"kind": "erasure"}))).await;
    assert_eq!((s, erasure["status"].as_str()), (201, Some("deferred")));
    for id in [&order, placed["order"]["id"].as_str().unwrap()] {
        let (s, _) =
            app.admin(Method::POST, &format!("/v1/admin/orders/{id}/cancel"), Some(json!({"reason": "x"}))).await;
        assert!(s == 200 || s == 409);
    }
    let guest_order = app.state.db.run(|c| {
        use diesel::prelude::*;
        use leancart::db::schema::orders;
        Ok(orders::table.filter(orders::account_id.is_null()).select(orders::id).load::<String>(c)?)
    });
    for id in guest_order.await.unwrap() {
        app.admin(Method::POST, &format!("/v1/admin/orders/{id}/cancel"), Some(json!({"reason": "x"}))).await;
    }
    leancart::app::sweep_once(&app.state).await;
    assert_eq!(call(&app, Method::GET, "/v1/account", Some(&ada), None).await.0, 401, "erasure ends her sessions");
    assert_eq!(login(&app, "ada.lovelace@example.org", PASSPHRASE).await.0, 401, "and her account opens no more");
    assert_eq!(call(&app, Method::GET, "/v1/account", Some(&hedy), None).await.0, 200, "Hedy's untouched");
}

/// A browser's session: the login sets a `Secure; HttpOnly; SameSite=Lax` cookie; reads work with the
/// cookie alone; a change made with the cookie needs the session's CSRF token (403 without, or with
/// another's); a bearer token needs none; logging out clears the cookie.
#[tokio::test(flavor = "multi_thread")]
async fn cookie_sessions_need_the_csrf_token_to_change_anything() {
    let app = TestApp::spawn().await;
    assert_eq!(register(&app, "hedy@example.org").await.0, 201);
    let res = app
        .client
        .post(app.url("/v1/sessions"))
        .json(&json!({"email": "hedy@example.org", "password": PASSPHRASE}))
        .send()
        .await
        .unwrap();
    let set_cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        set_cookie.starts_with("lc_session=sa_") && set_cookie.contains("Secure; HttpOnly; SameSite=Lax"),
        "{set_cookie}"
    );
    let body: Value = res.json().await.unwrap();
    let (token, csrf) =
        (body["session_token"].as_str().unwrap().to_owned(), body["csrf_token"].as_str().unwrap().to_owned());
    let cookie = format!("lc_session={token}");
    let with_cookie =
        |method: Method, path: &str| app.client.request(method, app.url(path)).header("cookie", cookie.clone());
    assert_eq!(with_cookie(Method::GET, "/v1/account").send().await.unwrap().status(), 200, "a read");
    let change = json!({"current_password": PASSPHRASE, "new_password": "a brand new passphrase"});
    let res = with_cookie(Method::POST, "/v1/account/password").json(&change).send().await.unwrap();
    crate::support::expect_problem(res, 403, "csrf_token_missing").await;
    let other = crate::support::resources::read::<Value>(
        app.client
            .post(app.url("/v1/sessions"))
            .json(&json!({"email": "hedy@example.org", "password": PASSPHRASE}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let res = with_cookie(Method::POST, "/v1/account/password")
        .header("x-csrf-token", other["csrf_token"].as_str().unwrap())
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403, "another session's token");
    let res = with_cookie(Method::POST, "/v1/account/password")
        .header("x-csrf-token", &csrf)
        .json(&change)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    // A bearer token needs no CSRF token (no browser sends it on its own).
    let (_, session) = login(&app, "hedy@example.org", "a brand new passphrase").await;
    let bearer = session["session_token"].as_str().unwrap().to_owned();
    assert_eq!(call(&app, Method::DELETE, "/v1/sessions/current", Some(&bearer), None).await.0, 204);
    // Logging out with the cookie (and its token) clears it.
    let res = with_cookie(Method::DELETE, "/v1/sessions/current").header("x-csrf-token", &csrf).send().await.unwrap();
    assert_eq!(res.status(), 204);
    assert!(res.headers()["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(with_cookie(Method::GET, "/v1/account").send().await.unwrap().status(), 401);
}

/// Guest orders placed with the account's address join its history only through a link mailed to the
/// address (registration does not prove the address); the link is the account's own, single use.
#[tokio::test(flavor = "multi_thread")]
async fn guest_orders_are_claimed_through_a_mailed_link() {
    let sink = crate::support::smtp::SmtpSink::start(0);
    let app = TestApp::builder().smtp(&sink).start().await;
    let guest = app.ready_cart().await; // Ada's details
    assert_eq!(app.place(&guest, "ada-guest", "pm_card_visa").await.status(), 201);
    let (_, ada) = call(
        &app,
        Method::POST,
        "/v1/accounts",
        None,
        Some(json!({"email": "ada.lovelace@example.org", "password": PASSPHRASE})),
    )
    .await;
    let ada = ada["session"]["session_token"].as_str().unwrap().to_owned();
    let (_, hedy) = register(&app, "hedy@example.org").await;
    let hedy = hedy["session"]["session_token"].as_str().unwrap().to_owned();
    let (_, mine) = call(&app, Method::GET, "/v1/account/orders", Some(&ada), None).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(0), "not without the proof");
    assert_eq!(call(&app, Method::POST, "/v1/account/claims", Some(&ada), None).await.0, 202);
    let text = sink.wait_for_mail("ada.lovelace@example.org", "Add your earlier orders", 0).await.text();
    let token = text.split_whitespace().find(|w| w.starts_with("pc_")).expect("the code").to_owned();
    let complete = |session: String| {
        let (app, body) = (&app, json!({"token": token.clone()}));
        async move { call(app, Method::POST, "/v1/account/claims/complete", Some(&session), Some(body)).await }
    };
    assert_eq!(complete(hedy.clone()).await.1["code"], "link_invalid", "another account cannot use it");
    let (s, body) = complete(ada.clone()).await;
    assert_eq!((s, body["claimed"].as_u64()), (200, Some(1)));
    let (_, mine) = call(&app, Method::GET, "/v1/account/orders", Some(&ada), None).await;
    assert_eq!(mine.as_array().map(Vec::len), Some(1));
    assert_eq!(complete(ada.clone()).await.1["code"], "link_invalid", "single use");
    let (_, theirs) = call(&app, Method::GET, "/v1/account/orders", Some(&hedy), None).await;
    assert_eq!(theirs.as_array().map(Vec::len), Some(0));
}

/// A session in the wrong hands cannot guess the current password to change it: wrong guesses are
/// throttled per account like failed logins (429 after three).
#[tokio::test(flavor = "multi_thread")]
async fn guessing_the_current_password_is_throttled() {
    let app = TestApp::spawn().await;
    let (_, body) = register(&app, "hedy@example.org").await;
    let session = body["session"]["session_token"].as_str().unwrap().to_owned();
    let guess = |n: usize| json!({"current_password": format!("guess number {n} of many"), "new_password": "frequency hopping spread spectrum"});
    for n in 0..3 {
        assert_eq!(call(&app, Method::POST, "/v1/account/password", Some(&session), Some(guess(n))).await.0, 422);
    }
    let (s, body) = call(&app, Method::POST, "/v1/account/password", Some(&session), Some(guess(3))).await;
    assert_eq!((s, body["code"].as_str()), (429, Some("rate_limited")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_shopper_may_turn_on_a_second_factor() {
    let app = TestApp::spawn().await;
    let (_, body) = register(&app, "hedy@example.org").await;
    let token = body["session"]["session_token"].as_str().unwrap().to_owned();
    assert_eq!(body["account"]["second_factor"], false);
    let (s, enrolment) = call(&app, Method::POST, "/v1/account/second-factor", Some(&token), None).await;
    assert_eq!(s, 201);
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    // Until confirmed, logging in is as before.
    assert_eq!(login(&app, "hedy@example.org", PASSPHRASE).await.0, 201);
    let code = app.totp(&secret, 0);
    let (s, codes) =
        call(&app, Method::POST, "/v1/account/second-factor/confirm", Some(&token), Some(json!({"code": code}))).await;
    assert_eq!(s, 200);
    let recovery = codes["recovery_codes"][0].as_str().unwrap().to_owned();
    assert_eq!(call(&app, Method::GET, "/v1/account", Some(&token), None).await.1["second_factor"], true);
    // Now the password alone is not enough; a wrong password with a right code is no way in either.
    let (s, without) = login(&app, "hedy@example.org", PASSPHRASE).await;
    assert_eq!((s, without["code"].as_str()), (401, Some("second_factor_required")));
    let with = |password: &str, factor: Value| {
        let mut body = json!({"email": "hedy@example.org", "password": password});
        body.as_object_mut().unwrap().extend(factor.as_object().unwrap().clone());
        call(&app, Method::POST, "/v1/sessions", None, Some(body))
    };
    let (s, wrong) = with("not the passphrase at all", json!({"code": app.totp(&secret, 1)})).await;
    assert_eq!((s, wrong["code"].as_str()), (401, Some("invalid_credentials")));
    assert_eq!(with(PASSPHRASE, json!({"code": code})).await.0, 401, "the enrolment's code, replayed");
    // Three failures: the e-mail's throttle holds the next attempt back for a while.
    assert_eq!(with(PASSPHRASE, json!({"code": app.totp(&secret, 1)})).await.0, 429);
    app.state.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(with(PASSPHRASE, json!({"code": app.totp(&secret, 1)})).await.0, 201);
    assert_eq!(with(PASSPHRASE, json!({"recovery_code": recovery})).await.0, 201);
    assert_eq!(with(PASSPHRASE, json!({"recovery_code": recovery})).await.0, 401, "a recovery code works once");
    // Off again: the password is asked.
    let (s, _) = call(
        &app,
        Method::DELETE,
        "/v1/account/second-factor",
        Some(&token),
        Some(json!({"password": "wrong password here"})),
    )
    .await;
    assert_eq!(s, 422);
    let (s, _) =
        call(&app, Method::DELETE, "/v1/account/second-factor", Some(&token), Some(json!({"password": PASSPHRASE})))
            .await;
    assert_eq!(s, 204);
    assert_eq!(login(&app, "hedy@example.org", PASSPHRASE).await.0, 201);
    assert!(!app.db.dump().contains(&secret), "the secret is kept sealed");
}

/// "Save my details" during checkout: the cart's e-mail and shipping name become an account, and the
/// order placed from the cart is in its history.
#[tokio::test(flavor = "multi_thread")]
async fn a_guest_saves_their_details_during_checkout() {
    let app = TestApp::spawn().await;
    let cart = app.new_cart().await;
    assert_eq!(app.add(&cart, "TEE-BLK-M", 1).await.0, 200);
    let save = |token: &str, id: &str| {
        app.client
            .post(app.url(&format!("/v1/carts/{id}/account")))
            .bearer_auth(token)
            .json(&json!({"password": PASSPHRASE}))
            .send()
    };
    let early = save(&cart.token, &cart.id).await.unwrap();
    crate::support::expect_problem(early, 422, "details_required").await;
    assert_eq!(app.details(&cart, crate::support::shop::german_details()).await.0, 200);
    // Another cart's token does not open this one.
    let other = app.new_cart().await;
    assert_eq!(save(&other.token, &cart.id).await.unwrap().status().as_u16(), 404);
    let res = save(&cart.token, &cart.id).await.unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        (body["account"]["email"].as_str(), body["account"]["name"].as_str()),
        (Some("ada.lovelace@example.org"), Some("Ada Lovelace"))
    );
    let session = body["session"]["session_token"].as_str().unwrap().to_owned();
    let again = save(&cart.token, &cart.id).await.unwrap();
    crate::support::expect_problem(again, 409, "cart_has_account").await;
    let placed: Value = app.place(&cart, "saved-details", "pm_card_visa").await.json().await.unwrap();
    let order = placed["order"]["id"].as_str().unwrap();
    let (s, mine) = call(&app, Method::GET, "/v1/account/orders", Some(&session), None).await;
    assert_eq!((s, mine[0]["id"].as_str()), (200, Some(order)));
    let after = save(&cart.token, &cart.id).await.unwrap();
    crate::support::expect_problem(after, 409, "cart_checked_out").await;
}
