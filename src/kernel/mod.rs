//! Value types with no I/O: money, ids, personal data, secrets, the card-number detector, time.

pub mod bounded;
pub mod card;
pub mod ids;
pub mod money;
pub mod pii;
pub mod secret;
pub mod time;
pub mod totp;
