//! Test harness: spawn the app in-process on 127.0.0.1:0 with its own database, capture logs.

#![allow(dead_code)]

pub mod db;
pub mod logs;
pub mod resources;
pub mod shop;
pub mod smtp;
pub mod stripe;

use leancart::app::{AppState, Application};
use leancart::config::{Config, RawSettings};
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use std::future::Future;
use tokio::sync::oneshot;

/// A running app with its own database. Dropping it stops the server and removes the database.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub db: db::TestDb,
    /// Where mail goes as `.eml` files when the test set no SMTP server.
    pub mail_dir: tempfile::TempDir,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    admin: tokio::sync::OnceCell<String>,
}

/// Builder for settings beyond the defaults.
pub struct Spawn {
    pub raw: RawSettings,
}

impl Spawn {
    pub fn set(mut self, key: &str, value: impl Into<String>) -> Self {
        self.raw.set(key, value);
        self
    }

    pub async fn start(self) -> TestApp {
        TestApp::start_with(self.raw, |_| async {}).await
    }

    /// Send mail through this SMTP server, looking for due messages every 100 ms.
    pub fn smtp(self, sink: &smtp::SmtpSink) -> Self {
        self.set("LEANCART_SMTP_URL", sink.url()).set("LEANCART_MAIL_POLL_MS", "100")
    }

    /// No background mail worker to speak of (an hour between rounds): the test runs rounds itself.
    pub fn manual_mail(self) -> Self {
        self.set("LEANCART_MAIL_POLL_MS", "3600000")
    }
}

/// The master key of every test shop (each has its own keyring beside its own database).
pub const TEST_MASTER_KEY: &str = "0000000000000000000000000000000000000000000000000000000000000001";

impl TestApp {
    pub async fn spawn() -> TestApp {
        TestApp::builder().start().await
    }

    pub fn builder() -> Spawn {
        let mut raw = RawSettings::default();
        raw.set("LEANCART_BIND", "127.0.0.1:0")
            .set("LEANCART_DB_POOL_SIZE", "4")
            .set("LEANCART_SHUTDOWN_GRACE_SECS", "5")
            // Every test talks from 127.0.0.1, and several (the stampedes) are many shoppers at once:
            // the per-client limits are off unless a test is about them (tests/api/abuse.rs).
            .set("LEANCART_RATE_LIMIT_CARTS_PER_MINUTE", "0")
            .set("LEANCART_RATE_LIMIT_ORDERS_PER_MINUTE", "0")
            .set("LEANCART_RATE_LIMIT_PRIVACY_PER_MINUTE", "0")
            // The tests log in back to back; the pacing is for production floods (loadgen measures it).
            .set("LEANCART_PASSWORD_HASHES_PER_SECOND", "1000")
            .set("LEANCART_MAX_UNPAID_ORDERS_PER_CLIENT", "1000")
            // Routing and partner notices run when a test says so (fulfillment::service::route_once,
            // notices::deliver_once): an hour between the background worker's rounds.
            .set("LEANCART_FULFILLMENT_POLL_MS", "3600000")
            .set("LEANCART_MASTER_KEY", TEST_MASTER_KEY);
        Spawn { raw }
    }

