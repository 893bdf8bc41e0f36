//! Shared test fixtures: a schema snapshot built from the Pagila dump, without a database.
#![allow(dead_code)]

use std::collections::BTreeMap;

use autodb_core::schema::model::{Column, Constraint, ConstraintKind, Table, TableKind, View};
use autodb_core::schema::SchemaSnapshot;
use pg_query::protobuf::{AlterTableType, ConstrType, ObjectType};
use pg_query::{NodeEnum, NodeRef};

/// Row counts of the Pagila sample data, so sizes in tests are realistic.
const ROWS: &[(&str, i64)] = &[
    ("actor", 200),
    ("address", 603),
    ("category", 16),
    ("city", 600),
    ("country", 109),
    ("customer", 599),
    ("film", 1_000),
    ("film_actor", 5_462),
    ("film_category", 1_000),
    ("inventory", 4_581),
    ("language", 6),
    ("rental", 16_044),
    ("staff", 2),
    ("store", 2),
];

pub fn pagila_sql() -> String {
    // Vendored with its licence in the repository's tests/fixtures.
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/pagila.sql"
    );
    std::fs::read_to_string(path).expect("tests/fixtures/pagila.sql is readable")
}

fn name(rv: &pg_query::protobuf::RangeVar) -> String {
    let schema = if rv.schemaname.is_empty() {
        "public"
    } else {
        &rv.schemaname
    };
    autodb_core::schema::qualified(schema, &rv.relname)
}

/// Tables (columns and foreign keys) and views (with what they read) of the Pagila dump.
pub fn pagila() -> SchemaSnapshot {
    let stmts = autodb_core::sql::parse(&pagila_sql()).expect("pagila parses");
    let mut tables: BTreeMap<String, Table> = BTreeMap::new();
    let mut views = Vec::new();
    for stmt in &stmts {
        match &stmt.ast {
            NodeEnum::CreateStmt(c) => {
                let Some(rel) = &c.relation else { continue };
                let columns = c
                    .table_elts
                    .iter()
                    .filter_map(|e| match &e.node {
                        Some(NodeEnum::ColumnDef(cd)) => Some(Column {
                            name: cd.colname.clone(),
                            data_type: cd
                                .type_name
                                .as_ref()
                                .and_then(|t| t.names.last())
                                .and_then(|n| match &n.node {
                                    Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                                    _ => None,
                                })
                                .unwrap_or_default(),
                            nullable: !cd.is_not_null,
                            default: None,
                            identity: None,
                            generated: None,
                        }),
                        _ => None,
                    })
                    .collect();
                let table = name(rel);
                let rows = ROWS
                    .iter()
                    .find(|(t, _)| *t == table)
                    .map_or(16_000, |(_, r)| *r);
                tables.insert(
                    table.clone(),
                    Table {
                        schema: "public".into(),
                        name: rel.relname.clone(),
                        kind: if c.partspec.is_some() {
                            TableKind::Partitioned
                        } else {
                            TableKind::Regular
                        },
                        columns,
                        indexes: vec![],
                        constraints: vec![],
                        estimated_rows: rows,
                        total_bytes: rows * 200,
                        partition_of: None,
                        inherits: vec![],
                    },
                );
            }
            NodeEnum::AlterTableStmt(a) if a.objtype() == ObjectType::ObjectTable => {
                let Some(rel) = &a.relation else { continue };
                for cmd in &a.cmds {
                    let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
                        continue;
                    };
                    if cmd.subtype() != AlterTableType::AtAddConstraint {
                        continue;
                    }
                    let Some(NodeEnum::Constraint(c)) =
                        cmd.def.as_ref().and_then(|d| d.node.as_ref())
                    else {
                        continue;
                    };
                    if c.contype() != ConstrType::ConstrForeign {
                        continue;
                    }
                    if let Some(t) = tables.get_mut(&name(rel)) {
                        t.constraints.push(Constraint {
                            name: c.conname.clone(),
                            kind: ConstraintKind::ForeignKey,
                            definition: String::new(),
                            columns: vec![],
                            validated: true,
                            references: c.pktable.as_ref().map(name),
                            on_delete: None,
                        });
                    }
                }
            }
            NodeEnum::ViewStmt(v) => {
                let Some(rel) = &v.view else { continue };
                views.push(View {
                    schema: "public".into(),
                    name: rel.relname.clone(),
                    materialized: false,
                    depends_on: reads(v.query.as_ref().and_then(|q| q.node.as_ref())),
                });
            }
            NodeEnum::CreateTableAsStmt(c) => {
                let Some(rel) = c.into.as_ref().and_then(|i| i.rel.as_ref()) else {
                    continue;
                };
                views.push(View {
                    schema: "public".into(),
                    name: rel.relname.clone(),
                    materialized: true,
                    depends_on: reads(c.query.as_ref().and_then(|q| q.node.as_ref())),
                });
            }
            _ => {}
        }
    }
    let mut snap = SchemaSnapshot {
        schemas: vec!["public".into()],
        tables: tables.into_values().collect(),
        views,
        ..Default::default()
    };
    snap.normalize();
    snap
}

fn reads(query: Option<&NodeEnum>) -> Vec<String> {
    let mut out: Vec<String> = query
        .map(|q| {
            q.nodes()
                .into_iter()
                .filter_map(|(n, _, _, _)| match n {
                    NodeRef::RangeVar(rv) => Some(name(rv)),
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out.dedup();
    out
}
