//! A column type autodb would not pick: 32-bit integers run out at 2.1 billion, and widening to bigint later rewrites the table.
//! Advisory only: the statement is as safe to run either way.

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (column, ty) in ctx.declared_types() {
        if matches!(ty.base.as_str(), "int4" | "int2" | "serial" | "smallserial") {
            out.push(
                Rule::PreferBigintOverInt,
                format!("Column `{column}` is {ty}: 32-bit integers run out at 2.1 billion, and widening to bigint later rewrites the table."),
                "Use bigint (or bigserial / bigint identity for keys).",
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
            "CREATE TABLE t (id int PRIMARY KEY)",
            Rule::PreferBigintOverInt,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_preferred_type() {
        assert!(findings(
            "CREATE TABLE t (id bigint PRIMARY KEY)",
            Rule::PreferBigintOverInt
        )
        .is_empty());
    }
}
