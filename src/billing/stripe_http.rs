//! The HTTP client under async-stripe's request types.
//!
//! async-stripe's own client never reuses a connection (`pool_max_idle_per_host(0)`, its guard against
//! writing to a connection the server has already closed): every request to Stripe pays a TCP and a
//! TLS handshake — two extra round trips to api.stripe.com and the handshake's CPU on every checkout.
//! This client sends the same requests (async-stripe builds them: path, query, form body, method) over
//! kept-alive connections. Idle connections are closed after [`IDLE`], before a server would drop them;
//! should a request still meet a connection closed under it, it fails as a network error and
//! leancart's retry policy (`processor::Processor`) sends it again — with the same idempotency key for
//! every write, so that Stripe performs it at most once.

use axum::body::Bytes;
use http::HeaderValue;
use http::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};
use std::time::Duration;
use stripe::StripeError;
use stripe_client_core::{CustomizedStripeRequest, Outcome, RequestStrategy, SharedConfigBuilder, StripeMethod};

/// Idle connections are closed after this long.
pub const IDLE: Duration = Duration::from_secs(30);

const API_BASE: &str = "https://api.stripe.com/";
const USER_AGENT_VALUE: &str = concat!("Stripe/v1 RustBindings leancart/", env!("CARGO_PKG_VERSION"));

/// A Stripe API client with a connection pool.
#[derive(Clone)]
pub struct StripeHttp {
    http: reqwest::Client,
    /// Ends with `/`.
    base: String,
    /// `Bearer sk_…`, marked sensitive (never printed).
    secret: HeaderValue,
    version: HeaderValue,
}

impl std::fmt::Debug for StripeHttp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeHttp").field("base", &self.base).finish_non_exhaustive()
    }
}

