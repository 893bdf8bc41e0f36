//! `DROP NOT NULL` is cheap for the database but not for the application: code that assumes
//! the column is always set starts reading nulls. It is also hard to undo (SET NOT NULL
//! scans the table).

use pg_query::protobuf::AlterTableType;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, cmd) in ctx.alter_cmds_of(AlterTableType::AtDropNotNull) {
        if ctx.existing(&table) {
            out.push(
                Rule::BanDropNotNull,
                format!(
                    "Dropping NOT NULL on `{}` of `{table}` lets nulls in that existing readers may not handle, and restoring it later needs a full scan.",
                    cmd.name
                ),
                "Make sure every reader handles null first; keep the constraint if the column is still required.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_drop_not_null() {
        let f = findings(
            "ALTER TABLE orders ALTER COLUMN email DROP NOT NULL",
            Rule::BanDropNotNull,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_set_not_null_is_another_rule() {
        assert!(findings(
            "ALTER TABLE orders ALTER COLUMN email SET NOT NULL",
            Rule::BanDropNotNull
        )
        .is_empty());
    }
}
