//! Assembly: state, router with its layers, start-up (database, migrations, seeding, TLS) and serving
//! with graceful shutdown.

use crate::billing::processor::Processor;
use crate::billing::service::Billing;
use crate::catalog;
use crate::config::{Config, ConfigError};
use crate::db::{self, Db, DbError, Manager};
use crate::health;
use crate::http::client::{ClientSource, client_address};
use crate::http::limits::Limits;
use crate::http::middleware::{self, BodyPolicy};
use crate::http::openapi::ApiDoc;
use crate::http::tls::{self, TlsError};
use crate::kernel::secret::SecretString;
use crate::sandbox::{Sandbox, SandboxOptions};
pub use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::routing::get;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The API routes and their OpenAPI document, built together, with the per-client rate limits.
pub fn api(limits: &Limits) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let v1 = OpenApiRouter::new()
        .merge(catalog::router())
        .merge(crate::checkout::router(limits.carts.as_ref()))
        .merge(crate::orders::router(limits.orders.as_ref()))
        .merge(crate::billing::router())
        .merge(crate::privacy::router(limits.privacy.as_ref()))
        .merge(crate::accounts::router(limits.privacy.as_ref()))
        .merge(crate::staff::router(limits.privacy.as_ref()))
        .merge(crate::partners::router())
        .merge(crate::fulfillment::router());
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest("/v1", v1)
        .routes(routes!(health::healthz))
        .routes(routes!(health::readyz))
        .split_for_parts();
    crate::http::openapi::add_links(&mut doc);
    crate::http::openapi::add_common_responses(&mut doc);
    (router, doc)
}

/// The full service: routes, `/openapi.json`, fallbacks and the middleware stack.
pub fn router(state: AppState, https: bool) -> Router {
    let (api, doc) = api(&state.limits);
    let mut doc = serde_json::to_value(&doc).unwrap_or_default();
    crate::http::openapi::publish_policy(&mut doc, &state.policy);
    let doc = bytes::Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
    let config = state.config.clone();
    let client_source = ClientSource(config.client_ip_header.as_deref().map(Arc::from));
    let mut router = api
        .route(
            "/openapi.json",
            get(move || std::future::ready(([(header::CONTENT_TYPE, "application/json")], doc.clone()))),
        )
        // Every route passes the access gate: its policy, its caller, the decision (`access`).
        .route_layer(axum::middleware::from_fn_with_state(state.clone(), crate::access::gate))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            BodyPolicy { limit: config.body_limit_bytes },
            middleware::buffer_body,
        ))
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        .layer(axum::middleware::from_fn_with_state(config.request_timeout, middleware::timeout))
        .layer(axum::middleware::from_fn(middleware::request_context))
        .layer(axum::middleware::from_fn_with_state(client_source, client_address))
        // Carts, orders and staff views carry tokens and personal data: no cache (browser, proxy, CDN)
        // keeps a copy. A response that may be cached says so itself.
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .with_state(state);
    if https {
        let hsts = format!("max-age={}; includeSubDomains", config.hsts_max_age_secs);
        if let Ok(value) = HeaderValue::from_str(&hsts) {
            router = router.layer(SetResponseHeaderLayer::if_not_present(header::STRICT_TRANSPORT_SECURITY, value));
        }
    }
    router
}

