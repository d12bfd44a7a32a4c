//! House rules the compiler does not check.

use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
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

/// Services and handlers never branch on the database backend: stores and `db/` do.
#[test]
fn services_never_name_a_backend() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    for f in files.iter().filter(|f| f.ends_with("service.rs") || f.ends_with("http.rs")) {
        let text = std::fs::read_to_string(f).unwrap();
        for backend in ["DbConn::Pg", "DbConn::Sqlite", "Backend::Postgres", "Backend::Sqlite"] {
            assert!(!text.contains(backend), "{} branches on {backend}", f.display());
        }
    }
}
