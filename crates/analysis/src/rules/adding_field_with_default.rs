//! `ADD COLUMN … DEFAULT <volatile>` rewrites the table under ACCESS EXCLUSIVE. Since
//! PostgreSQL 11 a constant (or stable, e.g. `now()`) default is stored in the catalog and
//! costs nothing; a volatile one (`random()`, `clock_timestamp()`, `gen_random_uuid()`, any
//! function of unknown volatility) must be computed for every existing row.

use super::{Ctx, Findings, Rule};
use crate::catalog::Hazard;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let Some(table) = ctx.existing_target() else { return };
    for hazard in &ctx.effect.hazards {
        if let Hazard::VolatileDefault { column, function } = hazard {
            out.push(
                Rule::AddingFieldWithDefault,
                format!(
                    "Adding column `{column}` with the volatile default `{function}()` rewrites {} and its indexes while holding ACCESS EXCLUSIVE: reads and writes wait for the whole rewrite.",
                    ctx.describe(table)
                ),
                "Add the column without a default (or with a constant one), set the default in a separate statement, then backfill existing rows in batches.",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
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
    fn ok_constant_or_stable_default() {
        for sql in [
            "ALTER TABLE orders ADD COLUMN status text DEFAULT 'new'",
            "ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now()",
            "ALTER TABLE orders ADD COLUMN tags jsonb DEFAULT '{}'::jsonb",
            "CREATE TABLE t (id int); ALTER TABLE t ADD COLUMN r float8 DEFAULT random()",
        ] {
            assert!(findings(sql, Rule::AddingFieldWithDefault).is_empty(), "{sql}");
        }
    }
}
