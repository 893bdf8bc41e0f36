//! `ALTER DOMAIN … ADD CONSTRAINT` checks every column of the domain type in every table,
//! and the statement does not say which tables those are.

use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::AlterDomainStmt(d) = &ctx.stmt.ast else {
        return;
    };
    let not_valid = matches!(d.def.as_ref().and_then(|x| x.node.as_ref()),
        Some(NodeEnum::Constraint(c)) if c.skip_validation);
    if d.subtype == "C" && !not_valid {
        out.push(
            Rule::BanAlterDomainWithAddConstraint,
            format!(
                "Adding a constraint to domain `{}` scans every table with a column of that type, locking each while it does.",
                ast::dotted(&d.type_name)
            ),
            "Add the domain constraint with NOT VALID, then `ALTER DOMAIN … VALIDATE CONSTRAINT` separately; or put the constraint on the table columns.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_add_domain_constraint() {
        let f = findings(
            "ALTER DOMAIN positive_int ADD CONSTRAINT pos CHECK (VALUE > 0)",
            Rule::BanAlterDomainWithAddConstraint,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_not_valid() {
        assert!(findings(
            "ALTER DOMAIN positive_int ADD CONSTRAINT pos CHECK (VALUE > 0) NOT VALID",
            Rule::BanAlterDomainWithAddConstraint
        )
        .is_empty());
    }
}
