//! A column type autodb would not pick: the length limit lives in the type, so changing it takes ACCESS EXCLUSIVE (and shrinking it rewrites the table).
//! Advisory only: the statement is as safe to run either way.

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (column, ty) in ctx.declared_types() {
        if ty.base == "varchar" && !ty.mods.is_empty() {
            out.push(
                Rule::PreferTextField,
                format!("Column `{column}` is {ty}: the length limit lives in the type, so changing it takes ACCESS EXCLUSIVE (and shrinking it rewrites the table)."),
                "Use text with a CHECK (length(col) <= n) constraint, which can be changed NOT VALID without a rewrite.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_flagged_type() {
        let f = findings("CREATE TABLE t (name varchar(100))", Rule::PreferTextField);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_preferred_type() {
        assert!(findings("CREATE TABLE t (name text)", Rule::PreferTextField).is_empty());
    }

    #[test]
    fn ok_unbounded_varchar_and_other_modified_types() {
        let sql = "CREATE TABLE t (a varchar, b numeric(10, 2), c char(2))";
        assert!(findings(sql, Rule::PreferTextField).is_empty());
    }
}
