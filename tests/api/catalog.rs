use crate::support::{TestApp, expect_problem};
use serde_json::Value;
use std::collections::BTreeSet;

#[tokio::test(flavor = "multi_thread")]
async fn lists_the_seeded_catalog_in_the_envelope() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get_json("/v1/products?limit=100").await;
    assert_eq!(status, 200);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 12, "the demo catalog has a dozen products");
    assert_eq!(body["has_more"], false);
    assert_eq!(body["next_cursor"], Value::Null);
    for p in data {
        assert!(p["id"].as_str().unwrap().starts_with("prod_"));
        let variants = p["variants"].as_array().unwrap();
        assert!(!variants.is_empty());
        for v in variants {
            assert!(v["id"].as_str().unwrap().starts_with("var_"));
            assert!(v["price"]["amount"].is_i64(), "minor units are integers");
            assert_eq!(v["price"]["currency"], "USD");
            assert!(v["sku"].is_string() && v["weight_grams"].is_i64() && v["stock_on_hand"].is_i64());
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cursor_pagination_visits_every_product_once() {
    let app = TestApp::spawn().await;
    let mut seen = BTreeSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/products?limit=5&cursor={c}"),
            None => "/v1/products?limit=5".to_owned(),
        };
        let (status, body) = app.get_json(&path).await;
        assert_eq!(status, 200);
        pages += 1;
        for p in body["data"].as_array().unwrap() {
            assert!(seen.insert(p["id"].as_str().unwrap().to_owned()), "no product twice");
        }
        if body["has_more"] == false {
            assert_eq!(body["next_cursor"], Value::Null);
            break;
        }
        cursor = Some(body["next_cursor"].as_str().unwrap().to_owned());
    }
    assert_eq!((pages, seen.len()), (3, 12));
}

#[tokio::test(flavor = "multi_thread")]
async fn product_by_id_and_not_found() {
    let app = TestApp::spawn().await;
    let (_, list) = app.get_json("/v1/products?limit=1").await;
    let id = list["data"][0]["id"].as_str().unwrap();
    let (status, product) = app.get_json(&format!("/v1/products/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(product["id"], id);
    assert_eq!(product["variants"], list["data"][0]["variants"]);

    expect_problem(app.get("/v1/products/prod_0000000000000000000000").await, 404, "not_found").await;
    expect_problem(app.get("/v1/products/not-an-id").await, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_paging_parameters_are_problems() {
    let app = TestApp::spawn().await;
    let body = expect_problem(app.get("/v1/products?limit=0").await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "limit");
    assert_eq!(body["errors"][0]["code"], "out_of_range");
    let body = expect_problem(app.get("/v1/products?limit=abc").await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "limit");
    assert!(!body.to_string().contains("abc"), "the submitted value is not echoed");
    expect_problem(app.get("/v1/products?cursor=zzz").await, 422, "validation_failed").await;
    let body = expect_problem(app.get("/v1/products?limit=5&sort=price").await, 422, "unknown_field").await;
    assert_eq!(body["errors"][0]["field"], "(query)");
    assert!(!body.to_string().contains("sort"), "the client's parameter name is not echoed");
}
