//! The release each statement form needs (`autodb_analysis::catalog::features`, behind the
//! `needs-newer-postgres` rule) checked against the test server: an example of every form
//! runs on it inside a transaction that is rolled back. A form the catalog dates at or before
//! the server's major version must be accepted (or refused only for running inside a
//! transaction block, SQLSTATE 25001, which is a different rule's business); a newer one must
//! be refused as a syntax error (42601) — the failure the rule predicts. The server's version
//! is read, not assumed, so the boundary moves with the PostgreSQL the tests run on.

use autodb_analysis::catalog::features;
use tokio_postgres::error::SqlState;

use crate::helpers::{create_database, drop_database};

/// What every example needs: a plain table, a referenced one, a trigger function and a
/// partitioned table with one partition.
const SCHEMA: &str = "
CREATE TABLE u (id int PRIMARY KEY);
CREATE TABLE t (id int, a int, n text, p tstzrange, g int GENERATED ALWAYS AS (a * 3) STORED);
CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TABLE m (k int) PARTITION BY RANGE (k);
CREATE TABLE m1 PARTITION OF m FOR VALUES FROM (0) TO (10);
";

/// One example per dated form, and the SQLSTATE the server may refuse it with although it
/// has the form (the example's circumstances, not its grammar).
const EXAMPLES: &[(&str, Option<SqlState>)] = &[
    (
        "REINDEX TABLE CONCURRENTLY t",
        Some(SqlState::ACTIVE_SQL_TRANSACTION),
    ),
    (
        "ALTER TABLE m DETACH PARTITION m1 CONCURRENTLY",
        Some(SqlState::ACTIVE_SQL_TRANSACTION),
    ),
    // There is no interrupted detach to finish.
    (
        "ALTER TABLE m DETACH PARTITION m1 FINALIZE",
        Some(SqlState::OBJECT_NOT_IN_PREREQUISITE_STATE),
    ),
    (
        "MERGE INTO t USING u ON t.a = u.id WHEN MATCHED THEN DELETE",
        None,
    ),
    (
        "ALTER TABLE t ALTER COLUMN g SET EXPRESSION AS (a * 2)",
        None,
    ),
    (
        "ALTER TABLE t ADD COLUMN s int GENERATED ALWAYS AS (a + 1) STORED",
        None,
    ),
    (
        "ALTER TABLE t ADD COLUMN v int GENERATED ALWAYS AS (a + 1) VIRTUAL",
        None,
    ),
    (
        "ALTER TABLE t ADD COLUMN d int GENERATED ALWAYS AS (a + 1)",
        None,
    ),
    ("ALTER TABLE t ADD CONSTRAINT a_nn NOT NULL a", None),
    ("ALTER TABLE t ALTER COLUMN n SET COMPRESSION pglz", None),
    ("ALTER TABLE t SET ACCESS METHOD heap", None),
    ("CREATE UNIQUE INDEX t_a ON t (a) NULLS NOT DISTINCT", None),
    (
        "ALTER TABLE t ADD CONSTRAINT t_a_key UNIQUE NULLS NOT DISTINCT (a)",
        None,
    ),
    (
        "CREATE OR REPLACE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW EXECUTE FUNCTION f()",
        None,
    ),
    (
        "ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0) NOT ENFORCED",
        None,
    ),
    (
        "ALTER TABLE t ADD COLUMN b int REFERENCES u (id) NOT ENFORCED",
        None,
    ),
    (
        "ALTER TABLE t ADD CONSTRAINT t_id_p UNIQUE (id, p WITHOUT OVERLAPS)",
        None,
    ),
];

#[tokio::test]
async fn each_dated_form_is_accepted_from_its_release_on() {
    let url = create_database().await;
    let (db, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    db.batch_execute(SCHEMA).await.unwrap();
    let version: i32 = db
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .unwrap()
        .get(0);
    let major = u32::try_from(version / 10_000).unwrap();

    let mut wrong = Vec::new();
    let mut newer = 0;
    for (sql, circumstance) in EXAMPLES {
        let parsed = autodb_core::sql::parse(sql).unwrap();
        let dated = features(&parsed[0].ast);
        assert_eq!(dated.len(), 1, "one dated form in {sql}: {dated:?}");
        let since = dated[0].since;
        db.batch_execute("BEGIN").await.unwrap();
        let outcome = db.batch_execute(sql).await;
        db.batch_execute("ROLLBACK").await.unwrap();
        let code = outcome.as_ref().err().and_then(|e| e.code()).cloned();
        let error = outcome.as_ref().err().map(|e| {
            e.as_db_error()
                .map_or(e.to_string(), |d| d.message().to_string())
        });
        let verdict = if since <= major {
            match (&outcome, &code) {
                (Ok(()), _) => None,
                (Err(_), Some(code)) if Some(code) == circumstance.as_ref() => None,
                (Err(_), _) => Some(format!("dated {since}, refused by {major}: {error:?}")),
            }
        } else {
            newer += 1;
            match code {
                Some(SqlState::SYNTAX_ERROR) => None,
                _ => Some(format!(
                    "dated {since}, but {major} did not refuse it as a syntax error: {error:?}"
                )),
            }
        };
        if let Some(v) = verdict {
            wrong.push(format!("{sql}: {v}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Both sides of the boundary were exercised (true of every release from 12 to 17).
    assert!(newer > 0 && newer < EXAMPLES.len(), "{newer} newer forms");

    drop(db);
    conn.await.unwrap().unwrap();
    drop_database(&url).await;
}
