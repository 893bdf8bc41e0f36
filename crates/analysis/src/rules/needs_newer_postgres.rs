//! A statement form the assumed server does not have (`REINDEX CONCURRENTLY` on 11, a
//! virtual generated column on 17): PostgreSQL rejects it, so the migration fails there
//! instead of doing the gentle thing its score describes. The version assumed is
//! `postgres_version` in `autodb.toml`, or the target server's for analyze.

use super::{Ctx, Findings, Rule};
use crate::catalog;

pub(super) fn check(ctx: &Ctx, out: &mut Findings) {
    let server = ctx.state.postgres_version;
    for f in catalog::features(&ctx.stmt.ast) {
        if !server.has(f.since) {
            out.push(
                Rule::NeedsNewerPostgres,
                format!(
                    "`{}` needs PostgreSQL {}; on {server} (the version assumed) the statement fails.",
                    f.syntax, f.since
                ),
                f.instead,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::rules::testing::{findings_at, render};
    use crate::rules::Rule;

    #[test]
    fn err_forms_newer_than_the_server() {
        let f = findings_at(
            "REINDEX INDEX CONCURRENTLY orders_pkey; \
             ALTER TABLE m DETACH PARTITION m_2020 CONCURRENTLY; \
             ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a + 1)",
            11,
            Rule::NeedsNewerPostgres,
        );
        assert_eq!(f.len(), 3);
        insta::assert_snapshot!(render(&f));
    }

    #[test]
    fn each_form_from_its_release_on() {
        let cases = [
            ("REINDEX TABLE CONCURRENTLY t", 12),
            ("ALTER TABLE m DETACH PARTITION p CONCURRENTLY", 14),
            ("ALTER TABLE m DETACH PARTITION p FINALIZE", 14),
            (
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
                15,
            ),
            ("ALTER TABLE t ALTER COLUMN g SET EXPRESSION AS (a * 2)", 17),
            (
                "CREATE TABLE t (a int, g int GENERATED ALWAYS AS (a + 1) STORED)",
                12,
            ),
            (
                "ALTER TABLE t ADD COLUMN g int GENERATED ALWAYS AS (a + 1) VIRTUAL",
                18,
            ),
            ("ALTER TABLE t ADD CONSTRAINT a_nn NOT NULL a", 18),
            ("ALTER TABLE t ALTER COLUMN a SET COMPRESSION lz4", 14),
            ("ALTER TABLE t SET ACCESS METHOD heap", 15),
            ("CREATE UNIQUE INDEX i ON t (a) NULLS NOT DISTINCT", 15),
            (
                "ALTER TABLE t ADD CONSTRAINT u UNIQUE NULLS NOT DISTINCT (a)",
                15,
            ),
            ("CREATE TABLE t (a int UNIQUE NULLS NOT DISTINCT)", 15),
            (
                "CREATE OR REPLACE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
                14,
            ),
            (
                "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT ENFORCED",
                18,
            ),
            (
                "ALTER TABLE t ADD COLUMN b int REFERENCES u (id) NOT ENFORCED",
                18,
            ),
            (
                "CREATE TABLE t (a int, FOREIGN KEY (a) REFERENCES u (id) NOT ENFORCED)",
                18,
            ),
            (
                "CREATE TABLE t (id int, p tstzrange, PRIMARY KEY (id, p WITHOUT OVERLAPS))",
                18,
            ),
            (
                "ALTER TABLE t ADD CONSTRAINT u UNIQUE (id, p WITHOUT OVERLAPS)",
                18,
            ),
        ];
        for (sql, since) in cases {
            assert_eq!(
                findings_at(sql, since - 1, Rule::NeedsNewerPostgres).len(),
                1,
                "{sql}"
            );
            assert!(
                findings_at(sql, since, Rule::NeedsNewerPostgres).is_empty(),
                "{sql}"
            );
        }
    }

    #[test]
    fn ok_forms_every_release_has() {
        for sql in [
            "REINDEX INDEX orders_pkey",
            "CREATE INDEX CONCURRENTLY i ON t (a)",
            "ALTER TABLE m DETACH PARTITION p",
            "ALTER TABLE t ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY",
            // Every kind of constraint, without the clauses some releases lack.
            "CREATE TABLE t (id int PRIMARY KEY, a int NOT NULL UNIQUE CHECK (a > 0) \
             REFERENCES u (id), b int, CHECK (b > 0), UNIQUE (b), FOREIGN KEY (b) REFERENCES u, \
             EXCLUDE USING btree (a WITH =))",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT VALID, \
             ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES u (id), ADD PRIMARY KEY (id), \
             ADD UNIQUE (a), ADD COLUMN b int REFERENCES u CHECK (b > 0)",
            "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) ENFORCED",
            "CREATE UNIQUE INDEX i ON t (a)",
            "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
            "ALTER TABLE t ALTER COLUMN a SET STORAGE EXTERNAL",
        ] {
            assert!(
                findings_at(sql, 10, Rule::NeedsNewerPostgres).is_empty(),
                "{sql}"
            );
        }
    }
}
