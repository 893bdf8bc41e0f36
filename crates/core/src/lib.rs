//! The pure core of autodb: everything here is a function of its arguments.
//!
//! No module in this crate performs I/O, reads the environment or the clock, or knows about
//! AWS. The service (`autodb`), the Lambda functions and the offline `lint` command all build on
//! it, so a verdict about a migration is the same whichever front end produced it.

pub mod schema;
pub mod sql;
