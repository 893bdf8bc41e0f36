//! Writes to PostgreSQL's own catalogs (`pg_catalog.*`) bypass every check the DDL commands
//! make: a wrong row corrupts the database, and only a restore undoes it.

use super::{Ctx, Findings, Rule};
use crate::catalog::{written_system_catalogs, Disruption};

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    if !ctx.effect.disruptions.contains(&Disruption::SystemCatalog) {
        return;
    }
    for catalog in written_system_catalogs(&ctx.stmt.ast, ctx.effect, ctx.state) {
        out.push(
            Rule::WritesSystemCatalog,
            format!(
                "Writes to the system catalog `{catalog}` directly: PostgreSQL trusts its catalogs without checking them, so a wrong row corrupts the database (relations vanish, queries fail or crash the backend), and only a restore undoes it."
            ),
            "Make the change with the DDL command meant for it (ALTER TABLE, ALTER TYPE, COMMENT, GRANT …); never write to system catalogs.",
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings, findings_with, render, snapshot, table};
    use crate::rules::Rule;

    #[test]
    fn err_update_pg_class() {
        let f = findings(
            "UPDATE pg_catalog.pg_class SET relname = 'x' WHERE oid = 1",
            Rule::WritesSystemCatalog,
        );
        assert_eq!(f.len(), 1);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn err_unqualified_and_nested_writes() {
        let f = findings(
            "DELETE FROM pg_depend WHERE objid = 1; WITH x AS (INSERT INTO pg_catalog.pg_description VALUES (1, 2, 0, 'x') RETURNING 1) SELECT * FROM x; ALTER TABLE pg_catalog.pg_attribute ADD COLUMN a int",
            Rule::WritesSystemCatalog,
        );
        assert_eq!(f.len(), 3);
    }

    #[test]
    fn ok_reading_catalogs_and_user_tables() {
        let sql = "SELECT relname FROM pg_catalog.pg_class; INSERT INTO audit SELECT * FROM pg_stat_activity; VACUUM pg_catalog.pg_class; UPDATE orders SET note = 'x' WHERE id = 1";
        assert!(findings(sql, Rule::WritesSystemCatalog).is_empty());
        // A user table that happens to start with `pg_`, known from the snapshot.
        let snap = snapshot(vec![table("pg_jobs", 10, &[("id", "bigint")])]);
        let f = findings_with(
            "DELETE FROM pg_jobs WHERE id = 1",
            Some(&snap),
            Rule::WritesSystemCatalog,
        );
        assert!(f.is_empty());
    }
}
