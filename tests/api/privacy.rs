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
