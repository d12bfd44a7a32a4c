//! A local Stripe-compatible sandbox: the subset of Stripe's REST API that leancart and Stripe.js use,
//! with Stripe's test-mode behaviour (test cards, declines, 3-D Secure, manual capture, refunds, fees,
//! payouts, idempotency, signed webhook events). It serves over HTTP on a loopback port, so leancart's
//! real `async-stripe` client code path runs end to end, only with another base URL.
//!
//! Sandbox-only endpoints live under `/v1/sandbox/…`: completing or failing 3-D Secure, paying out the
//! balance, opening a dispute, and injecting faults (500s, slow responses, dropped webhooks).

// Sandbox errors carry a rendered PaymentIntent, as Stripe's do; their size is irrelevant in a test server.
#![allow(clippy::result_large_err)]

pub mod engine;

use crate::billing::signature;
use crate::kernel::secret::SecretString;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use engine::{Engine, Event, FeeModel, Form, IdempotencyRecord, StripeError};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::mpsc;

/// Where and how events are delivered.
#[derive(Clone)]
struct WebhookTarget {
    url: String,
    secret: SecretString,
}

struct Shared {
    engine: Mutex<Engine>,
    webhook: Mutex<Option<WebhookTarget>>,
    deliveries: mpsc::UnboundedSender<Event>,
    retry_delays: Vec<Duration>,
    delivery_delay: Duration,
    enabled_events: Option<Vec<String>>,
}

/// A running sandbox. Cheap to clone.
#[derive(Clone)]
pub struct Sandbox {
    shared: Arc<Shared>,
    base_url: String,
}

#[derive(Debug, Clone)]
pub struct SandboxOptions {
    pub fees: FeeModel,
    /// How long after an event happens its first delivery is attempted. Stripe delivers events
    /// asynchronously, normally well after the API call that caused them has been answered; a webhook
    /// that outruns the API answer is the exception (tested on its own with `delay_next`).
    pub delivery_delay: Duration,
    /// Waits between webhook delivery attempts after the first.
    pub retry_delays: Vec<Duration>,
    /// Extra root certificate (PEM) to trust when delivering webhooks over HTTPS to a self-signed server.
    pub webhook_ca_pem: Option<Vec<u8>>,
    /// Event types delivered to the webhook URL (a Stripe endpoint's `enabled_events`); `None`: all.
    /// Every event stays listable at `GET /v1/events`.
    pub enabled_events: Option<Vec<String>>,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        SandboxOptions {
            fees: FeeModel::default(),
            delivery_delay: Duration::from_millis(100),
            retry_delays: [250, 500, 1_000, 2_000, 4_000, 8_000, 16_000].map(Duration::from_millis).to_vec(),
            webhook_ca_pem: None,
            enabled_events: None,
        }
    }
}

impl Sandbox {
    /// Bind and serve in the background.
    pub async fn start(bind: SocketAddr, options: SandboxOptions) -> std::io::Result<Sandbox> {
        let listener = tokio::net::TcpListener::bind(bind).await?;
        let addr = listener.local_addr()?;
        let base_url = format!("http://{addr}");
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            engine: Mutex::new(Engine::new(base_url.clone(), options.fees)),
            webhook: Mutex::new(None),
            deliveries: tx,
            retry_delays: options.retry_delays.clone(),
            delivery_delay: options.delivery_delay,
            enabled_events: options.enabled_events.clone(),
        });
        let sandbox = Sandbox { shared, base_url };
        let client = webhook_client(options.webhook_ca_pem.as_deref());
        tokio::spawn(deliver_events(sandbox.clone(), rx, client));
        let app = router(sandbox.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(sandbox)
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Deliver events to `url`, signed with `secret`.
    pub fn set_webhook(&self, url: impl Into<String>, secret: SecretString) {
        if let Ok(mut w) = self.shared.webhook.lock() {
            *w = Some(WebhookTarget { url: url.into(), secret });
        }
    }

    pub fn set_faults(&self, faults: engine::Faults) {
        self.engine().faults = faults;
    }

    /// Read the engine's state (tests and the CLI's summary).
    pub fn inspect<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        f(&self.engine())
    }

    fn engine(&self) -> MutexGuard<'_, Engine> {
        // A panic while holding the lock cannot leave the model half-updated in a way that matters for
        // a test sandbox; keep serving.
        self.shared.engine.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn webhook_client(extra_ca: Option<&[u8]>) -> reqwest::Client {
    crate::http::tls::install_crypto_provider();
    let mut builder = reqwest::Client::builder().timeout(Duration::from_secs(10));
    if let Some(pem) = extra_ca
        && let Ok(cert) = reqwest::Certificate::from_pem(pem)
    {
        builder = builder.tls_certs_merge([cert]);
    }
    builder.build().unwrap_or_default()
}