/// Why the service could not start. Configuration problems exit with 2, the rest with 1.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("database: {0}")]
    Db(#[from] DbError),
    #[error("seeding: {0}")]
    Seed(#[from] catalog::seed::SeedError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Keys(#[from] crate::privacy::keyring::KeyringError),
    #[error("{0}")]
    Other(String),
}

impl StartError {
    pub fn exit_code(&self) -> u8 {
        match self {
            StartError::Config(_) | StartError::Tls(_) => 2,
            StartError::Keys(crate::privacy::keyring::KeyringError::Store(_)) => 1,
            StartError::Keys(_) => 2,
            _ => 1,
        }
    }
}

/// What start-up did to the database.
#[derive(Debug, Clone, Copy, Default)]
pub struct Prepared {
    pub migrations_applied: usize,
    pub products_seeded: usize,
    pub products_total: i64,
}

/// Connect, migrate (unless switched off), seed an empty catalog (unless switched off). Blocking.
pub fn prepare_database(config: &Config) -> Result<(Db, Prepared), StartError> {
    let mut conn = Manager::new(config.database_url.clone()).connect()?;
    let mut prepared = Prepared::default();
    if config.auto_migrate {
        prepared.migrations_applied = db::run_migrations(&mut conn)?;
    } else {
        let pending = db::pending_migrations(&mut conn)?;
        if pending > 0 {
            return Err(StartError::Other(format!(
                "{pending} database migration(s) pending and LEANCART_AUTO_MIGRATE is off: run `leancart migrate`"
            )));
        }
    }
    if config.auto_seed {
        match catalog::seed::seed_if_empty(&mut conn, config.store_currency) {
            Ok(report) => prepared.products_seeded = report.map_or(0, |r| r.products_added),
            Err(catalog::seed::SeedError::CurrencyMismatch { fixtures, store }) => {
                tracing::warn!(%fixtures, %store, "demo fixtures not loaded: their currency is not the store currency");
            }
            Err(e) => return Err(e.into()),
        }
    }
    prepared.products_total = catalog::store::count_products(&mut conn).map_err(DbError::Query)?;
    drop(conn);
    let db = Db::connect(&config.database_url, config.db_pool_size, config.db_timeout)?;
    Ok((db, prepared))
}

/// A built service, bound to its port, ready to run.
pub struct Application {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    state: AppState,
    prepared: Prepared,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartError> {
        tls::install_crypto_provider();
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
            _ => None,
        };
        let policy = crate::shipping::policy::ShopPolicy::load(config.shop_policy.as_deref())
            .map_err(|e| ConfigError::new("LEANCART_SHOP_POLICY", e.0))?;
        let setup_config = config.clone();
        let (db, prepared) = tokio::task::spawn_blocking(move || prepare_database(&setup_config))
            .await
            .map_err(|e| StartError::Other(format!("start-up task failed: {e}")))??;
        let keys_config = config.clone();
        let keys = tokio::task::spawn_blocking(move || crate::privacy::keyring::open(&keys_config))
            .await
            .map_err(|e| StartError::Other(format!("start-up task failed: {e}")))??;
        let keyring = Db::connect_keyring(&config.keyring_url, config.db_pool_size.min(4), config.db_timeout)?;
        let vault = Arc::new(crate::privacy::vault::Vault::new(Arc::new(keys), keyring));
        let sealing =
            |e: crate::error::ApiError| StartError::Other(format!("sealing earlier personal data: {}", e.code()));
        let sealed = crate::orders::service::seal_earlier_orders(&db, &vault).await.map_err(sealing)?
            + crate::checkout::service::seal_earlier_carts(&db, &vault).await.map_err(sealing)?;
        if sealed > 0 {
            db.run(|conn| Ok(crate::db::dialect::reclaim_rewritten(conn, &["orders", "carts"])?))
                .await
                .map_err(sealing)?;
            tracing::info!(rows = sealed, "sealed personal data written before sealing existed");
        }
        let listener = std::net::TcpListener::bind(config.bind)
            .map_err(|source| StartError::Bind { addr: config.bind, source })?;
        listener.set_nonblocking(true).map_err(|source| StartError::Bind { addr: config.bind, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.bind, source })?;
        let base_url = match tls {
            Some(_) => format!("https://localhost:{}", addr.port()),
            None => format!("http://{addr}"),
        };
        let (mut billing, sandbox) = payments(&config, &base_url).await?;
        // Orders follow their payments, in the same transaction as the payment change.
        let action_hold = chrono::Duration::from_std(config.action_hold).unwrap_or(chrono::Duration::minutes(5));
        let clock = crate::kernel::time::Clock::default();
        let listener_clock = clock.clone();
        billing.on_payment_change(Arc::new(move |conn, change| {
            crate::orders::service::on_payment_change(conn, change, listener_clock.now() + action_hold)
        }));
        let mailer = Arc::new(crate::mail::transport::Mailer::from_config(&config)?);
        tracing::info!(to = %mailer.describe(), "mail goes to");
        let public_url: Arc<str> = config.public_url.clone().unwrap_or_else(|| base_url.clone()).into();
        let state_hashers = (config.password_hashers, config.password_hashes_per_second);
        let holds = crate::orders::holds::Holds::new(config.max_unpaid_orders_per_client, config.request_timeout);
        let limits = Limits::from_config(&config);
        let state = AppState {
            db,
            config: Arc::new(config),
            billing: Arc::new(billing),
            policy: Arc::new(policy),
            sandbox,
            holds,
            limits,
            clock,
            vault,
            mailer,
            public_url,
            hashers: crate::accounts::password::Hashers::new(state_hashers.0, state_hashers.1),
        };
        let router = router(state.clone(), tls.is_some());
        Ok(Application { listener, addr, router, tls, state, prepared })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn base_url(&self) -> String {
        match self.tls {
            Some(_) => format!("https://localhost:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    pub fn prepared(&self) -> Prepared {
        self.prepared
    }

    /// Serve until `shutdown` resolves, then stop accepting and let in-flight requests finish within
    /// the configured grace period.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
        let grace = self.state.config.shutdown_grace;
        let handle = axum_server::Handle::new();
        let on_signal = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!(grace_secs = grace.as_secs(), "shutting down: finishing in-flight requests");
            on_signal.graceful_shutdown(Some(grace));
        });
        let sweeper = tokio::spawn(background_sweeps(self.state.clone()));
        let mail_worker = tokio::spawn(crate::mail::worker::run(self.state.clone()));
        let fulfillment_worker = tokio::spawn(crate::fulfillment::notices::run(self.state.clone()));
        // The peer's address is what per-client limits count by (see `http::client`).
        let service = self.router.into_make_service_with_connect_info::<SocketAddr>();
        let result = match self.tls {
            Some(cfg) => {
                let rustls = axum_server::tls_rustls::RustlsConfig::from_config(cfg);
                axum_server::tls_rustls::from_tcp_rustls(self.listener, rustls)?.handle(handle).serve(service).await
            }
            None => axum_server::from_tcp(self.listener)?.handle(handle).serve(service).await,
        };
        sweeper.abort();
        mail_worker.abort();
        fulfillment_worker.abort();
        result
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The payment processor: Stripe when a key is configured, otherwise the local sandbox started
/// in-process on a loopback port, delivering signed webhooks to this process.
async fn payments(config: &Config, base_url: &str) -> Result<(Billing, Option<Sandbox>), StartError> {
    let stripe = &config.stripe;
    if let Some(key) = &stripe.secret_key {
        let processor = Processor::new(key.expose(), stripe.api_base.as_deref(), stripe.timeout)
            .map_err(|e| StartError::Other(format!("payments: {e}")))?;
        tracing::info!(api = stripe.api_base.as_deref().unwrap_or("https://api.stripe.com/"), "payments: Stripe");
        return Ok((Billing::new(processor, stripe.capture, stripe.webhook_secrets.clone()), None));
    }
    let ca = match &config.tls_cert {
        Some(path) => std::fs::read(path).ok(),
        None => None,
    };
    let options = SandboxOptions {
        webhook_ca_pem: ca,
        enabled_events: Some(crate::billing::service::HANDLED_EVENTS.iter().map(|s| s.to_string()).collect()),
        ..SandboxOptions::default()
    };
    let sandbox = Sandbox::start(config.sandbox_bind, options)
        .await
        .map_err(|source| StartError::Bind { addr: config.sandbox_bind, source })?;
    let secret = stripe
        .webhook_secrets
        .first()
        .cloned()
        .unwrap_or_else(|| SecretString::new(format!("whsec_{}", crate::kernel::ids::random_base62())));
    sandbox.set_webhook(format!("{base_url}/v1/webhooks/stripe"), secret.clone());
    let api = format!("{}/", sandbox.base_url());
    let processor = Processor::new(SANDBOX_KEY, Some(&api), stripe.timeout)
        .map_err(|e| StartError::Other(format!("payments: {e}")))?;
    tracing::warn!(
        sandbox = %sandbox.base_url(),
        "payments: local Stripe sandbox at {} — no real money moves (set STRIPE_SECRET_KEY for Stripe)",
        sandbox.base_url()
    );
    let secrets = if stripe.webhook_secrets.is_empty() { vec![secret] } else { stripe.webhook_secrets.clone() };
    Ok((Billing::new(processor, stripe.capture, secrets), Some(sandbox)))
}

/// The secret key leancart presents to its in-process sandbox.
pub const SANDBOX_KEY: &str = "sk_test_leancart_sandbox";

/// Periodic work that keeps every record moving: payments whose outcome was not heard are settled
/// with the processor, expired stock reservations are released, expired idempotency keys purged. Safe
/// to run in every process at once (idempotent, forward-only, conditional updates).
async fn background_sweeps(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(30));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        sweep_once(&state).await;
    }
}

