//! Configuration: defaults → optional TOML file → environment (`LEANCART_*`, `DATABASE_URL`, `STRIPE_*`).
//! Built once in `main` and passed down; validated completely at start-up. Errors name the setting and
//! what is wrong with it, never the value (it may be a secret).

use crate::kernel::money::Currency;
use crate::kernel::secret::SecretString;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A configuration problem: which setting, and what is wrong with it.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {var}: {problem}")]
pub struct ConfigError {
    pub var: String,
    pub problem: String,
}

impl ConfigError {
    pub fn new(var: &str, problem: impl Into<String>) -> Self {
        ConfigError { var: var.to_owned(), problem: problem.into() }
    }
}

/// Where the data lives. The backend is chosen by the URL scheme, nothing else.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    Sqlite(PathBuf),
    Postgres(SecretString),
}

impl DatabaseUrl {
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let err = |p: &str| ConfigError::new("DATABASE_URL", p);
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(err("must not be empty"));
        }
        if raw.starts_with("postgres://") || raw.starts_with("postgresql://") {
            url::Url::parse(raw).map_err(|_| err("is not a valid postgres:// URL"))?;
            return Ok(DatabaseUrl::Postgres(SecretString::new(raw)));
        }
        if let Some(rest) = raw.strip_prefix("sqlite://").or_else(|| raw.strip_prefix("sqlite:")) {
            if rest.is_empty() || rest.contains(":memory:") || rest.starts_with("?mode=memory") {
                return Err(err(
                    "needs a file path (an in-memory SQLite database cannot be shared by a connection pool)",
                ));
            }
            return Ok(DatabaseUrl::Sqlite(PathBuf::from(rest)));
        }
        if let Some((scheme, _)) = raw.split_once(':') {
            let looks_like_scheme = scheme.len() > 1 && scheme.chars().all(|c| c.is_ascii_alphanumeric() || c == '+');
            if looks_like_scheme {
                return Err(err("unsupported scheme (use sqlite://PATH, a file path, or postgres://USER@HOST/DB)"));
            }
        }
        Ok(DatabaseUrl::Sqlite(PathBuf::from(raw)))
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            DatabaseUrl::Sqlite(_) => "sqlite",
            DatabaseUrl::Postgres(_) => "postgres",
        }
    }
}

/// Prints the URL with any password masked.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseUrl::Sqlite(p) => write!(f, "sqlite://{}", p.display()),
            DatabaseUrl::Postgres(secret) => match url::Url::parse(secret.expose()) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("****"));
                    }
                    u.set_query(None);
                    write!(f, "{u}")
                }
                Err(_) => f.write_str("postgres://[unparseable]"),
            },
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Plain,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureMethod {
    Automatic,
    Manual,
}

/// Payment processor settings.
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// `None`: run the local Stripe-compatible sandbox in-process.
    pub secret_key: Option<SecretString>,
    /// Webhook signing secrets; several during a rotation. Empty only with the sandbox (it then
    /// generates one).
    pub webhook_secrets: Vec<SecretString>,
    /// Override of the API base URL (must end in `/`).
    pub api_base: Option<String>,
    pub capture: CaptureMethod,
    /// Timeout of one call to the processor.
    pub timeout: Duration,
}

