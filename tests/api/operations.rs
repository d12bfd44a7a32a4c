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

    let res = app.client.get(app.url("/healthz")).header("x-request-id", "abc-123.def").send().await.unwrap();
    assert_eq!(res.headers()["x-request-id"], "abc-123.def");

    // A malformed incoming id is replaced, not echoed.
    let res = app.client.get(app.url("/healthz")).header("x-request-id", "<script>x</script>").send().await.unwrap();
    let id = res.headers()["x-request-id"].to_str().unwrap();
    assert!(id.starts_with("req_"));
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
