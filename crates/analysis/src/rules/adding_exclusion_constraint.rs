//! `ADD EXCLUDE …` builds its index under ACCESS EXCLUSIVE, and unlike UNIQUE there is no
//! `USING INDEX` escape: an exclusion constraint cannot adopt a concurrently built index.

use pg_query::protobuf::ConstrType;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, c, _) in ctx.added_constraints() {
        if c.contype() == ConstrType::ConstrExclusion && ctx.existing(&table) {
            out.push(
                Rule::AddingExclusionConstraint,
                format!(
                    "Adding an exclusion constraint builds its index on {} while holding ACCESS EXCLUSIVE, and cannot be done concurrently.",
                    ctx.describe(&table)
                ),
                "Create the constraint when the table is created, or enforce the rule with a trigger plus a concurrently built index, or schedule a maintenance window.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_exclusion() {
        let f = findings(
            "ALTER TABLE bookings ADD CONSTRAINT no_overlap EXCLUDE USING gist (room WITH =, during WITH &&)",
            Rule::AddingExclusionConstraint,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_on_new_table() {
        assert!(findings(
            "CREATE TABLE b (room int, during tstzrange); ALTER TABLE b ADD EXCLUDE USING gist (room WITH =, during WITH &&)",
            Rule::AddingExclusionConstraint
        )
        .is_empty());
    }
}
