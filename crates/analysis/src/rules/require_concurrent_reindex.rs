//! `REINDEX` without `CONCURRENTLY` holds SHARE on the table (writes wait) and ACCESS
//! EXCLUSIVE on the index, which blocks the planning of every query on the table: in
//! practice reads wait too.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::ReindexStmt(r) = &ctx.stmt.ast else {
        return;
    };
    if ast::has_option(&r.params, "concurrently") {
        return;
    }
    let what = ctx
        .existing_target()
        .map_or_else(|| "every table it covers".to_string(), |t| ctx.describe(t));
    out.push(
        Rule::RequireConcurrentReindex,
        format!("REINDEX without CONCURRENTLY blocks writes to {what}, and reads that plan with the index, until the rebuild ends."),
        if ctx.state.postgres_version.has(12) {
            "`REINDEX INDEX CONCURRENTLY …` (PostgreSQL 12+), in its own migration."
        } else {
            "Build a copy with `CREATE INDEX CONCURRENTLY`, then `DROP INDEX CONCURRENTLY` the old index and rename the new one (REINDEX CONCURRENTLY needs PostgreSQL 12)."
        },
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_at, render};
    use crate::rules::Rule;

    #[test]
    fn err_plain_reindex() {
        let f = findings("REINDEX TABLE orders", Rule::RequireConcurrentReindex);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn before_12_the_alternative_rebuilds_by_hand() {
        let sql = "REINDEX INDEX orders_pkey";
        let alt = |major| {
            findings_at(sql, major, Rule::RequireConcurrentReindex)[0]
                .safe_alternative
                .clone()
                .unwrap_or_default()
        };
        assert!(alt(11).starts_with("Build a copy with `CREATE INDEX CONCURRENTLY`"));
        assert!(alt(12).starts_with("`REINDEX INDEX CONCURRENTLY"));
    }

    #[test]
    fn ok_concurrently() {
        assert!(findings(
            "REINDEX INDEX CONCURRENTLY orders_pkey",
            Rule::RequireConcurrentReindex
        )
        .is_empty());
    }
}
