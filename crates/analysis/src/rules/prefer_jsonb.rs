//! A column type autodb would not pick: json has no equality operator (breaking DISTINCT, UNION and some tools) and is reparsed on every access.
//! Advisory only: the statement is as safe to run either way.

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (column, ty) in ctx.declared_types() {
        if ty.base == "json" {
            out.push(
                Rule::PreferJsonb,
                format!("Column `{column}` is {ty}: json has no equality operator (breaking DISTINCT, UNION and some tools) and is reparsed on every access."),
                "Use jsonb.",
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
        let f = findings("ALTER TABLE t ADD COLUMN payload json", Rule::PreferJsonb);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_preferred_type() {
        assert!(findings("ALTER TABLE t ADD COLUMN payload jsonb", Rule::PreferJsonb).is_empty());
    }
}
