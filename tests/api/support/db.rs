//! A fresh database per test. SQLite: a copy of a template file migrated and seeded once per run.
//! PostgreSQL: `CREATE DATABASE … TEMPLATE` from a template migrated and seeded once per run; each test
//! database is dropped when its test ends, the template when the test binary exits.

use diesel::{Connection, PgConnection, RunQueryDsl};
use leancart::config::DatabaseUrl;
use leancart::db::{self, Manager};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

pub enum Backend {
    Sqlite,
    Postgres,
}

pub fn backend() -> Backend {
    match std::env::var("LEANCART_TEST_DB").as_deref() {
        Ok("postgres") | Ok("pg") => Backend::Postgres,
        Ok("sqlite") | Err(_) => Backend::Sqlite,
        Ok(other) => panic!("LEANCART_TEST_DB must be sqlite or postgres, not {other}"),
    }
}

pub enum TestDb {
    Sqlite { _dir: tempfile::TempDir, path: PathBuf },
    Postgres { name: String, url: String },
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn prepare_template(url: &str) {
    let url = DatabaseUrl::parse(url).expect("template url");
    let mut conn = Manager::new(url).connect().expect("connect to template");
    db::run_migrations(&mut conn).expect("migrate template");
    leancart::catalog::seed::seed_if_empty(&mut conn, "USD".parse().expect("USD")).expect("seed template");
}

// ---------- SQLite ----------

static SQLITE_TEMPLATE: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();

fn sqlite_template() -> &'static PathBuf {
    &SQLITE_TEMPLATE
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("template.db");
            prepare_template(&format!("sqlite://{}", path.display()));
            (dir, path)
        })
        .1
}

// ---------- PostgreSQL ----------

fn pg_server() -> String {
    std::env::var("LEANCART_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_owned())
        .trim_end_matches('/')
        .to_owned()
}

fn pg_admin() -> PgConnection {
    PgConnection::establish(&format!("{}/postgres", pg_server()))
        .expect("connect to PostgreSQL (LEANCART_TEST_POSTGRES_URL, default postgres://postgres@127.0.0.1:5432)")
}

static PG_TEMPLATE: OnceLock<String> = OnceLock::new();
static PG_CREATE_LOCK: Mutex<()> = Mutex::new(());

unsafe extern "C" {
    fn atexit(cb: extern "C" fn()) -> std::ffi::c_int;
}

extern "C" fn drop_pg_template() {
    if let Some(name) = PG_TEMPLATE.get()
        && let Ok(mut admin) = PgConnection::establish(&format!("{}/postgres", pg_server()))
    {
        let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin);
    }
}

/// Drop databases left behind by test processes that no longer run.
fn drop_stale(admin: &mut PgConnection) {
    #[derive(diesel::QueryableByName)]
    struct Name {
        #[diesel(sql_type = diesel::sql_types::Text)]
        datname: String,
    }
    let names: Vec<Name> = diesel::sql_query("SELECT datname FROM pg_database WHERE datname LIKE 'lc\\_%'")
        .load(admin)
        .unwrap_or_default();
    for Name { datname } in names {
        let pid = datname.split('_').nth(2).and_then(|p| p.parse::<u32>().ok());
        if pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{datname}\" WITH (FORCE)")).execute(admin);
        }
    }
}

fn pg_template() -> &'static str {
    PG_TEMPLATE.get_or_init(|| {
        let name = format!("lc_tpl_{}", std::process::id());
        let mut admin = pg_admin();
        drop_stale(&mut admin);
        diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .expect("drop");
        diesel::sql_query(format!("CREATE DATABASE \"{name}\"")).execute(&mut admin).expect("create template");
        prepare_template(&format!("{}/{name}", pg_server()));
        // SAFETY: registering a plain extern "C" function with no captured state.
        unsafe {
            atexit(drop_pg_template);
        }
        name
    })
}

impl TestDb {
    pub async fn create() -> TestDb {
        tokio::task::spawn_blocking(|| match backend() {
            Backend::Sqlite => {
                let template = sqlite_template();
                let dir = tempfile::tempdir().expect("tempdir");
                let path = dir.path().join("leancart.db");
                std::fs::copy(template, &path).expect("copy template");
                TestDb::Sqlite { _dir: dir, path }
            }
            Backend::Postgres => {
                let template = pg_template();
                let name = format!("lc_t_{}_{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
                let _guard = PG_CREATE_LOCK.lock().unwrap_or_else(|p| p.into_inner());
                let mut admin = pg_admin();
                diesel::sql_query(format!("CREATE DATABASE \"{name}\" TEMPLATE \"{template}\""))
                    .execute(&mut admin)
                    .expect("create test database");
                let url = format!("{}/{name}", pg_server());
                TestDb::Postgres { name, url }
            }
        })
        .await
        .expect("create test database")
    }

    pub fn url(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => format!("sqlite://{}", path.display()),
            TestDb::Postgres { url, .. } => url.clone(),
        }
    }

    /// Every text value stored in the database, for "this must never be stored" assertions.
    pub fn dump(&self) -> String {
        match self {
            TestDb::Sqlite { path, .. } => {
                let mut out = Vec::new();
                for suffix in ["", "-wal"] {
                    let mut p = path.clone().into_os_string();
                    p.push(suffix);
                    if let Ok(bytes) = std::fs::read(&p) {
                        out.extend_from_slice(&bytes);
                    }
                }
                String::from_utf8_lossy(&out).into_owned()
            }
            TestDb::Postgres { url, .. } => {
                let out = std::process::Command::new("pg_dump")
                    .args(["--data-only", "--no-owner", url])
                    .output()
                    .expect("pg_dump runs");
                assert!(out.status.success(), "pg_dump failed");
                String::from_utf8_lossy(&out.stdout).into_owned()
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let TestDb::Postgres { name, .. } = self {
            let name = name.clone();
            // A plain thread: this may run inside the async runtime.
            let _ = std::thread::spawn(move || {
                let mut admin = pg_admin();
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")).execute(&mut admin);
            })
            .join();
        }
    }
}
