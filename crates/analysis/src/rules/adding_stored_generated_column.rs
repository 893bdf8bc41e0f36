//! `ADD COLUMN … GENERATED ALWAYS AS (…) STORED` computes the expression for every existing
//! row: a rewrite under ACCESS EXCLUSIVE. PostgreSQL 18's virtual generated columns (the new
//! default when `STORED` is omitted) are computed on read and cost nothing to add.

use super::{Ctx, Findings, Rule};
use crate::catalog::Hazard;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let Some(table) = ctx.existing_target() else {
        return;
    };
    for hazard in &ctx.effect.hazards {
        if let Hazard::StoredGenerated { column } = hazard {
            out.push(
                Rule::AddingStoredGeneratedColumn,
                format!(
                    "Adding the stored generated column `{column}` rewrites {} while holding ACCESS EXCLUSIVE.",
                    ctx.describe(table)
                ),
                if ctx.state.postgres_version.has(18) {
                    "Use a VIRTUAL generated column (PostgreSQL 18), or add a plain column kept up to date by a trigger and backfilled in batches."
                } else {
                    "Add a plain column kept up to date by a trigger and backfilled in batches (virtual generated columns need PostgreSQL 18)."
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_stored() {
        let f = findings(
            "ALTER TABLE orders ADD COLUMN total_cents bigint GENERATED ALWAYS AS (total * 100) STORED",
            Rule::AddingStoredGeneratedColumn,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_virtual() {
        assert!(findings(
            "ALTER TABLE orders ADD COLUMN total_cents bigint GENERATED ALWAYS AS (total * 100) VIRTUAL",
            Rule::AddingStoredGeneratedColumn
        )
        .is_empty());
    }
}
