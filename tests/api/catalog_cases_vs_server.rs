//! The lock catalog's own cases checked against PostgreSQL: each of the 171 cases of
//! `autodb_analysis::catalog::cases` (the table the catalog's unit tests read) runs on the
//! test server, in a database cloned from a template that holds the cases' schema
//! (`cases::SCHEMA`), after the case's [`setup`] (cases with the same setup share one, see
//! [`by_setup`]). What the analysis claims for the case's last statement over the unit
//! tests' snapshot is compared with what the server did, aspect by aspect, as
//! `catalog_vs_server` does for the corpus (its module doc says how).
//!
//! Every disagreement is listed in [`KNOWN`] with its reason; the test fails on any other,
//! and on a listed one that no longer occurs. Cases the test server cannot run (a grammar
//! newer than its release, a tablespace, a remote server) are listed with the server's error,
//! not skipped; an entry whose reason names the release it needs applies only to older
//! servers (`catalog_vs_server::assert_only_known`).

use std::collections::BTreeSet;

use autodb::schema::introspect;
use autodb_analysis::catalog::cases;

use crate::catalog_vs_server::{assert_only_known, compare, run_case, server_major};
use crate::helpers::{clone_database, create_database, drop_database};

/// What the module doc counts.
const CASES: usize = 171;

const GENERATED_G: &str =
    "ALTER TABLE orders ADD COLUMN g integer GENERATED ALWAYS AS (id * 2) STORED";
const NOT_NULL_ID: &str = "ALTER TABLE orders ALTER COLUMN id SET NOT NULL";
const COLUMN_C: &str = "ALTER TABLE orders ADD COLUMN c bigint";
const FOREIGN_KEY_F: &str = "ALTER TABLE orders ADD COLUMN c bigint, \
     ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES customers (id) NOT VALID";
/// A table that a foreign key references cannot be dropped, emptied or made unlogged alone:
/// the key goes first, so that the case's own claim is what is checked.
const UNREFERENCED_ORDERS: &str =
    "ALTER TABLE order_items DROP CONSTRAINT order_items_order_id_fkey";
const VIEW_V: &str = "CREATE VIEW v AS SELECT 1";
const TRIGGER_FUNCTION: &str =
    "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$";
const TRIGGER_T: &str = "CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS \
     $$ BEGIN RETURN NEW; END $$; \
     CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()";
const BASE: &str = "CREATE TABLE base (id integer)";
const ORDER_TYPE: &str =
    "CREATE TYPE order_type AS (id integer, note character varying(20), customer_id bigint)";
const PARTITIONED: &str = "CREATE TABLE m (k integer) PARTITION BY RANGE (k); \
     CREATE TABLE m_2020 PARTITION OF m FOR VALUES FROM (0) TO (1); \
     CREATE TABLE m_2024 (k integer)";
/// With the unique index a concurrent refresh needs.
const MATERIALIZED_MV: &str = "CREATE MATERIALIZED VIEW mv AS SELECT * FROM orders; \
     CREATE UNIQUE INDEX mv_id_idx ON mv (id)";
const MOOD: &str = "CREATE TYPE mood AS ENUM ('a', 'b')";
/// Used by a column, so that a new constraint has rows to check.
const DOMAIN_POS: &str = "CREATE DOMAIN pos AS integer; ALTER TABLE orders ADD COLUMN quantity pos";
const ARCHIVE: &str = "CREATE SCHEMA archive";
const SERVER_OTHER: &str = "CREATE EXTENSION postgres_fdw; \
     CREATE SERVER other FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db1')";

/// The cluster's roles the cases name. Roles are the cluster's, not a database's: made once,
/// and a case's changes to them are rolled back with the case.
const ROLES: &str = "
DO $$ BEGIN CREATE ROLE app; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE admin; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
";

