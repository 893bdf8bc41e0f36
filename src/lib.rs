//! autodb: a migration-safety service for PostgreSQL.
//!
//! A migration is analyzed (`app::analyze`), approved with a signed single-use token
//! (`token`), queued by `execute` and applied exactly once by the executor (`executor`),
//! whose progress and schema diff the status endpoint reports. The same use cases run behind
//! one HTTP router (`api`) locally (`autodb serve`) and in AWS Lambda (`lambda`), over two
//! sets of adapters (`adapters::aws`, `adapters::local`).
//!
//! The pure core (SQL parsing, the schema model and diff) is the `autodb-core` crate.
//!
//! Feature `local` (on by default) adds what only `autodb serve` needs — the SQLite store, the
//! in-process queue, file secrets, the throwaway cluster and the demo — and the `autodb`
//! binary. The Lambda functions build without it, so none of that is linked into them.

pub mod adapters;
pub mod api;
pub mod app;
pub mod context;
#[cfg(feature = "local")]
pub mod demo;
pub mod domain;
pub mod events;
pub mod executor;
pub mod lambda;
#[cfg(test)]
mod layering;
pub mod metrics;
#[cfg(feature = "local")]
pub mod pgcluster;
pub mod pgconn;
pub mod ports;
pub mod sandbox;
pub mod schema;
pub mod settings;
pub mod target;
pub mod token;

pub use autodb_core as core;
