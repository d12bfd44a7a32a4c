//! The access audit log as a hash chain: staff reads, logins (ok and failed) and password changes are
//! entries; the chain verifies, stays whole under concurrent writers in two server instances, and an
//! edited, removed or inserted entry is found.

use crate::support::TestApp;
use reqwest::Method;
use serde_json::json;

async fn verdict(app: &TestApp) -> leancart::audit::Verdict {
    app.state.db.run(|c| Ok(leancart::audit::verify(c)?)).await.unwrap()
}

async fn exec(app: &TestApp, sql: &'static str) {
    app.state.db.run(move |c| Ok(diesel::RunQueryDsl::execute(diesel::sql_query(sql), c)?)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_chain_verifies_and_finds_tampering() {
    use leancart::audit::Verdict;
    let app = TestApp::builder().start().await;
    // Logins: one failed, one ok; staff reads, from two instances at once.
    let register = json!({"email": "hedy@example.org", "password": "correct horse battery staple"});
    assert_eq!(app.post_json("/v1/accounts", &register).await.0, 201);
    assert_eq!(
        app.post_json("/v1/sessions", &json!({"email": "hedy@example.org", "password": "wrong wrong wrong"})).await.0,
        401
    );
    assert_eq!(app.post_json("/v1/sessions", &register).await.0, 201);
    let cart = app.ready_cart().await;
    let placed: serde_json::Value = app.place(&cart, "audited", "pm_card_visa").await.json().await.unwrap();
    let order = placed["order"]["id"].as_str().unwrap().to_owned();
    let second = leancart::app::Application::build((*app.state.config).clone()).await.expect("a second instance");
    let (a, b) = (app.state.clone(), second.state().clone());
    let writer = |state: leancart::app::AppState, who: &'static str| {
        tokio::spawn(async move {
            for _ in 0..25 {
                state
                    .db
                    .run(move |c| {
                        Ok(leancart::db::dialect::write_transaction(c, |c| {
                            leancart::audit::record(c, "staff", who, None)
                        })?)
                    })
                    .await
                    .unwrap();
            }
        })
    };
    let (x, y) = (writer(a, "test.a"), writer(b, "test.b"));
    for _ in 0..5 {
        assert_eq!(app.admin(Method::GET, &format!("/v1/admin/orders/{order}"), None).await.0, 200);
    }
    x.await.unwrap();
    y.await.unwrap();
    let Verdict::Intact(n) = verdict(&app).await else { panic!("the chain is broken: {:?}", verdict(&app).await) };
    assert!(n >= 2 + 50 + 5, "{n} entries");
    // What a login entry holds: who, what, the outcome, the network — never the e-mail or password.
    #[derive(diesel::QueryableByName, Debug)]
    struct Row {
        #[diesel(sql_type = diesel::sql_types::Text)]
        outcome: String,
        #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
        network: Option<String>,
    }
    let logins: Vec<Row> = app
        .state
        .db
        .run(|c| {
            Ok(diesel::RunQueryDsl::load(
                diesel::sql_query("SELECT outcome, network FROM audit_log WHERE action = 'login' ORDER BY seq"),
                c,
            )?)
        })
        .await
        .unwrap();
    let outcomes: Vec<&str> = logins.iter().map(|r| r.outcome.as_str()).collect();
    assert_eq!(outcomes, ["failed", "ok"]);
    assert_eq!(logins[0].network.as_deref(), Some("127.0.0.0/24"));
    assert!(!app.db.dump().contains("wrong wrong wrong"));
    // An edited entry.
    exec(&app, "UPDATE audit_log SET outcome = 'denied' WHERE seq = 5").await;
    assert!(matches!(verdict(&app).await, Verdict::Broken { seq: 5, .. }), "{:?}", verdict(&app).await);
    exec(&app, "UPDATE audit_log SET outcome = 'ok' WHERE seq = 5").await;
    assert!(matches!(verdict(&app).await, Verdict::Intact(_)), "restored");
    // A removed one.
    exec(&app, "DELETE FROM audit_log WHERE seq = 10").await;
    assert!(matches!(verdict(&app).await, Verdict::Broken { seq: 11, .. }), "{:?}", verdict(&app).await);
}
