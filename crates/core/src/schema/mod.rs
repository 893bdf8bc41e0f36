//! The schema model (what a database looks like) and the diff between two snapshots.
//! Introspection, which fills the model from a live database, lives in the `autodb` crate.

pub mod diff;
pub mod model;
mod objects;
pub mod render;
pub mod scope;

pub use diff::{diff, diff_with_renames, Rename, SchemaDiff};
pub use model::{qualified, short_type, SchemaSnapshot};
pub use render::clone_script;
pub use scope::{scope_changes, scope_fingerprint};
