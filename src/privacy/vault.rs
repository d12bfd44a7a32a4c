//! The vault: data subjects and their data keys at run time.
//!
//! A data subject is one person, known by a pseudonymous id (`sub_…`); a guest is found by the blind
//! index of their e-mail. Their data key lives wrapped in the keyring (a database of its own). The vault
//! makes a subject and its key on first use, finds and unwraps keys, keeps a short-lived cache of them,
//! and destroys a subject's key on erasure.
//!
//! Keys are fetched *before* a unit of work on the shop's database and handed into it: the keyring
//! is another database, and on SQLite a write to it from inside the shop's unit of work would run on
//! the wrong writer.
//!
//! The cache keeps an unwrapped key for [`KEY_TTL`] at most, so a key destroyed by another process is
//! forgotten here within that time; this process forgets it at once.

use super::keyring::Keys;
use super::sealing::{DataKey, KeyError};
use crate::db::Db;
use crate::error::ApiError;
use crate::kernel::pii::Email;
use crate::typed_id;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

typed_id!(
    /// A data subject (`sub_…`): one person whose personal data is sealed under one key.
    SubjectId, "sub_"
);

/// The keyring's name for a subject's data key.
pub fn key_owner(subject: &str) -> String {
    format!("subject:{subject}")
}

/// How long an unwrapped key is kept in memory (and so, at most, how long another process may go on
/// using a key after erasure destroyed it).
pub const KEY_TTL: Duration = Duration::from_secs(30);
/// Most keys (and e-mail look-ups) kept; past it the cache starts over.
const CACHE_CAPACITY: usize = 10_000;

/// A subject and its key, ready to seal and open that person's fields.
#[derive(Clone, Debug)]
pub struct SubjectKey {
    pub subject: String,
    pub key: Arc<DataKey>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, (Arc<DataKey>, Instant)>,
    by_email: HashMap<String, (String, Instant)>,
}

impl Cache {
    fn key(&self, subject: &str, now: Instant) -> Option<Arc<DataKey>> {
        self.keys.get(subject).filter(|(_, at)| now.duration_since(*at) < KEY_TTL).map(|(k, _)| k.clone())
    }

    fn keep(&mut self, subject: &str, key: Arc<DataKey>, email_index: Option<&str>, now: Instant) {
        if self.keys.len() >= CACHE_CAPACITY {
            self.keys.clear();
        }
        if self.by_email.len() >= CACHE_CAPACITY {
            self.by_email.clear();
        }
        self.keys.insert(subject.to_owned(), (key, now));
        if let Some(index) = email_index {
            self.by_email.insert(index.to_owned(), (subject.to_owned(), now));
        }
    }
}

pub struct Vault {
    keys: Arc<Keys>,
    keyring: Db,
    cache: Mutex<Cache>,
    /// When this process last ran guest-data retention (see `requests::sweep`).
    last_retention: Mutex<Option<chrono::NaiveDateTime>>,
    /// To the task that makes new people's subjects and keys (see [`make_subjects`]).
    creations: tokio::sync::mpsc::Sender<Creation>,
}

/// A person to find or make, and where the answer goes.
struct Creation {
    email_index: String,
    reply: tokio::sync::oneshot::Sender<Result<(String, Arc<DataKey>), ApiError>>,
}

/// Most people made in one keyring transaction.
const CREATION_BATCH: usize = 64;

/// Find or make the subjects of e-mail entries, many to a keyring transaction: whatever requests
/// queued while the previous transaction ran go in the next. Measured reason: made one at a time, a
/// new person's keyring transaction (its hop to a blocking thread, the SQLite file locks or the
/// PostgreSQL commit) cost 0.2 ms of server CPU per checkout, 15–20 % of all.
async fn make_subjects(keys: Arc<Keys>, keyring: Db, mut queue: tokio::sync::mpsc::Receiver<Creation>) {
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < CREATION_BATCH {
            match queue.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let indexes: Vec<String> = batch.iter().map(|c| c.email_index.clone()).collect();
        let keys = keys.clone();
        let made = keyring
            .run(move |conn| {
                crate::db::dialect::write_transaction(conn, |conn| {
                    let at = crate::kernel::time::now();
                    indexes
                        .iter()
                        .map(|index| find_or_make(conn, &keys, index, at))
                        .collect::<Result<Vec<_>, ApiError>>()
                })
            })
            .await;
        match made {
            Ok(made) => {
                for (creation, subject) in batch.into_iter().zip(made) {
                    let _ = creation.reply.send(Ok(subject));
                }
            }
            Err(e) => {
                tracing::warn!(code = e.code(), people = batch.len(), "could not make data subjects");
                for creation in batch {
                    let _ = creation
                        .reply
                        .send(Err(ApiError::Unavailable("the keyring cannot be written right now".into())));
                }
            }
        }
    }
}

