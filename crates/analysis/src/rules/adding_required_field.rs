//! `ADD COLUMN … NOT NULL` without a default fails on any table that has rows: every
//! existing row would violate the constraint. It works in development (empty tables) and
//! breaks in production.

use pg_query::protobuf::{AlterTableType, ConstrType};
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, cmd) in ctx.alter_cmds_of(AlterTableType::AtAddColumn) {
        let Some(NodeEnum::ColumnDef(cd)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
            continue;
        };
        let not_null = cd.is_not_null || ast::has_constraint(cd, ConstrType::ConstrNotnull);
        let filled = ast::column_default(cd).is_some()
            || ast::has_constraint(cd, ConstrType::ConstrIdentity)
            || ast::has_constraint(cd, ConstrType::ConstrGenerated)
            || cd.type_name.as_ref().is_some_and(|t| {
                let ty = ast::TypeSpec::from_ast(t);
                ty.base.ends_with("serial")
            });
        if not_null && !filled && ctx.existing(&table) {
            out.push(
                Rule::AddingRequiredField,
                format!(
                    "Adding the NOT NULL column `{}` without a default fails as soon as {} has a row.",
                    cd.colname,
                    ctx.describe(&table)
                ),
                "Add the column with a constant DEFAULT (catalog-only since PostgreSQL 11), or add it nullable, backfill, then add NOT NULL via a validated CHECK constraint.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_not_null_without_default() {
        let f = findings(
            "ALTER TABLE orders ADD COLUMN region text NOT NULL",
            Rule::AddingRequiredField,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_with_default_or_nullable() {
        for sql in [
            "ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu'",
            "ALTER TABLE orders ADD COLUMN region text",
            "CREATE TABLE t (a int); ALTER TABLE t ADD COLUMN b int NOT NULL",
        ] {
            assert!(findings(sql, Rule::AddingRequiredField).is_empty(), "{sql}");
        }
    }

    #[test]
    fn ok_identity_generated_or_serial_fill_the_column() {
        for sql in [
            "ALTER TABLE orders ADD COLUMN n bigint NOT NULL GENERATED ALWAYS AS IDENTITY",
            "ALTER TABLE orders ADD COLUMN n int NOT NULL GENERATED ALWAYS AS (1) STORED",
            "ALTER TABLE orders ADD COLUMN n bigserial NOT NULL",
        ] {
            assert!(findings(sql, Rule::AddingRequiredField).is_empty(), "{sql}");
        }
    }
}
