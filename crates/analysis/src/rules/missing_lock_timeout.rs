//! A statement that needs a lock conflicting with traffic waits behind every running query
//! on the table, and every query that arrives meanwhile waits behind it: a catalog-only
//! `ALTER TABLE` can stall a busy table for as long as its longest query. `lock_timeout`
//! bounds that wait. Reported once per migration, on the first statement that needs it.

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if ctx.state.lock_timeout || ctx.state.lock_timeout_reported {
        return;
    }
    let conflicting = ctx
        .effect
        .locks
        .iter()
        .find(|(t, m)| ctx.existing(t) && m.blocks_writes());
    // A lock on tables the statement does not name (ALTER DOMAIN, REINDEX SCHEMA…).
    let unnamed = ctx
        .effect
        .unnamed_tables_lock
        .filter(|m| m.blocks_writes())
        .map(|m| ("every table it touches".to_string(), m));
    let conflicting = conflicting.map(|(t, m)| (format!("`{t}`"), *m)).or(unnamed);
    if let Some((table, mode)) = conflicting {
        out.push(
            Rule::MissingLockTimeout,
            format!(
                "{} waits for {} on {table} with no lock_timeout: while it waits, every query on {table} queues behind it.",
                ctx.stmt.operation,
                mode.name()
            ),
            "Start the migration with `SET lock_timeout = '2s';` (and retry on timeout). autodb's executor sets one; other runners may not.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_once_per_migration() {
        let f = findings(
            "ALTER TABLE orders ADD COLUMN a int; ALTER TABLE orders ADD COLUMN b int;",
            Rule::MissingLockTimeout,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_with_timeout_or_weak_locks() {
        assert!(findings(
            "SET lock_timeout = '2s'; ALTER TABLE orders ADD COLUMN a int;",
            Rule::MissingLockTimeout
        )
        .is_empty());
        assert!(findings(
            "CREATE INDEX CONCURRENTLY i ON orders (a)",
            Rule::MissingLockTimeout
        )
        .is_empty());
        assert_eq!(
            findings(
                "ALTER DOMAIN d ADD CONSTRAINT c CHECK (VALUE > 0)",
                Rule::MissingLockTimeout
            )
            .len(),
            1
        );
    }

    #[test]
    fn ok_when_the_runner_sets_one() {
        let stmts = autodb_core::sql::parse("ALTER TABLE orders ADD COLUMN a int").unwrap();
        let flagged = |a: crate::Analysis| {
            a.statements[0]
                .findings
                .iter()
                .any(|f| f.rule == Rule::MissingLockTimeout)
        };
        let runner = crate::Runner {
            sets_lock_timeout: true,
            ..Default::default()
        };
        assert!(!flagged(crate::analyze_for(&stmts, None, runner)));
        assert!(flagged(crate::analyze(&stmts, None)));
    }
}
