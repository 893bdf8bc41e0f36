//! The part of a schema a migration touches, fingerprinted object by object.
//!
//! An approval is only as good as the schema it was judged on. The token binds the
//! fingerprint of the migration's *scope* — the tables and views it names, their foreign-key
//! neighbours and dependent views (which names are in it is the analysis' decision) — and
//! the executor recomputes it, inside its transaction, before the first statement. Objects
//! outside the scope may change freely: a migration on `users` still runs after another one
//! altered `invoices`.
//!
//! A table's part of the fingerprint is its structure (columns, types, defaults, nullability,
//! indexes, constraints, partition parent) and the foreign keys of *other* tables that point
//! at it; sizes are not part of it. A name that does not exist is part of the scope too: a
//! table the migration creates must still be absent.

use std::collections::BTreeMap;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::model::{SchemaSnapshot, Table, View};

/// One name of a scope as a snapshot has it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Object<'a> {
    Table {
        table: Table,
        /// `(referencing table, constraint name, definition)`, sorted.
        referenced_by: Vec<(String, &'a str, &'a str)>,
    },
    View(View),
    Absent,
}

fn object<'a>(snapshot: &'a SchemaSnapshot, name: &str) -> Object<'a> {
    if let Some(table) = snapshot.table(name) {
        let mut table = table.clone();
        table.estimated_rows = 0;
        table.total_bytes = 0;
        table.indexes.sort_by(|a, b| a.name.cmp(&b.name));
        table.constraints.sort_by(|a, b| a.name.cmp(&b.name));
        let mut referenced_by: Vec<(String, &str, &str)> = snapshot
            .tables
            .iter()
            .flat_map(|t| {
                t.constraints
                    .iter()
                    .filter(|c| c.references.as_deref() == Some(name))
                    .map(move |c| (t.qualified_name(), c.name.as_str(), c.definition.as_str()))
            })
            .collect();
        referenced_by.sort();
        return Object::Table {
            table,
            referenced_by,
        };
    }
    match snapshot.views.iter().find(|v| v.qualified_name() == name) {
        Some(view) => {
            // Introspection does not promise an order for a view's sources.
            let mut view = view.clone();
            view.depends_on.sort();
            Object::View(view)
        }
        None => Object::Absent,
    }
}

/// The fingerprint of `names` (sorted and deduplicated by the caller or not: the result is
/// the same) as they stand in `snapshot`.
pub fn scope_fingerprint(snapshot: &SchemaSnapshot, names: &[String]) -> String {
    let objects: BTreeMap<&str, Object> = names
        .iter()
        .map(|n| (n.as_str(), object(snapshot, n)))
        .collect();
    let bytes = serde_json::to_vec(&objects).unwrap_or_default();
    hex::encode(Sha256::digest(&bytes))
}

/// What changed in the scope between two snapshots, one sentence per object, in name order.
pub fn scope_changes(
    before: &SchemaSnapshot,
    now: &SchemaSnapshot,
    names: &[String],
) -> Vec<String> {
    let mut names: Vec<&String> = names.iter().collect();
    names.sort();
    names.dedup();
    names
        .into_iter()
        .filter_map(|name| describe(name, &object(before, name), &object(now, name)))
        .collect()
}

