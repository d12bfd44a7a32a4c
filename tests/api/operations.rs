use crate::support::{TestApp, db};

#[tokio::test(flavor = "multi_thread")]
async fn healthz_and_readyz() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = app.get_json("/readyz").await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ready");
    let expected = match db::backend() {
        db::Backend::Sqlite => "sqlite",
        db::Backend::Postgres => "postgres",
    };
    assert_eq!(body["database"], expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn request_ids_are_minted_or_echoed() {
    let app = TestApp::spawn().await;
    let res = app.get("/healthz").await;
    let minted = res.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert!(minted.starts_with("req_") && minted.len() == 26, "{minted}");

    // Adopted only in a shape that cannot carry personal data: a UUID or a hex trace id.
    for adopted in ["0b6f7a0e-5c1d-4b8e-9f3a-2d4c6e8a0b1c", "4bf92f3577b34da6a3ce929d0e0e4736"] {
        let res = app.client.get(app.url("/healthz")).header("x-request-id", adopted).send().await.unwrap();
        assert_eq!(res.headers()["x-request-id"], adopted);
    }
    // Anything else is replaced, not echoed.
    for refused in ["abc-123.def", "<script>x</script>", "jane.doe@example.com", "JaneDoe", "4242424242424242"] {
        let res = app.client.get(app.url("/healthz")).header("x-request-id", refused).send().await.unwrap();
        let id = res.headers()["x-request-id"].to_str().unwrap();
        assert!(id.starts_with("req_"), "{refused} → {id}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_request_ids_and_methods_never_reach_the_log() {
    let app = TestApp::spawn().await;
    let hostile_ids = [
        "4242424242424242",
        "4242-4242-4242-4242",
        "42424242424242420000000000000000", // hex-shaped, with a card number's digits
        "00000000-4242-4242-4242-424242424242",
        "Jane Doe",
        "jane.doe@example.com",
        "Mallory-Shopper-Name",
    ];
    for id in hostile_ids {
        // On a plain route, on a route the card guard refuses, and on an unknown one.
        for (path, body) in [("/healthz", None), ("/v1/carts", Some(r#"{"x":"4242 4242 4242 4242"}"#)), ("/nope", None)]
        {
            let mut req = app.client.post(app.url(path)).header("x-request-id", id);
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b);
            }
            let res = req.send().await.unwrap();
            assert_ne!(res.headers()["x-request-id"].to_str().unwrap(), id);
        }
    }
    for method in ["4242424242424242", "JANEDOE", "X4242-4242-4242-4242"] {
        let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let res = app.client.request(m, app.url("/v1/products")).send().await.unwrap();
        assert_eq!(res.status(), 405);
    }
    let log = crate::support::logs::all();
    assert!(log.contains("method=OTHER") || log.contains("\"method\":\"OTHER\""), "the method is logged as OTHER");
    for needle in
        ["4242424242424242", "4242-4242", "42424242424242420000", "Jane Doe", "jane.doe", "Mallory", "JANEDOE"]
    {
        assert!(!log.contains(needle), "{needle} reached the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn graceful_shutdown_finishes_and_stops_accepting() {
    let mut app = TestApp::spawn().await;
    let (status, _) = app.get_json("/healthz").await;
    assert_eq!(status, 200);
    app.stop().await;
    let after = reqwest::Client::new().get(app.url("/healthz")).send().await;
    assert!(after.is_err(), "the server must not accept after shutdown");
}

/// The check every test's end runs (support::consistency) sees what it is meant to see.
#[tokio::test(flavor = "multi_thread")]
async fn the_end_of_test_check_sees_an_inconsistent_shop() {
    let app = TestApp::spawn().await;
    let url = app.db.url();
    let check = move || {
        let url = url.clone();
        std::thread::spawn(move || crate::support::consistency::violations(&url)).join().unwrap()
    };
    assert!(check().is_empty());
    let sql = "INSERT INTO idempotency_keys (key_hash, scope, request_hash, state, created_at, expires_at) \
               VALUES ('k', 'orders', 'r', 'in_flight', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)";
    let run =
        |sql: &'static str| app.state.db.run(move |c| Ok(diesel::RunQueryDsl::execute(diesel::sql_query(sql), c)?));
    run(sql).await.unwrap();
    assert_eq!(check(), ["an Idempotency-Key left in flight"]);
    run("DELETE FROM idempotency_keys WHERE key_hash = 'k'").await.unwrap();
    assert!(check().is_empty());
}
