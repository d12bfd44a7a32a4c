//! Passwords: the policy (NIST SP 800-63B: length, no composition rules) and argon2id hashing with
//! OWASP's parameters (m = 19 MiB, t = 2, p = 1) in PHC string format, on a bounded pool of blocking
//! threads so that a flood of logins cannot take every thread checkout needs.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

/// Fewest characters a password may have.
pub const MIN_CHARS: usize = 12;
/// Most characters a password may have (hashing cost is bounded; 128 leaves room for passphrases).
pub const MAX_CHARS: usize = 128;

/// A password as received. `Debug` never shows it.
#[derive(Clone, serde::Deserialize)]
#[serde(transparent)]
pub struct Password(String);

impl Password {
    pub fn new(s: impl Into<String>) -> Password {
        Password(s.into())
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl utoipa::PartialSchema for Password {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::schema::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Password)))
            .min_length(Some(MIN_CHARS))
            .max_length(Some(MAX_CHARS))
            .into()
    }
}

impl utoipa::ToSchema for Password {}

/// Why a new password is refused (never echoing it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weak {
    TooShort,
    TooLong,
    /// Among the 10 000 most common passwords (`COMMON_PASSWORDS_LICENSE` says whence the list).
    TooCommon,
}

/// The most common passwords (one per line in the file), lower-cased.
fn common() -> &'static std::collections::HashSet<String> {
    static COMMON: OnceLock<std::collections::HashSet<String>> = OnceLock::new();
    COMMON.get_or_init(|| {
        include_str!("common-passwords.txt").lines().filter(|l| !l.is_empty()).map(str::to_lowercase).collect()
    })
}

impl Weak {
    pub fn code(self) -> &'static str {
        match self {
            Weak::TooShort => "too_short",
            Weak::TooLong => "too_long",
            Weak::TooCommon => "too_common",
        }
    }

    pub fn message(self) -> String {
        match self {
            Weak::TooShort => {
                format!("must have at least {MIN_CHARS} characters (a passphrase of a few words works well)")
            }
            Weak::TooLong => format!("must have at most {MAX_CHARS} characters"),
            Weak::TooCommon => "is one of the most common passwords: choose another".to_owned(),
        }
    }
}

/// The policy for a new password: its length, counted in characters, and not one of the 10 000 most
/// common. No composition rules.
pub fn check(password: &Password) -> Result<(), Weak> {
    let chars = password.0.chars().count();
    if chars < MIN_CHARS {
        return Err(Weak::TooShort);
    }
    if chars > MAX_CHARS {
        return Err(Weak::TooLong);
    }
    if common().contains(password.0.trim().to_lowercase().as_str()) {
        return Err(Weak::TooCommon);
    }
    Ok(())
}

/// OWASP's argon2id parameters.
fn params() -> Params {
    Params::DEFAULT
}

fn hasher() -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params())
}

/// Hash a password (blocking: ~20 ms of one core).
pub fn hash(password: &Password) -> Result<String, String> {
    hasher().hash_password(password.bytes()).map(|h| h.to_string()).map_err(|e| e.to_string())
}

/// Whether `password` matches `stored` (a PHC string; its own parameters are used). Blocking.
pub fn verify(password: &Password, stored: &str) -> bool {
    Argon2::default().verify_password(password.bytes(), stored).is_ok()
}

/// Whether a stored hash was made with weaker settings than today's (another algorithm, less memory
/// or fewer passes): it is replaced on the next successful login.
pub fn needs_rehash(stored: &str) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else { return true };
    if parsed.algorithm.as_str() != "argon2id" {
        return true;
    }
    let Ok(found) = Params::try_from(&parsed) else { return true };
    let want = params();
    found.m_cost() < want.m_cost() || found.t_cost() < want.t_cost()
}

/// A hash of a password nobody knows, checked when the e-mail is unknown so that a login takes the
/// same time whether or not the account exists.
pub fn decoy() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| {
        let random = crate::kernel::secret::issue_token("decoy_");
        hash(&Password::new(random.plaintext.expose())).unwrap_or_default()
    })
}

/// A piece of password work for the hashers' threads.
type Job = Box<dyn FnOnce() + Send>;

