use crate::support::TestApp;
use serde_json::Value;

/// Every `$ref` in the document must resolve.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if k == "$ref" {
                    out.push(v.as_str().unwrap_or_default().to_owned());
                } else {
                    refs(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn openapi_document_is_valid_and_complete() {
    let app = TestApp::spawn().await;
    let res = app.get("/openapi.json").await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.expect("the document parses as JSON");
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(doc["info"]["title"], "leancart");
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in
        [("/v1/products", "get"), ("/v1/products/{id}", "get"), ("/healthz", "get"), ("/readyz", "get")]
    {
        let op = &paths[path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert!(op["responses"].as_object().is_some_and(|r| !r.is_empty()), "{path} has responses");
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r.strip_prefix("#/components/schemas/").expect("local schema ref");
        assert!(doc["components"]["schemas"][name].is_object(), "schema {name} is defined");
    }
    // Every documented operation is really served (no stale entries).
    for (path, item) in paths {
        let concrete = path.replace("{id}", "prod_0000000000000000000000");
        for method in item.as_object().unwrap().keys() {
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let res = app.client.request(m, app.url(&concrete)).send().await.unwrap();
            assert_ne!(res.status().as_u16(), 405, "{method} {path}");
            if res.status() == 404 {
                let body: Value = res.json().await.unwrap();
                assert_eq!(body["code"], "not_found", "{method} {path}");
            }
        }
    }
}

/// Every `…_at` value in `v`.
fn times(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                match v {
                    Value::String(s) if k == "at" || k.ends_with("_at") => out.push(s.clone()),
                    other => times(other, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| times(v, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_timestamp_is_rfc3339_in_utc() {
    let app = TestApp::staff().await;
    let cart = app.ready_cart().await;
    let placed: Value = app.place(&cart, "times", "pm_card_visa").await.json().await.unwrap();
    let id = placed["order"]["id"].as_str().unwrap();
    let mut seen = Vec::new();
    let (_, products) = app.get_json("/v1/products").await;
    let product = products["data"][0]["id"].as_str().unwrap().to_owned();
    for body in [
        products.clone(),
        app.get_json(&format!("/v1/products/{product}")).await.1,
        app.client.post(app.url("/v1/carts")).send().await.unwrap().json().await.unwrap(),
        placed.clone(),
        app.admin(reqwest::Method::GET, &format!("/v1/admin/orders/{id}"), None).await.1,
        app.admin(reqwest::Method::GET, "/v1/admin/orders", None).await.1,
    ] {
        times(&body, &mut seen);
    }
    assert!(seen.len() >= 8, "{seen:?}");
    let doc = app.get_json("/openapi.json").await.1;
    let created = &doc["components"]["schemas"]["OrderDto"]["properties"]["created_at"];
    assert_eq!((created["type"].as_str(), created["format"].as_str()), (Some("string"), Some("date-time")));
    for t in seen {
        assert!(t.ends_with('Z'), "{t} carries its offset");
        assert!(chrono::DateTime::parse_from_rfc3339(&t).is_ok(), "{t} is RFC 3339");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_can_walk_a_checkout_from_the_document() {
    let app = TestApp::spawn().await;
    let doc = app.get_json("/openapi.json").await.1;
    let paths = &doc["paths"];
    let operation_ids: Vec<&str> = paths
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values().filter_map(|op| op["operationId"].as_str()))
        .collect();
    // Links from the new cart and from the placed order, to operations that exist.
    for (path, links) in
        [("/v1/carts", vec!["GetCart", "AddLine", "SetDetails", "ShippingMethods"]), ("/v1/orders", vec!["GetOrder"])]
    {
        let found = &paths[path]["post"]["responses"]["201"]["links"];
        for name in links {
            let op = found[name]["operationId"].as_str().unwrap_or_else(|| panic!("{path} links {name}"));
            assert!(operation_ids.contains(&op), "{name} → {op} exists");
            assert!(found[name]["parameters"]["id"].as_str().unwrap().starts_with("$response.body#/"));
        }
    }
    // Every operation that needs a token says which.
    for (path, item) in paths.as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let needs =
                path.starts_with("/v1/carts/") || path.starts_with("/v1/orders") || path.starts_with("/v1/admin");
            if needs {
                let schemes: Vec<&str> = op["security"]
                    .as_array()
                    .unwrap_or_else(|| panic!("{method} {path} declares its security"))
                    .iter()
                    .flat_map(|s| s.as_object().unwrap().keys().map(String::as_str))
                    .collect();
                let expected = if path.starts_with("/v1/admin") {
                    "staff_session"
                } else if path.starts_with("/v1/carts/") || (path == "/v1/orders" && method == "post") {
                    "cart_token"
                } else {
                    "order_token"
                };
                assert_eq!(schemes, [expected], "{method} {path}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn parameters_sit_where_they_are_read() {
    let app = TestApp::spawn().await;
    let doc = app.get_json("/openapi.json").await.1;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            for p in op["parameters"].as_array().into_iter().flatten() {
                let (name, place) = (p["name"].as_str().unwrap(), p["in"].as_str().unwrap());
                let in_template = path.contains(&format!("{{{name}}}"));
                assert_eq!(place == "path", in_template, "{method} {path}: `{name}` is documented in {place}");
            }
            // Every operation answers problem documents for what it does not list.
            assert!(op["responses"]["default"].is_object(), "{method} {path} has a default answer");
        }
    }
}

/// A field's range is declared once (kernel::bounded): the document publishes what the API checks.
#[tokio::test(flavor = "multi_thread")]
async fn ranges_are_published_as_they_are_checked() {
    let app = TestApp::spawn().await;
    let doc = app.get_json("/openapi.json").await.1;
    let schemas = &doc["components"]["schemas"];
    let quantity = schemas["AddLine"]["properties"]["quantity"]["$ref"].as_str().unwrap();
    let range = &schemas[quantity.trim_start_matches("#/components/schemas/")];
    assert_eq!((range["minimum"].as_f64(), range["maximum"].as_f64()), (Some(1.0), Some(100.0)));
    // Personal-data types publish the length (and format) their constructors check.
    let email = &schemas["Email"];
    assert_eq!((email["format"].as_str(), email["maxLength"].as_u64()), (Some("email"), Some(254)));
    assert_eq!(schemas["PostalCode"]["maxLength"], 16);
    let details_email = doc["components"]["schemas"]["DetailsInput"]["properties"]["email"].to_string();
    assert!(details_email.contains("#/components/schemas/Email"), "{details_email}");
    // The statuses a search takes are the ones the API parses.
    let statuses: Vec<&str> =
        schemas["OrderStatus"]["enum"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert!(statuses.contains(&"paid") && statuses.contains(&"awaiting_payment_action") && statuses.len() == 9);
    let search = doc["paths"]["/v1/admin/orders"]["get"]["parameters"].as_array().unwrap();
    let status = search.iter().find(|p| p["name"] == "status").unwrap().to_string();
    assert!(status.contains("#/components/schemas/OrderStatus"), "{status}");
    // And the API refuses just outside them, as the document says.
    let variant = app.variant("MUG-SAND").await;
    app.set_stock("MUG-SAND", 1000).await;
    for (q, status) in [(0, 422), (1, 200), (100, 200), (101, 422)] {
        let cart = app.new_cart().await;
        let line = serde_json::json!({"variant_id": variant, "quantity": q});
        let (s, body) = app.cart_call(&cart, reqwest::Method::POST, "/lines", Some(line)).await;
        assert_eq!(s, status, "quantity {q}: {body}");
        if s == 422 {
            assert_eq!(body["errors"][0]["code"], "out_of_range");
        }
    }
}

/// Destination countries and shipping methods are published as the enums the API checks: the ISO
/// 3166-1 list (one declaration, `shipping::country`) and the shop policy's methods (data loaded at
/// start-up). Just outside them is refused.
#[tokio::test(flavor = "multi_thread")]
async fn countries_and_shipping_methods_are_published_as_checked() {
    let app = TestApp::spawn().await;
    let doc = app.get_json("/openapi.json").await.1;
    let schemas = &doc["components"]["schemas"];
    let countries: Vec<&str> =
        schemas["CountryCode"]["enum"].as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    assert_eq!(countries.len(), 249);
    assert!(countries.contains(&"DE") && !countries.contains(&"UK") && !countries.contains(&"de"));
    let address_country = schemas["AddressInput"]["properties"]["country"].to_string();
    assert!(address_country.contains("#/components/schemas/CountryCode"), "{address_country}");
    let methods = &schemas["DetailsInput"]["properties"]["shipping_method"]["enum"];
    let published: Vec<&str> = methods.as_array().unwrap().iter().filter_map(|v| v.as_str()).collect();
    let policy: Vec<&str> = app.state.policy.shipping_methods.iter().map(|m| m.code.as_str()).collect();
    assert_eq!(published, policy);
    let filter = doc["paths"]["/v1/carts/{id}/shipping-methods"]["get"]["parameters"].to_string();
    assert!(filter.contains("#/components/schemas/CountryCode"), "{filter}");
    // The API refuses what the document leaves out.
    let cart = app.new_cart().await;
    app.add(&cart, "TEE-BLK-M", 1).await;
    for (country, status) in [("de", 422), ("XX", 422), ("UK", 422), ("DE", 200)] {
        let mut details = crate::support::shop::german_details();
        details["shipping_address"]["country"] = serde_json::json!(country);
        let (s, body) = app.details(&cart, details).await;
        assert_eq!(s, status, "{country}: {body}");
    }
    let mut details = crate::support::shop::german_details();
    details["shipping_method"] = serde_json::json!("teleport");
    let (s, body) = app.details(&cart, details).await;
    assert_eq!((s, body["errors"][0]["code"].as_str()), (422, Some("invalid_choice")), "{body}");
    let (s, _) = app.cart_call(&cart, reqwest::Method::GET, "/shipping-methods?country=de", None).await;
    assert_eq!(s, 422);
    let (s, methods) = app.cart_call(&cart, reqwest::Method::GET, "/shipping-methods?country=DE", None).await;
    assert_eq!(s, 200);
    assert!(!methods.as_array().unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn operation_ids_are_unique() {
    let app = TestApp::spawn().await;
    let doc = app.get_json("/openapi.json").await.1;
    let mut seen = std::collections::BTreeMap::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has an operationId"));
            if let Some(other) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                panic!("operationId {id} names both {other} and {method} {path}");
            }
        }
    }
}
