//! The application state every handler can reach. It lives beneath the domains (which take it in their
//! handlers) and above nothing: the assembly (`app.rs`) builds it, and no domain imports the assembly.

use crate::billing::service::Billing;
use crate::config::Config;
use crate::db::Db;
use crate::http::limits::Limits;
use crate::sandbox::Sandbox;
use std::sync::Arc;

/// What every handler can reach. Cheap to clone; holds no per-process state that another process
/// would need (several processes can share one PostgreSQL database).
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<Config>,
    pub billing: Arc<Billing>,
    /// Shipping methods, rates and taxes.
    pub policy: Arc<crate::shipping::policy::ShopPolicy>,
    /// The in-process Stripe sandbox, when no Stripe key is configured.
    pub sandbox: Option<Sandbox>,
    /// Unpaid orders per client (this process).
    pub holds: Arc<crate::orders::holds::Holds>,
    /// Per-client rate limits (this process).
    pub limits: Limits,
    /// What the time rules read as "now".
    pub clock: crate::kernel::time::Clock,
    /// Data subjects and their keys (personal data sealed at rest), the blind index.
    pub vault: Arc<crate::privacy::vault::Vault>,
    /// Where the outbox's messages go (SMTP, or `.eml` files on a developer's machine).
    pub mailer: Arc<crate::mail::transport::Mailer>,
    /// The bounded pool password hashing runs on.
    pub hashers: crate::accounts::password::Hashers,
    /// The shop's address for links in messages (`LEANCART_PUBLIC_URL`, or the address it listens on).
    pub public_url: Arc<str>,
}