/// What a case needs beyond the schema, by the case's SQL: the objects it names.
const SETUP: &[(&str, &str)] = &[
    (
        "ALTER TABLE orders ALTER COLUMN g SET EXPRESSION AS (id + 1)",
        GENERATED_G,
    ),
    (
        "ALTER TABLE orders ALTER COLUMN g DROP EXPRESSION",
        GENERATED_G,
    ),
    (
        "ALTER TABLE orders ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY",
        NOT_NULL_ID,
    ),
    (
        "ALTER TABLE orders ALTER COLUMN id DROP IDENTITY",
        "ALTER TABLE orders ALTER COLUMN id SET NOT NULL, \
         ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY",
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES customers (id)",
        COLUMN_C,
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT f FOREIGN KEY (c) REFERENCES customers (id) NOT VALID",
        COLUMN_C,
    ),
    ("ALTER TABLE orders VALIDATE CONSTRAINT f", FOREIGN_KEY_F),
    (
        "ALTER TABLE orders ALTER CONSTRAINT f DEFERRABLE",
        FOREIGN_KEY_F,
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT u UNIQUE USING INDEX orders_note_idx",
        "DROP INDEX orders_note_idx; CREATE UNIQUE INDEX orders_note_idx ON orders (note)",
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT x EXCLUDE USING gist (note WITH =)",
        "CREATE EXTENSION btree_gist",
    ),
    (
        "ALTER TABLE orders DROP CONSTRAINT c",
        "ALTER TABLE orders ADD CONSTRAINT c CHECK (id > 0)",
    ),
    (
        "ALTER TABLE orders SET LOGGED",
        "ALTER TABLE order_items DROP CONSTRAINT order_items_order_id_fkey; \
         ALTER TABLE orders SET UNLOGGED",
    ),
    ("ALTER TABLE orders SET UNLOGGED", UNREFERENCED_ORDERS),
    (
        "ALTER TABLE orders SET ACCESS METHOD heap2",
        "CREATE ACCESS METHOD heap2 TYPE TABLE HANDLER heap_tableam_handler",
    ),
    ("ALTER VIEW v SET (security_barrier = true)", VIEW_V),
    ("ALTER TABLE orders ENABLE TRIGGER t", TRIGGER_T),
    (
        "ALTER TABLE orders ENABLE RULE r",
        "CREATE RULE r AS ON INSERT TO orders DO NOTHING",
    ),
    ("ALTER TABLE orders INHERIT base", BASE),
    (
        "ALTER TABLE orders NO INHERIT base",
        "CREATE TABLE base (id integer); ALTER TABLE orders INHERIT base",
    ),
    ("ALTER TABLE orders OF order_type", ORDER_TYPE),
    (
        "ALTER TABLE orders NOT OF",
        "CREATE TYPE order_type AS (id integer, note character varying(20), \
         customer_id bigint); ALTER TABLE orders OF order_type",
    ),
    ("ALTER TABLE orders SET SCHEMA archive", ARCHIVE),
    (
        "ALTER TABLE m ATTACH PARTITION m_2024 FOR VALUES FROM (1) TO (2)",
        PARTITIONED,
    ),
    (
        "ALTER TABLE m_2024 ADD CONSTRAINT b CHECK (k IS NOT NULL AND k >= 1 AND k < 2) \
         NOT VALID; ALTER TABLE m ATTACH PARTITION m_2024 FOR VALUES FROM (1) TO (2)",
        PARTITIONED,
    ),
    (
        "ALTER TABLE m_2024 ADD CONSTRAINT b CHECK (k IS NOT NULL AND k >= 1 AND k < 2) \
         NOT VALID; ALTER TABLE m_2024 VALIDATE CONSTRAINT b; \
         ALTER TABLE m ATTACH PARTITION m_2024 FOR VALUES FROM (1) TO (2)",
        PARTITIONED,
    ),
    ("ALTER TABLE m DETACH PARTITION m_2020", PARTITIONED),
    (
        "ALTER TABLE m DETACH PARTITION m_2020 CONCURRENTLY",
        PARTITIONED,
    ),
    (
        "ALTER TABLE m DETACH PARTITION m_2020 FINALIZE",
        PARTITIONED,
    ),
    (
        "CREATE TABLE m_2025 PARTITION OF m FOR VALUES FROM (2) TO (3)",
        PARTITIONED,
    ),
    ("DROP TABLE orders", UNREFERENCED_ORDERS),
    ("CREATE OR REPLACE VIEW v AS SELECT 1", VIEW_V),
    ("DROP VIEW v", VIEW_V),
    ("REFRESH MATERIALIZED VIEW mv", MATERIALIZED_MV),
    ("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", MATERIALIZED_MV),
    ("DROP MATERIALIZED VIEW mv", MATERIALIZED_MV),
    ("ALTER TYPE mood ADD VALUE 'c'", MOOD),
    ("ALTER TYPE mood RENAME VALUE 'a' TO 'z'", MOOD),
    (
        "ALTER DOMAIN pos ADD CONSTRAINT p CHECK (VALUE > 0)",
        DOMAIN_POS,
    ),
    (
        "ALTER DOMAIN pos ADD CONSTRAINT p CHECK (VALUE > 0) NOT VALID",
        DOMAIN_POS,
    ),
    ("DROP SCHEMA archive CASCADE", ARCHIVE),
    (
        "CREATE TRIGGER t BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION f()",
        TRIGGER_FUNCTION,
    ),
    ("DROP TRIGGER t ON orders", TRIGGER_T),
    ("DROP TRIGGER t ON public.orders", TRIGGER_T),
    (
        "ALTER POLICY p ON orders USING (true)",
        "CREATE POLICY p ON orders USING (true)",
    ),
    ("TRUNCATE orders", UNREFERENCED_ORDERS),
    (
        "CALL p()",
        "CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT 1 $$",
    ),
    (
        "IMPORT FOREIGN SCHEMA public FROM SERVER other INTO remote",
        "CREATE EXTENSION postgres_fdw; \
         CREATE SERVER other FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'db1'); \
         CREATE SCHEMA remote",
    ),
    ("ALTER SERVER other OPTIONS (SET host 'db2')", SERVER_OTHER),
];

