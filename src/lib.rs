//! autodb: a migration-safety service for PostgreSQL.
//!
//! A migration is analyzed (`app::analyze`), approved with a signed single-use token
//! (`token`), queued by `execute` and applied exactly once by the executor (`executor`),
//! whose progress and schema diff the status endpoint reports. The same use cases run behind
//! one HTTP router (`api`) locally (`autodb serve`) and in AWS Lambda (`lambda`), over two
//! sets of adapters (`adapters::aws`, `adapters::local`).
//!
//! The pure core (SQL parsing, the schema model and diff) is the `autodb-core` crate.

pub mod adapters;
pub mod api;
pub mod app;
pub mod demo;
pub mod domain;
pub mod events;
pub mod executor;
pub mod lambda;
pub mod metrics;
pub mod pgcluster;
pub mod pgconn;
pub mod rds;
pub mod sandbox;
pub mod schema;
pub mod target;
pub mod token;

pub use autodb_core as core;
