//! Rendering a snapshot as the DDL that recreates its schema in an empty database: the clone
//! a sandbox runs a migration against.
//!
//! The statements come in pg_dump's order, for pg_dump's reasons:
//! 1. session settings (no function-body checks, the snapshot's `search_path`, which every
//!    definition read from the server is relative to);
//! 2. schemas, then extensions (their objects come with `CREATE EXTENSION`, never one by one);
//! 3. types, functions, sequences, tables and views, in kind order unless `pg_depend` says an
//!    object needs another first (see `order.rs`); tables carry their columns, defaults and
//!    CHECK constraints, as pg_dump writes them, because attaching a partition requires the
//!    parent's checks to be there already;
//! 4. then what refers to tables across the whole schema: partition attachments, sequence
//!    ownership, primary/unique/exclusion constraints, indexes (a partitioned parent's index
//!    `ON ONLY`, then each partition's, then `ATTACH`), and foreign keys last, so a cycle of
//!    foreign keys between tables needs nothing special; triggers, row-level security,
//!    policies and comments at the end.
//!
//! No `BEGIN`/`COMMIT`: the caller runs the statements in one transaction. Nothing here reads
//! anything but the snapshot.

mod comments;
mod ddl;
mod order;
mod quote;

use std::collections::HashMap;

use super::model::{ConstraintKind, RelationDetails, SchemaSnapshot, Sequence, TableKind};
use super::objects::object_key;
use order::Node;

pub use quote::{ident as quote_ident, literal as quote_literal};

/// Ranks for objects of the dependency-ordered part: pg_dump's order of kinds.
const TYPE: u8 = 0;
const FUNCTION: u8 = 1;
const SEQUENCE: u8 = 2;
const TABLE: u8 = 3;
const VIEW: u8 = 4;

/// The DDL statements, in dependency order, that recreate `snapshot`'s schema in an empty
/// database (no data). Foreign tables are left out: their servers and user mappings hold
/// credentials a snapshot does not carry.
pub fn clone_script(snapshot: &SchemaSnapshot) -> Vec<String> {
    let details: HashMap<(&str, &str), &RelationDetails> = snapshot
        .relation_details
        .iter()
        .map(|d| ((d.schema.as_str(), d.name.as_str()), d))
        .collect();
    let detail = |schema: &str, name: &str| details.get(&(schema, name)).copied();
    let mut out = ddl::session(snapshot);
    out.extend(ddl::schemas(snapshot));
    out.extend(ddl::extensions(snapshot));

    let mut nodes = Vec::new();
    for e in &snapshot.enums {
        let node = ddl::enum_type(e);
        nodes.push(node_of(&e.schema, &e.name, TYPE, node));
    }
    for d in &snapshot.domains {
        nodes.push(node_of(&d.schema, &d.name, TYPE, ddl::domain(d)));
    }
    for c in &snapshot.composite_types {
        nodes.push(node_of(&c.schema, &c.name, TYPE, ddl::composite(c)));
    }
    for f in &snapshot.functions {
        nodes.push(Node {
            key: f.key(),
            rank: FUNCTION,
            statements: vec![f.definition.clone()],
        });
    }
    for s in snapshot.sequences.iter().filter(|s| !s.identity) {
        nodes.push(node_of(&s.schema, &s.name, SEQUENCE, ddl::sequence(s)));
    }
    let identities: HashMap<(&str, &str, &str), &Sequence> = snapshot
        .sequences
        .iter()
        .filter(|s| s.identity)
        .filter_map(|s| {
            let o = s.owner.as_ref()?;
            Some(((o.schema.as_str(), o.table.as_str(), o.column.as_str()), s))
        })
        .collect();
    let tables: Vec<_> = snapshot
        .tables
        .iter()
        .filter(|t| t.kind != TableKind::Foreign)
        .collect();
    for t in &tables {
        let identity = |column: &str| identities.get(&(&t.schema, &t.name, column)).copied();
        let statement = ddl::table(t, detail(&t.schema, &t.name), identity);
        nodes.push(node_of(&t.schema, &t.name, TABLE, statement));
    }
    for v in &snapshot.views {
        if let Some(statement) = ddl::view(v, detail(&v.schema, &v.name)) {
            nodes.push(node_of(&v.schema, &v.name, VIEW, statement));
        }
    }
    out.extend(
        order::sorted(nodes, &snapshot.dependencies)
            .into_iter()
            .flat_map(|n| n.statements),
    );

    for t in &tables {
        out.extend(ddl::attach_partition(t, detail(&t.schema, &t.name)));
    }
    out.extend(ddl::sequence_ownership(snapshot));
    for t in &tables {
        let inherited = detail(&t.schema, &t.name)
            .map(|d| d.inherited_constraints.as_slice())
            .unwrap_or_default();
        for c in &t.constraints {
            let after_tables = match c.kind {
                ConstraintKind::PrimaryKey | ConstraintKind::Unique | ConstraintKind::Exclusion => {
                    true
                }
                // Valid checks are part of CREATE TABLE; pg_dump adds NOT VALID ones after.
                ConstraintKind::Check => !c.validated,
                _ => false,
            };
            if after_tables && !inherited.contains(&c.name) {
                out.push(ddl::add_constraint(t, c));
            }
        }
    }
    for t in &tables {
        out.extend(ddl::indexes(t));
    }
    for v in snapshot.views.iter().filter(|v| v.materialized) {
        if let Some(d) = detail(&v.schema, &v.name) {
            out.extend(d.view_indexes.iter().cloned());
        }
    }
    for d in &snapshot.relation_details {
        out.extend(ddl::attach_indexes(d));
    }
    for t in &tables {
        let inherited = detail(&t.schema, &t.name)
            .map(|d| d.inherited_constraints.as_slice())
            .unwrap_or_default();
        for c in &t.constraints {
            if c.kind == ConstraintKind::ForeignKey && !inherited.contains(&c.name) {
                out.push(ddl::add_constraint(t, c));
            }
        }
    }
    out.extend(ddl::triggers(snapshot));
    out.extend(ddl::row_security(snapshot));
    out.extend(comments::comments(snapshot));
    out
}

fn node_of(schema: &str, name: &str, rank: u8, statement: String) -> Node {
    Node {
        key: object_key(schema, name),
        rank,
        statements: vec![statement],
    }
}

#[cfg(test)]
mod tests;
