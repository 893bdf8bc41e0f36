//! The lock catalog checked against PostgreSQL itself: every case of the analysis corpus
//! (`crates/analysis/corpus/*.sql`, 95 files) runs on the test server inside a transaction,
//! in a database of its own built from [`FIXTURE`] and the case's [`setup`], and what the
//! analysis claims for the file's last statement is compared with what the server did:
//!
//! - **lock**: the strongest mode the analysis names equals the strongest mode the session
//!   holds (`pg_locks` for its own backend) on the tables it names, every named table is
//!   locked, and no other fixture table is locked beyond ACCESS SHARE;
//! - **rewrite**: the analysis says it rewrites exactly when a table's `relfilenode` changed;
//! - **scan**: it says it scans or rewrites exactly when `pg_stat_xact_user_tables` counts a
//!   sequential scan;
//! - **transaction**: it says the statement runs in a transaction block exactly when the
//!   server accepted it inside `BEGIN`.
//!
//! Every disagreement is listed in [`KNOWN`] with its reason, and the test fails on any
//! other (and on a listed one that no longer occurs), so a catalog change that makes a claim
//! wrong, or right, is seen. Cases that need a newer server than the test cluster's
//! (pg_query parses the PostgreSQL 18 grammar) are listed there too, with the server's error,
//! not skipped; their reason says which release they need ("needs PostgreSQL 17 …"), and on
//! a server of that release or newer the entry no longer applies, so the suite runs on
//! whichever PostgreSQL the distribution installs and judges what that server does.

use std::collections::{BTreeMap, BTreeSet};

use autodb::schema::introspect;
use autodb_analysis::LockMode;

use crate::helpers::{create_database, drop_database};

/// Empty tables: the server scans and rewrites an empty table as it does a full one, and
/// statements that would fail on existing rows (`SET NOT NULL`, a required column) succeed.
const FIXTURE: &str = "
CREATE SCHEMA crm;
CREATE TABLE customers (id bigint PRIMARY KEY, name varchar(100), legacy_code text, mail text);
CREATE TABLE shops (id bigint PRIMARY KEY);
CREATE TABLE orders (id integer PRIMARY KEY, customer_id bigint REFERENCES customers (id),
    total integer, status text, email text NOT NULL, created_at timestamptz, updated_at timestamptz);
CREATE TABLE order_items (id bigint PRIMARY KEY, order_id integer REFERENCES orders (id));
CREATE TABLE order_totals (order_id integer, total integer);
CREATE TABLE documents (id bigint, body text);
CREATE TABLE events (id bigint);
CREATE TABLE users (id bigint, email text);
CREATE TABLE bookings (room_id integer, during tstzrange);
CREATE TABLE import_staging (line text);
CREATE TABLE audit_log (id bigint);
CREATE TABLE sessions (id bigint);
CREATE TABLE measurements (at date, value integer) PARTITION BY RANGE (at);
CREATE TABLE measurements_2020 PARTITION OF measurements FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE measurements_2024 (at date, value integer);
DO $$ BEGIN CREATE ROLE reporting; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
";

/// What a case needs beyond the fixture, by file-name prefix.
fn setup(file: &str) -> &'static str {
    match &file[..3] {
        "021" | "022" => {
            "ALTER TABLE orders ADD COLUMN total_cents bigint GENERATED ALWAYS AS (total * 100) STORED"
        }
        "028" => "ALTER TABLE orders ADD CONSTRAINT orders_total_positive CHECK (total >= 0) NOT VALID",
        "031" => {
            "ALTER TABLE orders ADD CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id) \
             REFERENCES customers (id)"
        }
        "002" => "ALTER TABLE orders DROP COLUMN status",
        "033" => "CREATE UNIQUE INDEX events_id_idx ON events (id)",
        "035" => "CREATE EXTENSION IF NOT EXISTS btree_gist",
        "036" => "ALTER TABLE import_staging SET UNLOGGED",
        "051" | "052" | "053" | "054" | "070" => {
            "CREATE INDEX orders_created_at_idx ON orders (created_at)"
        }
        "061" => "CREATE VIEW recent_orders AS SELECT * FROM orders",
        "063" | "064" | "065" => {
            "CREATE MATERIALIZED VIEW sales_summary AS SELECT customer_id, sum(total) AS total \
             FROM orders GROUP BY customer_id; \
             CREATE UNIQUE INDEX ON sales_summary (customer_id)"
        }
        "071" => "CREATE TYPE order_status AS ENUM ('new')",
        "073" => {
            "CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$"
        }
        "074" => {
            "CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$; \
             CREATE TRIGGER orders_touch BEFORE UPDATE ON orders FOR EACH ROW \
             EXECUTE FUNCTION touch_updated_at()"
        }
        "081" => "CREATE DOMAIN email_address AS text; CREATE TABLE contacts (email email_address)",
        _ => "",
    }
}

