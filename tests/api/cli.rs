//! The binary itself: exit codes, help, configuration errors that name the setting but never echo it.

use std::process::{Command, Output};

fn leancart(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_leancart"));
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run leancart")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn bad_configuration_exits_2_naming_the_variable_not_the_value() {
    let cases: &[(&str, &str)] = &[
        ("LEANCART_DB_POOL_SIZE", "lots-of-hunter2"),
        ("DATABASE_URL", "mysql://shop:hunter2@db/shop"),
        ("LEANCART_BIND", "hunter2"),
        ("LEANCART_STORE_CURRENCY", "hunter2"),
        ("STRIPE_SECRET_KEY", "hunter2"),
        ("LEANCART_ADMIN_TOKEN", "hunter2"),
    ];
    for (var, value) in cases {
        let out = leancart(&["check-config"], &[(var, value)]);
        assert_eq!(out.status.code(), Some(2), "{var}");
        let err = stderr(&out);
        assert!(err.contains(var), "{var} named in: {err}");
        assert!(!err.contains("hunter2"), "{var}: the value must not be echoed: {err}");
    }
}

#[test]
fn bad_usage_exits_2_and_help_is_everywhere() {
    assert_eq!(leancart(&["frobnicate"], &[]).status.code(), Some(2));
    assert_eq!(leancart(&["serve", "--tls-cert", "x.pem"], &[]).status.code(), Some(2));
    for sub in [
        &["--help"][..],
        &["serve", "--help"],
        &["migrate", "--help"],
        &["seed", "--help"],
        &["check-config", "--help"],
    ] {
        let out = leancart(sub, &[]);
        assert_eq!(out.status.code(), Some(0), "{sub:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"), "{sub:?}");
    }
}

