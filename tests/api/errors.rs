//! problem+json for bad input. Until the API has its own write endpoints, the JSON extractor is
//! exercised through a small router served over HTTP; the app-level cases use the real app.

use crate::support::{TestApp, expect_problem};
use axum::Router;
use axum::routing::post;
use leancart::http::extract::ApiJson;
use serde::Deserialize;
use serde_json::json;
use validator::Validate;

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct Signup {
    #[validate(length(min = 2, max = 20, code = "length", message = "must be 2 to 20 characters"))]
    nickname: String,
    #[allow(dead_code)]
    email: leancart::kernel::pii::Email,
    #[validate(nested)]
    #[serde(default)]
    address: Option<Address>,
}

#[derive(Debug, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
struct Address {
    #[validate(length(min = 1, code = "required"))]
    city: String,
}

async fn serve_extractor() -> String {
    leancart::http::tls::install_crypto_provider();
    let app = Router::new().route("/signup", post(|ApiJson(s): ApiJson<Signup>| async move { s.nickname })).layer(
        axum::middleware::from_fn_with_state(
            leancart::http::middleware::BodyPolicy { limit: 1024 },
            leancart::http::middleware::buffer_body,
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread")]
async fn json_bodies_are_strict_and_never_echoed() {
    let base = serve_extractor().await;
    let c = reqwest::Client::new();
    let ok = c
        .post(format!("{base}/signup"))
        .json(&json!({"nickname": "jo", "email": "jo@example.com"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);

    // Unknown field: refused, named, not stored.
    let res = c
        .post(format!("{base}/signup"))
        .json(&json!({"nickname": "jo", "email": "jo@example.com", "birth_date": "1990-01-01"}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(res, 422, "unknown_field").await;
    // Named by the object that holds it and the fields that object takes: the schema's names, never
    // the client's key (which could be anything, an escaped card number included).
    assert_eq!(body["errors"][0]["field"], "(body)");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains("it takes: nickname, email"), "{detail}");
    assert!(!body.to_string().contains("1990") && !body.to_string().contains("birth_date"));

    // Nested unknown field carries its path.
    let res = c
        .post(format!("{base}/signup"))
        .json(&json!({"nickname": "jo", "email": "jo@example.com", "address": {"city": "Oslo", "gender": "x"}}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(res, 422, "unknown_field").await;
    assert_eq!(body["errors"][0]["field"], "address");
    assert!(!body.to_string().contains("gender"));

    // Validation failures: field-level details without the values.
    let res = c
        .post(format!("{base}/signup"))
        .json(&json!({"nickname": "j", "email": "secret-not-an-email"}))
        .send()
        .await
        .unwrap();
    let body = expect_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "email");
    assert_eq!(body["errors"][0]["code"], "invalid_format", "{body}");
    assert!(!body.to_string().contains("secret-not-an-email"));
    let res = c.post(format!("{base}/signup")).json(&json!({"nickname": "j", "email": "a@b.co"})).send().await.unwrap();
    let body = expect_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "nickname");
    assert_eq!(body["errors"][0]["code"], "length");
    let res = c.post(format!("{base}/signup")).json(&json!({"email": "a@b.co"})).send().await.unwrap();
    let body = expect_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "nickname");
    assert_eq!(body["errors"][0]["code"], "required");
    let res =
        c.post(format!("{base}/signup")).json(&json!({"nickname": 12345678, "email": "a@b.co"})).send().await.unwrap();
    let body = expect_problem(res, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "invalid_type");
    assert!(!body.to_string().contains("12345678"));

    // Not JSON, wrong media type, too large.
    let res =
        c.post(format!("{base}/signup")).header("content-type", "application/json").body("{nope").send().await.unwrap();
    expect_problem(res, 400, "malformed_body").await;
    let res = c.post(format!("{base}/signup")).header("content-type", "text/plain").body("{}").send().await.unwrap();
    expect_problem(res, 415, "unsupported_media_type").await;
    let big = json!({"nickname": "x".repeat(4096), "email": "a@b.co"});
    let res = c.post(format!("{base}/signup")).json(&big).send().await.unwrap();
    expect_problem(res, 413, "payload_too_large").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_routes_and_methods_are_problems() {
    let app = TestApp::spawn().await;
    expect_problem(app.get("/v1/nothing-here").await, 404, "not_found").await;
    let res = app.client.delete(app.url("/v1/products")).send().await.unwrap();
    expect_problem(res, 405, "method_not_allowed").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_bodies_are_refused_by_the_app() {
    let app = TestApp::builder().set("LEANCART_BODY_LIMIT_BYTES", "1024").start().await;
    let res = app.post_raw("/v1/products", "application/json", "x".repeat(5000)).await;
    expect_problem(res, 413, "payload_too_large").await;
}
