//! `BEGIN` inside an open transaction only warns in PostgreSQL, and the inner `COMMIT` then
//! commits everything: statements the author thought were grouped are not. A `COMMIT` or
//! `ROLLBACK` with no `BEGIN` ends the transaction autodb's executor opened.

use pg_query::protobuf::TransactionStmtKind as K;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::TransactionStmt(t) = &ctx.stmt.ast else {
        return;
    };
    match t.kind() {
        K::TransStmtBegin | K::TransStmtStart if ctx.state.explicit_tx => out.push(
            Rule::TransactionNesting,
            "BEGIN inside an open transaction does not nest: the next COMMIT commits everything since the first BEGIN.",
            "Use one BEGIN … COMMIT per migration, or SAVEPOINT for partial rollback.",
        ),
        K::TransStmtCommit | K::TransStmtRollback if !ctx.state.explicit_tx => out.push(
            Rule::TransactionNesting,
            "COMMIT or ROLLBACK without a BEGIN ends the transaction the migration runner opened: what follows runs outside it.",
            "Remove the statement and let the runner manage the transaction, or wrap the migration in one BEGIN … COMMIT.",
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_nested_begin() {
        let f = findings(
            "BEGIN; BEGIN; SELECT 1; COMMIT; COMMIT;",
            Rule::TransactionNesting,
        );
        assert_eq!(f.len(), 2);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_single_transaction() {
        assert!(findings("BEGIN; SELECT 1; COMMIT;", Rule::TransactionNesting).is_empty());
    }
}
