//! `ALTER COLUMN … SET NOT NULL` scans the whole table under ACCESS EXCLUSIVE to prove no
//! row is null, unless a validated `CHECK (col IS NOT NULL)` already proves it.

use pg_query::protobuf::AlterTableType;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, cmd) in ctx.alter_cmds_of(AlterTableType::AtSetNotNull) {
        if ctx.existing(&table) {
            out.push(
                Rule::AddingNotNullableField,
                format!(
                    "Setting `{}` NOT NULL scans {} while holding ACCESS EXCLUSIVE: reads and writes wait for the scan.",
                    cmd.name,
                    ctx.describe(&table)
                ),
                if ctx.state.postgres_version.has(12) {
                    "Add `CHECK (col IS NOT NULL) NOT VALID`, VALIDATE it in a later transaction, then SET NOT NULL (PostgreSQL uses the valid CHECK and skips the scan) and drop the CHECK; on PostgreSQL 18, `ADD CONSTRAINT … NOT NULL col NOT VALID` then VALIDATE."
                } else {
                    "Add `CHECK (col IS NOT NULL) NOT VALID` and VALIDATE it in a later transaction, and keep the CHECK instead of NOT NULL: before PostgreSQL 12, SET NOT NULL scans even when a valid CHECK proves it."
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_at, render};
    use crate::rules::Rule;

    #[test]
    fn err_set_not_null() {
        let f = findings(
            "ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL",
            Rule::AddingNotNullableField,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn before_12_the_check_does_not_spare_the_scan() {
        let sql = "ALTER TABLE orders ALTER COLUMN customer_id SET NOT NULL";
        let alt = |major| {
            findings_at(sql, major, Rule::AddingNotNullableField)[0]
                .safe_alternative
                .clone()
                .unwrap_or_default()
        };
        assert!(alt(11).contains("keep the CHECK instead of NOT NULL"));
        assert!(alt(12).contains("then SET NOT NULL"));
    }

    #[test]
    fn ok_drop_not_null_or_new_table() {
        assert!(findings(
            "ALTER TABLE orders ALTER COLUMN customer_id DROP NOT NULL",
            Rule::AddingNotNullableField
        )
        .is_empty());
        assert!(findings(
            "CREATE TABLE t (a int); ALTER TABLE t ALTER COLUMN a SET NOT NULL",
            Rule::AddingNotNullableField
        )
        .is_empty());
    }
}