/// One round of the background work (also callable from tests and operators).
pub async fn sweep_once(state: &AppState) {
    let now = state.clock.now();
    match state.billing.reconcile(&state.db, now - chrono::Duration::seconds(60), 100).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(settled = n, "reconciled payments"),
        Err(e) => tracing::warn!(code = e.code(), "payment reconciliation failed"),
    }
    match crate::orders::service::expire_reservations(state, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(released = n, "released expired stock reservations"),
        Err(e) => tracing::warn!(code = e.code(), "releasing expired reservations failed"),
    }
    let schedule = crate::privacy::retention::Schedule::from_config(&state.config);
    match state.db.run(move |conn| crate::privacy::retention::run(conn, &schedule, now, 1)).await {
        Ok(removed) => {
            for (category, n) in removed.into_iter().filter(|(_, n)| *n > 0) {
                tracing::info!(category = category.as_str(), removed = n, "retention: deleted what was due");
            }
        }
        Err(e) => tracing::warn!(code = e.code(), "retention run failed"),
    }
    match crate::privacy::requests::sweep(state, now).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(erased = n, "privacy: carried out erasures whose holds ended or that were due"),
        Err(e) => tracing::warn!(code = e.code(), "privacy sweep failed"),
    }
    state.limits.forget_idle();
    state.hashers.throttle().forget_idle(now);
    state.holds.forget_expired();
}
