//! DDL that creates, empties, drops or renames tables, views and their dependents, and the
//! foreign-key neighbourhood those statements reach beyond the table they name.

use pg_query::protobuf::{
    AlterObjectSchemaStmt, ConstrType, Constraint, CreateStmt, CreateTableAsStmt, DropBehavior,
    DropStmt, Node, ObjectType, RenameStmt, TruncateStmt, ViewStmt,
};
use pg_query::NodeEnum;

use super::other::read_sources;
use super::{Effect, LockMode};
use crate::ast;
use crate::state::MigrationState;

use LockMode::{AccessExclusive, ShareRowExclusive, ShareUpdateExclusive};

pub(super) fn create_table(c: &CreateStmt, e: &mut Effect) {
    if let Some(rel) = &c.relation {
        let table = ast::relation(rel);
        e.tables.push(table);
    }
    // Foreign keys add triggers to the referenced tables.
    for constraint in c
        .table_elts
        .iter()
        .chain(&c.constraints)
        .flat_map(constraints_of)
    {
        if constraint.contype() == ConstrType::ConstrForeign {
            if let Some(pk) = &constraint.pktable {
                e.lock(&ast::relation(pk), ShareRowExclusive);
            }
        }
    }
    for parent in &c.inh_relations {
        if let Some(NodeEnum::RangeVar(p)) = &parent.node {
            // PARTITION OF still takes ACCESS EXCLUSIVE on the parent.
            let mode = if c.partbound.is_some() {
                AccessExclusive
            } else {
                ShareUpdateExclusive
            };
            e.lock(&ast::relation(p), mode);
        }
    }
}

pub(super) fn create_table_as(c: &CreateTableAsStmt, e: &mut Effect) {
    if let Some(rel) = c.into.as_ref().and_then(|i| i.rel.as_ref()) {
        e.tables.push(ast::relation(rel));
    }
    let skip = c.into.as_ref().is_some_and(|i| i.skip_data);
    if let Some(q) = &c.query {
        read_sources(q.node.as_ref(), e);
    }
    e.scans = !skip;
}

pub(super) fn view(v: &ViewStmt, e: &mut Effect) {
    if let Some(q) = &v.query {
        read_sources(q.node.as_ref(), e);
    }
    if let (true, Some(view)) = (v.replace, &v.view) {
        e.target(&ast::relation(view), AccessExclusive);
    }
}

pub(super) fn truncate(t: &TruncateStmt, state: &MigrationState, e: &mut Effect) {
    let cascade = t.behavior() == DropBehavior::DropCascade;
    for rel in &t.relations {
        if let Some(NodeEnum::RangeVar(r)) = &rel.node {
            let table = ast::relation(r);
            // Without ONLY, partitions and inheritance children are emptied too.
            let mut emptied = vec![table.clone()];
            if r.inh {
                emptied.extend(super::dml::descendants(state, &table));
            }
            if cascade {
                for t in emptied.clone() {
                    for child in referencing_transitively(state, &t) {
                        e.target(&child, AccessExclusive);
                        emptied.push(child);
                    }
                }
            }
            for t in &emptied {
                e.target(t, AccessExclusive);
            }
            for t in emptied {
                if !e.every_row.contains(&t) {
                    e.every_row.push(t);
                }
            }
        }
    }
    e.destructive = true;
    e.cascades = cascade;
}

pub(super) fn alter_schema(a: &AlterObjectSchemaStmt, e: &mut Effect) {
    if let Some(rel) = &a.relation {
        e.target(&ast::relation(rel), AccessExclusive);
        e.breaks_clients = true;
    }
}

pub(super) fn drop(d: &DropStmt, state: &MigrationState, e: &mut Effect) {
    let cascade = d.behavior() == DropBehavior::DropCascade;
    let names: Vec<String> = d
        .objects
        .iter()
        .filter_map(|o| match &o.node {
            Some(NodeEnum::List(l)) => Some(ast::dotted(&l.items)),
            _ => None,
        })
        .collect();
    match d.remove_type() {
        ObjectType::ObjectTable | ObjectType::ObjectForeignTable => {
            for table in &names {
                e.target(table, AccessExclusive);
                // Its foreign keys' triggers live on the tables they reference.
                for referenced in references_of(state, table) {
                    e.lock(&referenced, AccessExclusive);
                }
                if cascade {
                    for child in referencing(state, table) {
                        e.lock(&child, AccessExclusive);
                    }
                }
            }
            e.destructive = true;
            e.breaks_clients = true;
        }
        ObjectType::ObjectIndex => {
            let mode = if d.concurrent {
                ShareUpdateExclusive
            } else {
                AccessExclusive
            };
            for index in &names {
                let table = state.index_table(index).unwrap_or_else(|| index.clone());
                e.target(&table, mode);
            }
        }
        ObjectType::ObjectView | ObjectType::ObjectMatview => {
            for view in &names {
                e.target(view, AccessExclusive);
            }
            e.breaks_clients = true;
        }
        ObjectType::ObjectTrigger | ObjectType::ObjectPolicy | ObjectType::ObjectRule => {
            for n in d.objects.iter().filter_map(|o| match &o.node {
                Some(NodeEnum::List(l)) => Some(ast::strings(&l.items)),
                _ => None,
            }) {
                let table = &n[..n.len().saturating_sub(1)];
                let table = match table {
                    [s, t] => autodb_core::schema::qualified(s, t),
                    _ => table.join("."),
                };
                e.target(&table, AccessExclusive);
            }
        }
        ObjectType::ObjectSchema
        | ObjectType::ObjectExtension
        | ObjectType::ObjectType
        | ObjectType::ObjectDomain => {
            // CASCADE drops whatever uses it: columns, tables, data.
            e.destructive = cascade;
            e.breaks_clients = true;
        }
        _ => {}
    }
}

