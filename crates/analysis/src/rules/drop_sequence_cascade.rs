//! `DROP SEQUENCE … CASCADE` also drops the `DEFAULT nextval(…)` of every column drawing from
//! the sequence: inserts that relied on it fail (NOT NULL) or store NULL keys.

use super::{Ctx, Findings, Rule};
use crate::catalog::Disruption;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx
        .effect
        .disruptions
        .contains(&Disruption::DropSequenceCascade)
    {
        return;
    }
    out.push(
        Rule::DropSequenceCascade,
        "DROP SEQUENCE … CASCADE also drops the defaults of every column that draws from it: inserts relying on them fail or store NULL.",
        "Drop or change the column defaults first, by name, then drop the sequence without CASCADE.",
    );
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_forms() {
        let f = findings(
            "DROP SEQUENCE orders_id_seq CASCADE",
            Rule::DropSequenceCascade,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        for sql in [
            "DROP SEQUENCE IF EXISTS a, b CASCADE",
            "DROP SEQUENCE app.s CASCADE",
        ] {
            assert_eq!(findings(sql, Rule::DropSequenceCascade).len(), 1, "{sql}");
        }
    }

    #[test]
    fn ok_forms() {
        assert!(findings(
            "DROP SEQUENCE s; DROP TABLE t CASCADE",
            Rule::DropSequenceCascade
        )
        .is_empty());
    }
}
