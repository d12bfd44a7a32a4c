//! Load driver: N complete guest checkouts (create cart → add 2 lines → details → place order with
//! `pm_card_visa` against the in-process Stripe sandbox) with concurrency C, against a leancart server
//! it starts itself (release build next to it) on a fresh database.
//!
//! Prints checkouts/s, p50/p95/p99 per step and overall, and the server's CPU milliseconds per
//! checkout (user+sys of the server process over the measured run ÷ checkouts, from /proc).
//!
//! ```text
//! cargo build --release
//! target/release/loadgen --db sqlite   --checkouts 3000 --concurrency 32
//! target/release/loadgen --db postgres --checkouts 3000 --concurrency 32 [--postgres-url URL]
//! target/release/loadgen --db postgres --privacy 100     # then: one person with 100 orders
//! ```
//!
//! `--login-flood C` keeps C clients logging in (the right password, back to back: the argon2id work
//! is all there is) during the measured run and reports logins/s beside the checkout figures.
//! `--one-shopper` makes every checkout one returning shopper's (sealing without a new data subject
//! per checkout). `--privacy N` adds, after the run, one shopper placing N orders (closed by staff), and times
//! their access export (download of the mailed link) and their erasure (the staff request, which
//! carries it out before answering).
//!
//! PostgreSQL on the same machine is reached through its Unix socket when there is one (as a
//! same-host deployment would: `postgres://postgres@%2Fvar%2Frun%2Fpostgresql`), else over TCP;
//! `--postgres-url postgres://postgres@127.0.0.1:5432` measures loopback TCP (TLS if the server
//! offers it, libpq's `sslmode=prefer`), `...?sslmode=disable` plain TCP.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

