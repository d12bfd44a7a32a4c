//! House rules the compiler does not check.

use std::path::Path;

fn files_ending(dir: &Path, ext: &str, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_ending(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    files_ending(dir, "rs", out)
}

/// The application state lives beneath the domains (`state.rs`); no module but the entry points imports
/// the assembly (`app.rs`), so the domains and the assembly never form a circle.
#[test]
fn nothing_imports_the_assembly_but_the_entry_points() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let entry_points = ["app.rs", "cli.rs", "main.rs", "lib.rs", "loadgen.rs"];
    for f in files {
        if entry_points.iter().any(|e| f.ends_with(e)) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        assert!(!text.contains("crate::app::") && !text.contains("crate::app;"), "{} imports app.rs", f.display());
    }
}

/// One rule for backend differences: only `db/` and a domain's `store.rs` (in the function that runs
/// the statement) branch on the database backend — never a service, a unit of work such as placement, a
/// handler or the assembly. (`health.rs` only reports which backend serves.)
#[test]
fn only_stores_and_db_name_a_backend() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let allowed = |f: &Path| f.starts_with(src.join("db")) || f.ends_with("store.rs") || f.ends_with("health.rs");
    let checked: Vec<_> = files.iter().filter(|f| !allowed(f)).collect();
    assert!(checked.iter().any(|f| f.ends_with("orders/placement.rs")) && checked.len() > 40);
    for f in checked {
        let text = std::fs::read_to_string(f).unwrap();
        for backend in ["DbConn::Pg", "DbConn::Sqlite", "Backend::Postgres", "Backend::Sqlite"] {
            assert!(!text.contains(backend), "{} branches on {backend}", f.display());
        }
    }
}

/// Every `.sql` file is a statement with a name: headed by comments that say what it does and which
/// tables it writes, run by the store beside it (`include_str!` in the domain's `store.rs`), with no
/// `?` in its comments (placeholders are bound in order; a stray one would shift every bind after it).
#[test]
fn sql_files_are_headed_and_run_by_their_store() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    files_ending(&src, "sql", &mut files);
    assert!(files.len() >= 15, "the statements live in files: {}", files.len());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let name = f.display();
        assert!(text.starts_with("-- "), "{name} starts with what it does");
        assert!(text.lines().any(|l| l.starts_with("-- writes: ")), "{name} says which tables it writes");
        for line in text.lines().filter(|l| l.trim_start().starts_with("--")) {
            assert!(!line.contains('?'), "{name}: a '?' in a comment would be taken for a placeholder: {line}");
        }
        // src/<domain>/sql/[backend/]<name>.sql is run by src/<domain>/store.rs.
        let domain = f.ancestors().find(|a| a.parent().is_some_and(|p| p == src)).unwrap();
        let store = std::fs::read_to_string(domain.join("store.rs")).unwrap();
        let relative = f.strip_prefix(domain).unwrap().display().to_string();
        assert!(store.contains(&format!("include_str!(\"{relative}\")")), "{name} is run by its store");
    }
}

/// The PostgreSQL statement that adds a line and reads the cart back runs `add_line.sql`'s upsert word
/// for word: the checks cannot drift apart.
#[test]
fn add_line_is_one_upsert_on_both_backends() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/checkout/sql");
    let statement = |t: &str| -> String {
        t.lines()
            .filter(|l| !l.trim_start().starts_with("--"))
            .flat_map(|l| l.split_whitespace())
            .collect::<Vec<_>>()
            .join(" ")
    };
    let upsert = statement(&std::fs::read_to_string(dir.join("add_line.sql")).unwrap());
    let combined = statement(&std::fs::read_to_string(dir.join("postgres/add_line_returning_cart.sql")).unwrap());
    assert!(
        combined.contains(&format!("WITH up AS ( {upsert} RETURNING")),
        "the combined statement embeds add_line.sql"
    );
}
