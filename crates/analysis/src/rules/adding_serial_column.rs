//! `ADD COLUMN … serial` (or `bigserial`, or `GENERATED … AS IDENTITY`) fills every existing
//! row from a sequence: the default is `nextval()`, which is volatile, so the table is
//! rewritten under ACCESS EXCLUSIVE. Neither squawk nor most linters see this, because the
//! default is implied by the type rather than written.

use super::{Ctx, Findings, Rule};
use crate::catalog::Hazard;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let Some(table) = ctx.existing_target() else {
        return;
    };
    for hazard in &ctx.effect.hazards {
        let (column, what) = match hazard {
            Hazard::SerialColumn { column } => (column, "a serial type"),
            Hazard::IdentityColumn { column } => (column, "an identity"),
            _ => continue,
        };
        out.push(
            Rule::AddingSerialColumn,
            format!(
                "Adding column `{column}` as {what} assigns a sequence value to every existing row: {} is rewritten while holding ACCESS EXCLUSIVE.",
                ctx.describe(table)
            ),
            "Add a nullable bigint column, create the sequence and set it as the column default (new rows only), backfill existing rows in batches, then add NOT NULL via a validated CHECK constraint.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_serial_and_identity() {
        let f = findings(
            "ALTER TABLE orders ADD COLUMN seq bigserial",
            Rule::AddingSerialColumn,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        let f = findings(
            "ALTER TABLE orders ADD COLUMN n bigint GENERATED ALWAYS AS IDENTITY",
            Rule::AddingSerialColumn,
        );
        assert_eq!(f.len(), 1);
    }

    #[test]
    fn ok_plain_column_or_new_table() {
        assert!(findings(
            "ALTER TABLE orders ADD COLUMN n bigint",
            Rule::AddingSerialColumn
        )
        .is_empty());
        assert!(findings(
            "CREATE TABLE t (a int); ALTER TABLE t ADD COLUMN id bigserial",
            Rule::AddingSerialColumn
        )
        .is_empty());
    }
}