/// Every disagreement between the catalog and the server, and why it is accepted.
const KNOWN: &[(&str, &str)] = &[
    (
        "008_add_column_virtual_generated.sql | server error: syntax error at or near \"VIRTUAL\"",
        "needs PostgreSQL 18 (virtual generated columns); older servers reject it",
    ),
    (
        "021_set_expression.sql | server error: syntax error at or near \"EXPRESSION\"",
        "needs PostgreSQL 17 (ALTER COLUMN … SET EXPRESSION); older servers reject it",
    ),
    (
        "038_set_tablespace.sql | server error: tablespace \"fast_ssd\" does not exist",
        "a tablespace needs a directory on the server host, which the test cluster does not \
         provide",
    ),
    (
        "018_alter_type_int_to_bigint.sql | lock: server ACCESS EXCLUSIVE on unnamed order_items",
        "a type change of a column that foreign keys reference rebuilds those keys, locking \
         the referencing tables; the snapshot does not say which column a foreign key \
         references, so the catalog does not name them (the rewrite of orders dominates the \
         score anyway)",
    ),
    (
        "086_rewrite_after_access_exclusive.sql | lock: server ACCESS EXCLUSIVE on unnamed order_items",
        "as 018: the same type change",
    ),
    (
        "066_truncate.sql | rewrite: claimed false, server true",
        "TRUNCATE gives the table a new, empty file: nothing is copied, so it is reported as \
         destructive, not as a rewrite",
    ),
    (
        "067_truncate_cascade.sql | rewrite: claimed false, server true",
        "as 066",
    ),
    (
        "067_truncate_cascade.sql | scan: claimed false, server true",
        "TRUNCATE rebuilds each index on the table's new, empty file, and the server counts \
         that build as a sequential scan, which reads nothing (066's table has no index)",
    ),
    (
        "077_update_with_where.sql | scan: claimed true, server false",
        "the plan is the server's: with the primary key the WHERE used an index; the catalog \
         cannot know the plan and claims a scan for an UPDATE",
    ),
    (
        "081_alter_domain_add_constraint.sql | lock: server SHARE on unnamed contacts",
        "the catalog does not resolve which tables have columns of the domain; it claims the \
         scan without naming them",
    ),
    (
        "088_do_block.sql | lock: server ACCESS EXCLUSIVE on unnamed orders",
        "a DO block's SQL is built at run time: the catalog does not know it and scores it as \
         unknown (at least 50)",
    ),
    (
        "093_set_access_method.sql | rewrite: claimed true, server false",
        "the table already uses heap: PostgreSQL skips a change to the access method it has, \
         which the snapshot does not record",
    ),
    (
        "093_set_access_method.sql | scan: claimed true, server false",
        "as the rewrite above",
    ),
];

/// What the server did with a case's last statement.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// The strongest lock the statement took on each table that existed before it.
    locks: BTreeMap<String, LockMode>,
    /// The modes the transaction held on each table before the statement: one it asks for
    /// again is not listed anew.
    held_before: BTreeMap<String, BTreeSet<LockMode>>,
    rewritten: bool,
    scanned: bool,
    /// The server refused it inside a transaction block (SQLSTATE 25001).
    refused_in_transaction: bool,
    /// Any other error.
    error: Option<String>,
}

fn mode_of(pg: &str) -> Option<LockMode> {
    (1..=8).filter_map(LockMode::from_pg).find(|m| {
        m.name()
            .replace(' ', "")
            .eq_ignore_ascii_case(pg.trim_end_matches("Lock"))
    })
}

