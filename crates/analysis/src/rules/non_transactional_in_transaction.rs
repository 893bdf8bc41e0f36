//! Statements PostgreSQL refuses to run in a transaction block (`CREATE INDEX CONCURRENTLY`,
//! `DROP INDEX CONCURRENTLY`, `REINDEX CONCURRENTLY`, `DETACH PARTITION CONCURRENTLY`,
//! `VACUUM`…). Inside an explicit `BEGIN` they fail. Mixed with other statements, autodb runs
//! them alone, so the migration is no longer atomic: a failure leaves it half-applied.

use super::{Ctx, Findings, Rule};
use crate::report::Severity;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if ctx.effect.transactional {
        return;
    }
    let op = &ctx.stmt.operation;
    if ctx.state.explicit_tx {
        out.push(
            Rule::NonTransactionalInTransaction,
            format!("{op} cannot run inside a transaction block: this migration fails at this statement."),
            "Move the statement out of BEGIN … COMMIT, into a migration of its own.",
        );
    } else if ctx.state.mixes_transactional {
        out.push_with(
            Rule::NonTransactionalInTransaction,
            Severity::Warning,
            format!("{op} cannot run in a transaction, so it runs alone between the other statements' transactions: if a later statement fails, the migration stays half-applied."),
            "Put statements that cannot run in a transaction in a migration of their own.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_inside_begin_and_mixed() {
        let f = findings(
            "BEGIN; CREATE INDEX CONCURRENTLY i ON orders (a); COMMIT;",
            Rule::NonTransactionalInTransaction,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        let f = findings(
            "ALTER TABLE orders ADD COLUMN a int; CREATE INDEX CONCURRENTLY i ON orders (a);",
            Rule::NonTransactionalInTransaction,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, crate::report::Severity::Warning);
    }

    #[test]
    fn ok_alone() {
        assert!(findings(
            "SET lock_timeout = '2s'; CREATE INDEX CONCURRENTLY i ON orders (a)",
            Rule::NonTransactionalInTransaction
        )
        .is_empty());
    }
}
