//! A `BEGIN` that no `COMMIT` closes leaves the migration's work (and its locks) in an open
//! transaction that is rolled back when the session ends.

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if ctx.state.unclosed_begin == Some(ctx.stmt.index) {
        out.push(
            Rule::BanUncommittedTransaction,
            "This BEGIN has no matching COMMIT: the migration's changes are never committed and its locks are held until the session ends.",
            "Add COMMIT at the end of the migration.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_missing_commit() {
        let f = findings(
            "BEGIN; ALTER TABLE t ADD COLUMN a int;",
            Rule::BanUncommittedTransaction,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_committed() {
        assert!(findings(
            "BEGIN; ALTER TABLE t ADD COLUMN a int; COMMIT;",
            Rule::BanUncommittedTransaction
        )
        .is_empty());
    }
}
