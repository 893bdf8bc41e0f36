//! `UPDATE` or `DELETE` without `WHERE` touches every row in one transaction: it row-locks
//! the whole table (concurrent writers wait), bloats it, and floods WAL and replicas.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    // `WHERE true` or `WHERE 1 = 1` reaches every row as surely as no WHERE.
    let (verb, condition) = match &ctx.stmt.ast {
        NodeEnum::UpdateStmt(u) => ("UPDATE", u.where_clause.as_deref()),
        NodeEnum::DeleteStmt(d) => ("DELETE", d.where_clause.as_deref()),
        _ => return,
    };
    if crate::catalog::narrows(condition) {
        return;
    }
    let Some(table) = ctx.existing_target() else {
        return;
    };
    out.push(
        Rule::UnboundedDml,
        format!(
            "{verb} without a narrowing WHERE touches every row of {} in one transaction, row-locking all of them until commit.",
            ctx.describe(table)
        ),
        "Process rows in batches (e.g. 1,000–10,000 by primary key range), each in its own transaction, outside the schema migration.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_update_and_delete_without_where() {
        let f = findings("UPDATE orders SET status = 'new'", Rule::UnboundedDml);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        assert_eq!(findings("DELETE FROM orders", Rule::UnboundedDml).len(), 1);
        assert_eq!(
            findings("DELETE FROM orders WHERE true", Rule::UnboundedDml).len(),
            1
        );
        assert_eq!(
            findings("UPDATE orders SET a = 1 WHERE 1 = 1", Rule::UnboundedDml).len(),
            1
        );
    }

    #[test]
    fn ok_with_where() {
        assert!(findings(
            "UPDATE orders SET status = 'new' WHERE id < 1000",
            Rule::UnboundedDml
        )
        .is_empty());
    }
}
