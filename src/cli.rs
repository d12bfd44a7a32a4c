//! Command line: `serve` (default), `migrate`, `seed`, `check-config`, `retention run`, `keys …`,
//! `audit verify`, `staff …`, `partner …`.
//! Exit codes: 0 ok, 2 bad usage or configuration, 1 runtime failure.

use crate::app::{self, Application, StartError};
use crate::config::{Config, RawSettings};
use crate::db::{self, Manager};
use crate::{catalog, telemetry};
use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(name = "leancart", version, about = "Privacy-first checkout and order backend", long_about = None)]
pub struct Cli {
    /// TOML configuration file (settings in lower case, e.g. `bind = "0.0.0.0:8080"`); environment
    /// variables override it.
    #[arg(long, global = true, value_name = "FILE", env = "LEANCART_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API (the default). Applies migrations and seeds an empty catalog first unless
    /// LEANCART_AUTO_MIGRATE / LEANCART_AUTO_SEED are off.
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Load fixtures into the catalog (idempotent: existing handles and SKUs are kept) and exit.
    Seed(SeedArgs),
    /// Validate the configuration, connect to the database, report pending migrations, and exit.
    CheckConfig,
    /// The keyring: make a new master key file, see which master key wraps the keys, re-wrap them.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Retention schedules: delete what is due now (`run`), or only count it (`run --dry-run`).
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Fulfillment partners and their API keys.
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// Staff members: create one (the first admin, bootstrapping), list them, issue a setup link.
    #[command(subcommand)]
    Staff(StaffCommand),
    /// Export a partner's fulfillment records to a file (CSV or NDJSON), as the partner would receive
    /// them with every scope; audited as an operator's read.
    #[command(subcommand)]
    Export(ExportCommand),
    /// Benchmarks: make COUNT paid orders with a fulfillment each for a partner (their customers drawn
    /// from PEOPLE persons, each with a key and sealed fields).
    SeedFulfillments {
        #[arg(long, value_name = "PARTNER_ID")]
        partner: String,
        #[arg(long, default_value_t = 1000)]
        count: i64,
        #[arg(long, default_value_t = 1000)]
        people: usize,
    },
    /// The access audit log: check its hash chain (`verify`: exit 1 where it is broken).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Run the local Stripe-compatible sandbox on its own (serve starts one in-process when no
    /// STRIPE_SECRET_KEY is set). Test mode only: no real money moves.
    StripeSandbox(SandboxArgs),
}

#[derive(Debug, Subcommand)]
pub enum PartnerCommand {
    /// Add a partner (warehouse, 3PL, carrier); prints its id.
    Create {
        #[arg(long)]
        name: String,
    },
    /// A partner's API keys.
    #[command(subcommand)]
    Key(PartnerKeyCommand),
}

