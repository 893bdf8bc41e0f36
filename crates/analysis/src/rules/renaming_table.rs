//! Renaming a table (or moving it to another schema) breaks every running query that uses
//! the old name.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let what = match &ctx.stmt.ast {
        NodeEnum::RenameStmt(r) if r.rename_type() == ObjectType::ObjectTable => {
            format!("Renaming to `{}`", r.newname)
        }
        NodeEnum::AlterObjectSchemaStmt(a) if a.object_type() == ObjectType::ObjectTable => {
            format!("Moving to schema `{}`", a.newschema)
        }
        _ => return,
    };
    let Some(table) = ctx.existing_target() else {
        return;
    };
    out.push(
        Rule::RenamingTable,
        format!("{what} breaks every running query that uses `{table}` by its old name."),
        "Create the table under the new name and migrate callers first, or rename and leave an updatable view with the old name until every caller has moved.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_rename_table() {
        let f = findings(
            "ALTER TABLE customers RENAME TO clients",
            Rule::RenamingTable,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        assert_eq!(
            findings("ALTER TABLE customers SET SCHEMA crm", Rule::RenamingTable).len(),
            1
        );
    }

    #[test]
    fn ok_rename_index() {
        assert!(findings("ALTER INDEX a_idx RENAME TO b_idx", Rule::RenamingTable).is_empty());
    }

    #[test]
    fn ok_moving_other_relations() {
        for sql in [
            "ALTER VIEW v SET SCHEMA crm",
            "ALTER SEQUENCE s SET SCHEMA crm",
        ] {
            assert!(findings(sql, Rule::RenamingTable).is_empty(), "{sql}");
        }
    }
}
