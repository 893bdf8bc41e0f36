//! The schema snapshot: what autodb knows about a database's structure at one moment.
//!
//! A snapshot is produced by introspection (in the `autodb` crate, which talks to PostgreSQL)
//! and consumed by pure code: the diff after an execution, the analysis (table sizes, foreign
//! keys, views), the fingerprint bound into approval tokens. Collections are kept sorted by
//! name so two snapshots of the same schema serialize identically.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use super::objects::{
    object_key, Attribute, ColumnCollation, ColumnRef, Comment, CompositeType, Domain, Extension,
    Function, FunctionKind, IndexAttachment, Policy, RelationDetails, Sequence, Trigger,
};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SchemaSnapshot {
    pub schemas: Vec<String>,
    pub tables: Vec<Table>,
    #[serde(default)]
    pub views: Vec<View>,
    #[serde(default)]
    pub enums: Vec<EnumType>,
    #[serde(default)]
    pub sequences: Vec<Sequence>,
    /// `server_version_num` of the server it was read from, e.g. `150004`; 0 when unknown
    /// (snapshots stored before it was recorded).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub server_version_num: i32,
    /// `current_schemas(false)` when it was read: the definitions below name objects relative
    /// to it, so a clone sets the same path before running them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub search_path: Vec<String>,
    // The collections below are filled by the full snapshot only (see `objects.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extensions: Vec<Extension>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<Domain>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub composite_types: Vec<CompositeType>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub functions: Vec<Function>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<Policy>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub comments: Vec<Comment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relation_details: Vec<RelationDetails>,
    /// What each object needs to exist first, from `pg_depend`, by [`object_key`]: a view on
    /// the views it reads, a function returning `SETOF customer` on `customer`, a table on
    /// the types of its columns. Sorted, for a stable serialization.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dependencies: BTreeMap<String, Vec<String>>,
}