/// The pool password work runs on: `size` threads of its own, at the lowest CPU priority, each taking
/// at most `per_second` jobs a second, so that a login flood leaves checkout the cores it needs
/// (measured on 2 cores: unpaced, one hasher took a whole core and cut checkouts/s by 25–40 %). The
/// rest wait here. Beside it, the login throttle.
#[derive(Clone)]
pub struct Hashers {
    jobs: std::sync::mpsc::SyncSender<Job>,
    waiting: Arc<Semaphore>,
    throttle: Arc<super::throttle::Throttle>,
}

/// Password work waiting for a hasher, at most (more is refused as the server being busy).
const QUEUE: usize = 1024;

/// Lower the calling thread's CPU priority as far as it goes (Linux: per thread).
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority on the calling thread; no memory is shared with the kernel.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        let _ = libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 19);
    }
}

impl Hashers {
    pub fn new(size: usize, per_second: u32) -> Hashers {
        let pace = std::time::Duration::from_secs_f64(1.0 / f64::from(per_second.max(1)));
        let (jobs, queue) = std::sync::mpsc::sync_channel::<Job>(QUEUE);
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..size.max(1) {
            let queue = queue.clone();
            let spawned = std::thread::Builder::new().name(format!("password-hasher-{n}")).spawn(move || {
                lowest_priority();
                loop {
                    let job = match queue.lock() {
                        Ok(q) => q.recv(),
                        Err(_) => return,
                    };
                    let started = std::time::Instant::now();
                    match job {
                        Ok(job) => job(),
                        Err(_) => return,
                    }
                    if let Some(rest) = pace.checked_sub(started.elapsed()) {
                        std::thread::sleep(rest);
                    }
                }
            });
            if spawned.is_err() {
                tracing::warn!("a password hasher thread could not start");
            }
        }
        Hashers { jobs, waiting: Arc::new(Semaphore::new(QUEUE)), throttle: Arc::default() }
    }

    pub fn throttle(&self) -> &super::throttle::Throttle {
        &self.throttle
    }

    /// Run password work `f` on a hasher.
    pub async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, crate::error::ApiError> {
        use crate::error::ApiError;
        let _place = self.waiting.acquire().await.map_err(|_| ApiError::internal("the password hashers stopped"))?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(f());
        });
        self.jobs.try_send(job).map_err(|_| ApiError::Unavailable("too many logins at once; try again".into()))?;
        answer.await.map_err(|_| ApiError::internal("a password hasher stopped"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_counts_characters_and_nothing_else() {
        assert_eq!(check(&Password::new("short")), Err(Weak::TooShort));
        assert_eq!(check(&Password::new("x".repeat(11))), Err(Weak::TooShort));
        assert_eq!(check(&Password::new("correct horse")), Ok(()), "no composition rules");
        assert_eq!(check(&Password::new("ééééééééééé")), Err(Weak::TooShort), "characters, not bytes");
        assert_eq!(check(&Password::new("a".repeat(128))), Ok(()));
        assert_eq!(check(&Password::new("a".repeat(129))), Err(Weak::TooLong));
        assert!(!format!("{:?}", Password::new("hunter2hunter2")).contains("hunter2"));
        assert!(common().len() > 9_900, "the list: {}", common().len());
        let long_common = common().iter().find(|p| p.chars().count() >= MIN_CHARS).cloned().unwrap_or_default();
        assert_eq!(check(&Password::new(long_common.clone())), Err(Weak::TooCommon));
        assert_eq!(check(&Password::new(long_common.to_uppercase())), Err(Weak::TooCommon), "any case");
        assert_eq!(check(&Password::new("1qaz2wsx3edc")), Err(Weak::TooCommon));
    }

    #[test]
    fn hashes_are_argon2id_with_owasp_parameters_and_verify() {
        let pw = Password::new("correct horse battery staple");
        let stored = hash(&pw).unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{stored}");
        assert!(verify(&pw, &stored));
        assert!(!verify(&Password::new("correct horse battery stapl"), &stored));
        assert!(!needs_rehash(&stored));
        let weak = Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(4096, 1, 1, None).unwrap())
            .hash_password(pw.bytes())
            .unwrap()
            .to_string();
        assert!(verify(&pw, &weak), "verified with its own parameters");
        assert!(needs_rehash(&weak));
        assert!(needs_rehash("not a hash"));
    }
}
