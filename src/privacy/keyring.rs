//! The keyring: the master key (from configuration, or made once on a developer's machine) and the
//! wrapped keys it guards — one per data subject, and the blind-index key. See `sealing` for what the
//! keys do; this module finds, makes, checks and rotates them.

use super::sealing::{BlindIndex, INDEX_KEY_OWNER, KeyError, MasterKey};
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

/// What sealing needs at hand: the master key and the blind index.
#[derive(Debug)]
pub struct Keys {
    pub master: MasterKey,
    pub index: BlindIndex,
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
    use std::io::Write;
    let shown = path.display();
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| KeyringError::MasterKey(format!("cannot create {}: {e}", parent.display())))?;
    }
    let (key, text) = MasterKey::generate().map_err(|e| KeyringError::MasterKey(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| KeyringError::MasterKey(format!("cannot create {shown}: {e}")))?;
    file.write_all(format!("{text}\n").as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| KeyringError::MasterKey(format!("cannot write {shown}: {e}")))?;
    Ok(key)
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
            let key = write_new_key_file(path)?;
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
    let index = match store::find_key(&mut conn, INDEX_KEY_OWNER)? {
        Some(wrapped) => Some(wrapped),
        None => {
            let (_, wrapped) = BlindIndex::generate(&master).map_err(|e| KeyringError::MasterKey(e.to_string()))?;
            store::insert_key(&mut conn, INDEX_KEY_OWNER, &wrapped, time::now())?;
            // Another process may have made it first: theirs is the one.
            store::find_key(&mut conn, INDEX_KEY_OWNER)?
        }
    };
    let wrapped = index.ok_or_else(|| KeyringError::Store("the blind-index key was not kept".into()))?;
    if let Some((other, count)) = status(&mut conn)?.into_iter().find(|(id, _)| id != master.id()) {
        return Err(KeyringError::OtherMasterKey { other, configured: master.id().to_owned(), count });
    }
    let index = BlindIndex::unwrap(&master, &wrapped)
        .map_err(|_| KeyringError::MasterKey("the blind-index key does not open with this master key".into()))?;
    Ok(Keys { master, index })
}

/// How many keys each master key wraps (its id, the count).
pub fn status(conn: &mut crate::db::DbConn) -> Result<Vec<(String, usize)>, KeyringError> {
    let mut counts: Vec<(String, usize)> = Vec::new();
    let mut after = String::new();
    loop {
        let page = store::keys_after(conn, &after, 1000)?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (_, wrapped) in &page {
            let id = MasterKey::wrapped_by(wrapped).unwrap_or("?").to_owned();
            match counts.iter_mut().find(|(i, _)| *i == id) {
                Some((_, n)) => *n += 1,
                None => counts.push((id, 1)),
            }
        }
    }
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
    let mut after = String::new();
    loop {
        let page = store::keys_after(&mut conn, &after, 1000)?;
        let Some((last, _)) = page.last() else { break };
        after = last.clone();
        for (owner, wrapped) in page {
            if MasterKey::wrapped_by(&wrapped) != Some(old.id()) {
                continue;
            }
            let next = super::sealing::DataKey::rewrap(&old, &new, &owner, &wrapped)
                .map_err(|e| KeyringError::MasterKey(format!("key of {owner}: {e}")))?;
            if store::rewrap_key(&mut conn, &owner, &wrapped, &next, time::now())? {
                rewrapped += 1;
            }
        }
    }
    Ok(rewrapped)
}
