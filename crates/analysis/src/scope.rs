//! The drift scope: the objects a migration's verdict depends on.
//!
//! The verdict on `ALTER TABLE orders …` was computed from what `orders` looked like, from
//! the tables its foreign keys connect it to (the blast radius) and from the views that read
//! it. If any of those changed between analyze and execute, the verdict may no longer hold;
//! if anything else changed, it still does. The scope is those names: every table and view a
//! statement names or locks (including the ones it creates, which must still be absent), and,
//! from the snapshot, their foreign-key neighbours in both directions and their dependent
//! views. `autodb_core::schema::scope_fingerprint` turns it into the fingerprint the token
//! binds, and the executor recomputes it before it applies anything.

use std::collections::BTreeSet;

use autodb_core::schema::{qualified, SchemaSnapshot};
use autodb_core::sql::ParsedStatement;
use pg_query::NodeEnum;

use crate::blast::{Graph, GraphCache};
use crate::catalog::{self, Effect};
use crate::state::MigrationState;

/// The names in a migration's drift scope, sorted.
pub fn scope(stmts: &[ParsedStatement], snapshot: Option<&SchemaSnapshot>) -> Vec<String> {
    let mut state = MigrationState::new(stmts, snapshot);
    let mut named = Named::default();
    for stmt in stmts {
        let effect = catalog::classify(&stmt.ast, &state);
        named.add(&stmt.ast, &effect);
        state.record(stmt, &effect);
    }
    named.scope(&Graph::new(snapshot, &GraphCache::default()))
}

/// The relations a migration names, collected statement by statement from the catalog's
/// effects: the analysis classifies every statement anyway, and classifying them all a
/// second time only for the scope doubled the catalog's share of a lint.
#[derive(Debug, Default)]
pub struct Named(BTreeSet<String>);

impl Named {
    /// Adds what one classified statement names, locks or creates by a rename.
    pub fn add(&mut self, ast: &NodeEnum, effect: &Effect) {
        self.0.extend(effect.tables.iter().cloned());
        self.0.extend(effect.locks.iter().map(|(t, _)| t.clone()));
        self.0.extend(new_name(ast));
    }

    /// The drift scope: the named relations, their foreign-key neighbours in both directions
    /// and the views that read them, from `graph`; sorted. Asking the graph (which a history
    /// keeps across files) for the named relations' neighbours replaces a walk over every
    /// table of the schema per file.
    pub fn scope(self, graph: &Graph) -> Vec<String> {
        let mut scope = self.0.clone();
        for name in &self.0 {
            scope.extend(graph.neighbours(name).into_iter().cloned());
        }
        scope.into_iter().collect()
    }
}

/// The name a relation has after a rename or a move to another schema: it must be absent
/// before, and it is where the diff finds the relation after.
fn new_name(ast: &NodeEnum) -> Option<String> {
    use pg_query::protobuf::ObjectType as O;
    match ast {
        NodeEnum::RenameStmt(r)
            if matches!(
                r.rename_type(),
                O::ObjectTable | O::ObjectView | O::ObjectMatview | O::ObjectForeignTable
            ) =>
        {
            let rel = r.relation.as_ref()?;
            let schema = if rel.schemaname.is_empty() {
                "public"
            } else {
                &rel.schemaname
            };
            Some(qualified(schema, &r.newname))
        }
        NodeEnum::AlterObjectSchemaStmt(a) => {
            let rel = a.relation.as_ref()?;
            Some(qualified(&a.newschema, &rel.relname))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use autodb_core::schema::model::{Constraint, ConstraintKind, Table, TableKind, View};

    fn table(name: &str, references: Option<&str>) -> Table {
        Table {
            schema: "public".into(),
            name: name.into(),
            kind: TableKind::Regular,
            columns: vec![],
            indexes: vec![],
            constraints: references
                .map(|r| Constraint {
                    name: format!("{name}_fk"),
                    kind: ConstraintKind::ForeignKey,
                    definition: String::new(),
                    columns: vec![],
                    validated: true,
                    references: Some(r.into()),
                    on_delete: None,
                })
                .into_iter()
                .collect(),
            estimated_rows: 0,
            total_bytes: 0,
            partition_of: None,
            inherits: vec![],
        }
    }

    fn scope_of(sql: &str, snapshot: Option<&SchemaSnapshot>) -> Vec<String> {
        scope(&autodb_core::sql::parse(sql).unwrap(), snapshot)
    }

    #[test]
    fn named_tables_their_neighbours_and_views() {
        let snap = SchemaSnapshot {
            tables: vec![
                table("customers", None),
                table("orders", Some("customers")),
                table("order_items", Some("orders")),
                table("invoices", None),
            ],
            views: vec![View {
                schema: "public".into(),
                name: "order_totals".into(),
                materialized: false,
                depends_on: vec!["orders".into()],
            }],
            ..Default::default()
        };
        assert_eq!(
            scope_of("ALTER TABLE orders ADD COLUMN note text", Some(&snap)),
            ["customers", "order_items", "order_totals", "orders"]
        );
        assert_eq!(
            scope_of(
                "CREATE TABLE fresh (id int); ALTER TABLE invoices ADD x int",
                Some(&snap)
            ),
            ["fresh", "invoices"]
        );
        assert_eq!(
            scope_of("ALTER TABLE orders ADD COLUMN note text", None),
            ["orders"]
        );
        assert!(scope_of("SELECT 1", Some(&snap)).is_empty());
        assert_eq!(
            scope_of("ALTER TABLE invoices RENAME TO bills", Some(&snap)),
            ["bills", "invoices"]
        );
        assert_eq!(
            scope_of("ALTER TABLE invoices SET SCHEMA archive", Some(&snap)),
            ["archive.invoices", "invoices"]
        );
        // A renamed column or index is no new relation.
        assert_eq!(
            scope_of(
                "ALTER TABLE invoices RENAME COLUMN id TO invoice_id",
                Some(&snap)
            ),
            ["invoices"]
        );
    }
}
