//! Locks are held until commit. Once a statement has taken ACCESS EXCLUSIVE on a table, any
//! slow statement after it in the same transaction (a scan, a rewrite, a backfill, on
//! another table) keeps that table blocked for its whole duration too.

use super::{Ctx, Findings, Rule};
use crate::catalog::LockMode;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let e = ctx.effect;
    let slow = e.rewrites || e.scans || e.locks_all_rows || !e.known;
    let works_on_existing = e.tables.iter().any(|t| ctx.existing(t)) || !e.known;
    if !slow || !works_on_existing || !e.transactional {
        return;
    }
    // A held lock the statement takes again anyway adds nothing.
    let held: Vec<&String> = ctx
        .state
        .access_exclusive
        .iter()
        .filter(|t| e.mode_on(t) != Some(LockMode::AccessExclusive))
        .collect();
    if let Some(first) = held.first() {
        let tables: Vec<String> = held.iter().map(|t| format!("`{t}`")).collect();
        out.push(
            Rule::HoldingAccessExclusive,
            format!(
                "{} runs while this transaction still holds ACCESS EXCLUSIVE on {}: reads and writes of `{first}` stay blocked until it finishes.",
                ctx.stmt.operation,
                tables.join(", ")
            ),
            "Commit the statement that takes ACCESS EXCLUSIVE on its own, then run slow statements in a separate transaction or migration.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_scan_after_exclusive_lock() {
        let f = findings(
            "ALTER TABLE customers ADD COLUMN tier text; UPDATE orders SET total = 0;",
            Rule::HoldingAccessExclusive,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_separate_transactions_or_cheap_statements() {
        assert!(findings(
            "BEGIN; ALTER TABLE customers ADD COLUMN tier text; COMMIT; UPDATE orders SET total = 0 WHERE id = 1;",
            Rule::HoldingAccessExclusive
        )
        .is_empty());
        assert!(findings(
            "ALTER TABLE customers ADD COLUMN tier text; ALTER TABLE orders ADD COLUMN note text;",
            Rule::HoldingAccessExclusive
        )
        .is_empty());
    }

    #[test]
    fn err_any_slow_statement_after_the_lock() {
        // A scan, a rewrite, and code the catalog cannot see into: each is slow on its own.
        for slow in [
            "CREATE INDEX i ON orders (a)",
            "ALTER TABLE orders SET TABLESPACE other",
            "DO $$ BEGIN PERFORM 1; END $$",
        ] {
            let sql = format!("ALTER TABLE customers ADD COLUMN tier text; {slow};");
            assert_eq!(
                findings(&sql, Rule::HoldingAccessExclusive).len(),
                1,
                "{sql}"
            );
        }
    }

    #[test]
    fn ok_slow_statement_on_a_table_of_the_migration() {
        let sql = "ALTER TABLE customers ADD COLUMN tier text; CREATE TABLE t (a int); CREATE INDEX i ON t (a);";
        assert!(findings(sql, Rule::HoldingAccessExclusive).is_empty());
    }
}