#[test]
fn migrate_seed_and_check_config_on_a_fresh_sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    let env = [("DATABASE_URL", url.as_str())];
    let out = leancart(&["check-config"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("migration(s) pending"));
    assert!(stdout.contains("master key: development file") && stdout.contains("shop.keyring.db"), "{stdout}");
    let out = leancart(&["migrate"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = leancart(&["seed"], &env);
    assert!(String::from_utf8_lossy(&out.stdout).contains("seeded 12 product(s)"));
    let again = leancart(&["seed", "--fixtures", concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/demo")], &env);
    assert_eq!(again.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&again.stdout).contains("seeded 0 product(s) and 0 variant(s)"),
        "seeding is idempotent"
    );
    let out = leancart(&["check-config"], &env);
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 migration(s) pending"));
    // Retention: a dry run counts per category and deletes nothing; a run says what went.
    let out = leancart(&["retention", "run", "--dry-run"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("would delete"), "{stdout}");
    for category in ["abandoned carts", "idempotency keys", "webhook records", "audit entries", "guest personal data"] {
        assert!(stdout.lines().any(|l| l.contains(category) && l.trim_end().ends_with(" 0")), "{stdout}");
    }
    let out = leancart(&["retention", "run"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("retention: deleted") && stdout.contains("guest personal data"), "{stdout}");
    // The audit chain of a fresh shop: intact, empty.
    let out = leancart(&["audit", "verify"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit chain intact: 0 entries"));
    // Partners: a key is printed once, listed by its prefix only, revoked; each audited.
    let out = leancart(&["partner", "create", "--name", "Nordlager GmbH"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let partner = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let out = leancart(&["partner", "key", "issue", "--partner", &partner, "--scopes", "orders:write"], &env);
    assert_eq!(out.status.code(), Some(2), "an unknown scope");
    let out =
        leancart(&["partner", "key", "issue", "--partner", &partner, "--scopes", "orders:read,shipments:write"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("lc_live_") && !stderr(&out).contains(&token));
    let out = leancart(&["partner", "key", "list", "--partner", &partner], &env);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(listed.contains(&token[..16]) && !listed.contains(&token), "{listed}");
    let key = listed.lines().nth(1).and_then(|l| l.split_whitespace().next()).unwrap_or_default().to_owned();
    assert_eq!(leancart(&["partner", "key", "revoke", "--key", &key], &env).status.code(), Some(0));
    assert_eq!(leancart(&["partner", "key", "revoke", "--key", &key], &env).status.code(), Some(2), "once");
    let out = leancart(&["audit", "verify"], &env);
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit chain intact: 2 entries"), "{}", stderr(&out));
    // Staff: the first admin from the command line — a setup token alone on stdout (logs go to stderr),
    // or a password read from stdin; never a secret on the command line.
    let out = leancart(&["staff", "create", "--role", "admin", "--email", "ada@staff.example"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let setup = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(setup.starts_with("st_") && setup.len() == 67 && !setup.contains(char::is_whitespace), "{setup}");
    assert!(!stderr(&out).contains(&setup) && !stderr(&out).contains("ada@staff.example"));
    let out = leancart(&["staff", "create", "--role", "admin", "--email", "ada@staff.example"], &env);
    assert_eq!(out.status.code(), Some(2), "the e-mail has a member");
    let out = leancart(&["staff", "create", "--role", "root", "--email", "x@staff.example"], &env);
    assert_eq!(out.status.code(), Some(2), "no such role");
    let with_stdin = |password: &str| {
        use std::io::Write;
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_leancart"));
        cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).envs(env.iter().copied());
        cmd.args(["staff", "create", "--role", "finance", "--email", "kay@staff.example", "--password-stdin"]);
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run leancart");
        child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("write");
        child.wait_with_output().expect("wait")
    };
    assert_eq!(with_stdin("password").status.code(), Some(2), "a weak password is refused before anything is made");
    let out = with_stdin("a finance passphrase that is long");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty() && !stderr(&out).contains("passphrase"));
    let out = leancart(&["staff", "list"], &env);
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        listed.lines().any(|l| l.contains("admin") && l.contains("ada@staff.example") && l.contains("false")),
        "{listed}"
    );
    assert!(
        listed.lines().any(|l| l.contains("finance") && l.contains("kay@staff.example") && l.contains("true")),
        "{listed}"
    );
    let out = leancart(&["staff", "setup-link", "--email", "kay@staff.example"], &env);
    assert!(String::from_utf8_lossy(&out.stdout).trim().starts_with("st_"), "{}", stderr(&out));
    let out = leancart(&["audit", "verify"], &env);
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit chain intact: 8 entries"), "{}", stderr(&out));
    // Fulfillments: seeded for a benchmark, exported by an operator to a file (which must be new).
    let out = leancart(&["seed-fulfillments", "--partner", &partner, "--count", "40", "--people", "4"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let file = dir.path().join("work.ndjson");
    let file_arg = file.display().to_string();
    let args =
        ["export", "fulfillments", "--partner", partner.as_str(), "--format", "ndjson", "--out", file_arg.as_str()];
    let out = leancart(&args, &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let written = std::fs::read_to_string(&file).unwrap();
    let records: Vec<serde_json::Value> = written.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 40);
    assert!(
        records.iter().all(
            |r| r["reference"].as_str().is_some_and(|x| x.starts_with("FR-")) && r["recipient"]["city"] == "Berlin"
        )
    );
    assert_eq!(leancart(&args, &env).status.code(), Some(2), "an existing file is not overwritten");
    let out = leancart(&["audit", "verify"], &env);
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit chain intact: 9 entries"), "{}", stderr(&out));
    // A store currency that does not match the fixtures is a configuration problem.
    let out = leancart(&["seed"], &[("DATABASE_URL", url.as_str()), ("LEANCART_STORE_CURRENCY", "EUR")]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn unreachable_database_is_a_runtime_failure_with_the_real_cause() {
    let out = leancart(&["check-config"], &[("DATABASE_URL", "postgres://nobody:hunter2@127.0.0.1:1/shop")]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("Connection refused") || err.contains("connection refused") || err.contains("failed"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}

/// Master keys: production refuses to start without one; development makes one (0600) beside the
/// database; a key file others can read is refused naming the file, never its contents; `keys new`
/// writes a 0600 file and never prints the key; `keys rotate` re-wraps and `keys status` says under
/// which master key.
#[test]
fn master_keys_are_made_kept_private_and_rotated() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("shop.db").display());
    let out = leancart(&["check-config"], &[("DATABASE_URL", url.as_str()), ("LEANCART_ENV", "production")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("LEANCART_MASTER_KEY"), "{}", stderr(&out));
    // With a key configured, production still wants a way to send mail (files of messages would hold
    // personal data in clear by accident).
    let key = "5f".repeat(32);
    let env = [("DATABASE_URL", url.as_str()), ("LEANCART_ENV", "production"), ("LEANCART_MASTER_KEY", key.as_str())];
    let out = leancart(&["check-config"], &env);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("LEANCART_SMTP_URL"), "{}", stderr(&out));
    // With both, production starts its checks; the key itself is never printed.
    let env = [
        ("DATABASE_URL", url.as_str()),
        ("LEANCART_ENV", "production"),
        ("LEANCART_MASTER_KEY", key.as_str()),
        ("LEANCART_SMTP_URL", "smtp://127.0.0.1:2525"),
    ];
    let out = leancart(&["check-config"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(printed.contains("master key: LEANCART_MASTER_KEY") && !printed.contains(&key), "{printed}");
    assert!(printed.contains("mail:       SMTP"), "{printed}");
    let env = [("DATABASE_URL", url.as_str())];
    let out = leancart(&["keys", "status"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let dev_key = dir.path().join("master.key");
    assert_eq!(std::fs::metadata(&dev_key).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(dir.path().join("shop.keyring.db").exists(), "the keyring is a file of its own");
    let key_text = std::fs::read_to_string(&dev_key).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(stdout.contains("configured master key") && !stdout.contains(key_text.trim()), "{stdout}");
    // A new key file: 0600, its id printed, never the key; not over an existing file.
    let next = dir.path().join("next.key");
    let next_arg = next.display().to_string();
    let out = leancart(&["keys", "new", "--out", &next_arg], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let next_text = std::fs::read_to_string(&next).unwrap();
    assert!(!String::from_utf8_lossy(&out.stdout).contains(next_text.trim()));
    assert_eq!(std::fs::metadata(&next).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(leancart(&["keys", "new", "--out", &next_arg], &env).status.code(), Some(2));
    let out = leancart(&["keys", "rotate", "--to-key-file", &next_arg], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // A key file others can read is refused, naming the file and not its contents.
    std::fs::set_permissions(&next, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = leancart(&["keys", "status"], &[("DATABASE_URL", url.as_str()), ("LEANCART_MASTER_KEY_FILE", &next_arg)]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("0600") && !stderr(&out).contains(next_text.trim()), "{}", stderr(&out));
}
