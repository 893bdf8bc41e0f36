//! `ALTER SCHEMA … RENAME` breaks every query that names the schema, and every search path
//! that lists it: for `public`, that is every unqualified query of the application.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::RenameStmt(r) = &ctx.stmt.ast else {
        return;
    };
    if r.rename_type() != ObjectType::ObjectSchema {
        return;
    }
    out.push(
        Rule::RenamingSchema,
        format!(
            "Renames schema `{}` to `{}`: every query that names it, and every search_path that lists it, stops finding its tables, views and functions.",
            r.subname, r.newname
        ),
        "Create the new schema and move objects one at a time with the application ready for both names, or keep the old name.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_rename_public() {
        let f = findings(
            "ALTER SCHEMA public RENAME TO public_old",
            Rule::RenamingSchema,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_other_renames() {
        let sql = "ALTER TABLE t RENAME TO u; ALTER SCHEMA s OWNER TO r; CREATE SCHEMA x";
        assert!(findings(sql, Rule::RenamingSchema).is_empty());
    }
}
