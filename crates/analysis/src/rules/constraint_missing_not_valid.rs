//! `ADD CONSTRAINT … CHECK (…)` (and PostgreSQL 18's `ADD CONSTRAINT … NOT NULL col`)
//! validates every row while holding ACCESS EXCLUSIVE. With `NOT VALID` the constraint is
//! added instantly and enforced for new rows; `VALIDATE CONSTRAINT` later scans under a lock
//! that lets reads and writes through. Foreign keys have their own rule.

use pg_query::protobuf::ConstrType;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, c, inline) in ctx.added_constraints() {
        let kind = match c.contype() {
            ConstrType::ConstrCheck => "CHECK",
            ConstrType::ConstrNotnull if !inline => "NOT NULL",
            _ => continue,
        };
        if c.skip_validation || !ctx.existing(&table) {
            continue;
        }
        out.push(
            Rule::ConstraintMissingNotValid,
            format!(
                "Adding a {kind} constraint validates every row of {} while holding ACCESS EXCLUSIVE: reads and writes wait for the scan.",
                ctx.describe(&table)
            ),
            "Add the constraint with NOT VALID, then run `ALTER TABLE … VALIDATE CONSTRAINT …` in a separate transaction (it takes SHARE UPDATE EXCLUSIVE, which allows reads and writes).",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_check_without_not_valid() {
        let f = findings(
            "ALTER TABLE orders ADD CONSTRAINT positive_total CHECK (total >= 0)",
            Rule::ConstraintMissingNotValid,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_not_valid() {
        assert!(findings(
            "ALTER TABLE orders ADD CONSTRAINT positive_total CHECK (total >= 0) NOT VALID",
            Rule::ConstraintMissingNotValid
        )
        .is_empty());
        assert!(findings(
            "ALTER TABLE orders ADD CONSTRAINT c NOT NULL customer_id NOT VALID",
            Rule::ConstraintMissingNotValid
        )
        .is_empty());
    }

    #[test]
    fn err_not_null_constraint_but_not_a_not_null_column() {
        let f = findings(
            "ALTER TABLE orders ADD CONSTRAINT c NOT NULL customer_id",
            Rule::ConstraintMissingNotValid,
        );
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message.starts_with("Adding a NOT NULL constraint"),
            "{}",
            f[0].message
        );
        // A new column's NOT NULL is adding-required-field's (or harmless with a default).
        assert!(findings(
            "ALTER TABLE orders ADD COLUMN region text NOT NULL DEFAULT 'eu'",
            Rule::ConstraintMissingNotValid
        )
        .is_empty());
    }
}