/// Every disagreement between a case and the server, and why it is accepted.
const KNOWN: &[(&str, &str)] = &[
    (
        "ALTER TABLE orders ADD COLUMN a int GENERATED ALWAYS AS (id * 2) VIRTUAL \
         | server error: syntax error at or near \"VIRTUAL\"",
        "needs PostgreSQL 18 (virtual generated columns); older servers reject it",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN g SET EXPRESSION AS (id + 1) \
         | server error: syntax error at or near \"EXPRESSION\"",
        "needs PostgreSQL 17 (ALTER COLUMN … SET EXPRESSION); older servers reject it",
    ),
    (
        "ALTER TABLE orders ADD CONSTRAINT n NOT NULL note NOT VALID \
         | server error: syntax error at or near \"NOT\"",
        "needs PostgreSQL 18 (NOT NULL constraints NOT VALID); older servers reject it",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN nope TYPE text \
         | server error: column \"nope\" of relation \"orders\" does not exist",
        "the case is about a column the snapshot does not know: the claim is the catalog's \
         assumption (a rewrite), which no real column of one type would check",
    ),
    (
        "ALTER TABLE orders SET TABLESPACE fast \
         | server error: tablespace \"fast\" does not exist",
        "a tablespace needs a directory on the server host, which the test cluster does not \
         provide",
    ),
    (
        "ALTER INDEX orders_note_idx SET TABLESPACE fast \
         | server error: tablespace \"fast\" does not exist",
        "as the table's SET TABLESPACE",
    ),
    (
        "ALTER TABLE m DETACH PARTITION m_2020 FINALIZE \
         | server error: cannot complete detaching partition \"m_2020\"",
        "FINALIZE completes a DETACH … CONCURRENTLY that was interrupted, a state the test \
         cannot make inside one database without killing a session mid-statement",
    ),
    (
        "ALTER DATABASE shop REFRESH COLLATION VERSION \
         | server error: database \"shop\" does not exist",
        "the case names a database; the test's databases have generated names, and a \
         database `shop` would be the whole cluster's",
    ),
    (
        "IMPORT FOREIGN SCHEMA public FROM SERVER other INTO remote \
         | server error: user mapping not found for \"postgres\"",
        "the import connects to the foreign server, which the test does not provide",
    ),
    (
        "ALTER TABLE orders ALTER COLUMN id TYPE bigint \
         | lock: server ACCESS EXCLUSIVE on unnamed order_items",
        "a type change of a column that foreign keys reference rebuilds those keys, locking \
         the referencing tables; the catalog does not name them (as the corpus' 018, see \
         `catalog_vs_server`)",
    ),
    (
        "ALTER TABLE orders VALIDATE CONSTRAINT f \
         | lock: server ROW SHARE on unnamed customers",
        "validating a foreign key reads the referenced table with SELECT … FOR KEY SHARE, \
         whose ROW SHARE blocks only EXCLUSIVE and ACCESS EXCLUSIVE; the catalog names the \
         tables its one mode applies to",
    ),
    (
        "ALTER INDEX orders_note_idx RENAME TO n_idx \
         | lock: claimed Some(\"SHARE UPDATE EXCLUSIVE\"), server None",
        "as the next: the lock is on the index",
    ),
    (
        "ALTER INDEX orders_note_idx RENAME TO n_idx | lock: claimed on orders, server none",
        "the SHARE UPDATE EXCLUSIVE is on the index, not on its table; the catalog reports an \
         index's lock under the table's name, the relation a migration's reader knows, and \
         this one blocks neither its reads nor its writes",
    ),
    (
        "ALTER DOMAIN pos ADD CONSTRAINT p CHECK (VALUE > 0) \
         | lock: server SHARE on unnamed orders",
        "the catalog does not resolve which tables have columns of the domain; it claims the \
         scan without naming them (as the corpus' 081)",
    ),
    (
        "TRUNCATE orders | rewrite: claimed false, server true",
        "TRUNCATE gives the table a new, empty file: nothing is copied, so it is reported as \
         destructive, not as a rewrite",
    ),
    (
        "TRUNCATE orders | scan: claimed false, server true",
        "TRUNCATE rebuilds each index on the table's new, empty file, and the server counts \
         that build as a sequential scan, which reads nothing",
    ),
    (
        "TRUNCATE customers CASCADE | rewrite: claimed false, server true",
        "as TRUNCATE orders",
    ),
    (
        "TRUNCATE customers CASCADE | scan: claimed false, server true",
        "as TRUNCATE orders",
    ),
    (
        "ANALYZE orders | scan: claimed true, server false",
        "ANALYZE reads a random sample of the table's blocks (up to 300 × \
         default_statistics_target rows), which the server does not count as a sequential \
         scan; on a large table it is still most of the statement's time",
    ),
    (
        "UPDATE orders SET note = 'x' WHERE id = 1 | scan: claimed true, server false",
        "the plan is the server's: with the unique index on id the WHERE used it; the \
         catalog cannot know the plan and claims a scan",
    ),
    (
        "DELETE FROM orders WHERE id = 1 | scan: claimed true, server false",
        "as the UPDATE with the same WHERE",
    ),
];

