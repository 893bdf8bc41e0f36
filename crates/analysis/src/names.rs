//! The names a migration uses, as the server will look them up.
//!
//! The analysis shows an unqualified name as the relation of that name in `public`; the server
//! looks it up through the session's `search_path`. The two agree only while no schema
//! earlier in the path holds a relation of that name and the path creates new objects in
//! `public`. The service checks both on the live database at analyze, binds the answers in the
//! approval token, and the executor checks them again before it applies anything: these are
//! the names it asks about — every relation the statements reference (with the schema they
//! were written with, if any), every relation they create unqualified, and every function
//! they call by name.

use std::collections::BTreeSet;

use autodb_core::sql::ParsedStatement;
use pg_query::protobuf::ObjectType;
use pg_query::{NodeEnum, NodeRef};

/// A name as written: `schema` is empty when it was not qualified.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Name {
    pub schema: String,
    pub name: String,
}

impl Name {
    fn new(parts: &[String]) -> Option<Self> {
        match parts {
            [name] => Some(Self {
                schema: String::new(),
                name: name.clone(),
            }),
            [schema, name] => Some(Self {
                schema: schema.clone(),
                name: name.clone(),
            }),
            // `database.schema.name`: the database part must be the current one; the lookup
            // is the schema's.
            [_, schema, name] => Some(Self {
                schema: schema.clone(),
                name: name.clone(),
            }),
            _ => None,
        }
    }
}

/// What a migration's statements name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct UsedNames {
    /// Relations (tables, views, sequences, indexes) referenced or created.
    pub relations: BTreeSet<Name>,
    /// Unqualified names of permanent relations the migration creates: they go to the first
    /// schema of the `search_path`.
    pub created: BTreeSet<String>,
    /// Functions and procedures called, outside `pg_catalog`.
    pub functions: BTreeSet<Name>,
}

impl UsedNames {
    /// Whether the migration uses anything in schema `schema` by its qualified name.
    pub fn touches_schema(&self, schema: &str) -> bool {
        self.relations
            .iter()
            .chain(&self.functions)
            .any(|n| n.schema == schema)
    }
}

/// The names `stmts` use.
pub fn used(stmts: &[ParsedStatement]) -> UsedNames {
    let mut out = UsedNames::default();
    for stmt in stmts {
        let ctes: BTreeSet<String> = stmt
            .ast
            .nodes()
            .into_iter()
            .filter_map(|(node, ..)| match node {
                NodeRef::CommonTableExpr(c) => Some(c.ctename.clone()),
                _ => None,
            })
            .collect();
        for (node, ..) in stmt.ast.nodes() {
            match node {
                NodeRef::RangeVar(rv) => {
                    if rv.schemaname.is_empty() && ctes.contains(&rv.relname) {
                        continue;
                    }
                    out.relations.insert(Name {
                        schema: rv.schemaname.clone(),
                        name: rv.relname.clone(),
                    });
                }
                NodeRef::FuncCall(f) => {
                    if let Some(name) = Name::new(&crate::ast::strings(&f.funcname)) {
                        if name.schema != "pg_catalog" {
                            out.functions.insert(name);
                        }
                    }
                }
                _ => {}
            }
        }
        if let NodeEnum::DropStmt(d) = &stmt.ast {
            // Relations are dropped by name; triggers, policies and rules by name `ON` a
            // table, whose name comes first.
            let on_table = matches!(
                d.remove_type(),
                ObjectType::ObjectTrigger | ObjectType::ObjectPolicy | ObjectType::ObjectRule
            );
            let relation = matches!(
                d.remove_type(),
                ObjectType::ObjectTable
                    | ObjectType::ObjectView
                    | ObjectType::ObjectMatview
                    | ObjectType::ObjectIndex
                    | ObjectType::ObjectSequence
                    | ObjectType::ObjectForeignTable
            );
            for object in d.objects.iter().filter(|_| relation || on_table) {
                if let Some(NodeEnum::List(list)) = &object.node {
                    let mut parts = crate::ast::strings(&list.items);
                    if on_table {
                        parts.pop();
                    }
                    if let Some(name) = Name::new(&parts) {
                        out.relations.insert(name);
                    }
                }
            }
        }
        if let Some(created) = created_unqualified(&stmt.ast) {
            out.created.insert(created);
        }
    }
    out
}

/// The unqualified name of a permanent relation `ast` creates.
fn created_unqualified(ast: &NodeEnum) -> Option<String> {
    let rv = match ast {
        NodeEnum::CreateStmt(c) => c.relation.as_ref(),
        NodeEnum::ViewStmt(v) => v.view.as_ref(),
        NodeEnum::CreateSeqStmt(s) => s.sequence.as_ref(),
        NodeEnum::CreateTableAsStmt(c) => c.into.as_ref().and_then(|i| i.rel.as_ref()),
        _ => None,
    }?;
    (rv.schemaname.is_empty() && rv.relpersistence != "t").then(|| rv.relname.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn used_in(sql: &str) -> UsedNames {
        used(&autodb_core::sql::parse(sql).unwrap())
    }

    fn name(schema: &str, name: &str) -> Name {
        Name {
            schema: schema.into(),
            name: name.into(),
        }
    }

    #[test]
    fn references_keep_the_schema_they_were_written_with() {
        let u = used_in(
            "UPDATE small_notes SET body = app.f(body) FROM app.other o;
             WITH d AS (DELETE FROM orders RETURNING id) SELECT * FROM d;
             DROP INDEX IF EXISTS idx_a, app.idx_b;
             CALL public.proc(); SELECT pg_catalog.now(), lower('x')",
        );
        assert_eq!(
            u.relations,
            [
                name("", "idx_a"),
                name("", "orders"),
                name("", "small_notes"),
                name("app", "idx_b"),
                name("app", "other"),
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(
            u.functions,
            [name("", "lower"), name("app", "f"), name("public", "proc")]
                .into_iter()
                .collect()
        );
        assert!(u.touches_schema("app"));
        assert!(!u.touches_schema("autodb"));
        assert!(u.created.is_empty());
    }

    #[test]
    fn drops_of_what_is_not_a_relation_name_none() {
        let u = used_in(
            "DROP TRIGGER trg ON orders; DROP POLICY p ON app.orders; DROP RULE r ON orders;
             DROP SCHEMA s; DROP TYPE t; DROP FUNCTION f(int)",
        );
        assert_eq!(
            u.relations,
            [name("", "orders"), name("app", "orders")]
                .into_iter()
                .collect()
        );
    }

    #[test]
    fn creates_of_permanent_unqualified_relations_are_listed() {
        let u = used_in(
            "CREATE TABLE a (id int); CREATE TEMP TABLE t (id int); CREATE VIEW v AS SELECT 1;
             CREATE TABLE s.q (id int); CREATE SEQUENCE seq; CREATE TABLE m AS SELECT 1;
             CREATE TEMP VIEW tv AS SELECT 1",
        );
        assert_eq!(
            u.created,
            ["a", "m", "seq", "v"]
                .map(String::from)
                .into_iter()
                .collect()
        );
    }
}
