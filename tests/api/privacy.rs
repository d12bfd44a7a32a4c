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
            (Category::AuditEntries, 1),
            (Category::GuestData, 0)
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
    let cart = app.ready_cart().await;
    let placed: serde_json::Value = app.place(&cart, "rotated", "pm_card_visa").await.json().await.unwrap();
    let id = placed["order"]["id"].as_str().unwrap().to_owned();
    let oid = id.clone();
    let order = app.state.db.run(move |c| Ok(leancart::orders::store::find_order(c, &oid)?.unwrap())).await.unwrap();
    let config = (*app.state.config).clone();
    let configured = app.state.vault.keys().master.id().to_owned();
    let entry = app.state.vault.keys().index.email("ada.lovelace@example.org");
    let url = config.keyring_url.clone();
    let status = tokio::task::spawn_blocking(move || keyring::status_of(&url).unwrap()).await.unwrap();
    assert_eq!(
        status,
        [(configured.clone(), 3)],
        "the blind-index and link-signing keys and the shopper's, wrapped by the configured master key"
    );
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
    assert_eq!(rewrapped, 3);
    assert!(
        matches!(&refused, Some(KeyringError::OtherMasterKey { other, configured: c, count: 3 }) if *other == new_id && *c == configured),
        "{refused:?}"
    );
    assert_eq!(reopened.master.id(), new_id);
    assert_eq!(reopened.index.email("ada.lovelace@example.org"), entry, "indexes stay valid");
    // Every sealed row still opens: the shopper's key, re-wrapped, opens the untouched order.
    let keyring = leancart::db::Db::connect_keyring(&config.keyring_url, 2, std::time::Duration::from_secs(5)).unwrap();
    let vault = leancart::privacy::vault::Vault::new(std::sync::Arc::new(reopened), keyring);
    let key = vault.key_of(order.subject_id.as_deref().unwrap()).await.unwrap().expect("the key, re-wrapped");
    let details = order.sealed().open(Some(&key.key));
    assert_eq!(details.email.map(|e| e.expose().to_owned()).as_deref(), Some("ada.lovelace@example.org"));
    assert!(details.line1.is_some() && details.name.is_some());
    // The shop's own tables never held a key.
    assert!(leancart::privacy::registry::declared("keys", "wrapped_key").is_none());
}