fn setup(sql: &str) -> &'static str {
    SETUP
        .iter()
        .find(|(case, _)| *case == sql)
        .map_or("", |(_, setup)| setup)
}

/// The template every case's database is cloned from, checked to hold every table, column,
/// index and constraint of the snapshot the cases are analyzed over.
async fn template() -> String {
    let url = create_database().await;
    let (db, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    let conn = tokio::spawn(conn);
    db.batch_execute(cases::SCHEMA).await.unwrap();
    db.batch_execute(ROLES).await.unwrap();
    let server = introspect::snapshot(&db).await.unwrap();
    for table in &cases::snapshot().tables {
        let real = server
            .tables
            .iter()
            .find(|t| t.name == table.name)
            .unwrap_or_else(|| panic!("cases::SCHEMA has no table {}", table.name));
        for column in &table.columns {
            assert!(
                real.columns
                    .iter()
                    .any(|c| c.name == column.name && c.data_type == column.data_type),
                "cases::SCHEMA: {}.{} {}",
                table.name,
                column.name,
                column.data_type
            );
        }
        for index in &table.indexes {
            assert!(
                real.indexes.iter().any(|i| i.name == index.name),
                "cases::SCHEMA: index {}",
                index.name
            );
        }
        for constraint in &table.constraints {
            assert!(
                real.constraints.iter().any(|c| c.name == constraint.name
                    && c.kind == constraint.kind
                    && c.references == constraint.references),
                "cases::SCHEMA: constraint {}",
                constraint.name
            );
        }
    }
    // A template is copied only when no session is open on it.
    drop(db);
    conn.await.unwrap().unwrap();
    url
}

/// Cases whose effect outlives their rollback: ANALYZE writes the table's statistics in
/// place, and a later case's planner would see an analyzed, empty table (and scan it where it
/// would have used an index).
const OUTLIVES_ROLLBACK: &[&str] = &["ANALYZE orders"];

/// The cases grouped by the setup they need, in the order of each group's first case. The
/// cases of a group share a database: each leaves it as it found it, run in a transaction
/// that is rolled back, or refused in one; a case of [`OUTLIVES_ROLLBACK`] gets one alone.
fn by_setup<'a>(all: &[&'a str]) -> Vec<(&'static str, Vec<&'a str>)> {
    let mut groups: Vec<(&'static str, Vec<&'a str>)> = Vec::new();
    for sql in all {
        let needs = setup(sql);
        let shared = !OUTLIVES_ROLLBACK.contains(sql);
        match groups
            .iter_mut()
            .find(|(s, group)| shared && *s == needs && !OUTLIVES_ROLLBACK.contains(&group[0]))
        {
            Some((_, group)) => group.push(sql),
            None => groups.push((needs, vec![sql])),
        }
    }
    groups
}

