//! Idempotency keys (IETF httpapi draft): same key + same request → the first response again; same
//! key + different request → 422; same key while the first is still running → 409. Records expire
//! after the configured TTL (at least 24 h). The key itself is stored only as a hash; a secret the
//! replay needs (the order access token) is sealed with the key (AES-256-GCM from `ring`, a random
//! nonce), so the table alone cannot reveal it.
//!
//! `key` reads and seals, `store` keeps the records. A unit of work that honours a key (placement is
//! the one today) claims it in the transaction that creates its resource ([`store::begin`]), completes it
//! with what a retry must see ([`store::complete`]), and on a retry replays or resumes.

pub mod key;
pub mod store;

pub use key::IdempotencyKey;
pub use store::{Begin, Claim, Record};
