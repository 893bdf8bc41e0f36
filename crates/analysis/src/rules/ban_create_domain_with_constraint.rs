//! A domain with a CHECK constraint is cheap to create but expensive to use: adding a column
//! of that type rewrites the table, and changing the constraint later scans every column of
//! the type in every table, under locks autodb cannot see from the statement.

use pg_query::protobuf::ConstrType;
use pg_query::NodeEnum;

use super::{Ctx, Findings, Rule};
use crate::ast;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let NodeEnum::CreateDomainStmt(d) = &ctx.stmt.ast else {
        return;
    };
    let checked = d
        .constraints
        .iter()
        .any(|c| matches!(&c.node, Some(NodeEnum::Constraint(k)) if k.contype() == ConstrType::ConstrCheck));
    if checked {
        out.push(
            Rule::BanCreateDomainWithConstraint,
            format!(
                "The domain `{}` has a CHECK constraint: adding a column of this type to an existing table rewrites it, and altering the constraint later scans every table that uses it.",
                ast::dotted(&d.domainname)
            ),
            "Put the CHECK constraint on the table columns (added NOT VALID, then validated) instead of on the domain.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_domain_with_check() {
        let f = findings(
            "CREATE DOMAIN positive_int AS int CHECK (VALUE > 0)",
            Rule::BanCreateDomainWithConstraint,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_plain_domain() {
        assert!(findings(
            "CREATE DOMAIN label AS text",
            Rule::BanCreateDomainWithConstraint
        )
        .is_empty());
    }
}
