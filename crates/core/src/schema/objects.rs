//! The schema objects a faithful clone needs beyond tables, views and enums: sequences
//! (with their options and owning column), extensions, domains, composite types, functions, triggers, policies, comments, and the
//! details of relations (partitioning, collations, storage options, view definitions) that
//! analysis never reads.
//!
//! Relation details live beside [`Table`](super::model::Table) and
//! [`View`](super::model::View) rather than inside them on purpose: those two structs are what
//! the drift-scope fingerprint serializes (see `scope.rs`), and the executor computes it from a
//! scoped snapshot inside its migration transaction. Keeping clone-only detail apart means the
//! scoped snapshot stays as cheap as it was and stored fingerprints stay valid. Only the full
//! snapshot fills these collections.
//!
//! Definitions are kept as PostgreSQL printed them (`pg_get_functiondef`, `pg_get_triggerdef`,
//! `pg_get_viewdef`, `pg_get_expr`, `format_type`), never re-derived: the server is the one
//! authority on its own syntax. They are printed relative to [`SchemaSnapshot::search_path`]
//! (`super::model::SchemaSnapshot`), which the clone sets before it runs them.

use serde::{Deserialize, Serialize};

/// The key that names an object in [`SchemaSnapshot::dependencies`](super::model::SchemaSnapshot):
/// `schema.name` for relations and types (they share one namespace in PostgreSQL: a table's
/// row type has the table's name), `schema.name(identity arguments)` for functions.
pub fn object_key(schema: &str, name: &str) -> String {
    format!("{schema}.{name}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequence {
    pub schema: String,
    pub name: String,
    /// `schema.table.column` of the column that owns it (serial or identity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owned_by: Option<String>,
    /// The owning column as its three names, for rendering (names may contain dots).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<ColumnRef>,
    /// The sequence behind an identity column: it comes with the column, not by itself.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub identity: bool,
    /// `format_type` of `seqtypid`, e.g. `bigint`; empty in snapshots stored before it was read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub data_type: String,
    #[serde(default)]
    pub start: i64,
    #[serde(default)]
    pub increment: i64,
    #[serde(default)]
    pub min: i64,
    #[serde(default)]
    pub max: i64,
    #[serde(default)]
    pub cache: i64,
    #[serde(default)]
    pub cycle: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRef {
    pub schema: String,
    pub table: String,
    pub column: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub name: String,
    /// The schema its objects live in.
    pub schema: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    pub schema: String,
    pub name: String,
    /// `format_type` of the base type.
    pub base_type: String,
    /// `schema.collation`, already quoted, when it differs from the base type's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    pub not_null: bool,
    /// `(name, pg_get_constraintdef)` of each CHECK constraint, by name.
    #[serde(default)]
    pub checks: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompositeType {
    pub schema: String,
    pub name: String,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attribute {
    pub name: String,
    pub data_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collation: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FunctionKind {
    Function,
    Procedure,
    Aggregate,
    Window,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Function {
    pub schema: String,
    pub name: String,
    /// `pg_get_function_identity_arguments`: what tells overloads apart.
    pub arguments: String,
    pub kind: FunctionKind,
    /// The complete `CREATE` statement: `pg_get_functiondef` for functions and procedures,
    /// assembled from `pg_aggregate` for aggregates (which `pg_get_functiondef` refuses).
    pub definition: String,
}

impl Function {
    /// The function's key in [`SchemaSnapshot::dependencies`](super::model::SchemaSnapshot).
    pub fn key(&self) -> String {
        format!("{}.{}({})", self.schema, self.name, self.arguments)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trigger {
    pub schema: String,
    /// The table or view it is on.
    pub table: String,
    pub name: String,
    /// `pg_get_triggerdef`.
    pub definition: String,
    /// `pg_trigger.tgenabled`: `O` (origin, the default), `D` disabled, `R` replica, `A` always.
    pub enabled: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub permissive: bool,
    /// `ALL`, `SELECT`, `INSERT`, `UPDATE` or `DELETE`.
    pub command: String,
    /// Role names; `public` for PUBLIC.
    pub roles: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub using: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub with_check: Option<String>,
}

/// A comment (`COMMENT ON`): the object as `pg_identify_object` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// `pg_identify_object(...).type`, e.g. `table`, `table column`, `function`.
    pub object_type: String,
    /// `pg_identify_object(...).identity`, quoted as SQL needs it, e.g. `public.t.c`.
    pub identity: String,
    pub text: String,
}

/// A column's collation when it differs from its type's default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnCollation {
    pub column: String,
    /// `schema.collation`, already quoted.
    pub collation: String,
}

/// An index of a partition attached to its partitioned parent's index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexAttachment {
    pub index: String,
    pub parent_schema: String,
    pub parent_index: String,
}

/// What a clone needs about a table, view or materialized view that analysis does not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelationDetails {
    pub schema: String,
    pub name: String,
    /// `pg_get_partkeydef` of a partitioned table, e.g. `RANGE (payment_date)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    /// `pg_get_expr(relpartbound)` of a partition, e.g. `FOR VALUES IN ('a')`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_bound: Option<String>,
    /// `(schema, name)` of the partitioned table a partition belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_parent: Option<(String, String)>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unlogged: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub row_security: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub force_row_security: bool,
    /// `reloptions`, e.g. `fillfactor=70`, `security_barrier=true`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub collations: Vec<ColumnCollation>,
    /// `pg_get_viewdef` of a view or materialized view.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view_definition: Option<String>,
    /// Indexes of a materialized view (a table's are in [`Table::indexes`](super::model::Table)).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub view_indexes: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached_indexes: Vec<IndexAttachment>,
    /// Constraints that come from the parent (a partition's copy of its parent's foreign key
    /// or CHECK): a clone creates them on the parent only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inherited_constraints: Vec<String>,
}
