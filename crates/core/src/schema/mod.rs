//! The schema model (what a database looks like) and the diff between two snapshots.
//! Introspection, which fills the model from a live database, lives in the `autodb` crate.

pub mod diff;
pub mod fingerprint;
pub mod model;
mod objects;
pub mod render;

pub use diff::{diff, diff_with_renames, Rename, SchemaDiff};
pub use fingerprint::{scope_changes, scope_fingerprint};
pub use model::{qualified, short_type, SchemaSnapshot};
pub use render::clone_script;
