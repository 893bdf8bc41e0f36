//! Embedded stand-ins for the AWS services, so `autodb serve` runs on one machine.

pub mod queue;
pub mod secrets;
pub mod service;
pub mod store;

pub use queue::LocalQueue;
pub use secrets::FileSecrets;
pub use store::SqliteStore;
