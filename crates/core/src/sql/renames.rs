//! The renames a migration performs, read from its parse trees, so the diff of what it
//! changed can say "renamed" where a comparison of snapshots alone would say "removed" and
//! "added".

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::ParsedStatement;
use crate::schema::diff::Rename;
use crate::schema::qualified;

fn relation_name(rel: &pg_query::protobuf::RangeVar) -> (String, String) {
    let schema = if rel.schemaname.is_empty() {
        "public".to_string()
    } else {
        rel.schemaname.clone()
    };
    (schema, rel.relname.clone())
}

/// Table renames (including moves to another schema) and column renames, in order.
pub fn renames(statements: &[ParsedStatement]) -> Vec<Rename> {
    let relation_kind = |t: ObjectType| {
        matches!(
            t,
            ObjectType::ObjectTable
                | ObjectType::ObjectView
                | ObjectType::ObjectMatview
                | ObjectType::ObjectForeignTable
        )
    };
    statements
        .iter()
        .filter_map(|s| match &s.ast {
            NodeEnum::RenameStmt(r) => {
                let (schema, name) = relation_name(r.relation.as_ref()?);
                if relation_kind(r.rename_type()) {
                    Some(Rename::Table {
                        from: qualified(&schema, &name),
                        to: qualified(&schema, &r.newname),
                    })
                } else if r.rename_type() == ObjectType::ObjectColumn {
                    Some(Rename::Column {
                        table: qualified(&schema, &name),
                        from: r.subname.clone(),
                        to: r.newname.clone(),
                    })
                } else {
                    None
                }
            }
            NodeEnum::AlterObjectSchemaStmt(a) if relation_kind(a.object_type()) => {
                let (schema, name) = relation_name(a.relation.as_ref()?);
                Some(Rename::Table {
                    from: qualified(&schema, &name),
                    to: qualified(&a.newschema, &name),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_table_column_and_schema_renames() {
        let stmts = super::super::parse(
            "ALTER TABLE orders RENAME COLUMN price TO amount;
             ALTER TABLE s.invoices RENAME TO bills;
             ALTER TABLE carts SET SCHEMA archive;
             ALTER INDEX i RENAME TO j;
             ALTER TABLE t ADD c int;",
        )
        .unwrap();
        assert_eq!(
            renames(&stmts),
            vec![
                Rename::Column {
                    table: "orders".into(),
                    from: "price".into(),
                    to: "amount".into()
                },
                Rename::Table {
                    from: "s.invoices".into(),
                    to: "s.bills".into()
                },
                Rename::Table {
                    from: "carts".into(),
                    to: "archive.carts".into()
                },
            ]
        );
    }
}