/// The subject of an e-mail entry and its key, made if new (in the caller's write transaction; a
/// concurrent maker in another process is settled by the unique index: theirs is the one).
fn find_or_make(
    conn: &mut crate::db::DbConn,
    keys: &Keys,
    email_index: &str,
    at: chrono::NaiveDateTime,
) -> Result<(String, Arc<DataKey>), ApiError> {
    let fresh = SubjectId::generate().into_string();
    if super::store::insert_subject(conn, &fresh, email_index, at)? {
        let owner = key_owner(&fresh);
        let (key, wrapped) = DataKey::generate(&keys.master, &owner).map_err(key_failure)?;
        super::store::insert_key(conn, &owner, &wrapped, at)?;
        return Ok((fresh, Arc::new(key)));
    }
    let subject = super::store::subject_by_email(conn, email_index)?
        .ok_or_else(|| ApiError::internal("the data subject was not kept"))?;
    let owner = key_owner(&subject);
    let key = match super::store::find_key(conn, &owner)? {
        Some(wrapped) => DataKey::unwrap(&keys.master, &owner, &wrapped).map_err(key_failure)?,
        None => {
            let (key, wrapped) = DataKey::generate(&keys.master, &owner).map_err(key_failure)?;
            if super::store::insert_key(conn, &owner, &wrapped, at)? {
                key
            } else {
                let kept = super::store::find_key(conn, &owner)?
                    .ok_or_else(|| ApiError::internal("the data key was not kept"))?;
                DataKey::unwrap(&keys.master, &owner, &kept).map_err(key_failure)?
            }
        }
    };
    Ok((subject, Arc::new(key)))
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault")
    }
}

fn key_failure(e: KeyError) -> ApiError {
    ApiError::internal(format!("data key: {e}"))
}

impl Vault {
    /// The vault of a running shop (it starts its subject-making task on the current runtime).
    pub fn new(keys: Arc<Keys>, keyring: Db) -> Vault {
        let (creations, queue) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(make_subjects(keys.clone(), keyring.clone(), queue));
        Vault { keys, keyring, cache: Mutex::new(Cache::default()), last_retention: Mutex::new(None), creations }
    }

    /// Whether guest-data retention is due in this process (at most once per `every`); if so, it is
    /// recorded as run at `now`.
    pub fn retention_due(&self, now: chrono::NaiveDateTime, every: chrono::Duration) -> bool {
        let Ok(mut last) = self.last_retention.lock() else { return true };
        if last.is_some_and(|at| now - at < every && now >= at) {
            return false;
        }
        *last = Some(now);
        true
    }

    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The blind-index entry of an e-mail address.
    pub fn email_index(&self, email: &Email) -> String {
        self.keys.index.email(email.expose())
    }

    fn cached(&self, subject: &str) -> Option<Arc<DataKey>> {
        self.cache.lock().ok()?.key(subject, Instant::now())
    }

