//! `SELECT … FOR UPDATE/SHARE` in a migration locks the rows it returns until COMMIT: without
//! a narrowing `WHERE` that is every row of the table, and every writer waits.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::catalog::calls::row_locked;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !matches!(ctx.stmt.ast, NodeEnum::SelectStmt(_)) {
        return;
    }
    for (table, every) in row_locked(&ctx.stmt.ast) {
        if !ctx.existing(&table) {
            continue;
        }
        let rows = if every {
            "every row"
        } else {
            "the rows it returns"
        };
        out.push(
            Rule::RowLockingRead,
            format!(
                "SELECT … FOR UPDATE/SHARE locks {rows} of {} until the migration commits: writers of those rows wait.",
                ctx.describe(&table)
            ),
            "Do not take row locks in a migration; if rows must be stable, lock a narrow set and commit quickly.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_for_update_of_every_row() {
        let f = findings("SELECT * FROM orders FOR UPDATE", Rule::RowLockingRead);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        let f = findings(
            "SELECT id FROM orders WHERE id = 1 FOR SHARE",
            Rule::RowLockingRead,
        );
        assert!(
            f[0].message.contains("the rows it returns"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn ok_plain_reads() {
        let sql = "SELECT * FROM orders; CREATE TABLE t (a int); SELECT * FROM t FOR UPDATE";
        assert!(findings(sql, Rule::RowLockingRead).is_empty());
    }
}
