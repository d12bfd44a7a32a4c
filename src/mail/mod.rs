//! The mailer: the outbox delivered by a background worker — over SMTP (`lettre`, rustls), or on a
//! developer's machine as `.eml` files — exactly once per row across several server processes (a
//! lease taken with `FOR UPDATE SKIP LOCKED` on PostgreSQL), retried with back-off, rendered at send
//! time from the records the row refers to (the outbox holds references, never copies of personal
//! data). No body and no recipient is ever logged.
//!
//! Personal data held: none of its own (it opens what the domains hold, only to send it).

pub mod letter;
pub mod store;
pub mod transport;
pub mod worker;
