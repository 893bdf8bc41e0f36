//! Several `ALTER TABLE` statements on one table in a transaction each queue for the lock
//! and each may scan or rewrite; one statement with several subcommands takes the lock once
//! and PostgreSQL combines the table passes.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::AlterTableStmt(_) = &ctx.stmt.ast else {
        return;
    };
    let Some(table) = ctx.existing_target() else {
        return;
    };
    if ctx.state.alters.get(table).copied().unwrap_or(0) >= 1 {
        out.push(
            Rule::MultipleAlterTable,
            format!("`{table}` is altered again in the same transaction."),
            "Combine the changes into one ALTER TABLE with comma-separated subcommands.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_second_alter() {
        let f = findings(
            "ALTER TABLE orders ADD COLUMN a int; ALTER TABLE orders ADD COLUMN b int;",
            Rule::MultipleAlterTable,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_combined() {
        assert!(findings(
            "ALTER TABLE orders ADD COLUMN a int, ADD COLUMN b int;",
            Rule::MultipleAlterTable
        )
        .is_empty());
    }
}
