//! `DROP INDEX` without `CONCURRENTLY` takes ACCESS EXCLUSIVE on the index's table. The drop
//! itself is instant, but the lock waits behind every running query and blocks all queries
//! queued after it.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::DropStmt(d) = &ctx.stmt.ast else {
        return;
    };
    if d.remove_type() != ObjectType::ObjectIndex || d.concurrent {
        return;
    }
    let Some(table) = ctx.existing_target() else {
        return;
    };
    let index = d
        .objects
        .iter()
        .find_map(|o| match &o.node {
            Some(NodeEnum::List(l)) => Some(crate::ast::dotted(&l.items)),
            _ => None,
        })
        .unwrap_or_default();
    // Without a snapshot the catalog cannot tell which table the index belongs to.
    let on = if table == index {
        format!("the table of `{index}`")
    } else {
        ctx.describe(table)
    };
    out.push(
        Rule::RequireConcurrentIndexDeletion,
        format!(
            "Dropping an index without CONCURRENTLY takes ACCESS EXCLUSIVE on {on}: it queues behind running queries and blocks every query behind it."
        ),
        "`DROP INDEX CONCURRENTLY IF EXISTS …` in its own migration (it cannot run in a transaction).",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_plain_drop_index() {
        let f = findings(
            "DROP INDEX orders_created_idx",
            Rule::RequireConcurrentIndexDeletion,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_concurrently() {
        assert!(findings(
            "DROP INDEX CONCURRENTLY IF EXISTS orders_created_idx",
            Rule::RequireConcurrentIndexDeletion
        )
        .is_empty());
    }
}