fn describe(name: &str, before: &Object, now: &Object) -> Option<String> {
    if before == now {
        return None;
    }
    Some(match (before, now) {
        (Object::Absent, _) => format!("`{name}` now exists"),
        (_, Object::Absent) => format!("`{name}` no longer exists"),
        (
            Object::Table {
                table: a,
                referenced_by: ra,
            },
            Object::Table {
                table: b,
                referenced_by: rb,
            },
        ) => {
            let mut parts = Vec::new();
            let names_of = |t: &Table| t.columns.iter().map(|c| c.name.clone()).collect::<Vec<_>>();
            let (ca, cb) = (names_of(a), names_of(b));
            for c in cb.iter().filter(|c| !ca.contains(c)) {
                parts.push(format!("column `{c}` added"));
            }
            for c in ca.iter().filter(|c| !cb.contains(c)) {
                parts.push(format!("column `{c}` removed"));
            }
            for col in &b.columns {
                if let Some(old) = a.columns.iter().find(|o| o.name == col.name) {
                    if old != col {
                        parts.push(format!("column `{}` altered", col.name));
                    }
                }
            }
            if a.indexes != b.indexes {
                parts.push("indexes changed".into());
            }
            if a.constraints != b.constraints {
                parts.push("constraints changed".into());
            }
            if ra != rb {
                parts.push("foreign keys pointing at it changed".into());
            }
            if parts.is_empty() {
                parts.push("its definition changed".into());
            }
            format!("`{name}`: {}", parts.join(", "))
        }
        (Object::View(_), Object::View(_)) => format!("`{name}`: its definition changed"),
        _ => format!("`{name}` changed kind (table or view)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::model::{Column, Constraint, ConstraintKind, TableKind};

    fn table(name: &str, columns: &[&str]) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            kind: TableKind::Regular,
            columns: columns
                .iter()
                .map(|c| Column {
                    name: (*c).into(),
                    data_type: "integer".into(),
                    nullable: true,
                    default: None,
                    identity: None,
                    generated: None,
                })
                .collect(),
            indexes: vec![],
            constraints: vec![],
            estimated_rows: 10,
            total_bytes: 8192,
            partition_of: None,
            inherits: vec![],
        }
    }

    fn snap(tables: Vec<Table>) -> SchemaSnapshot {
        SchemaSnapshot {
            tables,
            ..Default::default()
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn only_the_scope_counts() {
        let a = snap(vec![table("users", &["id"]), table("invoices", &["id"])]);
        let b = snap(vec![
            table("users", &["id"]),
            table("invoices", &["id", "x"]),
        ]);
        let scope = names(&["users"]);
        assert_eq!(scope_fingerprint(&a, &scope), scope_fingerprint(&b, &scope));
        assert!(scope_changes(&a, &b, &scope).is_empty());
        let wide = names(&["users", "invoices"]);
        assert_ne!(scope_fingerprint(&a, &wide), scope_fingerprint(&b, &wide));
        assert_eq!(
            scope_changes(&a, &b, &wide),
            vec!["`invoices`: column `x` added"]
        );
    }

    #[test]
    fn sizes_and_order_do_not_count() {
        let a = snap(vec![table("users", &["id"])]);
        let mut grown = table("users", &["id"]);
        grown.estimated_rows = 1_000_000;
        grown.total_bytes = 1 << 30;
        let b = snap(vec![grown]);
        let scope = names(&["users", "users"]);
        assert_eq!(
            scope_fingerprint(&a, &scope),
            scope_fingerprint(&b, &names(&["users"]))
        );
    }

    #[test]
    fn a_new_foreign_key_pointing_at_a_scoped_table_is_drift() {
        let a = snap(vec![table("users", &["id"]), table("orders", &["user_id"])]);
        let mut orders = table("orders", &["user_id"]);
        orders.constraints.push(Constraint {
            name: "orders_user_fk".into(),
            kind: ConstraintKind::ForeignKey,
            definition: "FOREIGN KEY (user_id) REFERENCES users(id)".into(),
            columns: vec!["user_id".into()],
            validated: true,
            references: Some("users".into()),
            on_delete: Some("a".into()),
        });
        let b = snap(vec![table("users", &["id"]), orders]);
        let scope = names(&["users"]);
        assert_ne!(scope_fingerprint(&a, &scope), scope_fingerprint(&b, &scope));
        assert_eq!(
            scope_changes(&a, &b, &scope),
            vec!["`users`: foreign keys pointing at it changed"]
        );
    }

    #[test]
    fn names_that_appear_or_disappear() {
        let a = snap(vec![table("users", &["id"])]);
        let b = snap(vec![table("fresh", &["id"])]);
        let scope = names(&["users", "fresh"]);
        assert_eq!(
            scope_changes(&a, &b, &scope),
            vec!["`fresh` now exists", "`users` no longer exists"]
        );
        let mut altered = table("users", &["id"]);
        altered.columns[0].data_type = "bigint".into();
        assert_eq!(
            scope_changes(&a, &snap(vec![altered]), &names(&["users"])),
            vec!["`users`: column `id` altered"]
        );
    }

    #[test]
    fn views_in_the_scope_count_whatever_the_order_of_their_sources() {
        let view = |sources: &[&str]| crate::schema::model::View {
            schema: "public".into(),
            name: "totals".into(),
            materialized: false,
            depends_on: sources.iter().map(|s| s.to_string()).collect(),
        };
        let with = |v| SchemaSnapshot {
            views: vec![v],
            ..Default::default()
        };
        let scope = names(&["totals"]);
        let a = with(view(&["orders", "customers"]));
        let b = with(view(&["customers", "orders"]));
        assert_eq!(scope_fingerprint(&a, &scope), scope_fingerprint(&b, &scope));
        let c = with(view(&["orders"]));
        assert_ne!(scope_fingerprint(&a, &scope), scope_fingerprint(&c, &scope));
        assert_ne!(
            scope_fingerprint(&a, &scope),
            scope_fingerprint(&SchemaSnapshot::default(), &scope)
        );
        assert_eq!(
            scope_changes(&a, &c, &scope),
            vec!["`totals`: its definition changed".to_string()]
        );
    }
}