    fn remember(&self, subject: &str, key: Arc<DataKey>, email_index: Option<&str>) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.keep(subject, key, email_index, Instant::now());
        }
    }

    /// The subject an e-mail address belongs to, and its key: made on first use (a new guest).
    /// Concurrent first uses of one address agree on one subject and one key.
    pub async fn for_email(&self, email: &Email) -> Result<SubjectKey, ApiError> {
        let index = self.email_index(email);
        let now = Instant::now();
        if let Ok(cache) = self.cache.lock()
            && let Some((subject, _)) = cache.by_email.get(&index).filter(|(_, at)| now.duration_since(*at) < KEY_TTL)
            && let Some(key) = cache.key(subject, now)
        {
            return Ok(SubjectKey { subject: subject.clone(), key });
        }
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.creations
            .send(Creation { email_index: index.clone(), reply })
            .await
            .map_err(|_| ApiError::internal("the keyring's writer stopped"))?;
        let (subject, key) = answer.await.map_err(|_| ApiError::internal("the keyring's writer stopped"))??;
        self.remember(&subject, key.clone(), Some(&index));
        Ok(SubjectKey { subject, key })
    }

    /// The key of `subject`; `None` once the subject was erased (its key destroyed).
    pub async fn key_of(&self, subject: &str) -> Result<Option<SubjectKey>, ApiError> {
        if let Some(key) = self.cached(subject) {
            return Ok(Some(SubjectKey { subject: subject.to_owned(), key }));
        }
        let keys = self.keys.clone();
        let owner = key_owner(subject);
        let key = self
            .keyring
            .run(move |conn| {
                let Some(wrapped) = super::store::find_key(conn, &owner)? else { return Ok(None) };
                Ok(Some(Arc::new(DataKey::unwrap(&keys.master, &owner, &wrapped).map_err(key_failure)?)))
            })
            .await?;
        Ok(key.map(|key| {
            self.remember(subject, key.clone(), None);
            SubjectKey { subject: subject.to_owned(), key }
        }))
    }

    /// The keys of many subjects at once (one keyring query for those not cached): a bulk read — an
    /// export of thousands of records — does not ask the keyring once per person. Subjects without a
    /// key (erased) are absent from the map. Keys fetched here are not cached: a bulk read passes
    /// each person once.
    pub async fn keys_of(
        &self,
        subjects: Vec<String>,
    ) -> Result<std::collections::HashMap<String, Arc<DataKey>>, ApiError> {
        let mut found = std::collections::HashMap::with_capacity(subjects.len());
        let mut missing = Vec::new();
        for s in subjects {
            match self.cached(&s) {
                Some(k) => {
                    found.insert(s, k);
                }
                None if !found.contains_key(&s) => missing.push(key_owner(&s)),
                None => {}
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        missing.sort_unstable();
        missing.dedup();
        let keys = self.keys.clone();
        let unwrapped = self
            .keyring
            .run(move |conn| {
                let rows = super::store::find_keys(conn, &missing)?;
                rows.into_iter()
                    .map(|(owner, wrapped)| {
                        let key = DataKey::unwrap(&keys.master, &owner, &wrapped).map_err(key_failure)?;
                        Ok((owner, Arc::new(key)))
                    })
                    .collect::<Result<Vec<_>, ApiError>>()
            })
            .await?;
        for (owner, key) in unwrapped {
            if let Some(subject) = owner.strip_prefix("subject:") {
                found.insert(subject.to_owned(), key);
            }
        }
        Ok(found)
    }

    /// The key of an optional subject (rows written before sealing have none; they are sealed at
    /// start-up, so `None` here means an erased or unsealed row: nothing to open).
    pub async fn key_of_opt(&self, subject: Option<&str>) -> Result<Option<SubjectKey>, ApiError> {
        match subject {
            Some(s) => self.key_of(s).await,
            None => Ok(None),
        }
    }

    /// The subject an e-mail address belongs to, if any (no key made).
    pub async fn find_subject(&self, email: &Email) -> Result<Option<String>, ApiError> {
        let index = self.email_index(email);
        self.keyring.run(move |conn| Ok(super::store::subject_by_email(conn, &index)?)).await
    }

    /// A new key of its own for `owner` (a privacy request's contact: `request:<id>`), kept wrapped in
    /// the keyring until [`Vault::destroy_key`].
    pub async fn new_key(&self, owner: &str) -> Result<Arc<DataKey>, ApiError> {
        let (keys, owner) = (self.keys.clone(), owner.to_owned());
        self.keyring
            .run(move |conn| {
                let (key, wrapped) = DataKey::generate(&keys.master, &owner).map_err(key_failure)?;
                if !super::store::insert_key(conn, &owner, &wrapped, crate::kernel::time::now())? {
                    return Err(ApiError::internal("a key of that owner exists already"));
                }
                Ok(Arc::new(key))
            })
            .await
    }

    /// The key of `owner`, if it still exists (not cached: these keys are short-lived).
    pub async fn find_key(&self, owner: &str) -> Result<Option<Arc<DataKey>>, ApiError> {
        let (keys, owner) = (self.keys.clone(), owner.to_owned());
        self.keyring
            .run(move |conn| {
                let Some(wrapped) = super::store::find_key(conn, &owner)? else { return Ok(None) };
                Ok(Some(Arc::new(DataKey::unwrap(&keys.master, &owner, &wrapped).map_err(key_failure)?)))
            })
            .await
    }

    /// Destroy the key of `owner` (idempotent).
    pub async fn destroy_key(&self, owner: &str) -> Result<(), ApiError> {
        let owner = owner.to_owned();
        self.keyring.run(move |conn| Ok(super::store::delete_key(conn, &owner).map(|_| ())?)).await
    }

    /// Destroy `subject`'s key and forget their e-mail's index entry: everything sealed under the key,
    /// wherever a copy of it is, is unreadable from now on. Idempotent.
    pub async fn shred(&self, subject: &str) -> Result<(), ApiError> {
        let id = subject.to_owned();
        self.keyring
            .run(move |conn| {
                crate::db::dialect::write_transaction(conn, |conn| {
                    super::store::delete_key(conn, &key_owner(&id))?;
                    super::store::mark_subject_erased(conn, &id, crate::kernel::time::now())?;
                    Ok::<_, ApiError>(())
                })
            })
            .await?;
        if let Ok(mut cache) = self.cache.lock() {
            cache.keys.remove(subject);
            cache.by_email.retain(|_, (s, _)| s != subject);
        }
        Ok(())
    }
}