/// Everything the service needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: DatabaseUrl,
    pub bind: SocketAddr,
    pub log_filter: String,
    pub log_format: LogFormat,
    pub store_currency: Currency,
    pub auto_migrate: bool,
    pub auto_seed: bool,
    pub db_pool_size: u32,
    pub db_timeout: Duration,
    pub request_timeout: Duration,
    pub body_limit_bytes: usize,
    pub shutdown_grace: Duration,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub hsts_max_age_secs: u64,
    pub stripe: StripeConfig,
    /// Shop policy file (shipping methods, rates, taxes); `None`: the demo policy.
    pub shop_policy: Option<PathBuf>,
    /// Where the in-process Stripe sandbox listens when no Stripe key is set.
    pub sandbox_bind: SocketAddr,
    /// How long a placed-but-unpaid order keeps its stock reserved.
    pub reservation_ttl: Duration,
    /// How long idempotency keys are kept.
    pub idempotency_ttl: Duration,
    /// How long an order waiting for the shopper (3-D Secure) keeps its stock: shorter than
    /// `reservation_ttl`, so that orders nobody authenticates cannot hoard stock.
    pub action_hold: Duration,
    /// Most units one order may hold.
    pub max_units_per_order: u32,
    /// Most unpaid orders one client address may hold at once.
    pub max_unpaid_orders_per_client: u32,
    /// Carts created per client address per minute (0: no limit).
    pub carts_per_minute: u32,
    /// Order placements per client address per minute (0: no limit).
    pub orders_per_minute: u32,
    /// E-mail proofs and privacy sessions per client address per minute (0: no limit).
    pub privacy_per_minute: u32,
    /// Where the client's address comes from behind a reverse proxy: `x-forwarded-for` (its last
    /// entry, the one the proxy added) or `x-real-ip`; `None`: the TCP peer.
    pub client_ip_header: Option<String>,
    /// Open carts untouched for this long are deleted.
    pub cart_retention: Duration,
    /// Webhook records (which processor event was applied) are kept this long.
    pub webhook_retention: Duration,
    /// Audit entries (which staff credential read which record) are kept this long.
    pub audit_retention: Duration,
    /// `production` refuses what is only fit for a developer's machine (a master key made on the spot).
    pub production: bool,
    /// Where the master key comes from.
    pub master_key: MasterKeySource,
    /// Where the keyring (wrapped data keys) lives: a database of its own, or on PostgreSQL the shop's
    /// database with the keyring in its own schema.
    pub keyring_url: DatabaseUrl,
    /// A guest's personal data is erased this long after their last order was closed (delivered,
    /// refunded, cancelled, failed) when nothing of theirs is still open.
    pub guest_data_retention: Duration,
    /// How long after shipping a fulfillment partner can still read a record's personal fields.
    pub partner_data_window: Duration,
    /// Where parcels leave from (ISO 3166-1 alpha-2): a parcel to another country is international.
    pub ship_from_country: String,
    /// Partner endpoints may be plain `http://` on this machine (development and tests only).
    pub partner_webhook_allow_loopback_http: bool,
    /// The SMTP server messages are sent through; `None`: `.eml` files in `mail_dir`.
    pub smtp_url: Option<SecretString>,
    pub mail_dir: PathBuf,
    /// The sender of every message.
    pub mail_from: String,
    /// How often the mail worker looks for due messages.
    pub mail_poll: Duration,
    /// How often the fulfillment worker routes paid orders and sends partner notices.
    pub fulfillment_poll: Duration,
    /// Attempts before a message is given up (`failed`).
    pub mail_max_attempts: u32,
    /// The shop's address as shoppers reach it (links in messages); `None`: the address it listens on.
    pub public_url: Option<String>,
    /// A session unused this long ends.
    pub session_idle: Duration,
    /// A session ends this long after it began, however used.
    pub session_absolute: Duration,
    /// Password hashes computed at once (each takes one core for ~20 ms).
    pub password_hashers: usize,
    /// Password hashes each hasher computes per second at most.
    pub password_hashes_per_second: u32,
    /// Where the storefront's pages are (the e-mail proof link opens its privacy page); `None`:
    /// `public_url`.
    pub storefront_url: Option<String>,
}

/// Where the master key (which wraps every data key) comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum MasterKeySource {
    /// `LEANCART_MASTER_KEY`: the key itself (64 hex digits or base64).
    Value(SecretString),
    /// `LEANCART_MASTER_KEY_FILE`: a file holding it, readable by its owner only.
    File(PathBuf),
    /// Neither set, outside production: this file, created (0600) on first start if missing.
    Development(PathBuf),
}

impl fmt::Debug for MasterKeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MasterKeySource::Value(_) => f.write_str("Value([redacted])"),
            MasterKeySource::File(p) => write!(f, "File({})", p.display()),
            MasterKeySource::Development(p) => write!(f, "Development({})", p.display()),
        }
    }
}

