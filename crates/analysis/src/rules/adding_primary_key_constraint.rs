//! `ADD PRIMARY KEY (…)` builds a unique index while holding ACCESS EXCLUSIVE (and sets the
//! columns NOT NULL, scanning if needed): the table is unreadable for the whole build.

use pg_query::protobuf::ConstrType;

use super::{Ctx, Findings, Rule};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    for (table, c, _) in ctx.added_constraints() {
        if c.contype() == ConstrType::ConstrPrimary
            && c.indexname.is_empty()
            && ctx.existing(&table)
        {
            out.push(
                Rule::AddingPrimaryKeyConstraint,
                format!(
                    "Adding a primary key builds its index on {} while holding ACCESS EXCLUSIVE: reads and writes wait for the build.",
                    ctx.describe(&table)
                ),
                "`CREATE UNIQUE INDEX CONCURRENTLY idx ON t (cols)`, make the columns NOT NULL safely, then `ALTER TABLE t ADD CONSTRAINT pk PRIMARY KEY USING INDEX idx`.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_primary_key_builds_index() {
        let f = findings(
            "ALTER TABLE events ADD PRIMARY KEY (id)",
            Rule::AddingPrimaryKeyConstraint,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_using_index() {
        assert!(findings(
            "ALTER TABLE events ADD CONSTRAINT events_pkey PRIMARY KEY USING INDEX events_id_idx",
            Rule::AddingPrimaryKeyConstraint
        )
        .is_empty());
    }
}