/// Staff find orders by e-mail through the keyring: the e-mail's keyed blind index names the data
/// subject, the subject its orders — the shop's tables hold neither the address nor its index entry.
/// Orders and carts written in clear before sealing existed are sealed at start-up and found again.
#[tokio::test(flavor = "multi_thread")]
async fn orders_are_found_by_email_and_earlier_rows_are_sealed_at_start() {
    let app = TestApp::staff().await;
    let cart = app.ready_cart().await;
    let placed: serde_json::Value = app.place(&cart, "indexed", "pm_card_visa").await.json().await.unwrap();
    let id = placed["order"]["id"].as_str().unwrap().to_owned();
    let search = "/v1/admin/orders?email=ada.lovelace@example.org";
    let found = |body: &serde_json::Value| -> Vec<String> {
        body["data"].as_array().unwrap().iter().map(|o| o["id"].as_str().unwrap().to_owned()).collect()
    };
    let (s, body) = app.admin(reqwest::Method::GET, search, None).await;
    assert_eq!((s, found(&body)), (200, vec![id.clone()]));
    assert_eq!(body["data"][0]["email"], "ada.lovelace@example.org", "opened for staff");
    let (_, body) = app.admin(reqwest::Method::GET, "/v1/admin/orders?email=grace@example.org", None).await;
    assert!(found(&body).is_empty());

    // The same order as an earlier version wrote it: personal fields in clear, no subject; and an
    // open cart with clear details.
    let other = app.ready_cart().await;
    let clear = "email = 'ada.lovelace@example.org', ship_name = 'Ada Lovelace', ship_line1 = '12 St James''s Square', \
                 ship_line2 = NULL, ship_city = 'London', ship_postal_code = 'SW1Y 4JH', ship_phone = NULL, \
                 subject_id = NULL";
    let (order_sql, cart_sql) = (
        format!("UPDATE orders SET {clear} WHERE id = '{id}'"),
        format!("UPDATE carts SET {clear} WHERE id = '{}'", other.id),
    );
    app.state
        .db
        .run(move |c| {
            diesel::sql_query(order_sql).execute(c)?;
            Ok(diesel::sql_query(cart_sql).execute(c)?)
        })
        .await
        .unwrap();
    let (_, body) = app.admin(reqwest::Method::GET, search, None).await;
    assert!(found(&body).is_empty(), "no plaintext comparison behind the search");
    let sealed = leancart::orders::service::seal_earlier_orders(&app.state.db, &app.state.vault).await.unwrap()
        + leancart::checkout::service::seal_earlier_carts(&app.state.db, &app.state.vault).await.unwrap();
    assert_eq!(sealed, 2);
    app.state.db.run(|c| Ok(leancart::db::dialect::reclaim_rewritten(c, &["orders", "carts"])?)).await.unwrap();
    assert!(!app.db.dump().contains("James"), "nothing left in clear");
    let (_, body) = app.admin(reqwest::Method::GET, search, None).await;
    assert_eq!(found(&body), vec![id.clone()]);
    let (_, order) = app.admin(reqwest::Method::GET, &format!("/v1/admin/orders/{id}"), None).await;
    assert_eq!(order["order"]["shipping_address"]["line1"], "12 St James's Square");
    let cart_view = app.get_cart(&other).await;
    assert_eq!(cart_view.details.shipping_address.map(|a| a.city), Some("London".to_owned()));
    // Run again (another process starting): nothing left to seal.
    assert_eq!(leancart::orders::service::seal_earlier_orders(&app.state.db, &app.state.vault).await.unwrap(), 0);
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

/// A shopper with marker values in every personal field (a gift to someone with a phone-needing
/// method): their order, the second cart they left open, and a staff note about them.
fn marker_details(n: u32) -> serde_json::Value {
    serde_json::json!({
        "email": format!("marker.shopper{n}@example.org"),
        "shipping_method": "express",
        "phone": format!("+1 555 01{n:02}"),
        "ship_to_someone_else": true,
        "recipient_consent_confirmed": true,
        "shipping_address": {"name": format!("Zebulon Markerperson{n}"), "line1": format!("{n} Markerline Street"),
                             "line2": format!("Markerflat {n}"), "city": "Markerville", "region": "CA",
                             "postal_code": format!("9{n:04}"), "country": "US"}
    })
}

/// Encrypted at rest: after checkouts, the raw database (the SQLite file and its log; `pg_dump` on
/// PostgreSQL) holds none of the shopper's marker values — order, open cart, staff note — and every
/// stored value of every column the registry declares personal is sealed. The shopper and staff still
/// read them through the API.
#[tokio::test(flavor = "multi_thread")]
async fn personal_data_is_sealed_at_rest() {
    use diesel::prelude::*;
    let app = TestApp::staff().await;
    let mut orders = Vec::new();
    for n in 1..=2 {
        let cart = app.new_cart().await;
        assert_eq!(app.add(&cart, "TEE-BLK-M", 1).await.0, 200);
        let (s, body) = app.details(&cart, marker_details(n)).await;
        assert_eq!(s, 200, "{body}");
        let placed: serde_json::Value =
            app.place(&cart, &format!("marker-{n}"), "pm_card_visa").await.json().await.unwrap();
        orders.push(placed["order"]["id"].as_str().unwrap().to_owned());
    }
    let open_cart = app.new_cart().await;
    assert_eq!(app.add(&open_cart, "TEE-BLK-M", 1).await.0, 200);
    assert_eq!(app.details(&open_cart, marker_details(3)).await.0, 200);
    let cancel = format!("/v1/admin/orders/{}/cancel", orders[0]);
    let (s, _) =
        app.admin(reqwest::Method::POST, &cancel, Some(serde_json::json!({"reason": "Markernote called"}))).await;
    assert_eq!(s, 200);
    let refund = format!("/v1/admin/orders/{}/refunds", orders[1]);
    let body = serde_json::json!({"amount": 100, "reason": "Markerrefund asked"});
    assert_eq!(app.admin(reqwest::Method::POST, &refund, Some(body)).await.0, 200);

    let dump = app.db.dump();
    for marker in [
        "marker.shopper",
        "Markerperson",
        "Markerline",
        "Markerflat",
        "Markerville",
        "Markernote",
        "Markerrefund",
        "90001",
        "5550101",
    ] {
        assert!(!dump.contains(marker), "{marker} stored in clear");
    }
    // The class: every stored value of every personal column (staff notes: the staff-written ones).
    for p in registry::PERSONAL {
        let sql = match p.category {
            registry::Category::StaffNote if p.table == "order_events" => {
                format!("SELECT {} AS v FROM {} WHERE actor = 'staff'", p.column, p.table)
            }
            _ => format!("SELECT {} AS v FROM {} WHERE {} IS NOT NULL", p.column, p.table, p.column),
        };
        #[derive(QueryableByName)]
        struct V {
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            v: Option<String>,
        }
        let values: Vec<V> = app.state.db.run(move |c| Ok(diesel::sql_query(sql).load(c)?)).await.unwrap();
        for v in values.into_iter().filter_map(|v| v.v) {
            let fixed = p.table == "refunds" && registry::PROCESSOR_REFUND_REASONS.contains(&v.as_str());
            assert!(
                leancart::privacy::sealing::is_sealed(&v) || fixed,
                "{}.{} holds a value in clear",
                p.table,
                p.column
            );
        }
    }
    // Through the API, each reads its own, opened.
    let cart = app.get_cart(&open_cart).await;
    assert_eq!(cart.details.email.as_deref(), Some("marker.shopper3@example.org"));
    assert_eq!(cart.details.phone.as_deref(), Some("+15550103"));
    let (_, staff) = app.admin(reqwest::Method::GET, &format!("/v1/admin/orders/{}", orders[0]), None).await;
    assert_eq!(staff["order"]["shipping_address"]["line2"], "Markerflat 1");
    assert_eq!(staff["history"][2]["reason"], "Markernote called");
    // And nothing personal reached a log line.
    let logs = crate::support::logs::all();
    assert!(!logs.contains("Markerperson") && !logs.contains("marker.shopper"));
}

/// One person, many requests at once (several carts of the same new shopper, filled in together):
/// one data subject and one key between them, and every cart sealed under it.
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_first_uses_of_an_email_make_one_subject() {
    let app = TestApp::spawn().await;
    let mut carts = Vec::new();
    for _ in 0..8 {
        let cart = app.new_cart().await;
        assert_eq!(app.add(&cart, "TEE-BLK-M", 1).await.0, 200);
        carts.push(cart);
    }
    let mut details = crate::support::shop::german_details();
    details["email"] = serde_json::json!("first.time@example.org");
    let answers: Vec<u16> = futures_util::future::join_all(carts.iter().map(|c| {
        let details = details.clone();
        let app = &app;
        async move { app.details(c, details).await.0 }
    }))
    .await;
    assert!(answers.iter().all(|s| *s == 200), "{answers:?}");
    let ids: Vec<String> = carts.iter().map(|c| c.id.clone()).collect();
    let subjects: std::collections::BTreeSet<Option<String>> = app
        .state
        .db
        .run(move |c| {
            let mut out = std::collections::BTreeSet::new();
            for id in &ids {
                out.insert(leancart::checkout::store::find_cart(c, id)?.and_then(|cart| cart.subject_id));
            }
            Ok(out)
        })
        .await
        .unwrap();
    assert_eq!(subjects.len(), 1, "one subject: {subjects:?}");
    let email = leancart::kernel::pii::Email::parse("first.time@example.org").unwrap();
    let found = app.state.vault.find_subject(&email).await.unwrap();
    assert_eq!(subjects.into_iter().next().flatten(), found);
    for cart in &carts {
        assert_eq!(app.get_cart(cart).await.details.email.as_deref(), Some("first.time@example.org"));
    }
}