    pub async fn start_with<F, Fut>(mut raw: RawSettings, before: F) -> TestApp
    where
        F: FnOnce(&Config) -> Fut,
        Fut: Future<Output = ()>,
    {
        logs::init();
        leancart::http::tls::install_crypto_provider();
        let db = db::TestDb::create().await;
        raw.set("DATABASE_URL", db.url());
        let mail_dir = tempfile::tempdir().expect("tempdir");
        if raw.get("LEANCART_MAIL_DIR").is_none() {
            raw.set("LEANCART_MAIL_DIR", mail_dir.path().to_string_lossy());
        }
        let config = Config::from_raw(&raw).expect("test configuration is valid");
        before(&config).await;
        let https = config.tls_cert.is_some();
        let app = Application::build(config).await.expect("app starts");
        let base = if https {
            format!("https://localhost:{}", app.local_addr().port())
        } else {
            format!("http://{}", app.local_addr())
        };
        let state = app.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            base,
            client: reqwest::Client::builder().build().expect("client"),
            state,
            db,
            mail_dir,
            shutdown: Some(tx),
            server: Some(server),
            admin: tokio::sync::OnceCell::new(),
        }
    }

    /// A new member of staff with `role`, signed in with their second factor shown: their session
    /// token. (The member is made through the service, the session written directly: the sign-in
    /// flow itself — setup link, password, authenticator — is what `tests/api/staff.rs` tests.)
    pub async fn staff_token(&self, role: leancart::access::Role) -> String {
        self.staff_session(role, true).await
    }

    /// A new member's session, with (`verified`) or without its second factor shown.
    pub async fn staff_session(&self, role: leancart::access::Role, verified: bool) -> String {
        use leancart::staff::{model, service, store};
        let email =
            format!("{}-{}@staff.example", role.as_str(), leancart::kernel::ids::random_base62().to_lowercase());
        let email = leancart::kernel::pii::Email::parse(&email).expect("e-mail");
        let (member, _) = service::create(&self.state, email, role, service::By::Operator).await.expect("staff member");
        let token = leancart::kernel::secret::issue_token(model::SESSION_PREFIX);
        // Last seen "in the future": the session outlives the days a test moves its clock on.
        let (now, far) = (self.state.clock.now(), chrono::Duration::days(3650));
        let row = model::StaffSessionRow {
            token_hash: token.hash.clone(),
            staff_id: member.id,
            verified,
            created_at: now,
            last_seen_at: now + far,
            expires_at: now + far,
        };
        self.state.db.run(move |conn| Ok(store::insert_session(conn, &row)?)).await.expect("staff session");
        token.plaintext.expose().to_owned()
    }

    /// The test's admin (one per app): their session token.
    pub async fn admin_token(&self) -> String {
        self.admin.get_or_init(|| self.staff_token(leancart::access::Role::Admin)).await.clone()
    }

    /// A JSON call with an optional bearer token: status and body (`Null` when not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// The authenticator app's code `steps_ahead` time steps from the app's clock now.
    pub fn totp(&self, secret_base32: &str, steps_ahead: i64) -> String {
        let now = self.state.clock.now().and_utc().timestamp() + steps_ahead * leancart::kernel::totp::STEP_SECS;
        leancart::kernel::totp::code_now(secret_base32, now).expect("base32 secret")
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.expect("request sent")
    }

    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self.get(path).await;
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self.client.post(self.url(path)).json(body).send().await.expect("request sent");
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .header(CONTENT_TYPE, content_type)
            .body(body)
            .send()
            .await
            .expect("request sent")
    }

    /// Stop accepting and wait for the server task to finish.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // A test that passed must also have left the shop consistent (not checked while a failing
        // test unwinds: its own message matters more).
        if !std::thread::panicking() {
            let url = self.db.url();
            let broken = std::thread::spawn(move || consistency::violations(&url)).join().unwrap_or_default();
            assert!(broken.is_empty(), "the test left the shop inconsistent: {broken:?}");
        }
    }
}

/// What must hold in the database whatever a test did, once every request it sent has been answered.
pub mod consistency {
    use diesel::RunQueryDsl;
    use leancart::config::DatabaseUrl;

    #[derive(diesel::QueryableByName)]
    struct Count {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }

    const RULES: &[(&str, &str)] = &[
        ("an Idempotency-Key left in flight", "SELECT COUNT(*) AS n FROM idempotency_keys WHERE state = 'in_flight'"),
        (
            "a failed or cancelled unpaid order whose stock was never given back",
            "SELECT COUNT(*) AS n FROM orders o WHERE o.status IN ('payment_failed', 'cancelled') \
             AND o.stock_released = FALSE AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.id = o.payment_id \
             AND p.amount_captured > 0)",
        ),
        (
            "an unpaid order holding stock without a deadline",
            "SELECT COUNT(*) AS n FROM orders WHERE status IN ('pending_payment', 'awaiting_payment_action') \
             AND reserved_until IS NULL",
        ),
        ("stock below zero", "SELECT COUNT(*) AS n FROM product_variants WHERE stock_on_hand < 0"),
        (
            "refunded units beyond a line's quantity",
            "SELECT COUNT(*) AS n FROM order_lines WHERE quantity_refunded > quantity OR quantity_refunded < 0",
        ),
        (
            "a personal field stored in clear (an order's or a cart's e-mail not sealed)",
            "SELECT (SELECT COUNT(*) FROM orders WHERE email NOT LIKE 's1.%') + \
             (SELECT COUNT(*) FROM carts WHERE email IS NOT NULL AND email NOT LIKE 's1.%') AS n",
        ),
        (
            "refunds beyond what a payment captured",
            "SELECT COUNT(*) AS n FROM payments WHERE amount_refunded > amount_captured",
        ),
    ];

    pub fn violations(url: &str) -> Vec<&'static str> {
        let Ok(url) = DatabaseUrl::parse(url) else { return vec!["the test database's URL"] };
        let Ok(mut conn) = leancart::db::Manager::new(url).connect() else {
            return Vec::new(); // already dropped (the test removed its database itself)
        };
        RULES
            .iter()
            .filter(|(_, sql)| diesel::sql_query(*sql).get_result::<Count>(&mut conn).map_or(true, |c| c.n > 0))
            .map(|(what, _)| *what)
            .collect()
    }
}

/// Assert a problem document: content type, status and code.
pub async fn expect_problem(res: reqwest::Response, status: u16, code: &str) -> Value {
    assert_eq!(res.status().as_u16(), status, "status");
    let ct = res.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(ct, "application/problem+json");
    let body: Value = res.json().await.expect("problem body is JSON");
    assert_eq!(body["code"], code, "problem code in {body}");
    assert_eq!(body["status"], status);
    assert!(body["type"].as_str().is_some_and(|t| t.ends_with(code)));
    assert!(body["title"].is_string());
    body
}
