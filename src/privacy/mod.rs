//! Privacy: the personal-data registry (every column of the schema, declared), and — as the personal-data
//! issue lands — per-person sealing at rest, access exports, erasure and retention.
//!
//! Personal data held: none of its own; it describes what every other module holds.

pub mod keyring;
pub mod personal;
pub mod registry;
pub mod retention;
pub mod sealing;
pub mod store;
pub mod vault;
