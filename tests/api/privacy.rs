//! Personal data by construction: the registry covers the schema.

use crate::support::TestApp;
use crate::support::db::{Backend, backend};
use diesel::prelude::*;
use diesel::sql_types::Text;
use leancart::privacy::registry;

#[derive(QueryableByName, Debug)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

/// Every column of the migrated schema, as the database itself lists it.
async fn schema_columns(app: &TestApp) -> Vec<(String, String)> {
    let sql = match backend() {
        Backend::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '__diesel_schema_migrations'"
        }
        Backend::Postgres => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '__diesel_schema_migrations'"
        }
    };
    let rows: Vec<Column> = app.state.db.run(move |c| Ok(diesel::sql_query(sql).load(c)?)).await.unwrap();
    rows.into_iter().map(|r| (r.table_name, r.column_name)).collect()
}

/// What the registry does not cover (undeclared columns) and what it declares that is not there.
fn gaps(columns: &[(String, String)]) -> (Vec<String>, Vec<String>) {
    let undeclared =
        columns.iter().filter(|(t, c)| registry::declared(t, c).is_none()).map(|(t, c)| format!("{t}.{c}")).collect();
    let missing = registry::all_declared()
        .into_iter()
        .filter(|(t, c)| !columns.iter().any(|(tt, cc)| tt == t && cc == c))
        .map(|(t, c)| format!("{t}.{c}"))
        .collect();
    (undeclared, missing)
}

/// The registry walk: every column is declared personal (with category, purpose, retention and what
/// erasure does), in clear on purpose (with why), or not personal (with why) — and every declaration
/// names a column that exists.
#[tokio::test(flavor = "multi_thread")]
async fn every_column_of_the_schema_is_declared() {
    let app = TestApp::spawn().await;
    let columns = schema_columns(&app).await;
    assert!(columns.len() > 100, "the walk sees the schema: {}", columns.len());
    let (undeclared, missing) = gaps(&columns);
    assert!(undeclared.is_empty(), "columns the personal-data registry does not declare: {undeclared:?}");
    assert!(missing.is_empty(), "declared columns that do not exist: {missing:?}");
    // The e-mail, the address lines and the phone are declared personal wherever they are stored.
    for (table, column) in [("orders", "email"), ("carts", "ship_line1"), ("orders", "ship_phone")] {
        assert!(matches!(registry::declared(table, column), Some(registry::Declared::Personal(_))));
    }
}

/// Close the class: a column added by a migration and declared nowhere fails the walk.
#[tokio::test(flavor = "multi_thread")]
async fn an_undeclared_column_fails_the_walk() {
    let app = TestApp::spawn().await;
    app.state
        .db
        .run(|c| Ok(diesel::sql_query("ALTER TABLE orders ADD COLUMN nickname TEXT").execute(c)?))
        .await
        .unwrap();
    let (undeclared, _) = gaps(&schema_columns(&app).await);
    assert_eq!(undeclared, ["orders.nickname"]);
}

/// Retention removes exactly what is due, category by category; a dry run counts the same and
/// deletes nothing; what is not yet due stays; the sweep (with the shop's clock) does the same work.
#[tokio::test(flavor = "multi_thread")]
async fn retention_removes_exactly_what_is_due() {
    use leancart::privacy::retention::{self, Category, Schedule};
    let app = TestApp::spawn().await;
    let cart = app.ready_cart().await;
    assert_eq!(app.place(&cart, "kept-a-day", "pm_card_visa").await.status(), 201);
    let open_cart = app.new_cart().await;
    let now = app.state.clock.now();
    let day = chrono::Duration::days(1);
    app.state
        .db
        .run(move |c| {
            for (id, age) in [("evt_old_1", 100), ("evt_old_2", 91), ("evt_recent", 89)] {
                leancart::billing::store::record_event(c, id, "charge.succeeded", None, "ignored", now - day * age)?;
            }
            for (id, age) in [("aud_old", 731), ("aud_recent", 729)] {
                diesel::sql_query(
                    "INSERT INTO audit_log (id, actor, action, subject_id, created_at) VALUES ($1, 'staff', 'order.read', NULL, $2)",
                )
                .bind::<Text, _>(id)
                .bind::<diesel::sql_types::Timestamp, _>(now - day * age)
                .execute(c)?;
            }
            Ok(())
        })
        .await
        .unwrap();
    let schedule = Schedule::from_config(&app.state.config);
    let due = app.state.db.run(move |c| retention::due(c, &schedule, now)).await.unwrap();
    assert_eq!(
        due,
        [
            (Category::AbandonedCarts, 0),
            (Category::IdempotencyKeys, 0),
            (Category::WebhookEvents, 2),
            (Category::AuditEntries, 1)
        ]
    );
    let webhooks_before = count(&app, "SELECT COUNT(*) AS n FROM webhook_events").await;
    let removed = app.state.db.run(move |c| retention::run(c, &schedule, now, 10)).await.unwrap();
    assert_eq!(
        removed,
        [
            (Category::AbandonedCarts, 0),
            (Category::IdempotencyKeys, 0),
            (Category::WebhookEvents, 2),
            (Category::AuditEntries, 1)
        ]
    );
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM webhook_events").await, webhooks_before - 2);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM webhook_events WHERE event_id = 'evt_recent'").await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM audit_log WHERE id = 'aud_recent'").await, 1);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM audit_log WHERE id = 'aud_old'").await, 0);
    // Fifteen days later by the shop's clock the sweep takes the abandoned cart and the expired key.
    app.state.clock.advance(chrono::Duration::days(15));
    leancart::app::sweep_once(&app.state).await;
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM idempotency_keys").await, 0);
    assert_eq!(app.cart_call(&open_cart, reqwest::Method::GET, "", None).await.0, 404);
    assert_eq!(count(&app, "SELECT COUNT(*) AS n FROM orders").await, 1, "orders are not carts");
}

