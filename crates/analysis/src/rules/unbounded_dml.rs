//! `UPDATE` or `DELETE` without `WHERE` touches every row in one transaction: it row-locks
//! the whole table (concurrent writers wait), bloats it, and floods WAL and replicas.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let verb = match &ctx.stmt.ast {
        NodeEnum::UpdateStmt(u) if u.where_clause.is_none() => "UPDATE",
        NodeEnum::DeleteStmt(d) if d.where_clause.is_none() => "DELETE",
        _ => return,
    };
    let Some(table) = ctx.existing_target() else {
        return;
    };
    out.push(
        Rule::UnboundedDml,
        format!(
            "{verb} without WHERE touches every row of {} in one transaction, row-locking all of them until commit.",
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
