//! `CREATE INDEX` without `CONCURRENTLY` holds SHARE on the table for the whole build:
//! reads continue, every write waits.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::IndexStmt(i) = &ctx.stmt.ast else { return };
    let Some(table) = ctx.existing_target() else { return };
    if !i.concurrent {
        out.push(
            Rule::RequireConcurrentIndexCreation,
            format!(
                "Building an index without CONCURRENTLY holds SHARE on {}: every INSERT, UPDATE and DELETE waits for the whole build.",
                ctx.describe(table)
            ),
            "`CREATE INDEX CONCURRENTLY` in its own migration (it cannot run in a transaction); check for an INVALID index if it fails and drop it before retrying.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_plain_create_index() {
        let f = findings(
            "CREATE INDEX orders_created_idx ON orders (created_at)",
            Rule::RequireConcurrentIndexCreation,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_concurrently_or_new_table() {
        assert!(findings(
            "CREATE INDEX CONCURRENTLY orders_created_idx ON orders (created_at)",
            Rule::RequireConcurrentIndexCreation
        )
        .is_empty());
        assert!(findings(
            "CREATE TABLE t (a int); CREATE INDEX t_a ON t (a)",
            Rule::RequireConcurrentIndexCreation
        )
        .is_empty());
    }
}