impl StripeHttp {
    /// A client for `base_url` (Stripe's API when `None`) with a per-attempt `timeout`.
    pub fn new(secret_key: &str, base_url: Option<&str>, timeout: Duration) -> Result<StripeHttp, StripeError> {
        crate::http::tls::install_crypto_provider();
        let mut secret = HeaderValue::try_from(format!("Bearer {secret_key}"))
            .map_err(|_| StripeError::ConfigError("the secret key can only hold visible ASCII characters".into()))?;
        secret.set_sensitive(true);
        let version = HeaderValue::from_str(SharedConfigBuilder::new(secret_key).stripe_version.as_str())
            .map_err(|_| StripeError::ConfigError("API version".into()))?;
        let mut base = base_url.unwrap_or(API_BASE).to_owned();
        if !base.ends_with('/') {
            base.push('/');
        }
        reqwest::Url::parse(&base).map_err(|e| StripeError::ConfigError(format!("processor URL: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .pool_idle_timeout(IDLE)
            .build()
            .map_err(|e| StripeError::ConfigError(format!("HTTP client: {e}")))?;
        Ok(StripeHttp { http, base, secret, version })
    }

    fn request(&self, req: CustomizedStripeRequest) -> Result<(reqwest::Request, RequestStrategy), StripeError> {
        let (req, config) = req.into_pieces();
        let strategy = config.request_strategy.unwrap_or(RequestStrategy::Once);
        let mut url = format!("{}v1{}", self.base, req.path);
        if let Some(query) = &req.query {
            url.push('?');
            url.push_str(query);
        }
        let method = match req.method {
            StripeMethod::Get => reqwest::Method::GET,
            StripeMethod::Post => reqwest::Method::POST,
            StripeMethod::Delete => reqwest::Method::DELETE,
        };
        let mut builder = self
            .http
            .request(method, url)
            .header(AUTHORIZATION, self.secret.clone())
            .header(USER_AGENT, USER_AGENT_VALUE)
            .header("stripe-version", self.version.clone());
        if let Some(key) = strategy.get_key() {
            builder = builder.header("idempotency-key", key.as_str());
        }
        if let Some(account) = config.account_id {
            builder = builder.header("stripe-account", account.as_str());
        }
        if let Some(body) = req.body {
            builder = builder.header(CONTENT_TYPE, "application/x-www-form-urlencoded").body(body);
        }
        if let Some(t) = config.timeout {
            builder = builder.timeout(t);
        }
        let request = builder.build().map_err(|e| StripeError::ClientError(e.without_url().to_string()))?;
        Ok((request, strategy))
    }
}

/// One attempt: the status, Stripe's `Stripe-Should-Retry` header and the body.
async fn attempt(http: &reqwest::Client, request: reqwest::Request) -> Result<(u16, Option<bool>, Bytes), StripeError> {
    let response = http.execute(request).await.map_err(network_error)?;
    let status = response.status().as_u16();
    let retry =
        response.headers().get("stripe-should-retry").and_then(|v| v.to_str().ok()).and_then(|v| v.parse().ok());
    let body = response.bytes().await.map_err(network_error)?;
    Ok((status, retry, body))
}

fn network_error(e: reqwest::Error) -> StripeError {
    if e.is_timeout() { StripeError::Timeout } else { StripeError::ClientError(e.without_url().to_string()) }
}

/// Stripe's error object for an unsuccessful answer.
fn api_error(status: u16, body: &[u8]) -> StripeError {
    std::str::from_utf8(body)
        .ok()
        .and_then(|s| miniserde::json::from_str::<stripe_shared::Error>(s).ok())
        .map(|e| StripeError::Stripe(e.error, status))
        .unwrap_or_else(|| StripeError::JSONDeserialize("error deserializing Stripe error".into()))
}

impl stripe_client_core::StripeClient for StripeHttp {
    type Err = StripeError;

    /// Send the request as its strategy says (async-stripe's semantics: `Once` and `Idempotent` try once,
    /// the retrying strategies follow Stripe's `Stripe-Should-Retry` and status codes).
    fn execute(&self, req: CustomizedStripeRequest) -> impl Future<Output = Result<Bytes, StripeError>> + Send {
        let built = self.request(req);
        let http = self.http.clone();
        async move {
            let (request, strategy) = built?;
            let mut tries = 0u32;
            let mut last_status = None;
            let mut last_retry = None;
            let mut last_error = StripeError::ClientError("no attempt made".into());
            loop {
                match strategy.test(last_status, last_retry, tries) {
                    Outcome::Stop => return Err(last_error),
                    Outcome::Continue(wait) => {
                        if let Some(wait) = wait {
                            tokio::time::sleep(wait).await;
                        }
                    }
                }
                tries += 1;
                let Some(this) = request.try_clone() else {
                    return Err(StripeError::ClientError("request body cannot be sent again".into()));
                };
                match attempt(&http, this).await {
                    Ok((status, _, body)) if (200..300).contains(&status) => return Ok(body),
                    Ok((status, retry, body)) => {
                        last_error = api_error(status, &body);
                        last_status = Some(status);
                        last_retry = retry;
                    }
                    Err(e) => last_error = e,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::serve::ListenerExt;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use stripe::{IdempotencyKey, StripeRequest};
    use stripe_core::payment_intent::{CancelPaymentIntent, RetrievePaymentIntent};

    /// A server that answers every request with a card decline and records what it was sent.
    async fn decline_server() -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<HeaderMap>>>) {
        let connections = Arc::new(AtomicUsize::new(0));
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counted = connections.clone();
        let listener = listener.tap_io(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
        });
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |headers: HeaderMap| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(headers);
                (
                    StatusCode::PAYMENT_REQUIRED,
                    r#"{"error":{"type":"card_error","code":"card_declined","decline_code":"generic_decline","message":"Your card was declined."}}"#,
                )
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        (format!("http://{addr}/"), connections, seen)
    }

    #[tokio::test]
    async fn requests_share_a_connection_and_carry_stripes_headers() {
        let (base, connections, seen) = decline_server().await;
        let client = StripeHttp::new("sk_test_secret", Some(&base), Duration::from_secs(5)).unwrap();
        for i in 0..3 {
            let key = IdempotencyKey::new(format!("pay_{i}:cancel")).unwrap();
            let err = CancelPaymentIntent::new("pi_123")
                .customize()
                .request_strategy(RequestStrategy::Idempotent(key))
                .send(&client)
                .await
                .unwrap_err();
            match err {
                StripeError::Stripe(api, 402) => assert_eq!(api.decline_code.as_deref(), Some("generic_decline")),
                other => panic!("expected a decline, got {other:?}"),
            }
        }
        let read = RetrievePaymentIntent::new("pi_123").customize().send(&client).await;
        assert!(matches!(read, Err(StripeError::Stripe(_, 402))));
        assert_eq!(connections.load(Ordering::SeqCst), 1, "four requests, one connection");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 4);
        assert_eq!(seen[0]["authorization"], "Bearer sk_test_secret");
        assert_eq!(seen[0]["idempotency-key"], "pay_0:cancel");
        assert_eq!(seen[2]["idempotency-key"], "pay_2:cancel");
        assert!(seen[0].contains_key("stripe-version"));
        assert_eq!(seen[0]["content-type"], "application/x-www-form-urlencoded");
        assert!(!seen[3].contains_key("idempotency-key"), "a read carries no key");
        assert!(!format!("{client:?}").contains("sk_test_secret"));
    }

    #[tokio::test]
    async fn no_answer_is_a_network_error_not_a_decline() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        drop(listener);
        let client = StripeHttp::new("sk_test_secret", Some(&base), Duration::from_secs(2)).unwrap();
        let err = RetrievePaymentIntent::new("pi_123").customize().send(&client).await.unwrap_err();
        assert!(matches!(err, StripeError::ClientError(_) | StripeError::Timeout), "{err:?}");
    }
}
