//! Every statement form other than `ALTER TABLE`: DDL on tables, indexes, views and types,
//! maintenance commands, explicit locks and DML.

use pg_query::protobuf::{
    ConstrType, DropBehavior, DropStmt, Node, ObjectType, ReindexObjectType, RenameStmt,
};
use pg_query::{NodeEnum, NodeRef};

use super::{Effect, LockMode};
use crate::ast;
use crate::state::MigrationState;

use LockMode::{
    AccessExclusive, AccessShare, Exclusive, RowExclusive, Share, ShareRowExclusive,
    ShareUpdateExclusive,
};

pub(super) fn classify(node: &NodeEnum, state: &MigrationState, e: &mut Effect) {
    match node {
        NodeEnum::CreateStmt(c) => {
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
        NodeEnum::CreateTableAsStmt(c) => {
            if let Some(rel) = c.into.as_ref().and_then(|i| i.rel.as_ref()) {
                e.tables.push(ast::relation(rel));
            }
            let skip = c.into.as_ref().is_some_and(|i| i.skip_data);
            if let Some(q) = &c.query {
                read_sources(q.node.as_ref(), e);
            }
            e.scans = !skip;
        }
        NodeEnum::ViewStmt(v) => {
            if let Some(q) = &v.query {
                read_sources(q.node.as_ref(), e);
            }
            if let (true, Some(view)) = (v.replace, &v.view) {
                e.target(&ast::relation(view), AccessExclusive);
            }
        }
        NodeEnum::IndexStmt(i) => {
            // `ON ONLY` a partitioned table adds an invalid index to the parent's catalog and
            // builds nothing: the parent holds no rows, and its partitions are not recursed
            // into.
            let mut builds = true;
            if let Some(rel) = &i.relation {
                let mode = if i.concurrent {
                    ShareUpdateExclusive
                } else {
                    Share
                };
                let table = ast::relation(rel);
                builds = rel.inh || !state.is_partitioned(&table);
                e.target(&table, mode);
            }
            for p in &i.index_params {
                if let Some(NodeEnum::IndexElem(el)) = &p.node {
                    e.column(&el.name);
                }
            }
            e.scans = builds;
        }
        NodeEnum::DropStmt(d) => drop(d, state, e),
        NodeEnum::TruncateStmt(t) => {
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
        NodeEnum::RenameStmt(r) => rename(r, state, e),
        NodeEnum::AlterObjectSchemaStmt(a) => {
            if let Some(rel) = &a.relation {
                e.target(&ast::relation(rel), AccessExclusive);
                e.breaks_clients = true;
            }
        }
        NodeEnum::ReindexStmt(r) => {
            let concurrent = ast::has_option(&r.params, "concurrently");
            let table = match r.kind() {
                ReindexObjectType::ReindexObjectIndex => r.relation.as_ref().map(|rel| {
                    let index = ast::relation(rel);
                    state.index_table(&index).unwrap_or(index)
                }),
                ReindexObjectType::ReindexObjectTable => ast::opt_relation(r.relation.as_ref()),
                _ => None,
            };
            let mode = if concurrent {
                ShareUpdateExclusive
            } else {
                Share
            };
            match table {
                Some(table) => e.target(&table, mode),
                None => e.unnamed_tables_lock = Some(mode),
            }
            e.blocks_reads_via_index = !concurrent;
            e.scans = true;
        }
        NodeEnum::VacuumStmt(v) => {
            let full = v.is_vacuumcmd && ast::has_option(&v.options, "full");
            let mode = if full {
                AccessExclusive
            } else {
                ShareUpdateExclusive
            };
            for rel in &v.rels {
                if let Some(NodeEnum::VacuumRelation(vr)) = &rel.node {
                    if let Some(r) = &vr.relation {
                        e.target(&ast::relation(r), mode);
                    }
                }
            }
            if v.rels.is_empty() {
                e.unnamed_tables_lock = Some(mode);
            }
            e.rewrites = full;
            e.scans = true;
        }
        NodeEnum::ClusterStmt(c) => {
            match &c.relation {
                Some(rel) => e.target(&ast::relation(rel), AccessExclusive),
                // Re-clusters every previously clustered table, one transaction each.
                None => {
                    e.transactional = false;
                    e.unnamed_tables_lock = Some(AccessExclusive);
                }
            }
            e.rewrites = true;
        }
        NodeEnum::RefreshMatViewStmt(r) => {
            if let Some(rel) = &r.relation {
                e.target(
                    &ast::relation(rel),
                    if r.concurrent {
                        Exclusive
                    } else {
                        AccessExclusive
                    },
                );
            }
            e.scans = !r.skip_data;
            // A plain refresh fills a new heap and swaps it in; CONCURRENTLY updates in place.
            e.rewrites = !r.concurrent;
            e.read_only_target = true;
        }
        NodeEnum::LockStmt(l) => {
            let mode = LockMode::from_pg(l.mode).unwrap_or(AccessExclusive);
            for rel in &l.relations {
                if let Some(NodeEnum::RangeVar(r)) = &rel.node {
                    e.target(&ast::relation(r), mode);
                }
            }
        }
        NodeEnum::CreateTrigStmt(t) => {
            if let Some(rel) = &t.relation {
                e.target(&ast::relation(rel), ShareRowExclusive);
            }
        }
        NodeEnum::RuleStmt(r) => {
            if let Some(rel) = &r.relation {
                e.target(&ast::relation(rel), AccessExclusive);
            }
        }
        NodeEnum::CreatePolicyStmt(p) => {
            if let Some(rel) = &p.table {
                e.target(&ast::relation(rel), AccessExclusive);
            }
        }
        NodeEnum::AlterPolicyStmt(p) => {
            if let Some(rel) = &p.table {
                e.target(&ast::relation(rel), AccessExclusive);
            }
        }
        NodeEnum::CreateStatsStmt(s) => {
            for rel in &s.relations {
                if let Some(NodeEnum::RangeVar(r)) = &rel.node {
                    e.target(&ast::relation(r), ShareUpdateExclusive);
                }
            }
        }
        NodeEnum::CommentStmt(c) => {
            if matches!(
                c.objtype(),
                ObjectType::ObjectTable | ObjectType::ObjectColumn
            ) {
                if let Some(NodeEnum::List(l)) = c.object.as_ref().and_then(|o| o.node.as_ref()) {
                    let mut parts = ast::strings(&l.items);
                    if c.objtype() == ObjectType::ObjectColumn {
                        e.column(&parts.pop().unwrap_or_default());
                    }
                    let table = match parts.as_slice() {
                        [s, t] => autodb_core::schema::qualified(s, t),
                        _ => parts.join("."),
                    };
                    e.target(&table, ShareUpdateExclusive);
                }
            }
        }
        NodeEnum::AlterDomainStmt(d) => {
            // ADD CONSTRAINT checks every column of the domain type, in every table.
            if d.subtype == "C" {
                let skip = matches!(d.def.as_ref().and_then(|x| x.node.as_ref()),
                    Some(NodeEnum::Constraint(c)) if c.skip_validation);
                e.scans = !skip;
            }
            e.scans |= d.subtype == "V";
            if e.scans {
                // Each table with a column of the domain is locked SHARE while it is checked.
                e.unnamed_tables_lock = Some(Share);
            }
        }
        NodeEnum::InsertStmt(i) => {
            if let Some(rel) = &i.relation {
                write_target(&ast::relation(rel), state, e);
            }
            if let Some(q) = &i.select_stmt {
                e.scans = read_sources(q.node.as_ref(), e);
            }
        }
        // What DML does to rows, here or in a data-modifying WITH, is `dml.rs`'s business.
        NodeEnum::UpdateStmt(_) | NodeEnum::DeleteStmt(_) | NodeEnum::MergeStmt(_) => {}
        NodeEnum::SelectStmt(_) => {
            read_sources(Some(node), e);
        }
        NodeEnum::CopyStmt(c) => {
            if let Some(rel) = &c.relation {
                e.target(
                    &ast::relation(rel),
                    if c.is_from { RowExclusive } else { AccessShare },
                );
            }
        }
        NodeEnum::DropdbStmt(_) => e.destructive = true,
        // Drops every object the role owns in the database, whichever tables they are.
        NodeEnum::DropOwnedStmt(_) => {
            e.unnamed_tables_lock = Some(AccessExclusive);
            e.destructive = true;
        }
        // Changes the owner of every table the role owns, each under ACCESS EXCLUSIVE.
        NodeEnum::ReassignOwnedStmt(_) => e.unnamed_tables_lock = Some(AccessExclusive),
        // Opaque procedural code: the catalog cannot see what it locks.
        NodeEnum::DoStmt(_) | NodeEnum::CallStmt(_) => e.known = false,
        other if is_catalog_only(other) => {}
        _ => e.known = false,
    }
}

/// Statements that touch no user table: types, functions, sequences, schemas, privileges,
/// roles, databases, foreign servers, session settings and transaction control (what some of
/// them disrupt beyond tables is `disruption.rs`'s business).
/// The target of a write, and when it is a view, the tables the write reaches through it.
fn write_target(name: &str, state: &MigrationState, e: &mut Effect) {
    e.target(name, RowExclusive);
    for base in state.written_through(name) {
        e.target(&base, RowExclusive);
    }
}

fn is_catalog_only(node: &NodeEnum) -> bool {
    matches!(
        node,
        NodeEnum::CreateEnumStmt(_)
            | NodeEnum::AlterEnumStmt(_)
            | NodeEnum::CompositeTypeStmt(_)
            | NodeEnum::CreateRangeStmt(_)
            | NodeEnum::CreateDomainStmt(_)
            | NodeEnum::DefineStmt(_)
            | NodeEnum::AlterTypeStmt(_)
            | NodeEnum::CreateFunctionStmt(_)
            | NodeEnum::AlterFunctionStmt(_)
            | NodeEnum::CreateSeqStmt(_)
            | NodeEnum::AlterSeqStmt(_)
            | NodeEnum::CreateSchemaStmt(_)
            | NodeEnum::CreateExtensionStmt(_)
            | NodeEnum::AlterExtensionStmt(_)
            | NodeEnum::CreateCastStmt(_)
            | NodeEnum::CreateEventTrigStmt(_)
            | NodeEnum::CreatePublicationStmt(_)
            | NodeEnum::AlterPublicationStmt(_)
            | NodeEnum::CreateSubscriptionStmt(_)
            | NodeEnum::CreateForeignServerStmt(_)
            | NodeEnum::CreateFdwStmt(_)
            | NodeEnum::CreateUserMappingStmt(_)
            | NodeEnum::AlterForeignServerStmt(_)
            | NodeEnum::AlterUserMappingStmt(_)
            | NodeEnum::ImportForeignSchemaStmt(_)
            | NodeEnum::GrantStmt(_)
            | NodeEnum::GrantRoleStmt(_)
            | NodeEnum::AlterDefaultPrivilegesStmt(_)
            | NodeEnum::CreateRoleStmt(_)
            | NodeEnum::AlterRoleStmt(_)
            | NodeEnum::AlterRoleSetStmt(_)
            | NodeEnum::DropRoleStmt(_)
            | NodeEnum::AlterOwnerStmt(_)
            | NodeEnum::VariableSetStmt(_)
            | NodeEnum::VariableShowStmt(_)
            | NodeEnum::TransactionStmt(_)
            | NodeEnum::CreatedbStmt(_)
            | NodeEnum::AlterDatabaseStmt(_)
            | NodeEnum::AlterDatabaseSetStmt(_)
            | NodeEnum::AlterDatabaseRefreshCollStmt(_)
            | NodeEnum::AlterSystemStmt(_)
            | NodeEnum::CreateTableSpaceStmt(_)
            | NodeEnum::NotifyStmt(_)
            | NodeEnum::CheckPointStmt(_)
            | NodeEnum::DiscardStmt(_)
            | NodeEnum::SecLabelStmt(_)
            | NodeEnum::CommentStmt(_)
            | NodeEnum::AlterDomainStmt(_)
    )
}

fn drop(d: &DropStmt, state: &MigrationState, e: &mut Effect) {
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

fn rename(r: &RenameStmt, state: &MigrationState, e: &mut Effect) {
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

fn constraints_of(node: &Node) -> Vec<&pg_query::protobuf::Constraint> {
    match &node.node {
        Some(NodeEnum::Constraint(c)) => vec![c.as_ref()],
        Some(NodeEnum::ColumnDef(cd)) => ast::column_constraints(cd).collect(),
        _ => vec![],
    }
}

/// Takes ACCESS SHARE on every relation a query reads; true when it reads any.
fn read_sources(query: Option<&NodeEnum>, e: &mut Effect) -> bool {
    let Some(node) = query else { return false };
    let mut any = false;
    let nodes = node.nodes();
    // A reference to a WITH query of the statement is no table.
    let ctes: Vec<&str> = nodes
        .iter()
        .filter_map(|(child, _, _, _)| match child {
            NodeRef::CommonTableExpr(c) => Some(c.ctename.as_str()),
            _ => None,
        })
        .collect();
    for (child, _, _, _) in nodes {
        if let NodeRef::RangeVar(rv) = child {
            if rv.schemaname.is_empty() && ctes.contains(&rv.relname.as_str()) {
                continue;
            }
            e.lock(&ast::relation(rv), AccessShare);
            any = true;
        }
    }
    any
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
