//! Integration tests: one binary, a `TestApp` per test (see `helpers`). Run them with
//! `scripts/test`, which starts the PostgreSQL cluster and the moto server they use.

mod analysis;
mod cli;
mod contention;
mod contract;
mod faults;
mod helpers;
mod lambda;
mod lambda_runtime;
mod local;
mod lock_window;
mod runtime;
mod tls;
mod what_runs;