async fn deliver_events(sandbox: Sandbox, mut rx: mpsc::UnboundedReceiver<Event>, client: reqwest::Client) {
    while let Some(event) = rx.recv().await {
        let dropped = {
            let mut engine = sandbox.engine();
            if engine.faults.drop_webhooks > 0 {
                engine.faults.drop_webhooks -= 1;
                true
            } else {
                false
            }
        };
        let target = sandbox.shared.webhook.lock().ok().and_then(|w| w.clone());
        let (Some(target), false) = (target, dropped) else {
            continue;
        };
        let payload = match Engine::event_payload(&event) {
            Ok(p) => p,
            Err(_) => continue,
        };
        let delays = sandbox.shared.retry_delays.clone();
        let first = sandbox.shared.delivery_delay;
        let client = client.clone();
        // Each event on its own task: like Stripe, no ordering between events is promised.
        tokio::spawn(async move {
            for attempt in 0..=delays.len() {
                tokio::time::sleep(if attempt == 0 { first } else { delays[attempt - 1] }).await;
                let sig = signature::header(target.secret.expose(), engine::now(), &payload);
                let res = client
                    .post(&target.url)
                    .header(header::CONTENT_TYPE, "application/json")
                    .header("stripe-signature", sig)
                    .body(payload.clone())
                    .send()
                    .await;
                if res.is_ok_and(|r| r.status().is_success()) {
                    return;
                }
            }
        });
    }
}

fn router(sandbox: Sandbox) -> Router {
    Router::new()
        .route("/v1/payment_methods", post(create_payment_method))
        .route("/v1/payment_methods/{id}", get(retrieve_payment_method))
        .route("/v1/payment_intents", post(create_intent))
        .route("/v1/payment_intents/{id}", get(retrieve_intent))
        .route("/v1/payment_intents/{id}/confirm", post(confirm_intent))
        .route("/v1/payment_intents/{id}/capture", post(capture_intent))
        .route("/v1/payment_intents/{id}/cancel", post(cancel_intent))
        .route("/v1/charges/{id}", get(retrieve_charge))
        .route("/v1/refunds", post(create_refund))
        .route("/v1/refunds/{id}", get(retrieve_refund))
        .route("/v1/balance_transactions", get(list_balance_transactions))
        .route("/v1/payouts", get(list_payouts))
        .route("/v1/events", get(list_events))
        .route("/v1/sandbox/payouts", post(create_payout))
        .route("/v1/sandbox/3ds/{id}", get(three_ds_page))
        .route("/v1/sandbox/3ds/{id}/complete", post(three_ds_complete))
        .route("/v1/sandbox/3ds/{id}/fail", post(three_ds_fail))
        .route("/v1/sandbox/charges/{id}/dispute", post(create_dispute))
        .route("/v1/sandbox/faults", post(set_faults))
        .fallback(|| async { error_response(&StripeError::missing("route", "unknown").with_code("resource_missing")) })
        .with_state(sandbox)
}

fn error_response(e: &StripeError) -> Response {
    json_response(e.status, &e.body(), false)
}

fn json_response(status: u16, body: &Value, replayed: bool) -> Response {
    json_bytes_response(status, Bytes::from(body.to_string()), replayed)
}

