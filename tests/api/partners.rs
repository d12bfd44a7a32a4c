//! Partner API keys: shown once, kept as a hash, named by a prefix; scopes carried; a revoked or
//! expired key refused; issue and revoke audited.

use crate::support::TestApp;
use leancart::partners::keys;

async fn whoami(app: &TestApp, token: &str) -> (u16, serde_json::Value) {
    let res = app.client.get(app.url("/v1/partner/whoami")).bearer_auth(token).send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(serde_json::Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn partner_keys_carry_scopes_and_stop_when_revoked_or_expired() {
    let app = TestApp::spawn().await;
    let now = app.state.clock.now();
    let (partner, long, short) = app
        .state
        .db
        .run(move |c| {
            use leancart::db::dialect::write_transaction;
            leancart::partners::store::insert_partner(c, "ptn_test", "Nordlager GmbH", now)?;
            let scopes =
                keys::parse_scopes("orders:read,shipping.phone:read").map_err(leancart::error::ApiError::internal)?;
            let long = write_transaction(c, |c| keys::issue(c, "ptn_test", &scopes, None, now))?;
            let short = write_transaction(c, |c| {
                keys::issue(c, "ptn_test", &["orders:read".to_owned()], Some(now + chrono::Duration::days(1)), now)
            })?;
            Ok(("ptn_test".to_owned(), long, short))
        })
        .await
        .unwrap();
    let token = long.token.expose().to_owned();
    assert!(token.starts_with("lc_live_") && token.starts_with(&long.prefix));
    let (s, me) = whoami(&app, &token).await;
    assert_eq!((s, me["partner_id"].as_str()), (200, Some(partner.as_str())));
    assert_eq!(me["scopes"], serde_json::json!(["orders:read", "shipping.phone:read"]));
    assert!(!app.db.dump().contains(&token), "only the hash is kept");
    // Wrong kind of token, unknown token: refused.
    assert_eq!(whoami(&app, "sa_not_a_partner_key").await.0, 401);
    assert_eq!(whoami(&app, "lc_live_0000000000000000000000000000000000000000000000000000000000000000").await.0, 401);
    // Expired after its day.
    assert_eq!(whoami(&app, short.token.expose()).await.0, 200);
    app.state.clock.advance(chrono::Duration::days(2));
    assert_eq!(whoami(&app, short.token.expose()).await.0, 401, "expired");
    // Revoked at once; audited both ways.
    let key_id = long.key_id.clone();
    let revoked = app
        .state
        .db
        .run(move |c| leancart::db::dialect::write_transaction(c, |c| keys::revoke(c, &key_id, now)))
        .await
        .unwrap();
    assert!(revoked);
    assert_eq!(whoami(&app, &token).await.0, 401, "revoked");
    let actions: Vec<String> = app
        .state
        .db
        .run(|c| {
            use diesel::prelude::*;
            use leancart::db::schema::audit_log;
            Ok(audit_log::table.order(audit_log::seq.asc()).select(audit_log::action).load(c)?)
        })
        .await
        .unwrap();
    assert_eq!(actions, ["partner.key.issue", "partner.key.issue", "partner.key.revoke"]);
    assert!(matches!(
        app.state.db.run(|c| Ok(leancart::audit::verify(c)?)).await.unwrap(),
        leancart::audit::Verdict::Intact(3)
    ));
}