/// One documented setting: environment name, TOML key, default, description. docs/configuration.md's table is
/// this list.
pub struct Setting {
    pub env: &'static str,
    pub toml: &'static str,
    pub default: Option<&'static str>,
    pub help: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting {
        env: "LEANCART_CONFIG",
        toml: "-",
        default: None,
        help: "Path of an optional TOML file with the settings below (keys in lower case).",
    },
    Setting {
        env: "DATABASE_URL",
        toml: "database_url",
        default: Some("sqlite://data/leancart.db"),
        help: "sqlite://PATH (or a plain path) or postgres://USER[:PASS]@HOST[:PORT]/DB[?sslmode=require].",
    },
    Setting {
        env: "LEANCART_BIND",
        toml: "bind",
        default: Some("127.0.0.1:8080"),
        help: "Address and port to listen on.",
    },
    Setting { env: "LEANCART_LOG", toml: "log", default: Some("info"), help: "Log filter (tracing EnvFilter syntax)." },
    Setting { env: "LEANCART_LOG_FORMAT", toml: "log_format", default: Some("plain"), help: "plain or json." },
    Setting {
        env: "LEANCART_STORE_CURRENCY",
        toml: "store_currency",
        default: Some("USD"),
        help: "The shop's single ISO-4217 currency.",
    },
    Setting {
        env: "LEANCART_AUTO_MIGRATE",
        toml: "auto_migrate",
        default: Some("true"),
        help: "Apply pending migrations at start.",
    },
    Setting {
        env: "LEANCART_AUTO_SEED",
        toml: "auto_seed",
        default: Some("true"),
        help: "Load the demo fixtures when the catalog is empty at start.",
    },
    Setting {
        env: "LEANCART_DB_POOL_SIZE",
        toml: "db_pool_size",
        default: Some("16"),
        help: "Units of database work at once per process, and connections per pool (1–512; PostgreSQL keeps a second pool for cart drafts).",
    },
    Setting {
        env: "LEANCART_DB_TIMEOUT_SECS",
        toml: "db_timeout_secs",
        default: Some("5"),
        help: "Seconds to wait for a pooled connection.",
    },
    Setting {
        env: "LEANCART_REQUEST_TIMEOUT_SECS",
        toml: "request_timeout_secs",
        default: Some("30"),
        help: "Per-request timeout (408 problem after it).",
    },
    Setting {
        env: "LEANCART_BODY_LIMIT_BYTES",
        toml: "body_limit_bytes",
        default: Some("65536"),
        help: "Largest accepted request body.",
    },
    Setting {
        env: "LEANCART_SHUTDOWN_GRACE_SECS",
        toml: "shutdown_grace_secs",
        default: Some("30"),
        help: "How long in-flight requests may finish after SIGTERM/Ctrl-C.",
    },
    Setting {
        env: "LEANCART_TLS_CERT",
        toml: "tls_cert",
        default: None,
        help: "PEM certificate chain; with LEANCART_TLS_KEY serves HTTPS (TLS 1.2/1.3).",
    },
    Setting { env: "LEANCART_TLS_KEY", toml: "tls_key", default: None, help: "PEM private key for LEANCART_TLS_CERT." },
    Setting {
        env: "LEANCART_HSTS_MAX_AGE_SECS",
        toml: "hsts_max_age_secs",
        default: Some("31536000"),
        help: "max-age of Strict-Transport-Security on HTTPS responses.",
    },
    Setting {
        env: "STRIPE_SECRET_KEY",
        toml: "stripe_secret_key",
        default: None,
        help: "Stripe secret key (sk_live_…/sk_test_…). Unset: the local Stripe sandbox runs in-process.",
    },
    Setting {
        env: "STRIPE_WEBHOOK_SECRET",
        toml: "stripe_webhook_secret",
        default: None,
        help: "Webhook signing secret(s) whsec_…, comma-separated during a rotation. Required with STRIPE_SECRET_KEY.",
    },
    Setting {
        env: "STRIPE_API_BASE",
        toml: "stripe_api_base",
        default: None,
        help: "Override of Stripe's API base URL (e.g. an external sandbox).",
    },
    Setting {
        env: "LEANCART_SHOP_POLICY",
        toml: "shop_policy",
        default: None,
        help: "TOML file with shipping methods, rates and tax rates (default: fixtures/demo/shop.toml, built in).",
    },
    Setting {
        env: "LEANCART_SANDBOX_BIND",
        toml: "sandbox_bind",
        default: Some("127.0.0.1:0"),
        help: "Where the in-process Stripe sandbox listens when STRIPE_SECRET_KEY is unset (port 0: any free port, logged at start).",
    },
    Setting {
        env: "LEANCART_PAYMENT_CAPTURE",
        toml: "payment_capture",
        default: Some("automatic"),
        help: "automatic or manual capture of card payments.",
    },
    Setting {
        env: "LEANCART_STRIPE_TIMEOUT_SECS",
        toml: "stripe_timeout_secs",
        default: Some("10"),
        help: "Timeout of one call to the payment processor.",
    },
    Setting {
        env: "LEANCART_RESERVATION_TTL_SECS",
        toml: "reservation_ttl_secs",
        default: Some("1800"),
        help: "Seconds an unpaid order keeps its stock before it is released.",
    },
    Setting {
        env: "LEANCART_ACTION_HOLD_SECS",
        toml: "action_hold_secs",
        default: Some("300"),
        help: "Seconds an order waiting for the shopper's card authentication (3-D Secure) keeps its stock.",
    },
    Setting {
        env: "LEANCART_MAX_UNITS_PER_ORDER",
        toml: "max_units_per_order",
        default: Some("100"),
        help: "Most units one order may hold (422 order_too_large beyond).",
    },
    Setting {
        env: "LEANCART_MAX_UNPAID_ORDERS_PER_CLIENT",
        toml: "max_unpaid_orders_per_client",
        default: Some("3"),
        help: "Most unpaid orders one client address may hold at once (429 too_many_unpaid_orders beyond).",
    },
    Setting {
        env: "LEANCART_RATE_LIMIT_CARTS_PER_MINUTE",
        toml: "rate_limit_carts_per_minute",
        default: Some("30"),
        help: "Carts one client address may create per minute (429 rate_limited beyond); 0 turns the limit off.",
    },
    Setting {
        env: "LEANCART_RATE_LIMIT_ORDERS_PER_MINUTE",
        toml: "rate_limit_orders_per_minute",
        default: Some("10"),
        help: "Order placements one client address may make per minute (429 rate_limited beyond); 0 turns it off.",
    },
    Setting {
        env: "LEANCART_RATE_LIMIT_PRIVACY_PER_MINUTE",
        toml: "rate_limit_privacy_per_minute",
        default: Some("10"),
        help: "E-mail proofs, privacy sessions, registrations and logins one client address may ask for per \
               minute (one budget); 0 turns it off.",
    },
    Setting {
        env: "LEANCART_CLIENT_IP_HEADER",
        toml: "client_ip_header",
        default: None,
        help: "Behind a reverse proxy: x-forwarded-for (its last entry) or x-real-ip. Unset: the TCP peer address.",
    },
    Setting {
        env: "LEANCART_CART_RETENTION_SECS",
        toml: "cart_retention_secs",
        default: Some("1209600"),
        help: "Open carts untouched for this long (default 14 days) are deleted with their details.",
    },
    Setting {
        env: "LEANCART_WEBHOOK_RETENTION_SECS",
        toml: "webhook_retention_secs",
        default: Some("7776000"),
        help: "Webhook records older than this (default 90 days) are deleted.",
    },
    Setting {
        env: "LEANCART_AUDIT_RETENTION_SECS",
        toml: "audit_retention_secs",
        default: Some("63072000"),
        help: "Audit entries older than this (default 2 years) are deleted.",
    },
    Setting {
        env: "LEANCART_ENV",
        toml: "env",
        default: Some("development"),
        help: "development or production (production requires a master key and never makes one).",
    },
    Setting {
        env: "LEANCART_MASTER_KEY",
        toml: "master_key",
        default: None,
        help: "The master key that wraps every personal-data key: 64 hex digits or base64 of 32 bytes.",
    },
    Setting {
        env: "LEANCART_MASTER_KEY_FILE",
        toml: "master_key_file",
        default: None,
        help: "A file holding the master key (mode 0600). Unset with no LEANCART_MASTER_KEY: development \
               makes one beside the SQLite database (or data/master.key) on first start.",
    },
    Setting {
        env: "LEANCART_KEYRING_URL",
        toml: "keyring_url",
        default: None,
        help: "Where the keyring lives. Default: a second SQLite file beside the shop's \
               (leancart.keyring.db); on PostgreSQL the shop's database, schema keyring.",
    },
    Setting {
        env: "LEANCART_PARTNER_DATA_WINDOW_SECS",
        toml: "partner_data_window_secs",
        default: Some("2592000"),
        help: "How long after a fulfillment shipped its partner can still read the recipient's personal fields \
               (default 30 days, for returns and claims); then the record shows reference, status and lines only.",
    },
    Setting {
        env: "LEANCART_SHIP_FROM_COUNTRY",
        toml: "ship_from_country",
        default: Some("US"),
        help: "Where parcels leave from (ISO 3166-1 alpha-2): parcels to other countries carry customs values.",
    },
    Setting {
        env: "LEANCART_PARTNER_WEBHOOK_ALLOW_LOOPBACK_HTTP",
        toml: "partner_webhook_allow_loopback_http",
        default: Some("false"),
        help: "Allow a partner endpoint on http://127.0.0.1 or http://localhost (development and tests; never in production).",
    },
    Setting {
        env: "LEANCART_GUEST_DATA_RETENTION_SECS",
        toml: "guest_data_retention_secs",
        default: Some("63072000"),
        help: "A guest's personal data is erased this long (default 2 years) after their last order closed, \
               when nothing of theirs is open.",
    },
    Setting {
        env: "LEANCART_SMTP_URL",
        toml: "smtp_url",
        default: None,
        help: "SMTP server for outgoing mail: smtp://host:port, smtp://user:pass@host:587?tls=required \
               (STARTTLS) or smtps://user:pass@host:465. Unset: mail is written as .eml files.",
    },
    Setting {
        env: "LEANCART_MAIL_DIR",
        toml: "mail_dir",
        default: None,
        help: "Where mail goes as .eml files without LEANCART_SMTP_URL. Default: mail/ beside the SQLite \
               database (data/mail), or data/mail.",
    },
    Setting {
        env: "LEANCART_MAIL_FROM",
        toml: "mail_from",
        default: Some("leancart <shop@localhost>"),
        help: "The sender of every message.",
    },
    Setting {
        env: "LEANCART_MAIL_POLL_MS",
        toml: "mail_poll_ms",
        default: Some("1000"),
        help: "How often the mail worker looks for due messages.",
    },
    Setting {
        env: "LEANCART_FULFILLMENT_POLL_MS",
        toml: "fulfillment_poll_ms",
        default: Some("2000"),
        help: "How often the fulfillment worker routes paid orders to partners and sends partner notices.",
    },
    Setting {
        env: "LEANCART_MAIL_MAX_ATTEMPTS",
        toml: "mail_max_attempts",
        default: Some("10"),
        help: "Attempts (with exponential back-off, 30 s doubling to 1 h) before a message is given up.",
    },
    Setting {
        env: "LEANCART_SESSION_IDLE_SECS",
        toml: "session_idle_secs",
        default: Some("1800"),
        help: "A shopper's session unused this long (default 30 minutes) ends.",
    },
    Setting {
        env: "LEANCART_SESSION_ABSOLUTE_SECS",
        toml: "session_absolute_secs",
        default: Some("604800"),
        help: "A shopper's session ends this long (default 7 days) after it began, however used.",
    },
    Setting {
        env: "LEANCART_PASSWORD_HASHERS",
        toml: "password_hashers",
        default: Some("1"),
        help: "Password hashes computed at once (argon2id, ~20 ms of one core each); the rest wait, so a \
               login flood cannot take the cores checkout needs.",
    },
    Setting {
        env: "LEANCART_PASSWORD_HASHES_PER_SECOND",
        toml: "password_hashes_per_second",
        default: Some("10"),
        help: "Password hashes each hasher computes per second at most: a login flood queues instead of taking \
               the CPU checkout needs.",
    },
    Setting {
        env: "LEANCART_PUBLIC_URL",
        toml: "public_url",
        default: None,
        help: "The shop's address as shoppers reach it, for links in mail (e.g. https://shop.example.com). \
               Unset: the address it listens on.",
    },
    Setting {
        env: "LEANCART_STOREFRONT_URL",
        toml: "storefront_url",
        default: None,
        help: "The storefront whose /privacy/verify page takes an e-mail proof link's token to \
               POST /v1/privacy/sessions. Unset: LEANCART_PUBLIC_URL.",
    },
    Setting {
        env: "LEANCART_IDEMPOTENCY_TTL_SECS",
        toml: "idempotency_ttl_secs",
        default: Some("86400"),
        help: "Seconds an Idempotency-Key is remembered (at least 86400).",
    },
];

