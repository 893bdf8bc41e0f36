//! `REFRESH MATERIALIZED VIEW` without `CONCURRENTLY` holds ACCESS EXCLUSIVE on the view
//! while its query runs: every read of the view waits.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::RefreshMatViewStmt(r) = &ctx.stmt.ast else {
        return;
    };
    if r.concurrent || r.skip_data {
        return;
    }
    let Some(view) = ctx.existing_target() else {
        return;
    };
    out.push(
        Rule::RequireConcurrentRefresh,
        format!("Refreshing `{view}` without CONCURRENTLY blocks every read of it until its query finishes."),
        "`REFRESH MATERIALIZED VIEW CONCURRENTLY` (needs a unique index on the view); it takes EXCLUSIVE, which lets reads through.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_plain_refresh() {
        let f = findings(
            "REFRESH MATERIALIZED VIEW sales_summary",
            Rule::RequireConcurrentRefresh,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_concurrently() {
        assert!(findings(
            "REFRESH MATERIALIZED VIEW CONCURRENTLY sales_summary",
            Rule::RequireConcurrentRefresh
        )
        .is_empty());
    }
}
