//! Talking to the app's in-process Stripe sandbox: raw HTTP (what Stripe.js does) and async-stripe.

use super::TestApp;
use serde_json::Value;
use std::time::Duration;

pub const KEY: &str = "sk_test_leancart_tests";

impl TestApp {
    pub fn sandbox(&self) -> &leancart::sandbox::Sandbox {
        self.state.sandbox.as_ref().expect("the app runs the in-process sandbox")
    }

    /// A form POST to the sandbox, as Stripe.js or a curl user would send it.
    pub async fn sandbox_post(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        let res = self
            .client
            .post(format!("{}{path}", self.sandbox().base_url()))
            .bearer_auth(KEY)
            .form(form)
            .send()
            .await
            .expect("sandbox request");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Tokenize a card number in the sandbox (the browser's job) and return the `pm_…` id.
    pub async fn tokenize(&self, number: &str) -> String {
        let (status, pm) = self
            .sandbox_post(
                "/v1/payment_methods",
                &[
                    ("type", "card"),
                    ("card[number]", number),
                    ("card[exp_month]", "12"),
                    ("card[exp_year]", "2034"),
                    ("card[cvc]", "123"),
                ],
            )
            .await;
        assert_eq!(status, 200, "{pm}");
        pm["id"].as_str().unwrap().to_owned()
    }

    /// An async-stripe client pointed at the sandbox.
    pub fn stripe_client(&self) -> stripe::Client {
        stripe::ClientBuilder::new(KEY).url(format!("{}/", self.sandbox().base_url())).build().unwrap()
    }

    pub fn sandbox_count(&self, what: &str) -> usize {
        self.sandbox().inspect(|e| match what {
            "intents" => e.intents.len(),
            "charges" => e.charges.values().filter(|c| c.status == "succeeded").count(),
            "refunds" => e.refunds.len(),
            _ => 0,
        })
    }
}

/// Poll until `check` holds (webhooks arrive asynchronously), at most 40 s: longer than the sandbox's
/// whole delivery retry schedule (~31 s), so a delivery retried under load still counts.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..800 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}