#[derive(Debug, Subcommand)]
pub enum PartnerKeyCommand {
    /// Issue a key; the token is printed this once (store it in the partner's secret store), never
    /// logged. Rotate with overlap: issue the new key, move the partner to it, revoke the old.
    Issue {
        #[arg(long, value_name = "PARTNER_ID")]
        partner: String,
        /// Comma-separated: orders:read, shipments:write, shipping.phone:read, customs:read.
        #[arg(long)]
        scopes: String,
        /// The key stops working after this many days.
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
    /// Revoke a key at once.
    Revoke {
        #[arg(long, value_name = "KEY_ID")]
        key: String,
    },
    /// A partner's keys: id, prefix, scopes, created, expires, revoked (never the token).
    List {
        #[arg(long, value_name = "PARTNER_ID")]
        partner: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ExportCommand {
    /// One partner's fulfillments (every status unless --status), streamed to FILE.
    Fulfillments {
        #[arg(long, value_name = "PARTNER_ID")]
        partner: String,
        /// csv or ndjson.
        #[arg(long, default_value = "csv")]
        format: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
        /// Only this status (ready, acknowledged, shipped, …).
        #[arg(long)]
        status: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum StaffCommand {
    /// Add a member of staff. Prints a one-time setup token (24 hours) on stdout — or, with
    /// `--password-stdin`, sets the password read from standard input instead (nothing secret on the
    /// command line, so nothing in shell history). They enrol an authenticator at their first sign-in.
    Create {
        /// admin, support or finance.
        #[arg(long)]
        role: String,
        #[arg(long)]
        email: String,
        /// Read the password from standard input (one line) instead of printing a setup token.
        #[arg(long)]
        password_stdin: bool,
    },
    /// A new one-time setup token for a member who forgot their password (printed on stdout).
    SetupLink {
        #[arg(long)]
        email: String,
    },
    /// Every member: id, role, e-mail, password set, second factor, disabled.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute every entry's hash and link, from the first entry kept to the chain's head.
    Verify,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Write a new random master key to FILE (which must not exist), mode 0600. Nothing is printed.
    New {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// How many keys each master key (by its id) wraps, and the configured master key's id.
    Status,
    /// Re-wrap every key under the master key in FILE (then configure that key). Rows are not touched.
    Rotate {
        #[arg(long, value_name = "FILE")]
        to_key_file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// Delete every record past its retention period, category by category, and say how many went.
    Run {
        /// Only count what would go; delete nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Address and port to listen on.
    #[arg(long, value_name = "ADDR:PORT", default_value = "127.0.0.1:12111")]
    pub bind: std::net::SocketAddr,
    /// Deliver signed webhook events to this URL (e.g. http://127.0.0.1:8080/v1/webhooks/stripe).
    #[arg(long, value_name = "URL")]
    pub webhook_url: Option<String>,
    /// Signing secret for the webhooks (whsec_…); defaults to STRIPE_WEBHOOK_SECRET.
    #[arg(long, value_name = "SECRET", env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub webhook_secret: Option<String>,
}

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Address and port to listen on (overrides LEANCART_BIND; default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR:PORT")]
    pub bind: Option<String>,
    /// PEM certificate chain: serve HTTPS (TLS 1.2/1.3) with HSTS. Requires --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// Directory holding products.json (default: the demo catalog built into the binary).
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
}

fn fail(code: u8, message: impl std::fmt::Display) -> ExitCode {
    eprintln!("leancart: {message}");
    ExitCode::from(code)
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));

    let mut raw = match RawSettings::from_environment(cli.config) {
        Ok(r) => r,
        Err(e) => return fail(2, e),
    };
    if let Command::Serve(args) = &command {
        if let Some(bind) = &args.bind {
            raw.set("LEANCART_BIND", bind.clone());
        }
        if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
            raw.set("LEANCART_TLS_CERT", cert.display().to_string());
            raw.set("LEANCART_TLS_KEY", key.display().to_string());
        }
    }
    let config = match Config::from_raw(&raw) {
        Ok(c) => c,
        Err(e) => return fail(2, e),
    };
    // Only `serve` logs to standard output; the other commands keep it for their answer.
    telemetry::init_to(&config, !matches!(command, Command::Serve(_) | Command::StripeSandbox(_)));

    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(1, format!("cannot start the async runtime: {e}")),
    };
    match command {
        Command::Serve(_) => runtime.block_on(serve(config)),
        Command::Migrate => migrate(&config),
        Command::Seed(args) => seed(&config, args),
        Command::CheckConfig => check_config(&config),
        Command::Retention(RetentionCommand::Run { dry_run }) => retention(&config, dry_run),
        Command::Audit(AuditCommand::Verify) => audit_verify(&config),
        Command::Partner(command) => partner(&config, command),
        Command::Staff(command) => runtime.block_on(staff(config, command)),
        Command::Export(command) => runtime.block_on(export(config, command)),
        Command::SeedFulfillments { partner, count, people } => {
            runtime.block_on(seed_fulfillments(config, partner, count, people))
        }
        Command::Keys(command) => keys(&config, command),
        Command::StripeSandbox(args) => runtime.block_on(stripe_sandbox(args)),
    }
}

async fn stripe_sandbox(args: SandboxArgs) -> ExitCode {
    use crate::sandbox::{Sandbox, SandboxOptions};
    let sandbox = match Sandbox::start(args.bind, SandboxOptions::default()).await {
        Ok(s) => s,
        Err(e) => return fail(1, format!("cannot listen on {}: {e}", args.bind)),
    };
    if let Some(url) = args.webhook_url {
        let Some(secret) = args.webhook_secret.filter(|s| s.starts_with("whsec_")) else {
            return fail(2, "--webhook-url needs --webhook-secret (or STRIPE_WEBHOOK_SECRET) starting with whsec_");
        };
        sandbox.set_webhook(url, crate::kernel::secret::SecretString::new(secret));
    }
    tracing::warn!("Stripe sandbox listening on {} — test mode, no real money moves", sandbox.base_url());
    app::shutdown_signal().await;
    ExitCode::SUCCESS
}

async fn serve(config: Config) -> ExitCode {
    let database = config.database_url.to_string();
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => return fail(e.exit_code(), e),
    };
    let prepared = app.prepared();
    tracing::info!(
        listen = %app.base_url(),
        database = %database,
        migrations_applied = prepared.migrations_applied,
        products_seeded = prepared.products_seeded,
        products = prepared.products_total,
        "leancart listening on {} (database {}; {} products seeded, {} in catalog)",
        app.base_url(), database, prepared.products_seeded, prepared.products_total
    );
    match app.run_until(app::shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, format!("server error: {e}")),
    }
}

fn migrate(config: &Config) -> ExitCode {
    let result = Manager::new(config.database_url.clone()).connect().and_then(|mut conn| db::run_migrations(&mut conn));
    match result {
        Ok(n) => {
            println!("applied {n} migration(s) to {}", config.database_url);
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, e),
    }
}

fn seed(config: &Config, args: SeedArgs) -> ExitCode {
    let fixtures = match &args.fixtures {
        Some(dir) => catalog::seed::load_dir(dir),
        None => catalog::seed::parse(catalog::seed::DEMO_PRODUCTS),
    };
    let fixtures = match fixtures {
        Ok(f) => f,
        Err(e) => return fail(2, e),
    };
    let result = Manager::new(config.database_url.clone()).connect().map_err(StartError::from).and_then(|mut conn| {
        if config.auto_migrate {
            db::run_migrations(&mut conn)?;
        }
        Ok(catalog::seed::apply(&mut conn, &fixtures, config.store_currency)?)
    });
    match result {
        Ok(r) => {
            println!("seeded {} product(s) and {} variant(s)", r.products_added, r.variants_added);
            ExitCode::SUCCESS
        }
        Err(StartError::Seed(e @ catalog::seed::SeedError::CurrencyMismatch { .. })) => fail(2, e),
        Err(e) => fail(1, e),
    }
}

fn keys(config: &Config, command: KeysCommand) -> ExitCode {
    use crate::privacy::keyring;
    match command {
        KeysCommand::New { out } => match keyring::write_new_key_file(&out) {
            Ok(key) => {
                println!("wrote master key {} to {} (mode 0600)", key.id(), out.display());
                ExitCode::SUCCESS
            }
            Err(e) => fail(2, e),
        },
        KeysCommand::Status => {
            let configured = match keyring::master_key(&config.master_key) {
                Ok(k) => k,
                Err(e) => return fail(2, e),
            };
            match keyring::status_of(&config.keyring_url) {
                Ok(counts) => {
                    println!("configured master key: {}", configured.id());
                    for (id, n) in counts {
                        println!("  {id}: {n} key(s)");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, e),
            }
        }
        KeysCommand::Rotate { to_key_file } => match keyring::rotate(config, &to_key_file) {
            Ok(n) => {
                println!("re-wrapped {n} key(s); now set LEANCART_MASTER_KEY_FILE={}", to_key_file.display());
                ExitCode::SUCCESS
            }
            Err(e @ keyring::KeyringError::Store(_)) => fail(1, e),
            Err(e) => fail(2, e),
        },
    }
}

fn retention(config: &Config, dry_run: bool) -> ExitCode {
    use crate::privacy::retention::{self, Schedule};
    let schedule = Schedule::from_config(config);
    let now = crate::kernel::time::now();
    let mut conn = match Manager::new(config.database_url.clone()).connect() {
        Ok(c) => c,
        Err(e) => return fail(1, e),
    };
    let counts: Result<Vec<(&str, i64)>, crate::error::ApiError> = if dry_run {
        retention::due(&mut conn, &schedule, now).map(|d| d.into_iter().map(|(c, n)| (c.as_str(), n)).collect())
    } else {
        retention::run(&mut conn, &schedule, now, usize::MAX)
            .map(|d| d.into_iter().map(|(c, n)| (c.as_str(), i64::try_from(n).unwrap_or(i64::MAX))).collect())
            .and_then(|mut counts: Vec<(&str, i64)>| {
                let erased = erase_guest_data(config)?;
                counts.push((retention::Category::GuestData.as_str(), i64::try_from(erased).unwrap_or(i64::MAX)));
                Ok(counts)
            })
    };
    match counts {
        Ok(counts) => {
            println!("{}", if dry_run { "retention (dry run): would delete" } else { "retention: deleted" });
            for (category, n) in counts {
                println!("  {category:<18} {n}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, format!("retention run failed: {}", e.code())),
    }
}

/// Guest-data retention needs the keyring and the shop's services: an instance of the shop (not
/// serving; on a port of its own) runs the server sweep's erasure of what is due.
fn erase_guest_data(config: &Config) -> Result<usize, crate::error::ApiError> {
    let mut config = config.clone();
    config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| crate::error::ApiError::internal(format!("runtime: {e}")))?;
    runtime.block_on(async move {
        let app = crate::app::Application::build(config)
            .await
            .map_err(|e| crate::error::ApiError::internal(format!("start: {e}")))?;
        let state = app.state().clone();
        let mut erased = 0;
        loop {
            let n = crate::privacy::requests::erase_due(&state, state.clock.now(), 100).await?;
            erased += n;
            if n == 0 {
                return Ok(erased);
            }
        }
    })
}

/// An instance of the shop that does not serve (on a port of its own), for commands that need its
/// services: the keyring, the vault.
async fn shop(mut config: Config) -> Result<crate::app::AppState, ExitCode> {
    config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    match crate::app::Application::build(config).await {
        Ok(app) => Ok(app.state().clone()),
        Err(e) => Err(fail(e.exit_code(), e)),
    }
}

async fn export(config: Config, command: ExportCommand) -> ExitCode {
    use crate::fulfillment::export::{Format, Viewer, begin, produce};
    use crate::fulfillment::record::Grant;
    use std::io::Write;
    let ExportCommand::Fulfillments { partner, format, out, status } = command;
    let format = match format.as_str() {
        "csv" => Format::Csv,
        "ndjson" => Format::Ndjson,
        _ => return fail(2, "--format must be csv or ndjson"),
    };
    let status = match status.as_deref().map(crate::fulfillment::model::Status::parse) {
        None => None,
        Some(Some(s)) => Some(s),
        Some(None) => return fail(2, "--status is not a fulfillment status"),
    };
    let state = match shop(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let pid = partner.clone();
    let needs_phone = match state
        .db
        .run(move |c| Ok((crate::partners::store::find_partner(c, &pid)?).map(|p| p.carrier_needs_phone)))
        .await
    {
        Ok(Some(n)) => n,
        Ok(None) => return fail(2, format!("no partner {partner}")),
        Err(e) => return fail(1, e.code()),
    };
    let file = match std::fs::OpenOptions::new().write(true).create_new(true).open(&out) {
        Ok(f) => f,
        Err(e) => return fail(2, format!("cannot create {}: {}", out.display(), e.kind())),
    };
    let viewer = Viewer {
        partner_id: partner,
        key_id: "operator".to_owned(),
        grant: Grant { phone: needs_phone, customs: true },
    };
    let filter = crate::fulfillment::store::Filter { status, ..Default::default() };
    let id = match begin(&state, &viewer, &format!("export.{}", format.as_str()), "cli").await {
        Ok(id) => id,
        Err(e) => return fail(1, e.code()),
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(2);
    let producer = tokio::spawn(produce(state.clone(), viewer, format, filter, id, tx));
    let mut writer = std::io::BufWriter::with_capacity(1 << 20, file);
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let (mut lines, started) = (0u64, std::time::Instant::now());
    while let Some(chunk) = rx.recv().await {
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        if writer.write_all(&chunk).is_err() {
            return fail(1, format!("cannot write {}", out.display()));
        }
        if terminal {
            eprint!("\r{lines} lines, {:.1} s", started.elapsed().as_secs_f64());
        }
    }
    if terminal {
        eprintln!();
    }
    if writer.flush().is_err() {
        return fail(1, format!("cannot write {}", out.display()));
    }
    match producer.await {
        Ok(Ok(rows)) => {
            eprintln!("{rows} records → {} in {:.2} s", out.display(), started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => fail(1, e.code()),
        Err(_) => fail(1, "the export stopped"),
    }
}

async fn seed_fulfillments(config: Config, partner: String, count: i64, people: usize) -> ExitCode {
    if !(1..=10_000_000).contains(&count) || !(1..=1_000_000).contains(&people) {
        return fail(2, "--count must be 1 to 10 000 000 and --people 1 to 1 000 000");
    }
    let state = match shop(config).await {
        Ok(s) => s,
        Err(code) => return code,
    };
    let started = std::time::Instant::now();
    match crate::fulfillment::service::seed(&state, &partner, count, people).await {
        Ok(()) => {
            eprintln!("seeded {count} fulfillments for {partner} in {:.1} s", started.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(crate::error::ApiError::NotFound) => fail(2, format!("no partner {partner}")),
        // An operator's terminal: the cause, not only its code.
        Err(e) => fail(1, e),
    }
}

async fn staff(config: Config, command: StaffCommand) -> ExitCode {
    use crate::staff::service::{self, By};
    let mut config = config;
    config.bind = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let app = match crate::app::Application::build(config).await {
        Ok(app) => app,
        Err(e) => return fail(e.exit_code(), e),
    };
    let state = app.state().clone();
    let email_of =
        |email: &str| crate::kernel::pii::Email::parse(email).map_err(|_| "--email is not an e-mail address");
    let announce = |link: &service::SetupLink| {
        eprintln!(
            "one-time setup token (until {} UTC), shown this once — the member sets a password with it \
             (POST /v1/staff/setup), signs in and enrols an authenticator:",
            link.expires_at.format("%Y-%m-%d %H:%M"),
        );
        println!("{}", link.token.expose());
    };
    match command {
        StaffCommand::Create { role, email, password_stdin } => {
            let Some(role) = crate::access::Role::parse(&role) else {
                return fail(2, "--role must be admin, support or finance");
            };
            let email = match email_of(&email) {
                Ok(e) => e,
                Err(e) => return fail(2, e),
            };
            let password = if password_stdin {
                let mut line = String::new();
                if std::io::stdin().read_line(&mut line).is_err() {
                    return fail(2, "cannot read the password from standard input");
                }
                let line = line.trim_end_matches(['\r', '\n']).to_owned();
                let password = crate::accounts::password::Password::new(line);
                match crate::accounts::password::check(&password) {
                    Ok(()) => Some(password),
                    Err(weak) => return fail(2, weak.message()),
                }
            } else {
                None
            };
            let (member, link) = match service::create(&state, email, role, By::Operator).await {
                Ok(created) => created,
                Err(e) => return fail(if e.code() == "staff_exists" { 2 } else { 1 }, e.code()),
            };
            eprintln!("staff {} ({}) created", member.id, role.as_str());
            match password {
                Some(p) => match service::setup(&state, link.token.expose(), p).await {
                    Ok(()) => {
                        eprintln!("password set: sign in (POST /v1/staff/sessions) and enrol an authenticator");
                        ExitCode::SUCCESS
                    }
                    Err(e) => fail(1, e.code()),
                },
                None => {
                    announce(&link);
                    ExitCode::SUCCESS
                }
            }
        }
        StaffCommand::SetupLink { email } => {
            let email = match email_of(&email) {
                Ok(e) => e,
                Err(e) => return fail(2, e),
            };
            let id = match service::id_of(&state, &email).await {
                Ok(Some(id)) => id,
                Ok(None) => return fail(2, "no member of staff has this e-mail"),
                Err(e) => return fail(1, e.code()),
            };
            match service::new_setup_link(&state, By::Operator, &id).await {
                Ok(link) => {
                    announce(&link);
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, e.code()),
            }
        }
        StaffCommand::List => match service::list(&state, By::Operator).await {
            Ok(members) => {
                println!("{:<26} {:<8} {:<8} {:<6} {:<9} email", "id", "role", "password", "2fa", "disabled");
                for m in members {
                    println!(
                        "{:<26} {:<8} {:<8} {:<6} {:<9} {}",
                        m.id,
                        m.role.as_str(),
                        m.password_set,
                        m.second_factor,
                        m.disabled,
                        m.email.map_or_else(|| "-".to_owned(), |e| e.expose().to_owned())
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, e.code()),
        },
    }
}

fn partner(config: &Config, command: PartnerCommand) -> ExitCode {
    use crate::db::dialect::write_transaction;
    use crate::partners::{keys, store};
    let mut conn = match Manager::new(config.database_url.clone()).connect() {
        Ok(c) => c,
        Err(e) => return fail(1, e),
    };
    let now = crate::kernel::time::now();
    match command {
        PartnerCommand::Create { name } => {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 200 {
                return fail(2, "--name must have 1 to 200 characters");
            }
            let id = format!("ptn_{}", crate::kernel::ids::random_base62());
            match store::insert_partner(&mut conn, &id, name, now) {
                Ok(_) => {
                    println!("{id}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(1, e),
            }
        }
        PartnerCommand::Key(PartnerKeyCommand::Issue { partner, scopes, expires_in_days }) => {
            let scopes = match keys::parse_scopes(&scopes) {
                Ok(s) if !s.is_empty() => s,
                Ok(_) => return fail(2, "--scopes names no scope"),
                Err(e) => return fail(2, e),
            };
            let expires = expires_in_days.map(|d| now + chrono::Duration::days(i64::from(d)));
            match write_transaction(&mut conn, |c| keys::issue(c, &partner, &scopes, expires, now)) {
                Ok(issued) => {
                    eprintln!("key {} ({}…) issued; the token is shown this once:", issued.key_id, issued.prefix);
                    println!("{}", issued.token.expose());
                    ExitCode::SUCCESS
                }
                Err(crate::error::ApiError::NotFound) => fail(2, format!("no partner {partner}")),
                Err(e) => fail(1, e.code()),
            }
        }
        PartnerCommand::Key(PartnerKeyCommand::Revoke { key }) => {
            match write_transaction(&mut conn, |c| keys::revoke(c, &key, now)) {
                Ok(true) => {
                    println!("revoked {key}");
                    ExitCode::SUCCESS
                }
                Ok(false) => fail(2, format!("no live key {key}")),
                Err(e) => fail(1, e.code()),
            }
        }
        PartnerCommand::Key(PartnerKeyCommand::List { partner }) => match store::keys_of(&mut conn, &partner) {
            Ok(rows) => {
                println!("{:<26} {:<18} {:<20} {:<10} {:<10} revoked", "key", "prefix", "created", "expires", "scopes");
                for k in rows {
                    let day = |t: Option<chrono::NaiveDateTime>| {
                        t.map_or("-".to_owned(), |t| t.format("%Y-%m-%d").to_string())
                    };
                    println!(
                        "{:<26} {:<18} {:<20} {:<10} {:<10} {}",
                        k.id,
                        k.prefix,
                        k.created_at.format("%Y-%m-%d %H:%M"),
                        day(k.expires_at),
                        k.scopes.replace(' ', ","),
                        day(k.revoked_at)
                    );
                }
                ExitCode::SUCCESS
            }
            Err(e) => fail(1, e),
        },
    }
}

fn audit_verify(config: &Config) -> ExitCode {
    let mut conn = match Manager::new(config.database_url.clone()).connect() {
        Ok(c) => c,
        Err(e) => return fail(1, e),
    };
    match crate::audit::verify(&mut conn) {
        Ok(crate::audit::Verdict::Intact(n)) => {
            println!("audit chain intact: {n} entries checked");
            ExitCode::SUCCESS
        }
        Ok(crate::audit::Verdict::Broken { seq, why }) => fail(1, format!("audit chain broken at entry {seq}: {why}")),
        Err(e) => fail(1, format!("audit verify failed: {e}")),
    }
}

fn check_config(config: &Config) -> ExitCode {
    println!("configuration ok");
    println!("  database: {}", config.database_url);
    println!("  bind:     {}", config.bind);
    println!("  currency: {}", config.store_currency);
    println!("  tls:      {}", if config.tls_cert.is_some() { "on" } else { "off" });
    let payments = if config.stripe.secret_key.is_some() { "Stripe" } else { "local Stripe sandbox" };
    println!("  payments: {payments}");
    let master_key = match &config.master_key {
        crate::config::MasterKeySource::Value(_) => "LEANCART_MASTER_KEY".to_owned(),
        crate::config::MasterKeySource::File(path) => format!("file {}", path.display()),
        crate::config::MasterKeySource::Development(path) => format!("development file {}", path.display()),
    };
    println!("  master key: {master_key}");
    println!("  keyring:  {}", config.keyring_url);
    match &config.smtp_url {
        Some(_) => println!("  mail:       SMTP (LEANCART_SMTP_URL)"),
        None => println!("  mail:       .eml files in {}", config.mail_dir.display()),
    }
    match Manager::new(config.database_url.clone()).connect().and_then(|mut c| db::pending_migrations(&mut c)) {
        Ok(pending) => {
            println!("  database reachable; {pending} migration(s) pending");
            ExitCode::SUCCESS
        }
        Err(e) => fail(1, e),
    }
}
