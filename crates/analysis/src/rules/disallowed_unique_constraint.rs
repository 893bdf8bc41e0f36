//! `ADD UNIQUE (…)` builds a unique index while holding ACCESS EXCLUSIVE.

use pg_query::protobuf::ConstrType;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, c, _) in ctx.added_constraints() {
        if c.contype() == ConstrType::ConstrUnique && c.indexname.is_empty() && ctx.existing(&table)
        {
            out.push(
                Rule::DisallowedUniqueConstraint,
                format!(
                    "Adding a UNIQUE constraint builds its index on {} while holding ACCESS EXCLUSIVE: reads and writes wait for the build.",
                    ctx.describe(&table)
                ),
                "`CREATE UNIQUE INDEX CONCURRENTLY idx ON t (cols)`, then `ALTER TABLE t ADD CONSTRAINT name UNIQUE USING INDEX idx`.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_unique_builds_index() {
        let f = findings(
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email)",
            Rule::DisallowedUniqueConstraint,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_using_index() {
        assert!(findings(
            "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx",
            Rule::DisallowedUniqueConstraint
        )
        .is_empty());
    }
}
