//! The keyring: the master key (from configuration, or made once on a developer's machine) and the
//! wrapped keys it guards — one per data subject, and the blind-index key. See `sealing` for what the
//! keys do; this module finds, makes, checks and rotates them.

use super::sealing::{BlindIndex, INDEX_KEY_OWNER, KeyError, LINK_KEY_OWNER, LinkSigner, MasterKey};
use super::store;
use crate::config::{Config, DatabaseUrl, MasterKeySource};
use crate::kernel::time;
use std::path::Path;

/// Why the keys could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum KeyringError {
    #[error("master key: {0}")]
    MasterKey(String),
    #[error("keyring: {0}")]
    Store(String),
    #[error(
        "the keyring holds {count} key(s) wrapped by master key {other}, not by the configured one ({configured}): \
         configure that master key, or re-wrap them with `leancart keys rotate`"
    )]
    OtherMasterKey { other: String, configured: String, count: usize },
}

impl From<crate::db::DbError> for KeyringError {
    fn from(e: crate::db::DbError) -> Self {
        KeyringError::Store(e.to_string())
    }
}

impl From<diesel::result::Error> for KeyringError {
    fn from(e: diesel::result::Error) -> Self {
        KeyringError::Store(e.to_string())
    }
}

/// What sealing needs at hand: the master key, the blind index, the link signer.
#[derive(Debug)]
pub struct Keys {
    pub master: MasterKey,
    pub index: BlindIndex,
    pub links: LinkSigner,
}

/// The wrapped key of `owner`, made with `make` on first start (another process starting at the same
/// moment may make it first: theirs is the one).
fn find_or_make(
    conn: &mut crate::db::DbConn,
    owner: &str,
    make: impl FnOnce() -> Result<String, KeyError>,
) -> Result<String, KeyringError> {
    if let Some(wrapped) = store::find_key(conn, owner)? {
        return Ok(wrapped);
    }
    let wrapped = make().map_err(|e| KeyringError::MasterKey(e.to_string()))?;
    store::insert_key(conn, owner, &wrapped, time::now())?;
    store::find_key(conn, owner)?.ok_or_else(|| KeyringError::Store(format!("the key of {owner} was not kept")))
}

/// Read a key file: it must be readable by its owner only (Unix mode 0600 or stricter).
fn read_key_file(path: &Path) -> Result<MasterKey, KeyringError> {
    let shown = path.display();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| KeyringError::MasterKey(format!("cannot read {shown}: {e}")))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(KeyringError::MasterKey(format!(
                "{shown} can be read by others (mode {:o}); make it 0600",
                mode & 0o777
            )));
        }
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| KeyringError::MasterKey(format!("cannot read {shown}: {e}")))?;
    MasterKey::parse(&text).map_err(|e| KeyringError::MasterKey(format!("{shown}: {e}")))
}

/// Write a new master key to `path` (which must not exist), readable by its owner only.
pub fn write_new_key_file(path: &Path) -> Result<MasterKey, KeyringError> {
    create_key_file(path)?
        .ok_or_else(|| KeyringError::MasterKey(format!("{} exists already; choose another file", path.display())))
}

/// Make a new key file at `path`, whole or not at all: written and synced under a temporary name, then
/// linked into place (a link never replaces a file). `None` when `path` exists — made meanwhile by
/// another process starting at the same moment, whose complete file is then the one to read.
fn create_key_file(path: &Path) -> Result<Option<MasterKey>, KeyringError> {
    use std::io::Write;
    let shown = path.display();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| KeyringError::MasterKey(format!("cannot create {}: {e}", parent.display())))?;
    }
    let (key, text) = MasterKey::generate().map_err(|e| KeyringError::MasterKey(e.to_string()))?;
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{}.{}.tmp", std::process::id(), key.id()));
    let temporary = std::path::PathBuf::from(name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&temporary).and_then(|mut file| {
        file.write_all(format!("{text}\n").as_bytes())?;
        file.sync_all()
    });
    let linked = written.and_then(|()| std::fs::hard_link(&temporary, path));
    let _ = std::fs::remove_file(&temporary);
    match linked {
        Ok(()) => Ok(Some(key)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(None),
        Err(e) => Err(KeyringError::MasterKey(format!("cannot create {shown}: {e}"))),
    }
}

/// The configured master key. On a developer's machine with none configured, the key file beside the
/// database is made on first start — said loudly, since losing it loses every sealed datum.
pub fn master_key(source: &MasterKeySource) -> Result<MasterKey, KeyringError> {
    match source {
        MasterKeySource::Value(secret) => MasterKey::parse(secret.expose())
            .map_err(|e: KeyError| KeyringError::MasterKey(format!("LEANCART_MASTER_KEY: {e}"))),
        MasterKeySource::File(path) => read_key_file(path),
        MasterKeySource::Development(path) if path.exists() => read_key_file(path),
        MasterKeySource::Development(path) => {
            let Some(key) = create_key_file(path)? else { return read_key_file(path) };
            tracing::warn!(
                file = %path.display(),
                master_key_id = key.id(),
                "NO MASTER KEY CONFIGURED: made a new one for development in {} (mode 0600). It guards every \
                 shopper's personal data: back it up apart from the database, and set LEANCART_MASTER_KEY_FILE \
                 (production refuses to start without one)",
                path.display()
            );
            Ok(key)
        }
    }
}

