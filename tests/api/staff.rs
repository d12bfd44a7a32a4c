//! Staff: the one-time setup link, sign-in with password and authenticator (TOTP), the second factor
//! required before any privileged action, recovery codes used once, codes never replayed; admins
//! managing members (roles, disabling, setup links, second-factor resets) — each audited; the last
//! admin kept.

use crate::support::TestApp;
use leancart::access::Role;
use leancart::staff::service::{self, By};
use reqwest::Method;
use serde_json::{Value, json};

const PASSPHRASE: &str = "a staff passphrase that is long";

async fn create(app: &TestApp, email: &str, role: Role) -> (String, String) {
    let email = leancart::kernel::pii::Email::parse(email).unwrap();
    let (member, link) = service::create(&app.state, email, role, By::Operator).await.unwrap();
    (member.id, link.token.expose().to_owned())
}

async fn login(app: &TestApp, email: &str, password: &str, factor: Value) -> (u16, Value) {
    let mut body = json!({"email": email, "password": password});
    if let (Some(b), Some(f)) = (body.as_object_mut(), factor.as_object()) {
        b.extend(f.clone());
    }
    app.call(Method::POST, "/v1/staff/sessions", None, Some(body)).await
}

/// Set up, sign in, enrol: the member's verified session token and authenticator secret.
async fn enrolled(app: &TestApp, email: &str, role: Role) -> (String, String, String) {
    let (id, setup) = create(app, email, role).await;
    let (s, _) =
        app.call(Method::POST, "/v1/staff/setup", None, Some(json!({"token": setup, "password": PASSPHRASE}))).await;
    assert_eq!(s, 204);
    let (s, session) = login(app, email, PASSPHRASE, json!({})).await;
    assert_eq!((s, session["second_factor_verified"].as_bool()), (201, Some(false)), "{session}");
    let token = session["session_token"].as_str().unwrap().to_owned();
    let (s, enrolment) = app.call(Method::POST, "/v1/staff/second-factor", Some(&token), None).await;
    assert_eq!(s, 201);
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let code = app.totp(&secret, 0);
    let (s, _) =
        app.call(Method::POST, "/v1/staff/second-factor/confirm", Some(&token), Some(json!({"code": code}))).await;
    assert_eq!(s, 200);
    (id, token, secret)
}

type Logged = (String, Option<String>, Option<String>, String);

/// The audit log: (action, actor id, subject id, outcome), oldest first.
async fn audit_actions(app: &TestApp) -> Vec<Logged> {
    use diesel::prelude::*;
    use leancart::db::schema::audit_log::dsl as a;
    app.state
        .db
        .run(|c| {
            Ok(a::audit_log.order(a::seq.asc()).select((a::action, a::actor_id, a::subject_id, a::outcome)).load(c)?)
        })
        .await
        .unwrap()
}