/// Settings that existed once and must not be set any more (refused with what replaced them).
const RETIRED: &[&str] = &["LEANCART_ADMIN_TOKEN"];

/// Raw settings by environment name, before validation.
#[derive(Debug, Default, Clone)]
pub struct RawSettings(BTreeMap<String, String>);

impl RawSettings {
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.0.insert(key.to_owned(), value.into());
        self
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// Defaults ← TOML file (if `LEANCART_CONFIG` or `file` names one) ← process environment.
    pub fn from_environment(file: Option<PathBuf>) -> Result<Self, ConfigError> {
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| SETTINGS.iter().any(|s| s.env == k) || RETIRED.contains(&k.as_str()))
            .collect();
        let mut raw = RawSettings::default();
        let file = file.or_else(|| env.get("LEANCART_CONFIG").map(PathBuf::from));
        if let Some(path) = file {
            raw.merge_toml_file(&path)?;
        }
        for (k, v) in env {
            raw.0.insert(k, v);
        }
        Ok(raw)
    }

    fn merge_toml_file(&mut self, path: &std::path::Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new("LEANCART_CONFIG", format!("cannot read the file: {}", e.kind())))?;
        let table: toml::Table =
            toml::from_str(&text).map_err(|_| ConfigError::new("LEANCART_CONFIG", "the file is not valid TOML"))?;
        for (key, value) in table {
            let setting = SETTINGS
                .iter()
                .find(|s| s.toml == key)
                .ok_or_else(|| ConfigError::new("LEANCART_CONFIG", format!("unknown key `{key}`")))?;
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                _ => {
                    return Err(ConfigError::new(setting.env, "must be a string, integer or boolean"));
                }
            };
            self.0.insert(setting.env.to_owned(), value);
        }
        Ok(())
    }
}

