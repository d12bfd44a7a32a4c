//! The two migration folders are kept in step: same versions, same tables, same indexes.

use std::collections::BTreeSet;
use std::path::Path;

fn versions(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect()
}

fn objects(sql: &str) -> BTreeSet<String> {
    let lower = sql.to_ascii_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    let mut out = BTreeSet::new();
    for w in words.windows(4) {
        match w {
            ["create", "table", name, ..] | ["create", "index", name, ..] | ["create", "unique", "index", name] => {
                out.insert(name.trim_matches(|c| c == '(' || c == '"').to_owned());
            }
            _ => {}
        }
    }
    // A SQLite table rebuild (create `x_next`, copy, drop `x`, rename `x_next` to `x`) changes a table
    // PostgreSQL alters in place: the temporary name is not a table of its own.
    for w in words.windows(6) {
        if let ["alter", "table", from, "rename", "to", _] = w {
            out.remove(*from);
        }
    }
    out
}

#[test]
fn sqlite_and_postgres_migrations_are_in_step() {
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    // The shop's database, and the keyring's (a database or schema of its own).
    for root in [migrations.clone(), migrations.join("keyring")] {
        let sqlite = versions(&root.join("sqlite"));
        let postgres = versions(&root.join("postgres"));
        assert!(!sqlite.is_empty());
        assert_eq!(sqlite, postgres, "same migration versions in both folders of {}", root.display());
        for v in &sqlite {
            for file in ["up.sql", "down.sql"] {
                let a = std::fs::read_to_string(root.join("sqlite").join(v).join(file)).unwrap();
                let b = std::fs::read_to_string(root.join("postgres").join(v).join(file)).unwrap();
                assert_eq!(objects(&a), objects(&b), "{v}/{file} creates the same tables and indexes");
            }
        }
    }
}

/// The column rules (statuses, currencies, amounts, quantities) hold in the database itself on both
/// backends — as CHECK constraints on SQLite, as domains on PostgreSQL — whatever the application does.
#[tokio::test]
async fn the_databases_column_rules_refuse_what_the_application_never_writes() {
    use diesel::RunQueryDsl;
    use diesel::result::{DatabaseErrorKind, Error};
    let db = crate::support::db::TestDb::create().await;
    let url = leancart::config::DatabaseUrl::parse(&db.url()).unwrap();
    let refused: Vec<(&str, bool)> = tokio::task::spawn_blocking(move || {
        let mut conn = leancart::db::Manager::new(url).connect().unwrap();
        let now = "'2026-01-01 00:00:00'";
        // Each rule, and a statement breaking it.
        let cases = [
            ("stock", "UPDATE product_variants SET stock_on_hand = -1".to_owned()),
            ("price", "UPDATE product_variants SET price_amount = -5".to_owned()),
            ("currency", "UPDATE product_variants SET currency = 'EURO'".to_owned()),
            ("product status", "UPDATE products SET status = 'deleted'".to_owned()),
            (
                "cart status",
                format!(
                    "INSERT INTO carts (id, token_hash, status, currency, is_gift, created_at, updated_at) \
                     VALUES ('c1', 'h1', 'abandoned', 'USD', false, {now}, {now})"
                ),
            ),
            (
                "amount",
                format!(
                    "INSERT INTO payments (id, payment_method_id, status, capture_method, amount, currency, \
                     created_at, updated_at) VALUES ('p1', 'pm_x', 'pending', 'automatic', 0, 'USD', {now}, {now})"
                ),
            ),
            (
                "month",
                format!(
                    "INSERT INTO payments (id, payment_method_id, status, capture_method, amount, currency, \
                     card_exp_month, created_at, updated_at) \
                     VALUES ('p2', 'pm_x', 'pending', 'automatic', 100, 'USD', 13, {now}, {now})"
                ),
            ),
            (
                "payment status",
                format!(
                    "INSERT INTO payments (id, payment_method_id, status, capture_method, amount, currency, \
                     created_at, updated_at) VALUES ('p3', 'pm_x', 'lost', 'automatic', 100, 'USD', {now}, {now})"
                ),
            ),
        ];
        let out: Vec<(&str, bool)> = cases
            .iter()
            .map(|(rule, sql)| {
                let r = diesel::sql_query(sql.as_str()).execute(&mut conn);
                (*rule, matches!(r, Err(Error::DatabaseError(DatabaseErrorKind::CheckViolation, _))))
            })
            .collect();
        // And the same rules let valid rows through.
        diesel::sql_query(format!(
            "INSERT INTO payments (id, payment_method_id, status, capture_method, amount, currency, \
             card_exp_month, card_last4, created_at, updated_at) \
             VALUES ('p4', 'pm_x', 'pending', 'automatic', 100, 'USD', 12, '4242', {now}, {now})"
        ))
        .execute(&mut conn)
        .unwrap();
        out
    })
    .await
    .unwrap();
    for (rule, was_refused) in refused {
        assert!(was_refused, "{rule}: a value breaking the rule was not refused with a check violation");
    }
}

/// Several processes starting at once on a fresh SQLite file all get a migrated database (the race to
/// migrate is lost gracefully); on PostgreSQL an advisory lock serialises them.
#[test]
fn concurrent_starters_all_get_a_migrated_database() {
    let dir = tempfile::tempdir().unwrap();
    let url =
        leancart::config::DatabaseUrl::parse(&format!("sqlite://{}", dir.path().join("fresh.db").display())).unwrap();
    let starters: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                let mut conn = leancart::db::Manager::new(url).connect()?;
                leancart::db::run_migrations(&mut conn)?;
                leancart::db::pending_migrations(&mut conn)
            })
        })
        .collect();
    for s in starters {
        assert_eq!(s.join().unwrap().unwrap(), 0, "nothing left pending for any starter");
    }
}
