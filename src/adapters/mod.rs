//! Implementations of the ports in `ports`: AWS services and their local stand-ins.

pub mod aws;
/// SQLite, the in-process queue and file secrets: `autodb serve` only (feature `local`).
#[cfg(feature = "local")]
pub mod local;
