//! `pg_stat_reset()` and its kin discard the statistics autovacuum decides by and monitoring
//! reads: vacuum and analyze are delayed until the counters build up again.

use super::{Ctx, Findings, Rule};
use crate::catalog::Disruption;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx.effect.disruptions.contains(&Disruption::StatsReset) {
        return;
    }
    out.push(
        Rule::StatsReset,
        "Resets the server's activity statistics: autovacuum and autoanalyze lose the counts they decide by (bloat grows until they build up again) and monitoring loses its history.",
        "Leave statistics alone in a migration; reset them, if at all, from operations tooling.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_forms() {
        let f = findings("SELECT pg_stat_reset()", Rule::StatsReset);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        for sql in [
            "SELECT pg_stat_reset_shared('bgwriter')",
            "SELECT pg_catalog.pg_stat_reset_single_table_counters(1)",
            "SELECT pg_stat_statements_reset()",
        ] {
            assert_eq!(findings(sql, Rule::StatsReset).len(), 1, "{sql}");
        }
    }

    #[test]
    fn ok_forms() {
        assert!(findings(
            "SELECT * FROM pg_stat_user_tables; SELECT app.pg_stat_reset()",
            Rule::StatsReset
        )
        .is_empty());
    }
}
