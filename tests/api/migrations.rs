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
    out
}

#[test]
fn sqlite_and_postgres_migrations_are_in_step() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let sqlite = versions(&root.join("sqlite"));
    let postgres = versions(&root.join("postgres"));
    assert_eq!(sqlite, postgres, "same migration versions in both folders");
    for v in &sqlite {
        for file in ["up.sql", "down.sql"] {
            let a = std::fs::read_to_string(root.join("sqlite").join(v).join(file)).unwrap();
            let b = std::fs::read_to_string(root.join("postgres").join(v).join(file)).unwrap();
            assert_eq!(objects(&a), objects(&b), "{v}/{file} creates the same tables and indexes");
        }
    }
}