struct Args {
    db: String,
    postgres_url: String,
    checkouts: usize,
    warmup: usize,
    concurrency: usize,
    variants: usize,
    server: String,
    port: u16,
    pool: usize,
    keep_db: bool,
    privacy: usize,
    /// Every checkout by one returning shopper (no new data subject per checkout).
    one_shopper: bool,
    /// Clients logging in (correct password, back to back) during the measured run.
    login_flood: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        db: "sqlite".into(),
        postgres_url: if std::path::Path::new("/var/run/postgresql/.s.PGSQL.5432").exists() {
            "postgres://postgres@%2Fvar%2Frun%2Fpostgresql".into()
        } else {
            "postgres://postgres@127.0.0.1:5432".into()
        },
        checkouts: 3000,
        warmup: 1000,
        concurrency: 32,
        variants: 400,
        server: String::new(),
        port: 18080,
        pool: 0,
        keep_db: false,
        privacy: 0,
        one_shopper: false,
        login_flood: 0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--login-flood" => a.login_flood = val()?.parse().map_err(|_| "--login-flood needs a number")?,
            "--one-shopper" => a.one_shopper = true,
            "--privacy" => a.privacy = val()?.parse().map_err(|_| "--privacy needs a number")?,
            "--db" => a.db = val()?,
            "--postgres-url" => a.postgres_url = val()?,
            "--checkouts" => a.checkouts = val()?.parse().map_err(|_| "--checkouts: a number")?,
            "--warmup" => a.warmup = val()?.parse().map_err(|_| "--warmup: a number")?,
            "--concurrency" => a.concurrency = val()?.parse().map_err(|_| "--concurrency: a number")?,
            "--variants" => a.variants = val()?.parse().map_err(|_| "--variants: a number")?,
            "--server" => a.server = val()?,
            "--port" => a.port = val()?.parse().map_err(|_| "--port: a number")?,
            "--pool" => a.pool = val()?.parse().map_err(|_| "--pool: a number")?,
            "--keep-db" => a.keep_db = true,
            "-h" | "--help" => {
                println!(
                    "loadgen [--db sqlite|postgres] [--postgres-url URL] [--checkouts N] [--warmup N] [--concurrency C] [--variants V] [--pool DB_CONNECTIONS] [--server PATH] [--port P] [--keep-db]"
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.server.is_empty() {
        let me = std::env::current_exe().map_err(|e| e.to_string())?;
        a.server = me.with_file_name("leancart").display().to_string();
    }
    Ok(a)
}

/// user+sys CPU time of a process, in milliseconds.
fn cpu_ms(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of /proc/pid/stat: indexes 11 and 12 after the name.
    (ticks(11) + ticks(12)) * 1000.0 / 100.0
}

/// CPU of the local PostgreSQL cluster: the postmaster, its reaped children, and its live children.
fn postgres_cpu_ms() -> Option<f64> {
    let stat = |pid: &str| std::fs::read_to_string(format!("/proc/{pid}/stat")).ok();
    let fields = |s: &str| -> (String, Vec<f64>) {
        let (head, rest) = s.rsplit_once(')').unwrap_or(("", ""));
        let name = head.rsplit_once('(').map(|(_, n)| n.to_owned()).unwrap_or_default();
        (name, rest.split_whitespace().map(|v| v.parse::<f64>().unwrap_or(0.0)).collect())
    };
    let mut postmaster: Option<(String, Vec<f64>)> = None;
    let mut procs = Vec::new();
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Some(s) = stat(&pid) {
            let (name, f) = fields(&s);
            if name == "postgres" {
                procs.push((pid, f));
            }
        }
    }
    // The postmaster is the postgres process whose parent is not a postgres process.
    let pids: Vec<String> = procs.iter().map(|(p, _)| p.clone()).collect();
    for (pid, f) in &procs {
        let ppid = f.get(1).map(|v| v.to_string()).unwrap_or_default();
        if !pids.contains(&ppid) {
            postmaster = Some((pid.clone(), f.clone()));
        }
    }
    let (pm, pmf) = postmaster?;
    let ticks = |f: &Vec<f64>, i: usize| f.get(i).copied().unwrap_or(0.0);
    let mut total = ticks(&pmf, 11) + ticks(&pmf, 12) + ticks(&pmf, 13) + ticks(&pmf, 14);
    for (_, f) in procs.iter().filter(|(_, f)| f.get(1).map(|v| v.to_string()) == Some(pm.clone())) {
        total += ticks(f, 11) + ticks(f, 12);
    }
    Some(total * 10.0)
}

/// `postgres://host[:port][?params]` + a database name → `postgres://host[:port]/db[?params]`.
fn pg_database_url(server: &str, database: &str) -> String {
    match server.split_once('?') {
        Some((base, params)) => format!("{}/{database}?{params}", base.trim_end_matches('/')),
        None => format!("{}/{database}", server.trim_end_matches('/')),
    }
}

fn psql(url: &str, sql: &str) {
    let _ = Command::new("psql").args([url, "-q", "-c", sql]).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

fn write_fixtures(dir: &std::path::Path, variants: usize) -> std::io::Result<()> {
    let per_product = 4;
    let products: Vec<Value> = (0..variants.div_ceil(per_product))
        .map(|p| {
            json!({
                "handle": format!("bench-{p}"),
                "title": format!("Bench product {p}"),
                "variants": (0..per_product).map(|v| json!({
                    "sku": format!("BENCH-{p}-{v}"), "title": format!("Size {v}"),
                    "price": 1000 + (p % 50) as i64 * 100, "stock": 10_000_000, "weight_grams": 300,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("products.json"), json!({"currency": "USD", "products": products}).to_string())
}

struct Server {
    child: Child,
}

impl Drop for Server {
    /// SIGTERM (a graceful shutdown, which also lets a profiler wrapped around the server write its
    /// output), then SIGKILL if it is still running after 30 s.
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..300 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const STEPS: [&str; 5] = ["create_cart", "add_line_1", "add_line_2", "details", "place_order"];

async fn checkout(
    client: &reqwest::Client,
    base: &str,
    variants: &[String],
    n: usize,
) -> Result<[Duration; 5], String> {
    let email = if ONE_SHOPPER.load(Ordering::Relaxed) {
        "returning@example.com".to_owned()
    } else {
        format!("buyer{n}@example.com")
    };
    checkout_as(client, base, variants, n, &email).await.map(|(t, _)| t)
}

/// A checkout by `email`: the steps' durations and the order's id.
async fn checkout_as(
    client: &reqwest::Client,
    base: &str,
    variants: &[String],
    n: usize,
    email: &str,
) -> Result<([Duration; 5], String), String> {
    let mut t = [Duration::ZERO; 5];
    let mut step = |i: usize, started: Instant| t[i] = started.elapsed();
    let s = Instant::now();
    let cart: Value = client
        .post(format!("{base}/v1/carts"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    step(0, s);
    let id = cart["cart"]["id"].as_str().ok_or("no cart id")?.to_owned();
    let token = cart["token"].as_str().ok_or("no token")?.to_owned();
    for (i, v) in
        [variants[n % variants.len()].clone(), variants[(n * 7 + 3) % variants.len()].clone()].iter().enumerate()
    {
        let s = Instant::now();
        let res = client
            .post(format!("{base}/v1/carts/{id}/lines"))
            .bearer_auth(&token)
            .json(&json!({"variant_id": v, "quantity": 1 + i}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("add line: {}", res.status()));
        }
        // Read the answer as a client does (and so that the connection goes back to the pool).
        res.bytes().await.map_err(|e| e.to_string())?;
        step(1 + i, s);
    }
    let s = Instant::now();
    let res = client
        .put(format!("{base}/v1/carts/{id}/details"))
        .bearer_auth(&token)
        .json(&json!({
            "email": email,
            "shipping_address": {"name": "Bench Buyer", "line1": "1 Load Street", "city": "Berlin", "postal_code": "10115", "country": "DE"},
            "shipping_method": "standard"
        }))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("details: {}", res.status()));
    }
    res.bytes().await.map_err(|e| e.to_string())?;
    step(3, s);
    let s = Instant::now();
    let res = client
        .post(format!("{base}/v1/orders"))
        .bearer_auth(&token)
        .header("Idempotency-Key", format!("bench-{n}-{}", std::process::id()))
        .json(&json!({"cart_id": id, "payment_method": "pm_card_visa"}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let body: Value = res.json().await.map_err(|e| e.to_string())?;
    if status.as_u16() != 201 || body["order"]["status"] != "paid" {
        return Err(format!("place order: {status} {}", body["code"]));
    }
    step(4, s);
    Ok((t, body["order"]["id"].as_str().unwrap_or_default().to_owned()))
}

/// The benchmark's member of staff (an admin), made with the CLI before the server starts.
const STAFF_EMAIL: &str = "bench@staff.example";
const STAFF_PASSWORD: &str = "a passphrase for the benchmark's admin";

/// Sign the benchmark's admin in and enrol their authenticator (as an app would): a session token.
async fn staff_session(client: &reqwest::Client, base: &str) -> Result<String, String> {
    let post = |path: &'static str, token: Option<&str>, body: serde_json::Value| {
        let mut req = client.post(format!("{base}{path}")).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        async move {
            let res = req.send().await.map_err(|e| e.to_string())?;
            if !res.status().is_success() {
                return Err(format!("{path}: {}", res.status()));
            }
            res.json::<serde_json::Value>().await.map_err(|e| e.to_string())
        }
    };
    let session = post("/v1/staff/sessions", None, json!({"email": STAFF_EMAIL, "password": STAFF_PASSWORD})).await?;
    let token = session["session_token"].as_str().unwrap_or_default().to_owned();
    let enrolment = post("/v1/staff/second-factor", Some(&token), json!({})).await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let code = leancart::kernel::totp::code_now(enrolment["secret"].as_str().unwrap_or_default(), now)
        .ok_or("the enrolment's secret is not base32")?;
    post("/v1/staff/second-factor/confirm", Some(&token), json!({"code": code})).await?;
    Ok(token)
}
/// `--one-shopper`: every checkout by the same e-mail.
static ONE_SHOPPER: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// `clients` tasks logging in back to back until told to stop: (stop, logins done, started).
async fn login_flood(
    client: &reqwest::Client,
    base: &str,
    clients: usize,
) -> Option<(Arc<std::sync::atomic::AtomicBool>, Arc<AtomicUsize>, Instant)> {
    if clients == 0 {
        return None;
    }
    let credentials = json!({"email": "flood@example.com", "password": "a passphrase for the flood"});
    let registered = client.post(format!("{base}/v1/accounts")).json(&credentials).send().await;
    if !registered.is_ok_and(|r| r.status().is_success()) {
        eprintln!("login flood: could not register its account");
        return None;
    }
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let logins = Arc::new(AtomicUsize::new(0));
    for _ in 0..clients {
        let (client, url, body, stop, logins) =
            (client.clone(), format!("{base}/v1/sessions"), credentials.clone(), stop.clone(), logins.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                if let Ok(res) = client.post(&url).json(&body).send().await {
                    if res.status().as_u16() == 201 {
                        logins.fetch_add(1, Ordering::Relaxed);
                    }
                    let _ = res.bytes().await;
                }
            }
        });
    }
    Some((stop, logins, Instant::now()))
}

/// One shopper with `orders` orders, closed by staff; then their access export and their erasure,
/// timed.
async fn privacy_scenario(
    client: &reqwest::Client,
    base: &str,
    variants: &[String],
    orders: usize,
    mail_dir: &std::path::Path,
) -> Result<(), String> {
    let email = "privacy.subject@example.com";
    let admin = staff_session(client, base).await?;
    let admin = admin.as_str();
    let mut ids = Vec::new();
    for n in 0..orders {
        ids.push(checkout_as(client, base, variants, 1_000_000 + n, email).await?.1);
    }
    for id in &ids {
        let res = client
            .post(format!("{base}/v1/admin/orders/{id}/cancel"))
            .bearer_auth(admin)
            .json(&json!({"reason": "benchmark"}))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("cancel: {}", res.status()));
        }
    }
    let staff = |kind: &str| {
        client
            .post(format!("{base}/v1/admin/privacy/requests"))
            .bearer_auth(admin)
            .json(&json!({"kind": kind, "email": email}))
    };
    let res = staff("access").send().await.map_err(|e| e.to_string())?;
    if !res.status().is_success() {
        return Err(format!("access request: {}", res.status()));
    }
    // The link, as the mailer wrote it (.eml files: no SMTP server configured).
    let mut link = None;
    for _ in 0..100 {
        link = std::fs::read_dir(mail_dir).into_iter().flatten().flatten().find_map(|e| {
            // Quoted-printable: soft line breaks out, `=3D` back to `=`.
            let text = std::fs::read_to_string(e.path()).ok()?.replace("=\r\n", "").replace("=3D", "=");
            let start = text.find(&format!("{base}/v1/privacy/exports/"))?;
            let end = text[start..].find(char::is_whitespace).map_or(text.len(), |x| start + x);
            Some(text[start..end].to_owned())
        });
        if link.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let link = link.ok_or("no export link was mailed")?;
    let mut export_times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let s = Instant::now();
        let res = client.get(&link).send().await.map_err(|e| e.to_string())?;
        if !res.status().is_success() {
            return Err(format!("export download: {}", res.status()));
        }
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        export_times.push(s.elapsed());
        size = body.len();
    }
    export_times.sort();
    let s = Instant::now();
    let res = staff("erasure").send().await.map_err(|e| e.to_string())?;
    let erase = s.elapsed();
    let body: Value = res.json().await.map_err(|e| e.to_string())?;
    if body["status"] != "done" {
        return Err(format!("erasure: {body}"));
    }
    println!(
        "privacy: one person with {orders} orders — access export {:.1} ms (median of 5, {} KiB JSON), erasure {:.1} ms",
        export_times[2].as_secs_f64() * 1000.0,
        size / 1024,
        erase.as_secs_f64() * 1000.0
    );
    Ok(())
}

async fn run(
    client: &reqwest::Client,
    base: &str,
    variants: Arc<Vec<String>>,
    total: usize,
    concurrency: usize,
    offset: usize,
) -> (Vec<[Duration; 5]>, usize, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, base, variants, next) = (client.clone(), base.to_owned(), variants.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut ok = Vec::new();
            let mut errors = 0;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= total {
                    break;
                }
                match checkout(&client, &base, &variants, n + offset).await {
                    Ok(t) => ok.push(t),
                    Err(e) => {
                        errors += 1;
                        if errors <= 3 {
                            eprintln!("checkout failed: {e}");
                        }
                    }
                }
            }
            (ok, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        if let Ok((ok, e)) = t.await {
            all.extend(ok);
            errors += e;
        }
    }
    (all, errors, started.elapsed())
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    ONE_SHOPPER.store(args.one_shopper, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("leancart-bench-{}", std::process::id()));
    if let Err(e) = write_fixtures(&dir.join("fixtures"), args.variants) {
        eprintln!("loadgen: cannot write fixtures: {e}");
        std::process::exit(1);
    }
    let database_url = match args.db.as_str() {
        "sqlite" => format!("sqlite://{}", dir.join("bench.db").display()),
        "postgres" => {
            let admin = pg_database_url(&args.postgres_url, "postgres");
            psql(&admin, "DROP DATABASE IF EXISTS leancart_bench WITH (FORCE)");
            psql(&admin, "CREATE DATABASE leancart_bench");
            pg_database_url(&args.postgres_url, "leancart_bench")
        }
        other => {
            eprintln!("loadgen: --db must be sqlite or postgres, not {other}");
            std::process::exit(2);
        }
    };
    let mail_dir = dir.join("mail").display().to_string();
    // Units of database work at once (the server's LEANCART_DB_POOL_SIZE). On 2 cores a few keep both
    // cores busy; more only add contention: on PostgreSQL a backend process per unit, on SQLite a
    // blocking thread per unit doing the database's work in process. Measured side by side on this
    // machine: SQLite 16 → 6 left throughput as it was and cut placement p99 from 60–68 to 33–37 ms;
    // PostgreSQL 8 gave more checkouts/s than 6 or 5 (which had lower placement latency).
    let pool = if args.pool > 0 {
        args.pool
    } else if args.db == "postgres" {
        8
    } else {
        6
    }
    .to_string();
    let env = [
        ("DATABASE_URL", database_url.as_str()),
        ("LEANCART_LOG", "warn"),
        ("LEANCART_AUTO_SEED", "false"),
        ("LEANCART_DB_POOL_SIZE", pool.as_str()),
        // Thousands of shoppers from one address: the per-client limits would stop the driver.
        ("LEANCART_RATE_LIMIT_CARTS_PER_MINUTE", "0"),
        ("LEANCART_RATE_LIMIT_ORDERS_PER_MINUTE", "0"),
        ("LEANCART_MAX_UNPAID_ORDERS_PER_CLIENT", "1000000"),
        // A throwaway key for a throwaway database (the keyring goes with it).
        ("LEANCART_MASTER_KEY", "6c65616e636172742d62656e63686d61726b2d6f6e6c792d6e6f742d73656372"),
        // The flood comes from one address, like everything the driver sends.
        ("LEANCART_RATE_LIMIT_PRIVACY_PER_MINUTE", "0"),
        ("LEANCART_MAIL_DIR", mail_dir.as_str()),
    ];
    let seed = Command::new(&args.server)
        .args(["seed", "--fixtures", &dir.join("fixtures").display().to_string()])
        .envs(env)
        .status();
    if !seed.is_ok_and(|s| s.success()) {
        eprintln!("loadgen: seeding failed (is {} built? cargo build --release)", args.server);
        std::process::exit(1);
    }
    let staff = Command::new(&args.server)
        .args(["staff", "create", "--role", "admin", "--email", STAFF_EMAIL, "--password-stdin"])
        .envs(env)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            if let Some(mut stdin) = c.stdin.take() {
                stdin.write_all(format!("{STAFF_PASSWORD}\n").as_bytes())?;
            }
            c.wait()
        });
    if !staff.is_ok_and(|s| s.success()) {
        eprintln!("loadgen: could not create the benchmark's member of staff");
        std::process::exit(1);
    }
    let base = format!("http://127.0.0.1:{}", args.port);
    let child = match Command::new(&args.server)
        .args(["serve", "--bind", &format!("127.0.0.1:{}", args.port)])
        .envs(env)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("loadgen: cannot start {}: {e}", args.server);
            std::process::exit(1);
        }
    };
    let server = Server { child };
    let pid = server.child.id();
    leancart::http::tls::install_crypto_provider();
    let client = reqwest::Client::builder().pool_max_idle_per_host(args.concurrency).build().unwrap_or_default();
    for _ in 0..100 {
        if client.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let catalog: Value = match client.get(format!("{base}/v1/products?limit=100")).send().await {
        Ok(r) => r.json().await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let mut variants = Vec::new();
    let mut cursor: Option<String> = None;
    let mut page = catalog;
    loop {
        for p in page["data"].as_array().into_iter().flatten() {
            for v in p["variants"].as_array().into_iter().flatten() {
                variants.push(v["id"].as_str().unwrap_or_default().to_owned());
            }
        }
        match page["next_cursor"].as_str() {
            Some(c) if Some(c) != cursor.as_deref() => {
                cursor = Some(c.to_owned());
                page = match client.get(format!("{base}/v1/products?limit=100&cursor={c}")).send().await {
                    Ok(r) => r.json().await.unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
            }
            _ => break,
        }
    }
    if variants.is_empty() {
        eprintln!("loadgen: the server did not come up");
        std::process::exit(1);
    }
    let variants = Arc::new(variants);
    println!(
        "leancart load: {} on {}, {} variants, concurrency {}, {} checkouts (+{} warm-up)",
        args.server,
        args.db,
        variants.len(),
        args.concurrency,
        args.checkouts,
        args.warmup
    );
    if args.db == "postgres" {
        // Through the server's own URL type, whose Display masks a password.
        match leancart::config::DatabaseUrl::parse(&database_url) {
            Ok(url) => println!("database: {url}"),
            Err(_) => println!("database: (unparseable URL)"),
        }
    }
    let (_, warm_errors, _) = run(&client, &base, variants.clone(), args.warmup, args.concurrency, 0).await;
    // Statistics for the measured run. The warm-up is large enough that the tables the run keeps
    // growing (idempotency keys, carts, orders, payments) span more than a few pages: with the handful of
    // pages a tiny warm-up leaves, a scan ties with the key lookup in PostgreSQL's estimate, and the plan
    // chosen then stays cached for the whole run while the table grows tenfold.
    if args.db == "postgres" {
        psql(&database_url, "VACUUM (ANALYZE)");
        println!("ran VACUUM (ANALYZE) on the benchmark database before the measured run");
    }
    let cpu_before = cpu_ms(pid);
    let own_before = cpu_ms(std::process::id());
    let pg_before = if args.db == "postgres" { postgres_cpu_ms() } else { None };
    let variants_for_privacy = variants.clone();
    let flood = login_flood(&client, &base, args.login_flood).await;
    let (samples, errors, elapsed) = run(&client, &base, variants, args.checkouts, args.concurrency, args.warmup).await;
    if let Some((stop, logins, started)) = flood {
        stop.store(true, Ordering::Relaxed);
        let n = logins.load(Ordering::Relaxed);
        println!(
            "login flood: {n} logins in {:.2} s → {:.0} logins/s",
            started.elapsed().as_secs_f64(),
            n as f64 / started.elapsed().as_secs_f64()
        );
    }
    let cpu = cpu_ms(pid) - cpu_before;
    let own = cpu_ms(std::process::id()) - own_before;
    let pg = match (pg_before, postgres_cpu_ms()) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let done = samples.len();
    println!("errors: {} (warm-up {})", errors, warm_errors);
    println!(
        "checkouts: {done} in {:.2} s → {:.0} checkouts/s",
        elapsed.as_secs_f64(),
        done as f64 / elapsed.as_secs_f64()
    );
    println!("server CPU: {:.0} ms total, {:.2} ms per complete checkout", cpu, cpu / done.max(1) as f64);
    if let Some(pg) = pg {
        println!("PostgreSQL CPU (same machine): {:.0} ms total, {:.2} ms per checkout", pg, pg / done.max(1) as f64);
    }
    println!("load driver CPU (same machine): {:.2} ms per checkout", own / done.max(1) as f64);
    println!("{:<14} {:>9} {:>9} {:>9}", "latency (ms)", "p50", "p95", "p99");
    for (i, name) in STEPS.iter().enumerate() {
        let mut d: Vec<Duration> = samples.iter().map(|t| t[i]).collect();
        d.sort();
        println!("{:<14} {:>9.2} {:>9.2} {:>9.2}", name, pct(&d, 0.5), pct(&d, 0.95), pct(&d, 0.99));
    }
    let mut overall: Vec<Duration> = samples.iter().map(|t| t.iter().sum()).collect();
    overall.sort();
    println!(
        "{:<14} {:>9.2} {:>9.2} {:>9.2}",
        "checkout",
        pct(&overall, 0.5),
        pct(&overall, 0.95),
        pct(&overall, 0.99)
    );
    if args.privacy > 0
        && let Err(e) = privacy_scenario(&client, &base, &variants_for_privacy, args.privacy, &dir.join("mail")).await
    {
        eprintln!("privacy scenario failed: {e}");
    }
    drop(server);
    if args.keep_db {
        println!("kept the benchmark database: {database_url}");
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        if args.db == "postgres" {
            psql(
                &pg_database_url(&args.postgres_url, "postgres"),
                "DROP DATABASE IF EXISTS leancart_bench WITH (FORCE)",
            );
        }
    }
}
