//! The executor reads only what a migration can change: its scoped snapshots give the same
//! diff as full-schema snapshots, and read nothing else, however large the schema.

use autodb::schema::introspect;
use autodb_core::schema::{diff_with_renames, scope_fingerprint};
use serde_json::json;

use crate::helpers::create_database;

const SCHEMA: &str = "
CREATE TABLE customers (id bigint PRIMARY KEY, name text);
CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint REFERENCES customers (id),
                     price numeric);
CREATE TABLE order_items (id bigint PRIMARY KEY, order_id bigint REFERENCES orders (id));
CREATE VIEW customer_names AS SELECT id, name FROM customers;
CREATE TABLE events (id bigint, at date NOT NULL) PARTITION BY RANGE (at);
CREATE TABLE events_2026 PARTITION OF events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE invoices (id bigint PRIMARY KEY);
CREATE SCHEMA archive;
";

/// Varied migrations: renames, cascaded drops, partitions, foreign keys, schema moves.
const MIGRATIONS: &[&str] = &[
    "ALTER TABLE customers ADD COLUMN email text",
    "ALTER TABLE orders RENAME COLUMN price TO amount",
    "ALTER TABLE invoices RENAME TO bills",
    "DROP TABLE customers CASCADE",
    "ALTER TABLE customers DROP COLUMN name CASCADE",
    "ALTER TABLE events ADD COLUMN kind text",
    "CREATE TABLE events_2027 PARTITION OF events FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')",
    "CREATE INDEX events_at ON events (at)",
    "ALTER TABLE invoices ADD COLUMN customer_id bigint REFERENCES customers (id)",
    "ALTER TABLE invoices SET SCHEMA archive",
    "CREATE TABLE fresh (id int PRIMARY KEY, order_id bigint REFERENCES orders (id))",
    "ALTER TABLE orders ALTER COLUMN price TYPE numeric(12, 2), ADD CONSTRAINT price_positive CHECK (price > 0)",
    "DROP TABLE order_items",
];