fn json_bytes_response(status: u16, body: Bytes, replayed: bool) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = (status, [(header::CONTENT_TYPE, "application/json")], body).into_response();
    res.headers_mut().insert("request-id", HeaderValue::from_static("req_sandbox"));
    if replayed {
        res.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    res
}

fn parse_form(raw: &[u8]) -> Form {
    url::form_urlencoded::parse(raw).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Auth {
    Secret,
    SecretOrPublishable,
    /// Sandbox helpers that a browser page may call (the 3-D Secure page).
    None,
}

fn authorized(headers: &HeaderMap, auth: Auth) -> bool {
    use base64::Engine as _;
    let header = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    // Like Stripe: `Bearer KEY`, or HTTP Basic with the key as the user name (`curl -u KEY:`).
    let key = match (header.strip_prefix("Bearer "), header.strip_prefix("Basic ")) {
        (Some(k), _) => k.to_owned(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|s| s.split(':').next().map(str::to_owned))
            .unwrap_or_default(),
        _ => String::new(),
    };
    match auth {
        Auth::None => true,
        Auth::Secret => key.starts_with("sk_test_") && key.len() > 8,
        Auth::SecretOrPublishable => (key.starts_with("sk_test_") || key.starts_with("pk_test_")) && key.len() > 8,
    }
}

/// The common path of every API call: auth, injected faults, idempotency, the operation under the
/// model lock, webhook dispatch, injected delay.
async fn execute(
    sandbox: &Sandbox,
    method: Method,
    path: &str,
    headers: &HeaderMap,
    raw: &[u8],
    auth: Auth,
    op: impl FnOnce(&mut Engine, &Form) -> Result<Value, StripeError>,
) -> Response {
    if !authorized(headers, auth) {
        let e = StripeError {
            status: 401,
            code: None,
            ..StripeError::invalid("Invalid API Key provided. The sandbox expects Bearer sk_test_…", None)
        };
        return error_response(&e);
    }
    let form = parse_form(raw);
    let key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (status, body, replayed, delay, events) = {
        let mut engine = sandbox.engine();
        if auth != Auth::None && engine.faults.fail_next > 0 {
            engine.faults.fail_next -= 1;
            let body = json!({"error": {"type": "api_error", "message": "An error occurred with our connection to Stripe (injected fault)."}});
            return json_response(500, &body, false);
        }
        let delay = if auth != Auth::None && engine.faults.delay_next > 0 {
            engine.faults.delay_next -= 1;
            Some(engine.faults.delay)
        } else {
            None
        };
        let fingerprint = {
            let mut h = Sha256::new();
            h.update(method.as_str());
            h.update(path);
            for (k, v) in &form {
                h.update(k);
                h.update([0]);
                h.update(v);
                h.update([0]);
            }
            hex::encode(h.finalize())
        };
        let now = engine::now();
        let mut replay = None;
        if method == Method::POST
            && let Some(k) = &key
        {
            // Keys are kept 24 hours, like Stripe's; expired ones are dropped at most once a minute.
            if now - engine.idempotency_pruned >= 60 {
                engine.idempotency.retain(|r| now - r.created < 24 * 3600 + 60);
                engine.idempotency_pruned = now;
            }
            match engine.idempotency.get(k) {
                Some(r) if r.fingerprint != fingerprint => {
                    let e = StripeError::invalid(
                        format!(
                            "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{k}' if you meant to execute a different request."
                        ),
                        None,
                    );
                    let e =
                        StripeError { type_: "idempotency_error", code: Some("idempotency_key_in_use".into()), ..e };
                    return error_response(&e);
                }
                Some(IdempotencyRecord { response: None, .. }) => {
                    let e = StripeError {
                        status: 409,
                        type_: "idempotency_error",
                        ..StripeError::invalid(
                            "There is currently another in-progress request using this Idempotent Key.",
                            None,
                        )
                    };
                    return error_response(&e);
                }
                Some(IdempotencyRecord { response: Some((s, b)), .. }) => replay = Some((*s, b.clone())),
                None => {
                    engine
                        .idempotency
                        .insert(k.clone(), IdempotencyRecord { fingerprint, response: None, created: now });
                }
            }
        }
        match replay {
            Some((s, b)) => (s, b, true, delay, Vec::new()),
            None => {
                engine.current_idempotency_key = key.clone();
                let (status, body) = match op(&mut engine, &form) {
                    Ok(v) => (200, v),
                    Err(e) => (e.status, e.body()),
                };
                let body = Bytes::from(body.to_string());
                engine.current_idempotency_key = None;
                if method == Method::POST
                    && let Some(k) = &key
                    && let Some(r) = engine.idempotency.get_mut(k)
                {
                    r.response = Some((status, body.clone()));
                }
                let events = std::mem::take(&mut engine.outbox);
                (status, body, false, delay, events)
            }
        }
    };
    for e in events {
        let enabled = sandbox.shared.enabled_events.as_ref().is_none_or(|types| types.contains(&e.type_));
        if enabled {
            let _ = sandbox.shared.deliveries.send(e);
        }
    }
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    json_bytes_response(status, body, replayed)
}

type Ctx = State<Sandbox>;

async fn create_payment_method(State(s): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    execute(&s, Method::POST, "/v1/payment_methods", &headers, &body, Auth::SecretOrPublishable, |e, f| {
        e.create_payment_method(f)
    })
    .await
}

async fn retrieve_payment_method(State(s): Ctx, Path(id): Path<String>, headers: HeaderMap, q: RawQuery) -> Response {
    let q = q.0.unwrap_or_default();
    execute(&s, Method::GET, "/v1/payment_methods", &headers, q.as_bytes(), Auth::Secret, |e, _| e.payment_method(&id))
        .await
}

async fn create_intent(State(s): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    execute(&s, Method::POST, "/v1/payment_intents", &headers, &body, Auth::Secret, |e, f| e.create_intent(f)).await
}

async fn retrieve_intent(State(s): Ctx, Path(id): Path<String>, headers: HeaderMap, q: RawQuery) -> Response {
    let q = q.0.unwrap_or_default();
    execute(&s, Method::GET, "/v1/payment_intents/{id}", &headers, q.as_bytes(), Auth::Secret, |e, f| {
        e.intent(&id, &engine::expansions(f))
    })
    .await
}

async fn confirm_intent(State(s): Ctx, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let path = format!("/v1/payment_intents/{id}/confirm");
    execute(&s, Method::POST, &path, &headers, &body, Auth::Secret, |e, f| e.confirm_intent(&id, f)).await
}

async fn capture_intent(State(s): Ctx, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let path = format!("/v1/payment_intents/{id}/capture");
    execute(&s, Method::POST, &path, &headers, &body, Auth::Secret, |e, f| e.capture_intent(&id, f)).await
}

async fn cancel_intent(State(s): Ctx, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let path = format!("/v1/payment_intents/{id}/cancel");
    execute(&s, Method::POST, &path, &headers, &body, Auth::Secret, |e, f| e.cancel_intent(&id, f)).await
}

async fn retrieve_charge(State(s): Ctx, Path(id): Path<String>, headers: HeaderMap) -> Response {
    execute(&s, Method::GET, "/v1/charges/{id}", &headers, b"", Auth::Secret, |e, _| e.charge(&id)).await
}

async fn create_refund(State(s): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    execute(&s, Method::POST, "/v1/refunds", &headers, &body, Auth::Secret, |e, f| e.create_refund(f)).await
}

async fn retrieve_refund(State(s): Ctx, Path(id): Path<String>, headers: HeaderMap) -> Response {
    execute(&s, Method::GET, "/v1/refunds/{id}", &headers, b"", Auth::Secret, |e, _| e.refund(&id)).await
}

async fn list_balance_transactions(State(s): Ctx, headers: HeaderMap, q: RawQuery) -> Response {
    let q = q.0.unwrap_or_default();
    execute(&s, Method::GET, "/v1/balance_transactions", &headers, q.as_bytes(), Auth::Secret, |e, f| {
        let items: Vec<_> = match f.get("payout") {
            Some(po) => e.balance.iter().filter(|t| t.payout.as_deref() == Some(po.as_str())).cloned().collect(),
            None => e.balance.clone(),
        };
        engine::list(&items, |t| &t.id, |t| e.render_balance_transaction(t), f, "/v1/balance_transactions")
    })
    .await
}

async fn list_payouts(State(s): Ctx, headers: HeaderMap, q: RawQuery) -> Response {
    let q = q.0.unwrap_or_default();
    execute(&s, Method::GET, "/v1/payouts", &headers, q.as_bytes(), Auth::Secret, |e, f| {
        engine::list(&e.payouts, |p| &p.id, |p| e.render_payout(p), f, "/v1/payouts")
    })
    .await
}

async fn list_events(State(s): Ctx, headers: HeaderMap, q: RawQuery) -> Response {
    let q = q.0.unwrap_or_default();
    execute(&s, Method::GET, "/v1/events", &headers, q.as_bytes(), Auth::Secret, |e, f| {
        let items: Vec<_> = match f.get("type") {
            Some(t) => e.events.iter().filter(|ev| &ev.type_ == t).cloned().collect(),
            None => e.events.clone(),
        };
        engine::list(&items, |ev| &ev.id, |ev| e.render_event(ev), f, "/v1/events")
    })
    .await
}

async fn create_payout(State(s): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    execute(&s, Method::POST, "/v1/sandbox/payouts", &headers, &body, Auth::Secret, |e, _| e.create_payout()).await
}

async fn create_dispute(State(s): Ctx, Path(id): Path<String>, headers: HeaderMap, body: Bytes) -> Response {
    let path = format!("/v1/sandbox/charges/{id}/dispute");
    execute(&s, Method::POST, &path, &headers, &body, Auth::Secret, |e, _| e.dispute(&id)).await
}

async fn three_ds_page(Path(id): Path<String>) -> Response {
    let id = id.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect::<String>();
    let html = format!(
        "<!doctype html><title>3-D Secure (sandbox)</title><h1>Authenticate payment {id}</h1>\
         <form method=post action=\"/v1/sandbox/3ds/{id}/complete\"><button>Complete authentication</button></form>\
         <form method=post action=\"/v1/sandbox/3ds/{id}/fail\"><button>Fail authentication</button></form>"
    );
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
}

async fn three_ds_complete(State(s): Ctx, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/v1/sandbox/3ds/{id}/complete");
    execute(&s, Method::POST, &path, &headers, b"", Auth::None, |e, _| e.authenticate(&id, true)).await
}

async fn three_ds_fail(State(s): Ctx, Path(id): Path<String>, headers: HeaderMap) -> Response {
    let path = format!("/v1/sandbox/3ds/{id}/fail");
    execute(&s, Method::POST, &path, &headers, b"", Auth::None, |e, _| e.authenticate(&id, false)).await
}

/// `POST /v1/sandbox/faults` with form fields `fail_next`, `delay_next`, `delay_ms`, `drop_webhooks`.
async fn set_faults(State(s): Ctx, headers: HeaderMap, body: Bytes) -> Response {
    execute(&s, Method::POST, "/v1/sandbox/faults", &headers, &body, Auth::Secret, |e, f| {
        let n = |k: &str| f.get(k).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0);
        e.faults = engine::Faults {
            fail_next: n("fail_next"),
            delay_next: n("delay_next"),
            delay: Duration::from_millis(u64::from(n("delay_ms"))),
            drop_webhooks: n("drop_webhooks"),
        };
        Ok(json!({"object": "sandbox.faults", "fail_next": n("fail_next"), "delay_next": n("delay_next"), "drop_webhooks": n("drop_webhooks")}))
    })
    .await
}