pub(super) fn rename(r: &RenameStmt, state: &MigrationState, e: &mut Effect) {
    let Some(rel) = &r.relation else { return };
    let name = ast::relation(rel);
    match r.rename_type() {
        ObjectType::ObjectIndex => {
            let table = state.index_table(&name).unwrap_or(name);
            e.target(&table, ShareUpdateExclusive);
        }
        ObjectType::ObjectColumn => {
            e.column(&r.subname);
            e.column(&r.newname);
            e.target(&name, AccessExclusive);
            e.breaks_clients = true;
        }
        ObjectType::ObjectTable | ObjectType::ObjectView | ObjectType::ObjectMatview => {
            e.target(&name, AccessExclusive);
            e.breaks_clients = true;
        }
        _ => e.target(&name, AccessExclusive),
    }
}

fn constraints_of(node: &Node) -> Vec<&Constraint> {
    match &node.node {
        Some(NodeEnum::Constraint(c)) => vec![c.as_ref()],
        Some(NodeEnum::ColumnDef(cd)) => ast::column_constraints(cd).collect(),
        _ => vec![],
    }
}

/// Tables whose foreign keys reference `table`.
fn referencing(state: &MigrationState, table: &str) -> Vec<String> {
    let Some(snapshot) = state.snapshot else {
        return vec![];
    };
    snapshot
        .tables
        .iter()
        .filter(|t| {
            t.constraints
                .iter()
                .any(|c| c.references.as_deref() == Some(table))
        })
        .map(|t| t.qualified_name())
        .filter(|t| t != table)
        .collect()
}

/// Tables that reference `table` through foreign keys, and the tables that reference those,
/// and so on: what `TRUNCATE … CASCADE` empties.
fn referencing_transitively(state: &MigrationState, table: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut next = 0;
    let mut current = table.to_string();
    loop {
        for child in referencing(state, &current) {
            if child != table && !found.contains(&child) {
                found.push(child);
            }
        }
        let Some(t) = found.get(next) else {
            return found;
        };
        current = t.clone();
        next += 1;
    }
}

/// Tables that `table`'s foreign keys reference.
fn references_of(state: &MigrationState, table: &str) -> Vec<String> {
    let Some(t) = state.table(table) else {
        return vec![];
    };
    let mut out: Vec<String> = t
        .constraints
        .iter()
        .filter_map(|c| c.references.clone())
        .filter(|r| r != table)
        .collect();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use autodb_core::schema::model::{Constraint, ConstraintKind, Table};

    use crate::rules::testing::{snapshot, table};
    use crate::state::MigrationState;

    /// `name` with a foreign key to each of `references`.
    fn referencing(name: &str, references: &[&str]) -> Table {
        let mut t = table(name, 10, &[("r", "bigint")]);
        for target in references {
            t.constraints.push(Constraint {
                name: format!("{name}_{target}_fkey"),
                kind: ConstraintKind::ForeignKey,
                definition: format!("FOREIGN KEY (r) REFERENCES {target}(id)"),
                columns: vec!["r".into()],
                validated: true,
                references: Some((*target).into()),
                on_delete: None,
            });
        }
        t
    }

    /// What `TRUNCATE a CASCADE` empties beyond `a`: each referencing table once, though `c`
    /// is reached from `a` and from `b`, and not `a` itself, though `a` and `b` reference
    /// each other.
    #[test]
    fn cascade_reaches_each_referencing_table_once_and_not_the_table_itself() {
        let snap = snapshot(vec![
            referencing("a", &["b"]),
            referencing("b", &["a"]),
            referencing("c", &["a", "b"]),
        ]);
        let state = MigrationState::new(&[], Some(&snap));
        assert_eq!(super::referencing_transitively(&state, "a"), ["b", "c"]);
        assert_eq!(super::referencing_transitively(&state, "c"), [""; 0]);
    }
}
