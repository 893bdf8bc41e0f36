//! The remaining causes of a full table rewrite under ACCESS EXCLUSIVE, each of which has a
//! specific safer path: a column of a domain with constraints, `SET EXPRESSION` on a
//! generated column, `SET LOGGED`/`UNLOGGED`, `SET TABLESPACE`, `SET ACCESS METHOD`.

use super::{Ctx, Findings, Rule};
use crate::catalog::Hazard;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let Some(table) = ctx.existing_target() else {
        return;
    };
    let t = ctx.describe(table);
    for hazard in &ctx.effect.hazards {
        let (message, alternative) = match hazard {
            Hazard::ConstrainedDomain { column, domain } => (
                format!("Adding `{column}` of the constrained domain `{domain}` checks the domain's constraints on every row by rewriting {t} under ACCESS EXCLUSIVE."),
                "Add the column with the domain's base type, backfill, then add the check as a NOT VALID constraint and VALIDATE it separately.",
            ),
            Hazard::SetExpression { column } => (
                format!("Changing the expression of generated column `{column}` rewrites {t} under ACCESS EXCLUSIVE."),
                if ctx.state.postgres_version.has(18) {
                    "Add a new generated column (VIRTUAL on PostgreSQL 18) and switch readers to it."
                } else {
                    "Add a new generated column and switch readers to it."
                },
            ),
            Hazard::SetPersistence { logged } => (
                format!(
                    "SET {} rewrites {t} under ACCESS EXCLUSIVE{}.",
                    if *logged { "LOGGED" } else { "UNLOGGED" },
                    if *logged { " and writes all of it to WAL" } else { "" }
                ),
                "Create a new table with the desired persistence, copy in batches and swap names in a short transaction.",
            ),
            Hazard::SetTablespace => (
                format!("SET TABLESPACE copies every data file of {t} while holding ACCESS EXCLUSIVE."),
                "Use pg_repack with --tablespace, or create the new table in the target tablespace and copy in batches.",
            ),
            Hazard::SetAccessMethod => (
                format!("SET ACCESS METHOD rewrites {t} under ACCESS EXCLUSIVE."),
                "Create a new table with the access method, copy in batches and swap names.",
            ),
            _ => continue,
        };
        out.push(Rule::RewritesTable, message, alternative);
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, render};
    use crate::rules::Rule;

    #[test]
    fn err_rewrite_causes() {
        let f = findings(
            "ALTER TABLE events SET LOGGED; ALTER TABLE events SET TABLESPACE fast; \
             CREATE DOMAIN pos AS int CHECK (VALUE > 0); ALTER TABLE events ADD COLUMN n pos; \
             ALTER TABLE events ALTER COLUMN g SET EXPRESSION AS (a + 1)",
            Rule::RewritesTable,
        );
        assert_eq!(f.len(), 4);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn ok_unconstrained_domain_and_new_table() {
        assert!(findings(
            "CREATE DOMAIN label AS text; ALTER TABLE events ADD COLUMN l label",
            Rule::RewritesTable
        )
        .is_empty());
        assert!(findings(
            "CREATE TABLE t (a int); ALTER TABLE t SET UNLOGGED",
            Rule::RewritesTable
        )
        .is_empty());
    }

    #[test]
    fn err_set_access_method() {
        let f = findings(
            "ALTER TABLE events SET ACCESS METHOD heap2",
            Rule::RewritesTable,
        );
        assert_eq!(f.len(), 1);
        assert!(
            f[0].message
                .starts_with("SET ACCESS METHOD rewrites `events`"),
            "{}",
            f[0].message
        );
    }
}
