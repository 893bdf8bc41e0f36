//! Dropping a column loses its data and breaks every running query that names it (including
//! `INSERT`s from an ORM that caches the column list).

use pg_query::protobuf::AlterTableType;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, cmd) in ctx.alter_cmds_of(AlterTableType::AtDropColumn) {
        if ctx.existing(&table) {
            out.push(
                Rule::BanDropColumn,
                format!(
                    "Dropping `{}` from {} deletes its data and breaks application code that still reads or writes it.",
                    cmd.name,
                    ctx.describe(&table)
                ),
                "Stop using the column in the application first (deploy), then drop it in a later migration; keep a backup of the data if it may be needed.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_drop_column() {
        let f = findings(
            "ALTER TABLE customers DROP COLUMN legacy_code",
            Rule::BanDropColumn,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_other_alters() {
        assert!(findings(
            "ALTER TABLE customers ADD COLUMN code text",
            Rule::BanDropColumn
        )
        .is_empty());
    }
}
