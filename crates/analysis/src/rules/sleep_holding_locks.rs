//! `pg_sleep` in a migration's transaction keeps every lock taken before it, table locks and
//! the row locks of written or `FOR UPDATE` rows, for as long as it sleeps: the application's
//! writes to those rows wait that long.

use super::{Ctx, Findings, Rule};
use crate::score::sleep_score;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let Some(ms) = ctx.effect.sleep_ms else {
        return;
    };
    if sleep_score(ms, ctx.state) == 0 {
        return;
    }
    let held: Vec<String> = ctx
        .state
        .held
        .iter()
        .map(|(t, _)| t)
        .chain(&ctx.state.row_locks)
        .filter(|t| ctx.existing(t))
        .map(|t| ctx.describe(t))
        .collect();
    out.push(
        Rule::SleepHoldingLocks,
        format!(
            "Sleeps {:.1} s while the transaction holds locks on {}: writers of those rows (or tables) wait the whole time.",
            ms as f64 / 1000.0,
            held.join(", ")
        ),
        "Never sleep inside a migration's transaction; commit first, or wait outside the database.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_with, render, snapshot, table};
    use crate::rules::Rule;

    #[test]
    fn err_sleep_after_for_update() {
        let snap = snapshot(vec![table("orders", 300_000, &[("id", "bigint")])]);
        let sql = "SELECT * FROM orders FOR UPDATE; SELECT pg_sleep(40)";
        let f = findings_with(sql, Some(&snap), Rule::SleepHoldingLocks);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        let sql = "UPDATE orders SET id = id WHERE id = 1; SELECT pg_catalog.pg_sleep(5)";
        assert_eq!(
            findings_with(sql, Some(&snap), Rule::SleepHoldingLocks).len(),
            1
        );
    }

    #[test]
    fn ok_sleep_holding_nothing() {
        assert!(findings("SELECT pg_sleep(1)", Rule::SleepHoldingLocks).is_empty());
        let sql = "CREATE TABLE t (a int); INSERT INTO t VALUES (1); SELECT pg_sleep(5)";
        assert!(findings(sql, Rule::SleepHoldingLocks).is_empty());
    }
}
