//! Integration tests: one binary, a `TestApp` per test (see `helpers`). Run them with
//! `scripts/test`, which starts the PostgreSQL cluster and the moto server they use.

mod analysis;
mod canary;
mod catalog_cases_vs_server;
mod catalog_vs_server;
mod cli;
mod clone;
mod contention;
mod contract;
mod corpus;
mod damage;
mod events;
mod faults;
mod features_vs_server;
mod helpers;
mod hostile;
mod keys_cli;
mod lambda;
mod lambda_runtime;
mod load;
mod local;
mod lock_window;
mod psql;
mod rds_secret;
mod request_id;
mod rotation;
mod runtime;
mod sandbox;
mod sandbox_seal;
mod serve;
mod snapshots;
mod target_down;
mod tenancy;
mod tls;
mod uploads;
mod what_runs;