/// The disagreements of the cases that need `setup`, as `(case, disagreement)`, in a
/// database of their own.
async fn disagreements(template: &str, setup: &str, group: &[&str]) -> Vec<(String, String)> {
    let url = clone_database(template).await;
    let (db, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    db.batch_execute(setup).await.unwrap();
    let snapshot = cases::snapshot();
    let mut found = Vec::new();
    for sql in group {
        let parsed = autodb_core::sql::parse(sql).unwrap();
        let analysis = autodb_analysis::analyze(&parsed, Some(&snapshot));
        let statements: Vec<String> = parsed.iter().map(|s| s.sql.clone()).collect();
        let observed = run_case(&db, &statements).await;
        for disagreement in compare(analysis.statements.last().unwrap(), &observed) {
            found.push((sql.to_string(), disagreement));
        }
    }
    drop(db);
    drop_database(&url).await;
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_catalog_case_agrees_with_postgresql() {
    let all: Vec<&str> = cases::GROUPS
        .iter()
        .flat_map(|(_, group)| group.iter().map(|(sql, ..)| *sql))
        .collect();
    assert_eq!(all.len(), CASES, "the cases the module doc counts");
    for sql in SETUP.iter().map(|(sql, _)| sql).chain(OUTLIVES_ROLLBACK) {
        assert!(all.contains(sql), "listed but no case: {sql}");
    }
    let template = template().await;
    let mut found: BTreeSet<(String, String)> = BTreeSet::new();
    for (setup, group) in by_setup(&all) {
        found.extend(disagreements(&template, setup, &group).await);
    }
    drop_database(&template).await;
    assert_only_known(&found, KNOWN, server_major().await);
}