/// Make the keys ready at start-up: the master key, the keyring's schema, the blind-index key (made on
/// first start), and a check that every key in the keyring opens with this master key.
pub fn open(config: &Config) -> Result<Keys, KeyringError> {
    let master = master_key(&config.master_key)?;
    let mut conn = store::connect_keyring(&config.keyring_url)?;
    let wrapped = find_or_make(&mut conn, INDEX_KEY_OWNER, || BlindIndex::generate(&master).map(|(_, w)| w))?;
    let wrapped_links = find_or_make(&mut conn, LINK_KEY_OWNER, || LinkSigner::generate(&master).map(|(_, w)| w))?;
    let ours = MasterKey::wrapped_prefix(master.id());
    if let Some((other, count)) = store::keys_not_starting_with(&mut conn, &ours)? {
        let other = MasterKey::wrapped_by(&other).unwrap_or("?").to_owned();
        let count = usize::try_from(count).unwrap_or(usize::MAX);
        return Err(KeyringError::OtherMasterKey { other, configured: master.id().to_owned(), count });
    }
    let index = BlindIndex::unwrap(&master, &wrapped)
        .map_err(|_| KeyringError::MasterKey("the blind-index key does not open with this master key".into()))?;
    let links = LinkSigner::unwrap(&master, &wrapped_links)
        .map_err(|_| KeyringError::MasterKey("the link-signing key does not open with this master key".into()))?;
    Ok(Keys { master, index, links })
}

/// Every (owner, wrapped key) of the keyring, a page at a time.
fn each_key(
    conn: &mut crate::db::DbConn,
    mut f: impl FnMut(&mut crate::db::DbConn, &str, &str) -> Result<(), KeyringError>,
) -> Result<(), KeyringError> {
    let mut after = String::new();
    loop {
        let page = store::keys_after(conn, &after, 1000)?;
        let Some((last, _)) = page.last() else { return Ok(()) };
        after = last.clone();
        for (owner, wrapped) in &page {
            f(conn, owner, wrapped)?;
        }
    }
}

/// How many keys each master key wraps (its id, the count).
pub fn status(conn: &mut crate::db::DbConn) -> Result<Vec<(String, usize)>, KeyringError> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    each_key(conn, |_, _, wrapped| {
        let id = MasterKey::wrapped_by(wrapped).unwrap_or("?");
        match counts.iter_mut().find(|(i, _)| i == id) {
            Some((_, n)) => *n += 1,
            None => counts.push((id.to_owned(), 1)),
        }
        Ok(())
    })?;
    Ok(counts)
}

/// The keyring's status for an operator.
pub fn status_of(url: &DatabaseUrl) -> Result<Vec<(String, usize)>, KeyringError> {
    status(&mut store::connect_keyring(url)?)
}

/// Re-wrap every key wrapped by the configured master key under the key in `new_key_file`. Sealed
/// rows are not touched: they stay sealed under the same data keys. Safe to run again (keys already
/// under the new master key are skipped) and while the shop runs (each key is a compare-and-set).
/// Returns how many keys were re-wrapped.
pub fn rotate(config: &Config, new_key_file: &Path) -> Result<usize, KeyringError> {
    let old = master_key(&config.master_key)?;
    let new = read_key_file(new_key_file)?;
    let mut conn = store::connect_keyring(&config.keyring_url)?;
    let mut rewrapped = 0;
    each_key(&mut conn, |conn, owner, wrapped| {
        if MasterKey::wrapped_by(wrapped) != Some(old.id()) {
            return Ok(());
        }
        let next = super::sealing::DataKey::rewrap(&old, &new, owner, wrapped)
            .map_err(|e| KeyringError::MasterKey(format!("key of {owner}: {e}")))?;
        if store::rewrap_key(conn, owner, wrapped, &next, time::now())? {
            rewrapped += 1;
        }
        Ok(())
    })?;
    Ok(rewrapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Processes starting at once on a developer's machine make one key file between them: every
    /// start reads the same key, the file is private, no temporary file is left behind.
    #[test]
    fn concurrent_first_starts_make_one_development_key() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let source = MasterKeySource::Development(dir.path().join("master.key"));
        let starts: Vec<_> = (0..8)
            .map(|_| {
                let source = source.clone();
                std::thread::spawn(move || master_key(&source).map(|k| k.id().to_owned()))
            })
            .collect();
        let ids: Vec<String> = starts.into_iter().filter_map(|t| t.join().ok()).filter_map(Result::ok).collect();
        assert_eq!(ids.len(), 8, "every start got a key");
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "one key: {ids:?}");
        let files: Vec<_> =
            std::fs::read_dir(dir.path()).into_iter().flatten().flatten().map(|e| e.file_name()).collect();
        assert_eq!(files, [std::ffi::OsString::from("master.key")]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key")).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
        // `keys new` never replaces a file.
        assert!(write_new_key_file(&dir.path().join("master.key")).is_err());
    }
}
