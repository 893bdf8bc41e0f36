//! A column type autodb would not pick: char(n) pads values with spaces and is no faster than text.
//! Advisory only: the statement is as safe to run either way.

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (column, ty) in ctx.declared_types() {
        if ty.base == "bpchar" {
            out.push(
                Rule::BanCharField,
                format!("Column `{column}` is {ty}: char(n) pads values with spaces and is no faster than text."),
                "Use text (or varchar) with a CHECK constraint on the length if one is needed.",
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
        let f = findings("CREATE TABLE t (code char(3))", Rule::BanCharField);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_preferred_type() {
        assert!(findings("CREATE TABLE t (code text)", Rule::BanCharField).is_empty());
    }
}