fn is_zero(n: &i32) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableKind {
    Regular,
    Partitioned,
    Foreign,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    pub schema: String,
    pub name: String,
    pub kind: TableKind,
    pub columns: Vec<Column>,
    #[serde(default)]
    pub indexes: Vec<Index>,
    #[serde(default)]
    pub constraints: Vec<Constraint>,
    /// `pg_class.reltuples`, clamped at 0 (PostgreSQL reports -1 for never-analyzed tables).
    pub estimated_rows: i64,
    /// `pg_total_relation_size`: heap, indexes and TOAST.
    pub total_bytes: i64,
    /// The parent of a partition, if this table is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_of: Option<String>,
    /// The parents of a table created with `INHERITS (…)` (not partitions), qualified as
    /// [`qualified`] writes them: `TRUNCATE` or `DELETE` of a parent reaches this table's
    /// rows too.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inherits: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    /// As `format_type` prints it, e.g. `character varying(20)`.
    pub data_type: String,
    pub nullable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `a` (always) or `d` (by default) for identity columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    /// `s` for stored generated columns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generated: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    pub name: String,
    pub definition: String,
    pub unique: bool,
    pub primary: bool,
    pub valid: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConstraintKind {
    PrimaryKey,
    Unique,
    Check,
    ForeignKey,
    Exclusion,
    Trigger,
    NotNull,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Constraint {
    pub name: String,
    pub kind: ConstraintKind,
    pub definition: String,
    pub columns: Vec<String>,
    pub validated: bool,
    /// For foreign keys: the referenced table, qualified as [`qualified`] writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<String>,
    /// For foreign keys: `ON DELETE` action code (`a` no action, `r` restrict, `c` cascade,
    /// `n` set null, `d` set default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_delete: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct View {
    pub schema: String,
    pub name: String,
    pub materialized: bool,
    /// Tables and views this view reads, qualified as [`qualified`] writes them.
    pub depends_on: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnumType {
    pub schema: String,
    pub name: String,
    pub labels: Vec<String>,
}

/// The name autodb shows for a relation: bare in `public`, `schema.name` elsewhere.
pub fn qualified(schema: &str, name: &str) -> String {
    if schema == "public" {
        name.to_string()
    } else {
        format!("{schema}.{name}")
    }
}

impl Table {
    pub fn qualified_name(&self) -> String {
        qualified(&self.schema, &self.name)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

impl SchemaSnapshot {
    /// The tables whose rows a statement on `parent` without `ONLY` reaches: its partitions
    /// and inheritance children, to any depth (not `parent` itself).
    pub fn descendants(&self, parent: &str) -> Vec<&Table> {
        let mut found: Vec<&Table> = Vec::new();
        let mut queue = vec![parent.to_string()];
        while let Some(current) = queue.pop() {
            let bare = |name: &str| match name.split_once('.') {
                Some(("public", n)) => n.to_string(),
                _ => name.to_string(),
            };
            let current = bare(&current);
            for t in &self.tables {
                let child = t
                    .partition_of
                    .iter()
                    .chain(&t.inherits)
                    .any(|p| bare(p) == current);
                if child && !found.iter().any(|f| std::ptr::eq(*f, t)) {
                    found.push(t);
                    queue.push(t.qualified_name());
                }
            }
        }
        found
    }
}

impl View {
    pub fn qualified_name(&self) -> String {
        qualified(&self.schema, &self.name)
    }
}

impl SchemaSnapshot {
    /// Finds a table by the name a statement uses: `orders`, `public.orders` or `s.orders`.
    pub fn table(&self, name: &str) -> Option<&Table> {
        let (schema, bare) = match name.split_once('.') {
            Some((s, n)) => (s, n),
            None => ("public", name),
        };
        self.tables
            .iter()
            .find(|t| t.schema == schema && t.name == bare)
    }

    /// Sorts every collection so equal schemas serialize (and fingerprint) identically.
    pub fn normalize(&mut self) {
        self.schemas.sort();
        self.tables
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        for table in &mut self.tables {
            table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
            table.constraints.sort_by(|a, b| a.name.cmp(&b.name));
        }
        self.views
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        self.enums
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        self.sequences
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        self.extensions.sort_by(|a, b| a.name.cmp(&b.name));
        self.domains
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        self.composite_types
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        self.functions.sort_by_key(Function::key);
        self.triggers
            .sort_by(|a, b| (&a.schema, &a.table, &a.name).cmp(&(&b.schema, &b.table, &b.name)));
        self.policies
            .sort_by(|a, b| (&a.schema, &a.table, &a.name).cmp(&(&b.schema, &b.table, &b.name)));
        self.comments
            .sort_by(|a, b| (&a.object_type, &a.identity).cmp(&(&b.object_type, &b.identity)));
        self.relation_details
            .sort_by(|a, b| (&a.schema, &a.name).cmp(&(&b.schema, &b.name)));
        for required in self.dependencies.values_mut() {
            required.sort();
            required.dedup();
        }
    }

    /// The server's major version (15 for `150004`; 9 for every 9.x), or `None` when the
    /// snapshot does not know it.
    pub fn major_version(&self) -> Option<u32> {
        u32::try_from(self.server_version_num)
            .ok()
            .filter(|&n| n > 0)
            .map(|n| n / 10_000)
    }

    /// A SHA-256 over the structure only: row estimates and sizes change with traffic and
    /// must not make an approval token stale.
    pub fn fingerprint(&self) -> String {
        let mut shape = self.clone();
        shape.normalize();
        // A minor upgrade of the server changes no structure.
        shape.server_version_num = 0;
        for table in &mut shape.tables {
            table.estimated_rows = 0;
            table.total_bytes = 0;
        }
        let bytes = serde_json::to_vec(&shape).unwrap_or_default();
        hex::encode(Sha256::digest(&bytes))
    }
}

/// Writes a `format_type` name the way people write it in migrations: `varchar(20)` for
/// `character varying(20)`, `timestamptz` for `timestamp with time zone`.
pub fn short_type(data_type: &str) -> String {
    const PREFIXES: [(&str, &str); 8] = [
        ("character varying", "varchar"),
        ("timestamp without time zone", "timestamp"),
        ("timestamp with time zone", "timestamptz"),
        ("time without time zone", "time"),
        ("time with time zone", "timetz"),
        ("bit varying", "varbit"),
        ("double precision", "double precision"),
        ("character", "char"),
    ];
    for (long, short) in PREFIXES {
        if let Some(rest) = data_type.strip_prefix(long) {
            return format!("{short}{rest}");
        }
    }
    // `timestamp(3) without time zone` keeps its precision in the middle.
    if let Some(rest) = data_type.strip_prefix("timestamp(") {
        if let Some(p) = rest.strip_suffix(" with time zone") {
            return format!("timestamptz({p}");
        }
        if let Some(p) = rest.strip_suffix(" without time zone") {
            return format!("timestamp({p}");
        }
    }
    data_type.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_types_read_like_migrations() {
        assert_eq!(short_type("character varying(20)"), "varchar(20)");
        assert_eq!(short_type("character varying"), "varchar");
        assert_eq!(short_type("character(2)"), "char(2)");
        assert_eq!(short_type("timestamp with time zone"), "timestamptz");
        assert_eq!(short_type("timestamp(3) without time zone"), "timestamp(3)");
        assert_eq!(short_type("integer"), "integer");
        assert_eq!(short_type("numeric(10,2)"), "numeric(10,2)");
        assert_eq!(short_type("character varying(20)[]"), "varchar(20)[]");
    }

    fn table(name: &str, rows: i64) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            kind: TableKind::Regular,
            columns: vec![Column {
                name: "id".into(),
                data_type: "integer".into(),
                nullable: false,
                default: None,
                identity: None,
                generated: None,
            }],
            indexes: vec![],
            constraints: vec![],
            estimated_rows: rows,
            total_bytes: rows * 100,
            partition_of: None,
            inherits: vec![],
        }
    }

    #[test]
    fn fingerprint_ignores_sizes_and_order_but_not_structure() {
        let a = SchemaSnapshot {
            schemas: vec!["public".into()],
            tables: vec![table("a", 1), table("b", 2)],
            ..Default::default()
        };
        let mut b = a.clone();
        b.tables.reverse();
        b.tables[0].estimated_rows = 1_000_000;
        assert_eq!(a.fingerprint(), b.fingerprint());
        b.tables[0].columns[0].nullable = true;
        assert_ne!(a.fingerprint(), b.fingerprint());
    }

    #[test]
    fn snapshots_stored_before_the_clone_fields_still_load() {
        let stored = r#"{"schemas":["public"],"tables":[],"views":[],"enums":[],
            "sequences":[{"schema":"public","name":"s","owned_by":"public.t.id"}]}"#;
        let snap: SchemaSnapshot = serde_json::from_str(stored).unwrap();
        assert_eq!(snap.server_version_num, 0);
        assert_eq!(snap.major_version(), None);
        assert!(snap.functions.is_empty() && snap.dependencies.is_empty());
        assert!(!snap.sequences[0].identity && snap.sequences[0].owner.is_none());
        // New fields left empty serialize to nothing: existing fingerprints do not move.
        assert_eq!(
            serde_json::to_value(&snap).unwrap(),
            serde_json::to_value(SchemaSnapshot {
                schemas: vec!["public".into()],
                sequences: snap.sequences.clone(),
                ..Default::default()
            })
            .unwrap()
        );
    }

    #[test]
    fn major_versions_from_server_version_num() {
        let at = |n| SchemaSnapshot {
            server_version_num: n,
            ..Default::default()
        };
        assert_eq!(at(150004).major_version(), Some(15));
        assert_eq!(at(180000).major_version(), Some(18));
        assert_eq!(at(90624).major_version(), Some(9));
        assert_eq!(at(0).major_version(), None);
        assert_eq!(at(-1).major_version(), None);
        // A minor upgrade does not change the structure's fingerprint.
        assert_eq!(at(150004).fingerprint(), at(150010).fingerprint());
    }

    #[test]
    fn finds_tables_by_statement_names() {
        let mut other = table("t", 0);
        other.schema = "s".into();
        let snap = SchemaSnapshot {
            schemas: vec![],
            tables: vec![table("t", 0), other],
            ..Default::default()
        };
        assert_eq!(snap.table("t").unwrap().schema, "public");
        assert_eq!(snap.table("public.t").unwrap().schema, "public");
        assert_eq!(snap.table("s.t").unwrap().schema, "s");
        assert!(snap.table("x").is_none());
    }
}
