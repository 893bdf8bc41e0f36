//! The sandbox on a real PostgreSQL: what it observes (failures with their statement and
//! position, rewrites, locks), the template cache, and that nothing is left behind — after a
//! run, after a cancelled run, and after a crash (the next sweep).
//!
//! Each test gives its sandbox its own name prefix, so tests sharing the cluster never sweep
//! each other's databases.

use std::sync::Arc;

use serde_json::{json, Value};
use tokio_postgres::NoTls;

use crate::helpers::{wait_until, Backend, TestApp};

async fn admin() -> tokio_postgres::Client {
    let url = std::env::var("AUTODB_TEST_PG_URL").expect("AUTODB_TEST_PG_URL");
    let (client, conn) = tokio_postgres::connect(&url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}

/// Databases and roles of `prefix` that are not templates (nor a template's owner role) nor
/// ready copies (nor their roles).
async fn leftovers(prefix: &str) -> Vec<String> {
    admin()
        .await
        .query(
            "SELECT datname::text FROM pg_database WHERE datname LIKE $1 || '\\_%' AND NOT datistemplate
               AND datname NOT LIKE $1 || '\\_rdy\\_%'
             UNION ALL
             SELECT rolname::text FROM pg_roles WHERE rolname LIKE $1 || '\\_%'
               AND rolname NOT LIKE $1 || '\\_tpo\\_%'
               AND rolname NOT LIKE $1 || '\\_rdy\\_%'",
            &[&prefix],
        )
        .await
        .expect("list leftovers")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

/// [`leftovers`] once the runs' databases are dropped: that happens after the answer, in the
/// background (bounded: 10 s).
async fn settled_leftovers(prefix: &str, expected: &[String]) -> Vec<String> {
    let mut left = leftovers(prefix).await;
    for _ in 0..200 {
        if left == expected {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        left = leftovers(prefix).await;
    }
    left
}

async fn setup(t: &TestApp, schema: &str) -> String {
    t.db().await.batch_execute(schema).await.expect("schema");
    t.connect().await
}

async fn analyze(t: &TestApp, conn: &str, body: Value) -> Value {
    let (status, body) = t
        .post(&format!("/connections/{conn}/migrations/analyze"), body)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

const SHOP: &str =
    "CREATE TABLE customers (id serial PRIMARY KEY, email varchar(20) NOT NULL UNIQUE, note text);
     CREATE TYPE status AS ENUM ('new', 'paid');
     CREATE TABLE orders (id int PRIMARY KEY, customer_id int NOT NULL REFERENCES customers,
                          state status NOT NULL, total numeric(8,2) CHECK (total >= 0));";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_required_column_without_default_fails_with_its_statement_index() {
    let t = TestApp::spawn(Backend::Local).await;
    let prefix = t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    let sql = "ALTER TABLE orders ADD COLUMN shipped boolean;\nALTER TABLE orders ADD COLUMN code text NOT NULL;";
    let report = analyze(&t, &conn, json!({"sql": sql})).await;
    let sandbox = &report["sandbox_result"];
    assert_eq!(sandbox["status"], "failed", "{sandbox}");
    assert_eq!(sandbox["passed"], false);
    assert_eq!(sandbox["migration_applied"], false);
    assert_eq!(
        sandbox["migration_error"]["statement_index"], 1,
        "{sandbox}"
    );
    assert_eq!(sandbox["migration_error"]["sqlstate"], "23502", "{sandbox}");
    // The synthetic rows: every table filled, parents before children.
    assert_eq!(sandbox["tables_created"], 2);
    assert_eq!(sandbox["rows_inserted"], 30, "{sandbox}");
    // A failure in the sandbox makes the migration at least high.
    assert!(report["risk_score"].as_u64().unwrap() >= 50, "{report}");
    assert!(report["statements"][1]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "sandbox-observed"));
    assert_eq!(settled_leftovers(&prefix, &[]).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn int_to_bigint_is_seen_rewriting_and_varchar_widening_is_not() {
    let t = TestApp::spawn(Backend::Local).await;
    let prefix = t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    let sql = "ALTER TABLE orders ALTER COLUMN id TYPE bigint;\nALTER TABLE customers ALTER COLUMN email TYPE varchar(40);";
    let report = analyze(&t, &conn, json!({"sql": sql})).await;
    let sandbox = &report["sandbox_result"];
    assert_eq!(sandbox["status"], "passed", "{sandbox}");
    assert_eq!(
        sandbox["statements"][0]["rewritten_tables"],
        json!(["orders"])
    );
    assert_eq!(sandbox["statements"][1]["rewritten_tables"], json!([]));
    let locks = &sandbox["statements"][0]["observed_locks"];
    assert!(locks
        .as_array()
        .unwrap()
        .contains(&json!({"table": "orders", "mode": "ACCESS EXCLUSIVE"})));
    // Both sizes ran: every statement has an estimate.
    for s in sandbox["statements"].as_array().unwrap() {
        assert!(s["estimated_duration_ms"].is_u64(), "{s}");
        assert!(s["estimated_lock_ms"].as_u64() >= s["estimated_duration_ms"].as_u64());
    }
    assert_eq!(settled_leftovers(&prefix, &[]).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plain_create_index_is_seen_holding_share() {
    let t = TestApp::spawn(Backend::Local).await;
    t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    let report = analyze(
        &t,
        &conn,
        json!({"sql": "CREATE INDEX orders_state ON orders (state);"}),
    )
    .await;
    let locks = &report["sandbox_result"]["statements"][0]["observed_locks"];
    assert_eq!(
        locks,
        &json!([{"table": "orders", "mode": "SHARE"}]),
        "{report}"
    );
    assert_eq!(
        report["sandbox_result"]["statements"][0]["rewritten_tables"],
        json!([])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_syntax_error_of_the_server_is_reported_with_its_position() {
    let t = TestApp::spawn(Backend::Local).await;
    t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    // PostgreSQL 17 syntax: autodb's parser (PG 18 grammar) accepts it, the 15 server not.
    let sql = "ALTER TABLE orders ADD COLUMN a int;\nALTER TABLE orders ALTER COLUMN a SET EXPRESSION AS (id + 1);";
    let report = analyze(&t, &conn, json!({"sql": sql})).await;
    let error = &report["sandbox_result"]["migration_error"];
    assert_eq!(error["statement_index"], 1, "{report}");
    assert_eq!(error["sqlstate"], "42601");
    assert_eq!(error["line"], 2);
    let position = error["position"].as_u64().unwrap() as usize;
    assert!(
        sql[position - 1..].starts_with("EXPRESSION"),
        "position {position} points at {:?}",
        &sql[position - 1..]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warm_clone_comes_from_the_template_cache() {
    let t = TestApp::spawn(Backend::Local).await;
    let prefix = t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    let body = json!({"sql": "ALTER TABLE orders ADD COLUMN shipped boolean;",
                      "validation_queries": ["SELECT count(*) = 15 FROM orders",
                                             "SELECT count(*) = 0 FROM orders",
                                             "SELECT no_such_column FROM orders"]});
    let cold = analyze(&t, &conn, body.clone()).await["sandbox_result"].clone();
    // After the run, copies of the template are made ahead for the next runs.
    let ready = format!(
        "SELECT count(*) FROM (SELECT 1 WHERE (SELECT count(*) FROM pg_database
             WHERE datname LIKE '{prefix}\\_rdy\\_%') = 2) x"
    );
    assert!(
        wait_until(&admin().await, &ready).await,
        "no ready copies made"
    );
    let warm = analyze(&t, &conn, body).await["sandbox_result"].clone();
    assert_eq!(cold["cached_clone"], false, "{cold}");
    assert_eq!(warm["cached_clone"], true, "{warm}");
    assert_eq!(warm["tables_created"], cold["tables_created"]);
    assert_eq!(warm["rows_inserted"], cold["rows_inserted"]);
    let verdicts: Vec<&Value> = warm["validation_results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["passed"])
        .collect();
    assert_eq!(
        verdicts,
        [&json!(true), &json!(false), &json!(false)],
        "{warm}"
    );
    assert_eq!(warm["passed"], false, "a failed validation fails the run");
    assert_eq!(warm["status"], "passed", "the migration itself applied");
    let templates: i64 = admin()
        .await
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE $1 || '\\_tpl\\_%' AND datistemplate",
            &[&prefix],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(templates, 1);
    assert_eq!(settled_leftovers(&prefix, &[]).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_migration_runs_without_the_server_accounts_privileges() {
    let t = TestApp::spawn(Backend::Local).await;
    t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    let marker = std::env::temp_dir().join(format!("autodb-{}", uuid::Uuid::new_v4().simple()));
    let sql = format!(
        "CREATE TABLE log (line text);\nCOPY log FROM PROGRAM 'touch {}';",
        marker.display()
    );
    let report = analyze(&t, &conn, json!({"sql": sql})).await;
    let error = &report["sandbox_result"]["migration_error"];
    assert_eq!(error["sqlstate"], "42501", "{report}");
    assert!(!marker.exists(), "the program ran on the sandbox server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_leaves_nothing_behind() {
    let t = Arc::new(TestApp::spawn(Backend::Local).await);
    let prefix = t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    let run = tokio::spawn({
        let t = Arc::clone(&t);
        async move {
            t.post(
                &format!("/connections/{conn}/migrations/sandbox"),
                json!({"sql": "SELECT pg_sleep(60);"}),
            )
            .await
        }
    });
    let admin = admin().await;
    let probe = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '{prefix}\\_%' \
         AND query LIKE 'SELECT pg_sleep%' AND state = 'active'"
    );
    assert!(wait_until(&admin, &probe).await, "the run never started");
    run.abort();
    let gone = format!(
        "SELECT count(*) FROM (SELECT 1 WHERE NOT EXISTS (
             SELECT 1 FROM pg_database WHERE datname LIKE '{prefix}\\_%' AND NOT datistemplate
                AND datname NOT LIKE '{prefix}\\_rdy\\_%')) x"
    );
    assert!(
        wait_until(&admin, &gone).await,
        "{:?}",
        leftovers(&prefix).await
    );
    let roles = format!(
        "SELECT count(*) FROM (SELECT 1 WHERE NOT EXISTS (
             SELECT 1 FROM pg_roles WHERE rolname LIKE '{prefix}\\_%'
                AND rolname NOT LIKE '{prefix}\\_tpo\\_%')) x"
    );
    assert!(
        wait_until(&admin, &roles).await,
        "{:?}",
        leftovers(&prefix).await
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_crash_left_behind_is_swept_by_the_next_process() {
    let t = TestApp::spawn(Backend::Local).await;
    let prefix = t.with_sandbox();
    let conn = setup(&t, SHOP).await;
    // A crashed run: its database and role, named an hour before the test clock's now.
    let then = t.app.clock.now().timestamp() - 3600;
    let name = format!("{prefix}_{then}_0badc0de");
    let recent = format!("{prefix}_{}_0000beef", t.app.clock.now().timestamp());
    let admin = admin().await;
    for n in [&name, &recent] {
        admin
            .batch_execute(&format!("CREATE ROLE {n}"))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {n} OWNER {n}"))
            .await
            .unwrap();
    }
    let (status, body) = t
        .post(
            &format!("/connections/{conn}/migrations/sandbox"),
            json!({"sql": "ALTER TABLE orders ADD COLUMN shipped boolean;"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "passed", "{body}");
    // The stale one is gone; one that may belong to a run in progress elsewhere is kept.
    let expected = vec![recent.clone(), recent.clone()];
    assert_eq!(settled_leftovers(&prefix, &expected).await, expected);
    admin
        .batch_execute(&format!("DROP DATABASE {recent}"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("DROP ROLE {recent}"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_left_behind_later_is_swept_by_a_later_run_not_only_the_first() {
    let t = TestApp::spawn(Backend::Local).await;
    let prefix = t.with_sandbox_settings(|s| s.sweep_interval_seconds = 0);
    let conn = setup(&t, SHOP).await;
    let sql = json!({"sql": "ALTER TABLE orders ADD COLUMN shipped boolean;"});
    let path = format!("/connections/{conn}/migrations/sandbox");
    let (status, body) = t.post(&path, sql.clone()).await;
    assert_eq!(status, 200, "{body}");
    // After the process's first sweep, a run elsewhere crashed (an hour ago, by its name).
    let then = t.app.clock.now().timestamp() - 3600;
    let name = format!("{prefix}_{then}_0badc0de");
    let admin = admin().await;
    admin
        .batch_execute(&format!("CREATE ROLE {name}"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name} OWNER {name}"))
        .await
        .unwrap();
    let (status, body) = t.post(&path, sql).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "passed", "{body}");
    // The next run's sweep (in the background) removes it.
    assert_eq!(settled_leftovers(&prefix, &[]).await, Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_server_or_when_turned_off_the_sandbox_is_skipped_never_passed() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let conn = setup(&t, SHOP).await;
        let sql = json!({"sql": "ALTER TABLE orders ADD COLUMN shipped boolean;"});
        let report = analyze(&t, &conn, sql.clone()).await;
        assert_eq!(report["sandbox_result"]["status"], "skipped");
        assert_eq!(report["sandbox_result"]["passed"], false);
        assert!(report["sandbox_result"]["reason"]
            .as_str()
            .unwrap()
            .contains("no sandbox server"));
        t.with_sandbox();
        let (status, body) = t
            .post(
                &format!("/connections/{conn}/migrations/analyze?sandbox=false"),
                sql.clone(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        assert!(body["data"]["sandbox_result"]["reason"]
            .as_str()
            .unwrap()
            .contains("sandbox=false"));
        let (status, body) = t
            .post(
                &format!("/connections/{conn}/migrations/analyze?sandbox=maybe"),
                sql.clone(),
            )
            .await;
        assert_eq!(status, 422, "{body}");
        let (status, body) = t
            .post(
                &format!("/connections/{conn}/migrations/sandbox"),
                json!({"sql": "SELECT 1;", "rows_per_table": 0}),
            )
            .await;
        assert_eq!(status, 422, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagila_is_cloned_filled_and_migrated_in_the_sandbox() {
    let t = TestApp::spawn(Backend::Local).await;
    t.with_sandbox();
    let pagila = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pagila.sql"
    ))
    .expect("tests/fixtures/pagila.sql");
    let conn = setup(&t, &pagila).await;
    let sql = "ALTER TABLE film ADD COLUMN subtitle text;\nCREATE INDEX film_subtitle ON film (subtitle);";
    let report = analyze(&t, &conn, json!({"sql": sql})).await;
    let sandbox = &report["sandbox_result"];
    assert_eq!(sandbox["status"], "passed", "{sandbox}");
    // Every table of pagila (partitions fill through their parent) holds rows: foreign keys
    // were followed parents first.
    assert!(
        sandbox["tables_created"].as_u64().unwrap() >= 15,
        "{sandbox}"
    );
    assert!(
        sandbox["rows_inserted"].as_u64().unwrap() >= 15 * 10,
        "{sandbox}"
    );
    assert!(sandbox["statements"][0]["observed_locks"]
        .as_array()
        .unwrap()
        .contains(&json!({"table": "film", "mode": "ACCESS EXCLUSIVE"})));
    // The index build's SHARE is weaker than what the transaction already holds on `film`:
    // nothing new is taken.
    assert_eq!(sandbox["statements"][1]["observed_locks"], json!([]));
}

/// Rows a table refuses in bulk (a check constraint that objects to every third row) go in
/// one by one instead: the rows it accepts are there, those it refuses are skipped, and the
/// fill goes on to the next table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_a_table_refuses_in_bulk_go_in_one_by_one() {
    let url = crate::helpers::create_database().await;
    let (db, conn) = tokio_postgres::connect(&url, NoTls).await.unwrap();
    tokio::spawn(conn);
    db.batch_execute(
        "CREATE TABLE picky (id int PRIMARY KEY CHECK (id % 3 <> 0), note text);
         CREATE TABLE easy (id int PRIMARY KEY, note text);",
    )
    .await
    .unwrap();
    let filled = autodb::sandbox::rows::fill(&db, 1, 12, None)
        .await
        .expect("fill");
    assert_eq!(filled.tables, 2, "{filled:?}");
    let count = |sql: &'static str| {
        let db = &db;
        async move { db.query_one(sql, &[]).await.unwrap().get::<_, i64>(0) }
    };
    // Rows 3, 6, 9 and 12 are refused; the other eight went in one by one.
    assert_eq!(count("SELECT count(*) FROM picky").await, 8);
    assert_eq!(
        count("SELECT count(*) FROM picky WHERE id % 3 = 0").await,
        0
    );
    assert_eq!(count("SELECT count(*) FROM easy").await, 12);
    assert_eq!(filled.rows, 20, "{filled:?}");
}