async fn count(app: &TestApp, sql: &'static str) -> i64 {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = diesel::sql_types::BigInt)]
        n: i64,
    }
    app.state.db.run(move |c| Ok(diesel::sql_query(sql).get_result::<N>(c)?.n)).await.unwrap()
}

/// The keyring: made on first start beside the shop's data (its own SQLite file, or schema `keyring`
/// on PostgreSQL) with the blind-index key wrapped by the configured master key; a rotation re-wraps
/// every key without touching a row; then the old master key is refused at start and the new one opens
/// the same keys (the blind index gives the same entries).
#[tokio::test(flavor = "multi_thread")]
async fn the_keyring_rotates_without_touching_rows() {
    use leancart::config::MasterKeySource;
    use leancart::privacy::keyring::{self, KeyringError};
    let app = TestApp::spawn().await;
    let config = (*app.state.config).clone();
    let configured = app.state.keys.master.id().to_owned();
    let entry = app.state.keys.index.email("ada.lovelace@example.org");
    let url = config.keyring_url.clone();
    let status = tokio::task::spawn_blocking(move || keyring::status_of(&url).unwrap()).await.unwrap();
    assert_eq!(status, [(configured.clone(), 1)], "the blind-index key, wrapped by the configured master key");
    let dir = tempfile::tempdir().unwrap();
    let new_key = dir.path().join("next.key");
    let (cfg, path) = (config.clone(), new_key.clone());
    let (new_id, rewrapped, refused, reopened) = tokio::task::spawn_blocking(move || {
        let new_id = keyring::write_new_key_file(&path).unwrap().id().to_owned();
        let rewrapped = keyring::rotate(&cfg, &path).unwrap();
        let refused = keyring::open(&cfg).err();
        let mut next = cfg.clone();
        next.master_key = MasterKeySource::File(path);
        (new_id, rewrapped, refused, keyring::open(&next).unwrap())
    })
    .await
    .unwrap();
    assert_eq!(rewrapped, 1);
    assert!(
        matches!(&refused, Some(KeyringError::OtherMasterKey { other, configured: c, count: 1 }) if *other == new_id && *c == configured),
        "{refused:?}"
    );
    assert_eq!(reopened.master.id(), new_id);
    assert_eq!(reopened.index.email("ada.lovelace@example.org"), entry, "indexes stay valid");
    // The shop's own tables never held a key.
    assert!(leancart::privacy::registry::declared("keys", "wrapped_key").is_none());
}

/// Staff find orders by e-mail through the keyed blind index: the order keeps the index entry (not
/// derivable without the keyring's index key), the search computes it, and orders placed before the
/// index existed get theirs at start-up.
#[tokio::test(flavor = "multi_thread")]
async fn orders_are_found_by_email_through_the_blind_index() {
    let app = TestApp::staff().await;
    let cart = app.ready_cart().await;
    let placed: serde_json::Value = app.place(&cart, "indexed", "pm_card_visa").await.json().await.unwrap();
    let id = placed["order"]["id"].as_str().unwrap().to_owned();
    let oid = id.clone();
    let order = app.state.db.run(move |c| Ok(leancart::orders::store::find_order(c, &oid)?.unwrap())).await.unwrap();
    let entry = order.email_index.clone().expect("an index entry");
    assert_eq!(entry, app.state.keys.index.email("ada.lovelace@example.org"));
    assert!(!entry.contains("ada") && entry.len() == 64);
    let search = "/v1/admin/orders?email=ada.lovelace@example.org";
    let found = |body: &serde_json::Value| -> Vec<String> {
        body["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
    };
    let (s, body) = app.admin(reqwest::Method::GET, search, None).await;
    assert_eq!((s, found(&body)), (200, vec![id.clone()]));
    let (_, body) = app.admin(reqwest::Method::GET, "/v1/admin/orders?email=grace@example.org", None).await;
    assert!(found(&body).is_empty());
    // An order from before the index: found again once the start-up backfill gave it its entry.
    app.state.db.run(|c| Ok(diesel::sql_query("UPDATE orders SET email_index = NULL").execute(c)?)).await.unwrap();
    let (_, body) = app.admin(reqwest::Method::GET, search, None).await;
    assert!(found(&body).is_empty(), "no plaintext comparison behind the search");
    let keys = app.state.keys.clone();
    let indexed =
        app.state.db.run(move |c| leancart::orders::service::backfill_email_index(c, &keys.index)).await.unwrap();
    assert_eq!(indexed, 1);
    let (_, body) = app.admin(reqwest::Method::GET, search, None).await;
    assert_eq!(found(&body), vec![id]);
}

/// Several processes starting at once on one database make one keyring: every start succeeds and all
/// agree on the blind-index key (the schema is made under a lock; the first key kept wins).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_starts_make_one_keyring() {
    let app = TestApp::spawn().await;
    let mut config = (*app.state.config).clone();
    // A keyring nobody made yet, in a database of its own: the starts race over its schema (on
    // PostgreSQL, schema `keyring`) and over its first key.
    let fresh = crate::support::db::TestDb::create().await;
    config.keyring_url = leancart::config::DatabaseUrl::parse(&fresh.url()).unwrap();
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let config = config.clone();
            std::thread::spawn(move || {
                leancart::privacy::keyring::open(&config).map(|k| k.index.email("a@example.org"))
            })
        })
        .collect();
    let entries: Vec<String> = starts.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
    assert!(entries.windows(2).all(|w| w[0] == w[1]), "one index key for all");
    drop(fresh);
}