fn default_of(key: &str) -> Option<&'static str> {
    SETTINGS.iter().find(|s| s.env == key).and_then(|s| s.default)
}

impl Config {
    /// Validate raw settings into a configuration.
    pub fn from_raw(raw: &RawSettings) -> Result<Config, ConfigError> {
        let value = |key: &str| raw.get(key).or_else(|| default_of(key));
        let required = |key: &str| value(key).ok_or_else(|| ConfigError::new(key, "is required"));
        let parse_bool = |key: &str| -> Result<bool, ConfigError> {
            match required(key)?.to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => Err(ConfigError::new(key, "must be true or false")),
            }
        };
        let parse_u64 = |key: &str, min: u64, max: u64| -> Result<u64, ConfigError> {
            let n: u64 = required(key)?.parse().map_err(|_| ConfigError::new(key, "must be a whole number"))?;
            if n < min || n > max {
                return Err(ConfigError::new(key, format!("must be between {min} and {max}")));
            }
            Ok(n)
        };
        let secret = |key: &str| value(key).map(SecretString::new);

        let database_url = DatabaseUrl::parse(required("DATABASE_URL")?)?;
        let production = match required("LEANCART_ENV")?.trim() {
            "production" => true,
            "development" => false,
            _ => return Err(ConfigError::new("LEANCART_ENV", "must be development or production")),
        };
        let beside_database = |name: &str| match &database_url {
            DatabaseUrl::Sqlite(path) => path.with_file_name(name),
            DatabaseUrl::Postgres(_) => PathBuf::from("data").join(name),
        };
        let master_key = match (secret("LEANCART_MASTER_KEY"), value("LEANCART_MASTER_KEY_FILE")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    "LEANCART_MASTER_KEY",
                    "set either LEANCART_MASTER_KEY or LEANCART_MASTER_KEY_FILE, not both",
                ));
            }
            (Some(key), None) => MasterKeySource::Value(key),
            (None, Some(path)) => MasterKeySource::File(PathBuf::from(path)),
            (None, None) if production => {
                return Err(ConfigError::new(
                    "LEANCART_MASTER_KEY",
                    "is required in production (or LEANCART_MASTER_KEY_FILE); create one with `leancart keys new --out FILE`",
                ));
            }
            (None, None) => MasterKeySource::Development(beside_database("master.key")),
        };
        // Messages written as files hold personal data in clear: a developer's default, an explicit
        // choice in production (a pickup directory), never an accident.
        if production && value("LEANCART_SMTP_URL").is_none() && value("LEANCART_MAIL_DIR").is_none() {
            return Err(ConfigError::new(
                "LEANCART_SMTP_URL",
                "is required in production (or LEANCART_MAIL_DIR, for a pickup directory you protect)",
            ));
        }
        let mail_dir = value("LEANCART_MAIL_DIR").map(PathBuf::from).unwrap_or_else(|| beside_database("mail"));
        let keyring_url = match value("LEANCART_KEYRING_URL") {
            Some(url) => DatabaseUrl::parse(url).map_err(|e| ConfigError::new("LEANCART_KEYRING_URL", e.problem))?,
            None => match &database_url {
                DatabaseUrl::Sqlite(path) => {
                    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                    DatabaseUrl::Sqlite(path.with_file_name(format!("{stem}.keyring.db")))
                }
                pg @ DatabaseUrl::Postgres(_) => pg.clone(),
            },
        };
        let bind = required("LEANCART_BIND")?
            .parse()
            .map_err(|_| ConfigError::new("LEANCART_BIND", "must be ADDRESS:PORT, e.g. 127.0.0.1:8080"))?;
        let log_filter = required("LEANCART_LOG")?.to_owned();
        tracing_subscriber::EnvFilter::try_new(&log_filter)
            .map_err(|_| ConfigError::new("LEANCART_LOG", "is not a valid log filter"))?;
        let log_format = match required("LEANCART_LOG_FORMAT")?.to_ascii_lowercase().as_str() {
            "plain" | "text" => LogFormat::Plain,
            "json" => LogFormat::Json,
            _ => {
                return Err(ConfigError::new("LEANCART_LOG_FORMAT", "must be plain or json"));
            }
        };
        let store_currency = required("LEANCART_STORE_CURRENCY")?.parse().map_err(|_| {
            ConfigError::new("LEANCART_STORE_CURRENCY", "must be a supported ISO-4217 code such as USD or EUR")
        })?;
        let tls_cert = value("LEANCART_TLS_CERT").map(PathBuf::from);
        let tls_key = value("LEANCART_TLS_KEY").map(PathBuf::from);
        if tls_cert.is_some() != tls_key.is_some() {
            let missing = if tls_cert.is_some() { "LEANCART_TLS_KEY" } else { "LEANCART_TLS_CERT" };
            return Err(ConfigError::new(missing, "must be set together with the other TLS setting"));
        }

        let secret_key = secret("STRIPE_SECRET_KEY");
        if let Some(k) = &secret_key
            && !(k.expose().starts_with("sk_") || k.expose().starts_with("rk_"))
        {
            return Err(ConfigError::new(
                "STRIPE_SECRET_KEY",
                "must be a Stripe secret or restricted key (sk_… or rk_…)",
            ));
        }
        let webhook_secrets: Vec<SecretString> = value("STRIPE_WEBHOOK_SECRET")
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(SecretString::new).collect())
            .unwrap_or_default();
        if webhook_secrets.iter().any(|s| !s.expose().starts_with("whsec_")) {
            return Err(ConfigError::new("STRIPE_WEBHOOK_SECRET", "each secret must start with whsec_"));
        }
        if secret_key.is_some() && webhook_secrets.is_empty() {
            return Err(ConfigError::new("STRIPE_WEBHOOK_SECRET", "is required when STRIPE_SECRET_KEY is set"));
        }
        let api_base = match value("STRIPE_API_BASE") {
            None => None,
            Some(b) => {
                let u =
                    url::Url::parse(b).map_err(|_| ConfigError::new("STRIPE_API_BASE", "must be an http(s) URL"))?;
                if !matches!(u.scheme(), "http" | "https") {
                    return Err(ConfigError::new("STRIPE_API_BASE", "must be an http(s) URL"));
                }
                Some(if b.ends_with('/') { b.to_owned() } else { format!("{b}/") })
            }
        };
        let capture = match required("LEANCART_PAYMENT_CAPTURE")?.to_ascii_lowercase().as_str() {
            "automatic" => CaptureMethod::Automatic,
            "manual" => CaptureMethod::Manual,
            _ => {
                return Err(ConfigError::new("LEANCART_PAYMENT_CAPTURE", "must be automatic or manual"));
            }
        };
        if secret("LEANCART_ADMIN_TOKEN").is_some() {
            return Err(ConfigError::new(
                "LEANCART_ADMIN_TOKEN",
                "the shared admin token is gone: staff sign in as themselves (`leancart staff create --role admin \
                 --email …`, docs/accounts.md); unset it",
            ));
        }

        Ok(Config {
            database_url,
            bind,
            log_filter,
            log_format,
            store_currency,
            auto_migrate: parse_bool("LEANCART_AUTO_MIGRATE")?,
            auto_seed: parse_bool("LEANCART_AUTO_SEED")?,
            db_pool_size: parse_u64("LEANCART_DB_POOL_SIZE", 1, 512)? as u32,
            db_timeout: Duration::from_secs(parse_u64("LEANCART_DB_TIMEOUT_SECS", 1, 600)?),
            request_timeout: Duration::from_secs(parse_u64("LEANCART_REQUEST_TIMEOUT_SECS", 1, 3600)?),
            body_limit_bytes: parse_u64("LEANCART_BODY_LIMIT_BYTES", 1024, 64 * 1024 * 1024)? as usize,
            shutdown_grace: Duration::from_secs(parse_u64("LEANCART_SHUTDOWN_GRACE_SECS", 0, 3600)?),
            tls_cert,
            tls_key,
            hsts_max_age_secs: parse_u64("LEANCART_HSTS_MAX_AGE_SECS", 0, 2 * 31_536_000)?,
            stripe: StripeConfig {
                secret_key,
                webhook_secrets,
                api_base,
                capture,
                timeout: Duration::from_secs(parse_u64("LEANCART_STRIPE_TIMEOUT_SECS", 1, 120)?),
            },
            shop_policy: value("LEANCART_SHOP_POLICY").map(PathBuf::from),
            sandbox_bind: required("LEANCART_SANDBOX_BIND")?
                .parse()
                .map_err(|_| ConfigError::new("LEANCART_SANDBOX_BIND", "must be ADDRESS:PORT"))?,
            reservation_ttl: Duration::from_secs(parse_u64("LEANCART_RESERVATION_TTL_SECS", 10, 7 * 86_400)?),
            idempotency_ttl: Duration::from_secs(parse_u64("LEANCART_IDEMPOTENCY_TTL_SECS", 86_400, 30 * 86_400)?),
            action_hold: Duration::from_secs(parse_u64("LEANCART_ACTION_HOLD_SECS", 10, 86_400)?),
            max_units_per_order: parse_u64("LEANCART_MAX_UNITS_PER_ORDER", 1, 1_000_000)? as u32,
            max_unpaid_orders_per_client: parse_u64("LEANCART_MAX_UNPAID_ORDERS_PER_CLIENT", 1, 1_000_000)? as u32,
            carts_per_minute: parse_u64("LEANCART_RATE_LIMIT_CARTS_PER_MINUTE", 0, 1_000_000)? as u32,
            orders_per_minute: parse_u64("LEANCART_RATE_LIMIT_ORDERS_PER_MINUTE", 0, 1_000_000)? as u32,
            privacy_per_minute: parse_u64("LEANCART_RATE_LIMIT_PRIVACY_PER_MINUTE", 0, 1_000_000)? as u32,
            client_ip_header: match value("LEANCART_CLIENT_IP_HEADER").map(|v| v.trim().to_ascii_lowercase()) {
                None => None,
                Some(h) if h == "x-forwarded-for" || h == "x-real-ip" => Some(h),
                Some(_) => {
                    return Err(ConfigError::new("LEANCART_CLIENT_IP_HEADER", "must be x-forwarded-for or x-real-ip"));
                }
            },
            cart_retention: Duration::from_secs(parse_u64("LEANCART_CART_RETENTION_SECS", 3600, 3650 * 86_400)?),
            webhook_retention: Duration::from_secs(parse_u64(
                "LEANCART_WEBHOOK_RETENTION_SECS",
                86_400,
                3650 * 86_400,
            )?),
            audit_retention: Duration::from_secs(parse_u64("LEANCART_AUDIT_RETENTION_SECS", 86_400, 3650 * 86_400)?),
            production,
            master_key,
            keyring_url,
            guest_data_retention: Duration::from_secs(parse_u64(
                "LEANCART_GUEST_DATA_RETENTION_SECS",
                86_400,
                3650 * 86_400,
            )?),
            partner_data_window: Duration::from_secs(parse_u64("LEANCART_PARTNER_DATA_WINDOW_SECS", 0, 3650 * 86_400)?),
            ship_from_country: {
                let c = required("LEANCART_SHIP_FROM_COUNTRY")?.to_ascii_uppercase();
                if crate::shipping::country::CountryCode::parse(&c).is_none() {
                    return Err(ConfigError::new("LEANCART_SHIP_FROM_COUNTRY", "must be an ISO 3166-1 alpha-2 code"));
                }
                c
            },
            partner_webhook_allow_loopback_http: parse_bool("LEANCART_PARTNER_WEBHOOK_ALLOW_LOOPBACK_HTTP")?,
            smtp_url: secret("LEANCART_SMTP_URL"),
            mail_dir,
            mail_from: required("LEANCART_MAIL_FROM")?.to_owned(),
            mail_poll: Duration::from_millis(parse_u64("LEANCART_MAIL_POLL_MS", 50, 3_600_000)?),
            fulfillment_poll: Duration::from_millis(parse_u64("LEANCART_FULFILLMENT_POLL_MS", 50, 3_600_000)?),
            mail_max_attempts: u32::try_from(parse_u64("LEANCART_MAIL_MAX_ATTEMPTS", 1, 100)?).unwrap_or(10),
            public_url: value("LEANCART_PUBLIC_URL").map(|u| u.trim_end_matches('/').to_owned()),
            storefront_url: value("LEANCART_STOREFRONT_URL").map(|u| u.trim_end_matches('/').to_owned()),
            session_idle: Duration::from_secs(parse_u64("LEANCART_SESSION_IDLE_SECS", 60, 30 * 86_400)?),
            session_absolute: Duration::from_secs(parse_u64("LEANCART_SESSION_ABSOLUTE_SECS", 300, 365 * 86_400)?),
            password_hashers: usize::try_from(parse_u64("LEANCART_PASSWORD_HASHERS", 1, 64)?).unwrap_or(1),
            password_hashes_per_second: u32::try_from(parse_u64("LEANCART_PASSWORD_HASHES_PER_SECOND", 1, 10_000)?)
                .unwrap_or(10),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = Config::from_raw(&RawSettings::default()).unwrap();
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url.backend_name(), "sqlite");
    }

    #[test]
    fn database_url_schemes() {
        assert!(matches!(DatabaseUrl::parse("sqlite://x.db"), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!(DatabaseUrl::parse("./data/x.db"), Ok(DatabaseUrl::Sqlite(_))));
        assert!(matches!(DatabaseUrl::parse("postgres://u@h/db"), Ok(DatabaseUrl::Postgres(_))));
        assert!(DatabaseUrl::parse("mysql://u@h/db").is_err());
        assert!(DatabaseUrl::parse("postgress://u@h/db").is_err());
        assert!(DatabaseUrl::parse("sqlite::memory:").is_err());
    }

    #[test]
    fn password_is_masked() {
        let u = DatabaseUrl::parse("postgres://app:hunter2@db.example/shop?sslmode=require").unwrap();
        let shown = format!("{u} {u:?}");
        assert!(!shown.contains("hunter2"));
        assert!(shown.contains("db.example"));
    }

    #[test]
    fn errors_name_the_variable_not_the_value() {
        let mut raw = RawSettings::default();
        raw.set("LEANCART_DB_POOL_SIZE", "many-secret");
        let e = Config::from_raw(&raw).unwrap_err();
        assert_eq!(e.var, "LEANCART_DB_POOL_SIZE");
        assert!(!e.to_string().contains("many-secret"));
    }
}
