//! A shopper driving the checkout API, and a few shop helpers.

use super::TestApp;
use serde_json::{Value, json};

pub struct Cart {
    pub id: String,
    pub token: String,
}

impl TestApp {
    pub async fn staff() -> TestApp {
        TestApp::spawn().await
    }

    /// The catalog's variant with this SKU, as the API shows it.
    async fn variant_json(&self, sku: &str) -> Value {
        let (_, body) = self.get_json("/v1/products?limit=100").await;
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| p["variants"].as_array().unwrap().iter())
            .find(|v| v["sku"] == sku)
            .cloned()
            .unwrap_or_else(|| panic!("no variant {sku}"))
    }

    /// The id of the variant with this SKU.
    pub async fn variant(&self, sku: &str) -> String {
        self.variant_json(sku).await["id"].as_str().unwrap().to_owned()
    }

    pub async fn stock(&self, sku: &str) -> i64 {
        self.variant_json(sku).await["stock_on_hand"].as_i64().unwrap()
    }

    pub async fn set_stock(&self, sku: &str, n: i32) {
        use diesel::prelude::*;
        use leancart::db::schema::product_variants;
        let sku = sku.to_owned();
        self.state
            .db
            .run(move |c| {
                diesel::update(product_variants::table.filter(product_variants::sku.eq(sku)))
                    .set(product_variants::stock_on_hand.eq(n))
                    .execute(c)?;
                Ok(())
            })
            .await
            .unwrap();
    }

    pub async fn new_cart(&self) -> Cart {
        let res = self.client.post(self.url("/v1/carts")).send().await.unwrap();
        assert_eq!(res.status(), 201);
        let body: Value = res.json().await.unwrap();
        Cart { id: body["cart"]["id"].as_str().unwrap().to_owned(), token: body["token"].as_str().unwrap().to_owned() }
    }

    pub async fn cart_call(
        &self,
        cart: &Cart,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req =
            self.client.request(method, self.url(&format!("/v1/carts/{}{path}", cart.id))).bearer_auth(&cart.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The cart as its holder reads it, typed (every field checked, none more).
    pub async fn get_cart(&self, cart: &Cart) -> super::resources::Cart {
        let (status, body) = self.cart_call(cart, reqwest::Method::GET, "", None).await;
        assert_eq!(status, 200, "{body}");
        super::resources::from(&body)
    }

    pub async fn add(&self, cart: &Cart, sku: &str, quantity: i64) -> (u16, Value) {
        let v = self.variant(sku).await;
        self.cart_call(cart, reqwest::Method::POST, "/lines", Some(json!({"variant_id": v, "quantity": quantity})))
            .await
    }

    pub async fn details(&self, cart: &Cart, details: Value) -> (u16, Value) {
        self.cart_call(cart, reqwest::Method::PUT, "/details", Some(details)).await
    }

    /// A cart with two shippable lines and complete details for Germany.
    pub async fn ready_cart(&self) -> Cart {
        let cart = self.new_cart().await;
        assert_eq!(self.add(&cart, "TEE-BLK-M", 2).await.0, 200);
        assert_eq!(self.add(&cart, "MUG-SAND", 1).await.0, 200);
        let (s, body) = self.details(&cart, german_details()).await;
        assert_eq!(s, 200, "{body}");
        cart
    }

    pub fn place_request(&self, cart: &Cart, key: &str, pm: &str) -> reqwest::RequestBuilder {
        self.client
            .post(self.url("/v1/orders"))
            .bearer_auth(&cart.token)
            .header("Idempotency-Key", key)
            .json(&json!({"cart_id": cart.id, "payment_method": pm}))
    }

    pub async fn place(&self, cart: &Cart, key: &str, pm: &str) -> reqwest::Response {
        self.place_request(cart, key, pm).send().await.unwrap()
    }

    /// Place these orders (cart, Idempotency-Key; paid with `pm_card_visa`) all at once. Their answers
    /// (status, body), in the same order.
    pub async fn place_at_once(&self, orders: Vec<(&Cart, String)>) -> Vec<(u16, Value)> {
        let tasks: Vec<_> = orders
            .into_iter()
            .map(|(cart, key)| {
                let request = self.place_request(cart, &key, "pm_card_visa");
                tokio::spawn(async move {
                    let res = request.send().await.unwrap();
                    let status = res.status().as_u16();
                    (status, res.json().await.unwrap_or(Value::Null))
                })
            })
            .collect();
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.unwrap());
        }
        answers
    }

    pub async fn admin(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client.request(method, self.url(path)).bearer_auth(self.admin_token().await);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn order_status(&self, order_id: &str) -> String {
        leancart::orders::service::find(&self.state, order_id).await.unwrap().status
    }
}

pub fn german_details() -> Value {
    json!({
        "email": "ada.lovelace@example.org",
        "shipping_address": {"name": "Ada Lovelace", "line1": "12 Analytical Row", "city": "Berlin", "postal_code": "10115", "country": "DE"},
        "shipping_method": "standard"
    })
}
