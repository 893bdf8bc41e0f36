//! Renaming a column is instant for the database and immediate breakage for every running
//! application instance that still uses the old name.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::RenameStmt(r) = &ctx.stmt.ast else {
        return;
    };
    if r.rename_type() != ObjectType::ObjectColumn {
        return;
    }
    let Some(table) = ctx.existing_target() else {
        return;
    };
    out.push(
        Rule::RenamingColumn,
        format!(
            "Renaming `{}` to `{}` on `{table}` breaks every running query that uses the old name.",
            r.subname, r.newname
        ),
        "Add the new column, write to both, backfill, move readers, then drop the old column (expand/contract); or rename behind a view.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_rename_column() {
        let f = findings(
            "ALTER TABLE customers RENAME COLUMN mail TO email",
            Rule::RenamingColumn,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_rename_in_new_table() {
        assert!(findings(
            "CREATE TABLE t (a int); ALTER TABLE t RENAME COLUMN a TO b",
            Rule::RenamingColumn
        )
        .is_empty());
    }
}
