//! Every statement form other than `ALTER TABLE`: [`classify`] sends each to the module of
//! its family (`tables.rs`: DDL on tables and views; `maintenance.rs`: indexes, vacuum,
//! cluster, refresh, explicit locks) and keeps here the forms that fit on a line or two:
//! triggers, rules and policies, comments, domains, `INSERT`/`COPY`/`SELECT`, and the
//! statements that touch no user table at all.

use pg_query::protobuf::{
    AlterDomainStmt, CommentStmt, CopyStmt, InsertStmt, ObjectType, RangeVar,
};
use pg_query::{NodeEnum, NodeRef};

use super::{maintenance, tables, Effect, LockMode};
use crate::ast;
use crate::state::MigrationState;

use LockMode::{
    AccessExclusive, AccessShare, RowExclusive, Share, ShareRowExclusive, ShareUpdateExclusive,
};

pub(super) fn classify(node: &NodeEnum, state: &MigrationState, e: &mut Effect) {
    match node {
        NodeEnum::CreateStmt(c) => tables::create_table(c, e),
        NodeEnum::CreateTableAsStmt(c) => tables::create_table_as(c, e),
        NodeEnum::ViewStmt(v) => tables::view(v, e),
        NodeEnum::DropStmt(d) => tables::drop(d, state, e),
        NodeEnum::TruncateStmt(t) => tables::truncate(t, state, e),
        NodeEnum::RenameStmt(r) => tables::rename(r, state, e),
        NodeEnum::AlterObjectSchemaStmt(a) => tables::alter_schema(a, e),
        NodeEnum::IndexStmt(i) => maintenance::index(i, state, e),
        NodeEnum::ReindexStmt(r) => maintenance::reindex(r, state, e),
        NodeEnum::VacuumStmt(v) => maintenance::vacuum(v, e),
        NodeEnum::ClusterStmt(c) => maintenance::cluster(c, e),
        NodeEnum::RefreshMatViewStmt(r) => maintenance::refresh(r, e),
        NodeEnum::CreateStatsStmt(s) => maintenance::statistics(s, e),
        NodeEnum::LockStmt(l) => maintenance::lock(l, e),
        NodeEnum::CreateTrigStmt(t) => target(t.relation.as_ref(), ShareRowExclusive, e),
        NodeEnum::RuleStmt(r) => target(r.relation.as_ref(), AccessExclusive, e),
        NodeEnum::CreatePolicyStmt(p) => target(p.table.as_ref(), AccessExclusive, e),
        NodeEnum::AlterPolicyStmt(p) => target(p.table.as_ref(), AccessExclusive, e),
        NodeEnum::CommentStmt(c) => comment(c, e),
        NodeEnum::AlterDomainStmt(d) => alter_domain(d, e),
        NodeEnum::InsertStmt(i) => insert(i, node, state, e),
        // What DML does to rows, here or in a data-modifying WITH, is `dml.rs`'s business.
        NodeEnum::UpdateStmt(_) | NodeEnum::DeleteStmt(_) | NodeEnum::MergeStmt(_) => {}
        NodeEnum::SelectStmt(_) => {
            read_sources(Some(node), e);
        }
        NodeEnum::CopyStmt(c) => copy(c, e),
        NodeEnum::DropdbStmt(_) => e.destructive = true,
        // Drops every object the role owns in the database, whichever tables they are.
        NodeEnum::DropOwnedStmt(_) => {
            e.unnamed_tables_lock = Some(AccessExclusive);
            e.destructive = true;
        }
        // Changes the owner of every table the role owns, each under ACCESS EXCLUSIVE.
        NodeEnum::ReassignOwnedStmt(_) => e.unnamed_tables_lock = Some(AccessExclusive),
        other if is_catalog_only(other) => {}
        // Forms without an entry, and opaque procedural code (`DO`, `CALL`), whose locks the
        // catalog cannot see.
        _ => e.known = false,
    }
}

/// A statement on one table, when it names one, that takes `mode` on it and does nothing
/// else the catalog tracks.
fn target(relation: Option<&RangeVar>, mode: LockMode, e: &mut Effect) {
    if let Some(rel) = relation {
        e.target(&ast::relation(rel), mode);
    }
}

/// `COMMENT ON TABLE|COLUMN` takes SHARE UPDATE EXCLUSIVE on the table; a comment on any
/// other object touches no table.
fn comment(c: &CommentStmt, e: &mut Effect) {
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

fn alter_domain(d: &AlterDomainStmt, e: &mut Effect) {
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

fn insert(i: &InsertStmt, node: &NodeEnum, state: &MigrationState, e: &mut Effect) {
    if let Some(rel) = &i.relation {
        write_target(&ast::relation(rel), state, e);
    }
    // The whole statement: its WITH queries are read too.
    e.scans = read_sources(Some(node), e);
}

fn copy(c: &CopyStmt, e: &mut Effect) {
    if let Some(rel) = &c.relation {
        e.target(
            &ast::relation(rel),
            if c.is_from { RowExclusive } else { AccessShare },
        );
    }
    // `COPY (query) TO` reads what its query reads.
    read_sources(c.query.as_ref().and_then(|q| q.node.as_ref()), e);
}

/// The target of a write, and when it is a view, the tables the write reaches through it.
pub(super) fn write_target(name: &str, state: &MigrationState, e: &mut Effect) {
    e.target(name, RowExclusive);
    for base in state.written_through(name) {
        e.target(&base, RowExclusive);
    }
}

/// Statements that touch no user table: types, functions, sequences, schemas, privileges,
/// roles, databases, foreign servers, session settings and transaction control (what some of
/// them disrupt beyond tables is `disruption.rs`'s business).
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

/// Takes ACCESS SHARE on every relation a query or a DML statement reads (its `WITH`
/// queries, `FROM`, `USING`, subqueries); true when it reads any. An `INSERT`'s target is no
/// read (an `INSERT … VALUES` scans nothing); the target of an `UPDATE`, `DELETE` or `MERGE`
/// is taken ACCESS SHARE here and ROW EXCLUSIVE by `dml.rs`, which is the stronger and wins.
pub(super) fn read_sources(query: Option<&NodeEnum>, e: &mut Effect) -> bool {
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
    // Inserted-into tables, by address: the same name may also be read (`INSERT INTO t
    // SELECT … FROM t`).
    let inserted: Vec<*const RangeVar> = nodes
        .iter()
        .filter_map(|(child, _, _, _)| match child {
            NodeRef::InsertStmt(s) => s.relation.as_ref().map(std::ptr::from_ref),
            _ => None,
        })
        .collect();
    for (child, _, _, _) in nodes {
        if let NodeRef::RangeVar(rv) = child {
            if rv.schemaname.is_empty() && ctes.contains(&rv.relname.as_str()) {
                continue;
            }
            if inserted.contains(&std::ptr::from_ref(rv)) {
                continue;
            }
            e.lock(&ast::relation(rv), AccessShare);
            any = true;
        }
    }
    any
}
