//! `ALTER COLUMN … TYPE` rewrites the table and rebuilds its indexes under ACCESS EXCLUSIVE,
//! unless the change is binary-coercible (`varchar(n)` → `text`, `varchar(n)` →
//! `varchar(m > n)`, a wider `numeric` precision…). With a snapshot autodb knows the old
//! type and stays quiet about those; without one it cannot tell, and says so.

use super::{Ctx, Findings, Rule};
use crate::catalog::{Coercion, Hazard};
use crate::report::Severity;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let Some(table) = ctx.existing_target() else {
        return;
    };
    for hazard in &ctx.effect.hazards {
        let Hazard::TypeChange {
            column,
            from,
            to,
            coercion,
        } = hazard
        else {
            continue;
        };
        let alternative = "Add a new column of the new type, keep it in sync with a trigger, backfill in batches, switch readers and writers, then drop the old column.";
        match (coercion, from) {
            (Coercion::NoRewrite, _) => {}
            (Coercion::Rewrite, Some(from)) => out.push(
                Rule::ChangingColumnType,
                format!(
                    "Changing `{column}` from {from} to {to} rewrites {} and rebuilds its indexes while holding ACCESS EXCLUSIVE.",
                    ctx.describe(table)
                ),
                alternative,
            ),
            _ => out.push_with(
                Rule::ChangingColumnType,
                Severity::Warning,
                format!(
                    "Changing `{column}` to {to} rewrites {} under ACCESS EXCLUSIVE unless the change is binary-coercible (e.g. varchar(n) to text); without a schema snapshot autodb assumes a rewrite.",
                    ctx.describe(table)
                ),
                alternative,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_with, render, snapshot, table};
    use crate::rules::Rule;

    fn snap() -> autodb_core::schema::SchemaSnapshot {
        snapshot(vec![table(
            "orders",
            2_000_000,
            &[
                ("id", "integer"),
                ("note", "character varying(20)"),
                ("total", "numeric(10,2)"),
            ],
        )])
    }

    #[test]
    fn err_rewriting_change() {
        let f = findings_with(
            "ALTER TABLE orders ALTER COLUMN id TYPE bigint",
            Some(&snap()),
            Rule::ChangingColumnType,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn err_unknown_old_type_is_a_warning() {
        let f = findings(
            "ALTER TABLE orders ALTER COLUMN note TYPE text",
            Rule::ChangingColumnType,
        );
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].severity, crate::report::Severity::Warning);
    }

    #[test]
    fn ok_binary_coercible_changes() {
        for sql in [
            "ALTER TABLE orders ALTER COLUMN note TYPE text",
            "ALTER TABLE orders ALTER COLUMN note TYPE varchar(50)",
            "ALTER TABLE orders ALTER COLUMN total TYPE numeric(14,2)",
        ] {
            assert!(
                findings_with(sql, Some(&snap()), Rule::ChangingColumnType).is_empty(),
                "{sql}"
            );
        }
    }
}