/// A text column of every row of a table (through the staff tables' own schema).
async fn stored(app: &TestApp, what: &'static str) -> Vec<String> {
    use diesel::prelude::*;
    use leancart::db::schema::{second_factors, staff_members};
    app.state
        .db
        .run(move |c| {
            Ok(match what {
                "staff_members.email" => staff_members::table.select(staff_members::email).load::<String>(c)?,
                _ => second_factors::table.select(second_factors::secret).load::<String>(c)?,
            })
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_member_sets_up_enrols_and_signs_in_with_the_second_factor() {
    let app = TestApp::spawn().await;
    let email = "grace@staff.example";
    let (id, setup) = create(&app, email, Role::Support).await;
    assert!(setup.starts_with("st_"));
    // No password yet: signing in fails like a wrong password.
    let (s, before) = login(&app, email, PASSPHRASE, json!({})).await;
    assert_eq!((s, before["code"].as_str()), (401, Some("invalid_credentials")));
    // The setup link: a weak password refused, then set once.
    let weak = json!({"token": setup, "password": "password1234"});
    assert_eq!(app.call(Method::POST, "/v1/staff/setup", None, Some(weak)).await.0, 422);
    let good = json!({"token": setup, "password": PASSPHRASE});
    assert_eq!(app.call(Method::POST, "/v1/staff/setup", None, Some(good.clone())).await.0, 204);
    let (s, again) = app.call(Method::POST, "/v1/staff/setup", None, Some(good)).await;
    assert_eq!((s, again["code"].as_str()), (422, Some("link_invalid")), "single use");

    // Unknown e-mail and wrong password: the same answer.
    let (s1, unknown) = login(&app, "nobody@staff.example", PASSPHRASE, json!({})).await;
    let (s2, wrong) = login(&app, email, "not the passphrase at all", json!({})).await;
    assert_eq!((s1, s2), (401, 401));
    assert_eq!(unknown, wrong);

    // Signed in without an authenticator: only enrolment is open.
    let (s, session) = login(&app, email, PASSPHRASE, json!({})).await;
    assert_eq!(s, 201);
    let token = session["session_token"].as_str().unwrap().to_owned();
    assert!(token.starts_with("ss_"));
    let (s, denied) = app.call(Method::GET, "/v1/admin/orders", Some(&token), None).await;
    assert_eq!((s, denied["code"].as_str()), (403, Some("second_factor_enrolment_required")));
    let (s, me) = app.call(Method::GET, "/v1/staff/me", Some(&token), None).await;
    assert_eq!((s, me["member"]["role"].as_str(), me["member"]["email"].as_str()), (200, Some("support"), Some(email)));

    // Enrol: a wrong first code refused; the right one turns it on and gives ten recovery codes.
    let (s, enrolment) = app.call(Method::POST, "/v1/staff/second-factor", Some(&token), None).await;
    assert_eq!(s, 201);
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    assert!(enrolment["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/leancart:"));
    let wrong_code = if app.totp(&secret, 0) == "000000" { "111111" } else { "000000" };
    let (s, bad) = app
        .call(Method::POST, "/v1/staff/second-factor/confirm", Some(&token), Some(json!({"code": wrong_code})))
        .await;
    assert_eq!((s, bad["code"].as_str()), (422, Some("invalid_code")));
    let code = app.totp(&secret, 0);
    let (s, codes) =
        app.call(Method::POST, "/v1/staff/second-factor/confirm", Some(&token), Some(json!({"code": code}))).await;
    assert_eq!(s, 200, "{codes}");
    let recovery: Vec<String> =
        codes["recovery_codes"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_owned()).collect();
    assert_eq!(recovery.len(), 10);
    // This session may work now.
    assert_eq!(app.call(Method::GET, "/v1/admin/orders", Some(&token), None).await.0, 200);
    let (s, twice) = app.call(Method::POST, "/v1/staff/second-factor", Some(&token), None).await;
    assert_eq!((s, twice["code"].as_str()), (409, Some("second_factor_enrolled")));

    // A new sign-in needs the code; the one used to enrol is not taken again (replay), the next is.
    let (s, without) = login(&app, email, PASSPHRASE, json!({})).await;
    assert_eq!((s, without["code"].as_str()), (401, Some("second_factor_required")));
    let (s, _) = login(&app, email, PASSPHRASE, json!({"code": code})).await;
    assert_eq!(s, 401, "a code is good once");
    let (s, verified) = login(&app, email, PASSPHRASE, json!({"code": app.totp(&secret, 1)})).await;
    assert_eq!((s, verified["second_factor_verified"].as_bool()), (201, Some(true)));
    // A code with a wrong password is no way in either.
    let (s, _) = login(&app, email, "not the passphrase at all", json!({"code": app.totp(&secret, 2)})).await;
    assert_eq!(s, 401);
    // A recovery code works once, in any spelling.
    let spelled = recovery[0].to_uppercase().replace('-', " ");
    assert_eq!(login(&app, email, PASSPHRASE, json!({"recovery_code": spelled})).await.0, 201);
    assert_eq!(login(&app, email, PASSPHRASE, json!({"recovery_code": recovery[0]})).await.0, 401, "once");
    assert_eq!(login(&app, email, PASSPHRASE, json!({"recovery_code": recovery[1]})).await.0, 201);

    // At rest: the e-mail and the secret sealed, recovery codes and tokens only hashed.
    let dump = app.db.dump();
    for clear in [email, secret.as_str(), recovery[2].as_str(), token.as_str(), setup.as_str(), PASSPHRASE] {
        assert!(!dump.contains(clear), "{clear} stored in clear");
    }
    for column in ["staff_members.email", "second_factors.secret"] {
        let values = stored(&app, column).await;
        assert!(!values.is_empty() && values.iter().all(|v| v.starts_with("s1.")), "{column} sealed");
    }

    // Every attempt is in the audit log, with its outcome, never a credential.
    let log = audit_actions(&app).await;
    let logins: Vec<&str> = log.iter().filter(|e| e.0 == "staff.login").map(|e| e.3.as_str()).collect();
    for outcome in ["failed", "ok", "second_factor_failed"] {
        assert!(logins.contains(&outcome), "{outcome} in {logins:?}");
    }
    assert!(log.iter().any(|e| e.0 == "staff.second_factor.enrol" && e.2.as_deref() == Some(id.as_str())));
    assert!(log.iter().any(|e| e.0 == "staff.create.support" && e.2.as_deref() == Some(id.as_str())));
    // Log out: the session ends.
    assert_eq!(app.call(Method::DELETE, "/v1/staff/sessions/current", Some(&token), None).await.0, 204);
    assert_eq!(app.call(Method::GET, "/v1/staff/me", Some(&token), None).await.0, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn admins_manage_members_and_every_change_is_audited() {
    let app = TestApp::spawn().await;
    let (admin_id, admin, _) = enrolled(&app, "ada@staff.example", Role::Admin).await;
    let admin = admin.as_str();
    // A new member through the API: a setup token for them, shown once.
    let (s, created) = app
        .call(
            Method::POST,
            "/v1/admin/staff",
            Some(admin),
            Some(json!({"email": "kay@staff.example", "role": "support"})),
        )
        .await;
    assert_eq!(s, 201, "{created}");
    let kay_id = created["member"]["id"].as_str().unwrap().to_owned();
    let kay_setup = created["setup"]["setup_token"].as_str().unwrap().to_owned();
    let (s, dup) = app
        .call(
            Method::POST,
            "/v1/admin/staff",
            Some(admin),
            Some(json!({"email": "kay@STAFF.Example", "role": "finance"})),
        )
        .await;
    assert_eq!((s, dup["code"].as_str()), (409, Some("staff_exists")));
    let (s, _) = app
        .call(Method::POST, "/v1/staff/setup", None, Some(json!({"token": kay_setup, "password": PASSPHRASE})))
        .await;
    assert_eq!(s, 204);
    let (s, session) = login(&app, "kay@staff.example", PASSPHRASE, json!({})).await;
    assert_eq!(s, 201);
    let kay = session["session_token"].as_str().unwrap().to_owned();
    let (_, enrolment) = app.call(Method::POST, "/v1/staff/second-factor", Some(&kay), None).await;
    let kay_secret = enrolment["secret"].as_str().unwrap().to_owned();
    let code = app.totp(&kay_secret, 0);
    app.call(Method::POST, "/v1/staff/second-factor/confirm", Some(&kay), Some(json!({"code": code}))).await;
    // Support does not manage staff.
    let (s, denied) = app.call(Method::GET, "/v1/admin/staff", Some(&kay), None).await;
    assert_eq!((s, denied["code"].as_str()), (403, Some("role_not_permitted")));

    // A role change: audited with from and to; the member's sessions end.
    let (s, changed) = app
        .call(Method::PATCH, &format!("/v1/admin/staff/{kay_id}"), Some(admin), Some(json!({"role": "finance"})))
        .await;
    assert_eq!((s, changed["role"].as_str()), (200, Some("finance")));
    assert_eq!(app.call(Method::GET, "/v1/staff/me", Some(&kay), None).await.0, 401, "sessions ended");
    let (s, kay_again) = login(&app, "kay@staff.example", PASSPHRASE, json!({"code": app.totp(&kay_secret, 1)})).await;
    assert_eq!(s, 201);
    let kay = kay_again["session_token"].as_str().unwrap().to_owned();
    assert_eq!(app.call(Method::GET, "/v1/admin/orders", Some(&kay), None).await.0, 403, "finance does not search");

    // The lost authenticator: reset by another admin only (not by themselves); sessions end; they enrol
    // again at their next sign-in.
    let (s, own) =
        app.call(Method::POST, &format!("/v1/admin/staff/{admin_id}/second-factor/reset"), Some(admin), None).await;
    assert_eq!((s, own["code"].as_str()), (409, Some("own_membership")));
    let (s, _) =
        app.call(Method::POST, &format!("/v1/admin/staff/{kay_id}/second-factor/reset"), Some(admin), None).await;
    assert_eq!(s, 204);
    assert_eq!(app.call(Method::GET, "/v1/staff/me", Some(&kay), None).await.0, 401);
    let (s, fresh) = login(&app, "kay@staff.example", PASSPHRASE, json!({})).await;
    assert_eq!((s, fresh["second_factor_verified"].as_bool()), (201, Some(false)));
    let fresh = fresh["session_token"].as_str().unwrap().to_owned();
    assert_eq!(app.call(Method::GET, "/v1/admin/payments/pay_x", Some(&fresh), None).await.0, 403);

    // A forgotten password: a new setup link (the old password works until it is used).
    let (s, link) = app.call(Method::POST, &format!("/v1/admin/staff/{kay_id}/setup-link"), Some(admin), None).await;
    assert_eq!(s, 201);
    let new_pass = json!({"token": link["setup_token"], "password": "another staff passphrase"});
    assert_eq!(app.call(Method::POST, "/v1/staff/setup", None, Some(new_pass)).await.0, 204);
    assert_eq!(login(&app, "kay@staff.example", PASSPHRASE, json!({})).await.0, 401);
    assert_eq!(login(&app, "kay@staff.example", "another staff passphrase", json!({})).await.0, 201);

    // The last admin is kept: not demoted, not disabled; nor can an admin change themselves.
    let (s, last) = app
        .call(Method::PATCH, &format!("/v1/admin/staff/{admin_id}"), Some(admin), Some(json!({"role": "support"})))
        .await;
    assert_eq!((s, last["code"].as_str()), (409, Some("own_membership")));
    let (_, second_admin, _) = enrolled(&app, "bea@staff.example", Role::Admin).await;
    let (s, _) = app.call(Method::DELETE, &format!("/v1/admin/staff/{admin_id}"), Some(&second_admin), None).await;
    assert_eq!(s, 200, "two admins: one may go");
    assert_eq!(app.call(Method::GET, "/v1/admin/staff", Some(admin), None).await.0, 401, "disabled: sessions ended");
    assert_eq!(login(&app, "ada@staff.example", PASSPHRASE, json!({})).await.0, 401, "disabled: no sign-in");
    let bea_id = app.call(Method::GET, "/v1/staff/me", Some(&second_admin), None).await.1["member"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Bea is the last active admin now: a third admin cannot demote her.
    let (_, third, _) = enrolled(&app, "cy@staff.example", Role::Admin).await;
    let (s, _) = app
        .call(Method::PATCH, &format!("/v1/admin/staff/{bea_id}"), Some(&third), Some(json!({"role": "finance"})))
        .await;
    assert_eq!(s, 200, "cy is an admin too");
    let cy_id =
        app.call(Method::GET, "/v1/staff/me", Some(&third), None).await.1["member"]["id"].as_str().unwrap().to_owned();
    let (_, fourth, _) = enrolled(&app, "dee@staff.example", Role::Support).await;
    assert_eq!(
        app.call(Method::PATCH, &format!("/v1/admin/staff/{cy_id}"), Some(&fourth), Some(json!({"role": "support"})))
            .await
            .0,
        403
    );
    let (s, list) = app.call(Method::GET, "/v1/admin/staff", Some(&third), None).await;
    assert_eq!(s, 200);
    let admins = list.as_array().unwrap().iter().filter(|m| m["role"] == "admin" && m["disabled"] == false).count();
    assert_eq!(admins, 1);

    let log = audit_actions(&app).await;
    for (action, subject) in [
        ("staff.create.support", &kay_id),
        ("staff.role.support.finance", &kay_id),
        ("staff.second_factor.reset", &kay_id),
        ("staff.setup_link.issue", &kay_id),
        ("staff.disable", &admin_id),
        ("staff.role.admin.finance", &bea_id),
        ("staff.read", &kay_id),
    ] {
        assert!(
            log.iter().any(|e| e.0 == action && e.2.as_deref() == Some(subject.as_str()) && e.1.is_some()),
            "{action} of {subject} audited with its actor: {log:?}"
        );
    }
    let verdict = app.state.db.run(|c| Ok(leancart::audit::verify(c)?)).await.unwrap();
    assert_eq!(verdict, leancart::audit::Verdict::Intact(log.len()));
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_when_idle_and_staff_cookies_need_the_csrf_token() {
    let app = TestApp::spawn().await;
    let (_, token, _) = enrolled(&app, "eve@staff.example", Role::Support).await;
    // The cookie alone reads; to change something it needs the session's CSRF token.
    let cookie = format!("lc_staff_session={token}");
    let res = app.client.get(app.url("/v1/staff/me")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 200);
    let res = app.client.delete(app.url("/v1/staff/sessions/current")).header("cookie", &cookie).send().await.unwrap();
    crate::support::expect_problem(res, 403, "csrf_token_missing").await;
    // A shopper's cookie is no staff session.
    let res =
        app.client.get(app.url("/v1/staff/me")).header("cookie", format!("lc_session={token}")).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401);
    let csrf = leancart::accounts::session::csrf_token(&token);
    app.state.clock.advance(chrono::Duration::minutes(31));
    let res = app.client.get(app.url("/v1/staff/me")).header("cookie", &cookie).send().await.unwrap();
    assert_eq!(res.status().as_u16(), 401, "idle for longer than the idle lifetime");
    let res = app
        .client
        .delete(app.url("/v1/staff/sessions/current"))
        .header("cookie", &cookie)
        .header("x-csrf-token", csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 401);
}