async fn client(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scoped_snapshots_diff_like_full_ones() {
    for sql in MIGRATIONS {
        let url = create_database().await;
        let mut db = client(&url).await;
        db.batch_execute(SCHEMA).await.unwrap();
        let full_before = introspect::snapshot(&db).await.unwrap();
        let stmts = autodb_core::sql::parse(sql).unwrap();
        let scope = autodb_analysis::scope::scope(&stmts, Some(&full_before));

        let txn = db.transaction().await.unwrap();
        let before = introspect::snapshot_of(&txn, &scope).await.unwrap();
        // The drift fingerprint reads the same from either snapshot.
        assert_eq!(
            scope_fingerprint(&before, &scope),
            scope_fingerprint(&full_before, &scope),
            "{sql}"
        );
        txn.batch_execute(sql).await.unwrap();
        let after = introspect::snapshot_of(&txn, &scope).await.unwrap();
        let full_after = introspect::snapshot(&txn).await.unwrap();
        txn.commit().await.unwrap();

        let renames = autodb_core::sql::renames(&stmts);
        let scoped = diff_with_renames(&before, &after, &renames);
        let full = diff_with_renames(&full_before, &full_after, &renames);
        assert!(!full.is_empty(), "{sql}: the migration changes something");
        assert_eq!(scoped, full, "{sql}\nscope: {scope:?}");
        // Renames read as renames, never as a loss and a gain.
        let shown = serde_json::to_value(&full).unwrap();
        match *sql {
            "ALTER TABLE orders RENAME COLUMN price TO amount" => {
                assert_eq!(
                    shown["columns_renamed"],
                    json!([{"table": "orders", "from": "price", "to": "amount"}])
                );
                assert_eq!(shown["columns_removed"], json!([]));
                assert_eq!(shown["columns_added"], json!([]));
            }
            "ALTER TABLE invoices RENAME TO bills" => {
                assert_eq!(
                    shown["tables_renamed"],
                    json!([{"from": "invoices", "to": "bills"}])
                );
                assert_eq!(shown["tables_removed"], json!([]));
            }
            "ALTER TABLE invoices SET SCHEMA archive" => {
                assert_eq!(
                    shown["tables_renamed"],
                    json!([{"from": "invoices", "to": "archive.invoices"}])
                );
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_snapshot_reads_only_the_scope_however_large_the_schema() {
    let url = create_database().await;
    let db = client(&url).await;
    db.batch_execute(SCHEMA).await.unwrap();
    let unrelated: String = (0..2000)
        .map(|i| format!("CREATE TABLE unrelated_{i} (id int PRIMARY KEY, v text);\n"))
        .collect();
    db.batch_execute(&unrelated).await.unwrap();
    let full = introspect::snapshot(&db).await.unwrap();
    assert!(full.tables.len() > 2000);

    let stmts = autodb_core::sql::parse("ALTER TABLE orders ADD COLUMN note text").unwrap();
    let scope = autodb_analysis::scope::scope(&stmts, Some(&full));
    assert_eq!(scope, ["customers", "order_items", "orders"]);
    let scoped = introspect::snapshot_of(&db, &scope).await.unwrap();
    let mut read: Vec<String> = scoped.tables.iter().map(|t| t.qualified_name()).collect();
    read.sort();
    // The scope, plus the tables whose foreign keys point into it (here none beyond it).
    assert_eq!(read, ["customers", "order_items", "orders"]);
    assert!(scoped.views.is_empty());
    assert!(scoped.enums.is_empty() && scoped.sequences.is_empty());
}

/// Connections to the target are reused across jobs, and a reused connection carries nothing
/// from the job before: not its settings, not its temporary objects, not its advisory lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_reused_with_nothing_left_from_the_previous_job() {
    use crate::helpers::{Backend, TestApp};
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let first = "SET lock_timeout = '1s';
        CREATE TEMP TABLE scratch (id int);
        CREATE TABLE first_job AS SELECT pg_backend_pid() AS pid";
    let id = t.submit(&conn, first).await;
    t.drain().await;
    assert_eq!(t.status(&id).await["status"], "completed");

    let second = "CREATE TABLE second_job AS SELECT pg_backend_pid() AS pid,
        current_setting('lock_timeout') AS lock_timeout,
        (SELECT count(*) FROM pg_class WHERE relname = 'scratch' AND relpersistence = 't') AS temp_tables";
    let id = t.submit(&conn, second).await;
    t.drain().await;
    let status = t.status(&id).await;
    assert_eq!(status["status"], "completed", "{status}");
    // The window is what follows the last statement up to COMMIT, never the statements.
    let window = status["result"]["lock_window_ms"]
        .as_u64()
        .expect("a window");
    let total = status["result"]["execution_time_ms"].as_u64().unwrap();
    assert!(window <= total, "{status}");

    let db = t.db().await;
    let row = db
        .query_one(
            "SELECT f.pid = s.pid, s.lock_timeout, s.temp_tables FROM first_job f, second_job s",
            &[],
        )
        .await
        .unwrap();
    assert!(
        row.get::<_, bool>(0),
        "the second job ran on the first job's connection"
    );
    // The executor's own 2 s (tests' setting), not the 1 s the first migration set.
    assert_eq!(row.get::<_, String>(1), "2s");
    assert_eq!(row.get::<_, i64>(2), 0, "temporary objects were discarded");
    // The idle connection does not hold the advisory lock.
    let held: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid <> pg_backend_pid()
               AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(held, 0);
}

/// A snapshot never waits behind someone else's ACCESS EXCLUSIVE lock: the locked table's
/// size comes from the catalog instead of a size function that would wait for the lock.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_never_waits_on_table_locks() {
    use crate::helpers::{Backend, TestApp};
    let t = TestApp::spawn(Backend::Local).await;
    let db = t.db().await;
    db.batch_execute(
        "CREATE TABLE busy (id int); INSERT INTO busy SELECT generate_series(1, 1000)",
    )
    .await
    .unwrap();
    db.batch_execute("VACUUM ANALYZE busy").await.unwrap();
    let conn = t.connect().await;
    let holder = t.db().await;
    holder
        .batch_execute("BEGIN; LOCK TABLE busy IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let answered = tokio::time::timeout(
        std::time::Duration::from_secs(20),
        t.post(
            &format!("/connections/{conn}/introspect"),
            serde_json::json!({}),
        ),
    )
    .await
    .expect("introspection does not wait for the lock");
    assert_eq!(answered.0, axum::http::StatusCode::OK, "{}", answered.1);
    let (_, schema) = t.get(&format!("/connections/{conn}/schema")).await;
    let busy = schema["data"]["schema"]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "busy")
        .cloned()
        .unwrap();
    assert!(busy["total_bytes"].as_i64().unwrap() > 0, "{busy}");
    holder.batch_execute("ROLLBACK").await.unwrap();
}

/// The lock window (last statement's end → COMMIT acknowledged) leaves out the statements'
/// own time: a migration whose statement sleeps 1.5 s reports an execution time of at least
/// that and a window below it (the window's own work — the scoped after-snapshot, the ledger
/// row, one fencing call, COMMIT — is milliseconds).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_lock_window_leaves_out_the_statements_own_time() {
    use crate::helpers::{Backend, TestApp};
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let id = t
        .submit(
            &conn,
            "CREATE TABLE slow AS SELECT 1 AS one FROM pg_sleep(1.5);",
        )
        .await;
    t.drain().await;
    let status = t.status(&id).await;
    assert_eq!(status["status"], "completed", "{status}");
    let total = status["result"]["execution_time_ms"].as_u64().unwrap();
    let window = status["result"]["lock_window_ms"].as_u64().unwrap();
    assert!(total >= 1500, "{status}");
    assert!(window < 1500, "{status}");
}
