//! `ADD COLUMN … DEFAULT <volatile>` rewrites the table under ACCESS EXCLUSIVE. Since
//! PostgreSQL 11 a constant (or stable, e.g. `now()`) default is stored in the catalog and
//! costs nothing; a volatile one (`random()`, `clock_timestamp()`, `gen_random_uuid()`, any
//! function of unknown volatility) must be computed for every existing row. Before 11
//! (`postgres_version` below 11) every non-null default is written into every row.

use super::{Ctx, Findings, Rule};
use crate::catalog::Hazard;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let Some(table) = ctx.existing_target() else {
        return;
    };
    for hazard in &ctx.effect.hazards {
        match hazard {
            Hazard::VolatileDefault { column, function } => out.push(
                Rule::AddingFieldWithDefault,
                format!(
                    "Adding column `{column}` with the volatile default `{function}()` rewrites {} and its indexes while holding ACCESS EXCLUSIVE: reads and writes wait for the whole rewrite.",
                    ctx.describe(table)
                ),
                "Add the column without a default (or with a constant one), set the default in a separate statement, then backfill existing rows in batches.",
            ),
            Hazard::DefaultBeforeFastDefault { column } => out.push(
                Rule::AddingFieldWithDefault,
                format!(
                    "On {} (the version assumed) adding column `{column}` with a default writes it into every row: it rewrites {} and its indexes while holding ACCESS EXCLUSIVE. PostgreSQL 11 and later store a constant default in the catalog instead.",
                    ctx.state.postgres_version,
                    ctx.describe(table)
                ),
                "Add the column without a default, set the default in a separate statement (it applies to new rows only), then backfill existing rows in batches.",
            ),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_at, render};
    use crate::rules::Rule;

    #[test]
    fn err_volatile_default() {
        let f = findings(
            "ALTER TABLE orders ADD COLUMN token uuid DEFAULT gen_random_uuid()",
            Rule::AddingFieldWithDefault,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn err_any_default_before_postgres_11() {
        let sql = "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new'";
        let f = findings_at(sql, 10, Rule::AddingFieldWithDefault);
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
        assert!(findings_at(sql, 11, Rule::AddingFieldWithDefault).is_empty());
        assert!(findings_at(
            "ALTER TABLE orders ADD COLUMN note text DEFAULT NULL",
            10,
            Rule::AddingFieldWithDefault
        )
        .is_empty());
    }

    #[test]
    fn ok_constant_or_stable_default() {
        for sql in [
            "ALTER TABLE orders ADD COLUMN status text DEFAULT 'new'",
            "ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now()",
            "ALTER TABLE orders ADD COLUMN tags jsonb DEFAULT '{}'::jsonb",
            "CREATE TABLE t (id int); ALTER TABLE t ADD COLUMN r float8 DEFAULT random()",
        ] {
            assert!(
                findings(sql, Rule::AddingFieldWithDefault).is_empty(),
                "{sql}"
            );
        }
    }
}
