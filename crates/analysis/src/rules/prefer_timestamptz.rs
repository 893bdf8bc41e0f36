//! A column type autodb would not pick: timestamp without time zone stores wall-clock values whose meaning depends on the writer's time zone.
//! Advisory only: the statement is as safe to run either way.

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (column, ty) in ctx.declared_types() {
        if ty.base == "timestamp" {
            out.push(
                Rule::PreferTimestamptz,
                format!("Column `{column}` is {ty}: timestamp without time zone stores wall-clock values whose meaning depends on the writer's time zone."),
                "Use timestamptz.",
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
        let f = findings(
            "CREATE TABLE t (created_at timestamp)",
            Rule::PreferTimestamptz,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_preferred_type() {
        assert!(findings(
            "CREATE TABLE t (created_at timestamptz)",
            Rule::PreferTimestamptz
        )
        .is_empty());
    }
}
