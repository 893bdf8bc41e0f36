//! `ADD CONSTRAINT … NOT VALID` followed by `VALIDATE CONSTRAINT` in the same transaction
//! defeats the point of NOT VALID: the ACCESS EXCLUSIVE lock taken by the ADD is still held
//! while VALIDATE scans the table.

use pg_query::protobuf::AlterTableType;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, cmd) in ctx.alter_cmds_of(AlterTableType::AtValidateConstraint) {
        let same_tx = ctx
            .state
            .not_valid
            .iter()
            .any(|(t, c)| *t == table && *c == cmd.name);
        if same_tx && ctx.existing(&table) {
            out.push(
                Rule::ValidateInSameTransaction,
                format!(
                    "`{}` is validated in the transaction that added it NOT VALID: the ACCESS EXCLUSIVE lock of the ADD is held during the whole validation scan of {}.",
                    cmd.name,
                    ctx.describe(&table)
                ),
                "Validate the constraint in a separate migration (or after a COMMIT).",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_same_transaction() {
        let f = findings(
            "ALTER TABLE orders ADD CONSTRAINT pos CHECK (total >= 0) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT pos;",
            Rule::ValidateInSameTransaction,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_after_commit_or_alone() {
        assert!(findings(
            "BEGIN; ALTER TABLE orders ADD CONSTRAINT pos CHECK (total >= 0) NOT VALID; COMMIT; BEGIN; ALTER TABLE orders VALIDATE CONSTRAINT pos; COMMIT;",
            Rule::ValidateInSameTransaction
        )
        .is_empty());
        assert!(findings(
            "ALTER TABLE orders VALIDATE CONSTRAINT pos",
            Rule::ValidateInSameTransaction
        )
        .is_empty());
    }

    #[test]
    fn ok_validating_another_constraint() {
        assert!(findings(
            "ALTER TABLE orders ADD CONSTRAINT pos CHECK (total >= 0) NOT VALID; ALTER TABLE orders VALIDATE CONSTRAINT other; ALTER TABLE customers VALIDATE CONSTRAINT pos;",
            Rule::ValidateInSameTransaction
        )
        .is_empty());
    }
}