const STATE: &str = "SELECT c.oid::text, c.relname, c.relfilenode::text, coalesce(s.seq_scan, 0) \
     FROM pg_class c LEFT JOIN pg_stat_xact_user_tables s ON s.relid = c.oid \
     WHERE c.relnamespace IN (SELECT oid FROM pg_namespace WHERE nspname IN ('public', 'crm')) \
       AND c.relkind IN ('r', 'p', 'm', 'v')";

/// By relation oid: name, relfilenode, sequential scans so far in this transaction.
async fn state(db: &tokio_postgres::Client) -> BTreeMap<String, (String, String, i64)> {
    db.query(STATE, &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
        .collect()
}

/// The relation locks the session holds, as `(oid, mode)`. Locks on a relation dropped in
/// the transaction are still listed by oid.
async fn locks(db: &tokio_postgres::Client) -> BTreeSet<(String, String)> {
    db.query(
        "SELECT relation::text, mode FROM pg_locks \
         WHERE pid = pg_backend_pid() AND locktype = 'relation'",
        &[],
    )
    .await
    .unwrap()
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

pub(crate) async fn run_case(db: &tokio_postgres::Client, statements: &[String]) -> Observed {
    let mut observed = Observed::default();
    db.batch_execute("BEGIN").await.unwrap();
    let (last, before_last) = statements.split_last().unwrap();
    for sql in before_last {
        if let Err(e) = db.batch_execute(sql).await {
            observed.error = Some(format!("an earlier statement failed: {e}"));
            db.batch_execute("ROLLBACK").await.unwrap();
            return observed;
        }
    }
    let before = state(db).await;
    let locks_before = locks(db).await;
    match db.batch_execute(last).await {
        Ok(()) => {
            let after = state(db).await;
            for (oid, (_, node, scans)) in &after {
                if let Some((_, node_before, scans_before)) = before.get(oid) {
                    observed.rewritten |= node != node_before;
                    observed.scanned |= scans > scans_before;
                }
            }
            for (oid, mode) in &locks_before {
                if let (Some((table, _, _)), Some(mode)) = (before.get(oid), mode_of(mode)) {
                    observed
                        .held_before
                        .entry(table.clone())
                        .or_default()
                        .insert(mode);
                }
            }
            // Only what this statement took, on tables that existed before it (by the name
            // they had then: a renamed or dropped table keeps its oid).
            for (oid, mode) in locks(db).await.difference(&locks_before) {
                let (Some((table, _, _)), Some(mode)) = (before.get(oid), mode_of(mode)) else {
                    continue;
                };
                let held = observed.locks.entry(table.clone()).or_insert(mode);
                *held = (*held).max(mode);
            }
        }
        Err(e) if e.code().map(|c| c.code()) == Some("25001") => {
            observed.refused_in_transaction = true;
        }
        Err(e) => {
            observed.error = Some(
                e.as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string()),
            )
        }
    }
    db.batch_execute("ROLLBACK").await.unwrap();
    observed
}

/// The disagreements of one case, each as `aspect: claimed …, server …`.
pub(crate) fn compare(
    report: &autodb_analysis::StatementReport,
    observed: &Observed,
) -> Vec<String> {
    if let Some(error) = &observed.error {
        return vec![format!("server error: {error}")];
    }
    let mut out = Vec::new();
    if report.transactional == observed.refused_in_transaction {
        out.push(format!(
            "transaction: claimed transactional {}, server refused in a block {}",
            report.transactional, observed.refused_in_transaction
        ));
    }
    if observed.refused_in_transaction {
        return out;
    }
    let named: BTreeSet<&str> = report.lock.tables.iter().map(String::as_str).collect();
    let strongest = observed
        .locks
        .iter()
        .filter(|(t, _)| named.contains(t.as_str()))
        .map(|(_, m)| *m)
        .max();
    let held_already = |mode: Option<LockMode>| {
        mode.is_some_and(|m| {
            named
                .iter()
                .any(|t| observed.held_before.get(*t).is_some_and(|h| h.contains(&m)))
        })
    };
    if report.lock.mode != strongest && !named.is_empty() && !held_already(report.lock.mode) {
        out.push(format!(
            "lock: claimed {:?}, server {:?}",
            report.lock.mode.map(LockMode::name),
            strongest.map(LockMode::name)
        ));
    }
    for table in &named {
        if !observed.locks.contains_key(*table) && !observed.held_before.contains_key(*table) {
            out.push(format!("lock: claimed on {table}, server none"));
        }
    }
    for (table, mode) in &observed.locks {
        if *mode > LockMode::AccessShare && !named.contains(table.as_str()) {
            out.push(format!("lock: server {} on unnamed {table}", mode.name()));
        }
    }
    if report.rewrites_table != observed.rewritten {
        out.push(format!(
            "rewrite: claimed {}, server {}",
            report.rewrites_table, observed.rewritten
        ));
    }
    let claims_scan = report.scans_table || report.rewrites_table;
    if claims_scan != observed.scanned {
        out.push(format!(
            "scan: claimed {claims_scan}, server {}",
            observed.scanned
        ));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_agrees_with_postgresql() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("crates/analysis/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 95, "the corpus the module doc counts");
    let mut found: BTreeSet<(String, String)> = BTreeSet::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let sql = std::fs::read_to_string(path).unwrap();
        let url = create_database().await;
        let (db, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        db.batch_execute(FIXTURE).await.unwrap();
        db.batch_execute(setup(&name)).await.unwrap();
        let snapshot = introspect::snapshot(&db).await.unwrap();
        let parsed = autodb_core::sql::parse(&sql).unwrap();
        let analysis = autodb_analysis::analyze(&parsed, Some(&snapshot));
        // Transaction control is the runner's: the case runs in the test's own block.
        let statements: Vec<String> = parsed
            .iter()
            .filter(|s| autodb_core::sql::tx_control(&s.ast).is_none())
            .map(|s| s.sql.clone())
            .collect();
        // The last statement that is not transaction control.
        let report = analysis
            .statements
            .iter()
            .rev()
            .zip(parsed.iter().rev())
            .find(|(_, p)| autodb_core::sql::tx_control(&p.ast).is_none())
            .map(|(r, _)| r)
            .unwrap();
        let observed = run_case(&db, &statements).await;
        for disagreement in compare(report, &observed) {
            found.insert((name.clone(), disagreement));
        }
        drop(db);
        drop_database(&url).await;
    }
    assert_only_known(&found, KNOWN, server_major().await);
}

/// The test server's major release (15 for 15.18).
pub async fn server_major() -> u32 {
    let version: String = crate::helpers::admin()
        .await
        .query_one("SHOW server_version_num", &[])
        .await
        .unwrap()
        .get(0);
    version.parse::<u32>().unwrap() / 10_000
}

/// The release a listed disagreement's reason says the case needs ("needs PostgreSQL 17 …"):
/// on that release or newer the server accepts the case and the entry does not apply.
fn needs_release(why: &str) -> Option<u32> {
    let rest = why.strip_prefix("needs PostgreSQL ")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// Fails on a disagreement `known` does not list, on a listed one that did not occur, and on
/// a listed one without its reason. `known` entries are `"case | disagreement"`; those whose
/// reason names a release newer than `server` (the running server's major release) apply.
pub fn assert_only_known(found: &BTreeSet<(String, String)>, known: &[(&str, &str)], server: u32) {
    let known: BTreeSet<(String, String)> = known
        .iter()
        .filter(|(_, why)| needs_release(why).is_none_or(|needs| server < needs))
        .map(|(case, why)| {
            assert!(
                !why.is_empty(),
                "{case}: every listed disagreement says why"
            );
            let (case, disagreement) = case.split_once(" | ").unwrap();
            (case.to_string(), disagreement.to_string())
        })
        .collect();
    let new: Vec<_> = found.difference(&known).collect();
    let gone: Vec<_> = known.difference(found).collect();
    assert!(
        new.is_empty() && gone.is_empty(),
        "new disagreements: {new:#?}\nlisted but not found: {gone:#?}"
    );
}

#[test]
fn a_listed_case_needs_the_release_its_reason_names() {
    assert_eq!(
        needs_release("needs PostgreSQL 17 (ALTER COLUMN … SET EXPRESSION)"),
        Some(17)
    );
    assert_eq!(
        needs_release("needs PostgreSQL 18; older servers reject it"),
        Some(18)
    );
    assert_eq!(needs_release("a tablespace needs a directory"), None);
}
