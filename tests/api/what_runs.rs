//! What runs is exactly what was approved: statement boundaries, the executor's protections,
//! atomicity as written. On a real PostgreSQL, the analysis and the database must agree on
//! what happened.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::helpers::{self, create_database, Backend, TestApp};
use autodb::executor::Outcome;

async fn table_exists(t: &TestApp, name: &str) -> bool {
    t.count(&format!(
        "SELECT count(*) FROM pg_class WHERE relname = '{name}' AND relkind IN ('r', 'p')"
    ))
    .await
        > 0
}

/// Approves, executes and drains `sql`; returns the final status object.
async fn run(t: &TestApp, conn: &str, sql: &str) -> Value {
    let id = t.submit(conn, sql).await;
    t.drain().await;
    t.status(&id).await
}

/// Each shape that once made a hand-written splitter disagree with PostgreSQL. For each, the
/// operations the analysis reports, and whether `victim` survives the execution.
const SHAPES: &[(&str, &[&str], bool)] = &[
    // Block comments nest: the DROP is inside the comment.
    (
        "/* a /* b */ DROP TABLE victim; -- */\nCREATE TABLE created (id int);",
        &["CREATE TABLE"],
        true,
    ),
    // `--` ends at `\r`: the DROP is a statement, analyzed and run.
    (
        "-- harmless\rDROP TABLE victim;\nCREATE TABLE created (id int);",
        &["DROP TABLE", "CREATE TABLE"],
        false,
    ),
    (
        "CREATE TABLE created (id int); /* open /* nested */ still comment */ DROP TABLE victim;",
        &["CREATE TABLE", "DROP TABLE"],
        false,
    ),
    (
        "CREATE TABLE created (\"a;--\" text DEFAULT $x$; DROP TABLE victim; $x$);",
        &["CREATE TABLE"],
        true,
    ),
    (
        "CREATE TABLE created (id int DEFAULT 1) /* ; DROP TABLE victim; */;\r\n-- DROP TABLE victim;",
        &["CREATE TABLE"],
        true,
    ),
    (
        "CREATE TABLE created (s text DEFAULT E'\\'; DROP TABLE victim; --');",
        &["CREATE TABLE"],
        true,
    ),
    (
        "/*/**/*/CREATE TABLE created (id int);--\rDROP TABLE victim",
        &["CREATE TABLE", "DROP TABLE"],
        false,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smuggling_shapes_run_exactly_as_analyzed() {
    for (sql, operations, survives) in SHAPES {
        let t = TestApp::spawn(Backend::Local).await;
        t.db()
            .await
            .batch_execute("CREATE TABLE victim (id int); INSERT INTO victim VALUES (1)")
            .await
            .unwrap();
        let conn = t.connect().await;
        let (status, report) = t.analyze(&conn, sql).await;
        assert_eq!(status, StatusCode::OK, "{sql:?}: {report}");
        assert_eq!(&helpers::operations(&report), operations, "{sql:?}");
        let status = run(&t, &conn, sql).await;
        assert_eq!(status["status"], "completed", "{sql:?}: {status}");
        assert_eq!(
            status["result"]["statements_executed"],
            operations.len(),
            "{sql:?}"
        );
        assert_eq!(table_exists(&t, "victim").await, *survives, "{sql:?}");
        assert!(table_exists(&t, "created").await, "{sql:?}");
    }
}

/// For every statement form PostgreSQL refuses inside a transaction block, and their
/// transactional neighbours, the executor's grouping agrees with the server: each is run
/// inside `BEGIN` on the test cluster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transaction_grouping_agrees_with_the_server() {
    let url = create_database().await;
    let db = url.rsplit('/').next().unwrap().to_string();
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE t (a int); CREATE INDEX i ON t (a); CLUSTER t USING i;
             CREATE TYPE e AS ENUM ('a');
             CREATE TABLE p (a int) PARTITION BY RANGE (a);
             CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (10);
             CREATE MATERIALIZED VIEW mv AS SELECT 1 AS x; CREATE UNIQUE INDEX ON mv (x);",
        )
        .await
        .unwrap();
    let forms = [
        "CREATE INDEX CONCURRENTLY i2 ON t (a)",
        "CREATE INDEX i3 ON t (a)",
        "DROP INDEX CONCURRENTLY i",
        "DROP INDEX i",
        "REINDEX TABLE CONCURRENTLY t",
        "REINDEX INDEX CONCURRENTLY i",
        "REINDEX (CONCURRENTLY) INDEX i",
        "REINDEX TABLE t",
        "REINDEX INDEX i",
        "REINDEX SCHEMA public",
        "REINDEX SCHEMA CONCURRENTLY public",
        &format!("REINDEX DATABASE {db}"),
        &format!("REINDEX SYSTEM {db}"),
        "VACUUM t",
        "VACUUM (ANALYZE) t",
        "VACUUM FULL t",
        "ANALYZE t",
        "CLUSTER",
        "CLUSTER t",
        "CLUSTER t USING i",
        "CREATE DATABASE never_created",
        "DROP DATABASE IF EXISTS never_created",
        &format!("ALTER DATABASE {db} SET TABLESPACE pg_default"),
        &format!("ALTER DATABASE {db} SET work_mem = '8MB'"),
        "ALTER SYSTEM SET work_mem = '8MB'",
        "CREATE TABLESPACE never_created LOCATION '/nonexistent'",
        "DROP TABLESPACE IF EXISTS never_created",
        "DISCARD ALL",
        "DISCARD PLANS",
        "COMMIT PREPARED 'never'",
        "ALTER TABLE p DETACH PARTITION p1 CONCURRENTLY",
        "ALTER TABLE p DETACH PARTITION p1",
        "ALTER TYPE e ADD VALUE 'b'",
        "REFRESH MATERIALIZED VIEW CONCURRENTLY mv",
        "REFRESH MATERIALIZED VIEW mv",
    ];
    for sql in forms {
        let parsed = autodb_core::sql::parse(sql).unwrap();
        let ours = autodb_core::sql::is_transactional(&parsed[0].ast);
        client.batch_execute("BEGIN").await.unwrap();
        let result = client.batch_execute(sql).await;
        client.batch_execute("ROLLBACK").await.unwrap();
        let servers = match &result {
            Err(e) => e.code() != Some(&tokio_postgres::error::SqlState::ACTIVE_SQL_TRANSACTION),
            Ok(()) => true,
        };
        assert_eq!(ours, servers, "{sql}: {result:?}");
    }
    assert!(forms.len() >= 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statements_that_take_away_protections_are_refused_at_analyze() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    for (sql, index) in [
        ("CREATE TABLE a (id int);\nRESET ALL;", 1),
        ("SET lock_timeout = 0; CREATE TABLE a (id int)", 0),
        ("SET statement_timeout = '2h'", 0),
        ("SELECT pg_advisory_unlock_all()", 0),
        ("CREATE TABLE a (id int); SET ROLE nobody", 1),
        ("SET SESSION AUTHORIZATION nobody", 0),
        ("SELECT set_config('lock_timeout', '0', false)", 0),
        ("DISCARD ALL", 0),
        ("SET search_path = elsewhere", 0),
    ] {
        let (status, body) = t.analyze(&conn, sql).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{sql}: {body}");
        assert_eq!(body["error"]["code"], "MIGRATION_REFUSED", "{sql}");
        let refused = &body["error"]["details"]["refused"][0];
        assert_eq!(refused["statement_index"], index, "{sql}");
        assert!(!refused["reason"].as_str().unwrap().is_empty());
        assert!(body["data"].is_null(), "no token for a refused migration");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stricter_timeout_is_kept_and_runs() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    // The tests' executor runs with lock_timeout = 2 s.
    let status = run(
        &t,
        &conn,
        "SET lock_timeout = '1s'; CREATE TABLE kept (id int)",
    )
    .await;
    assert_eq!(status["status"], "completed", "{status}");
    assert!(table_exists(&t, "kept").await);
}

/// What no static check sees — dynamic SQL in a `DO` block — is caught after the statement:
/// the migration fails and its transaction is rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protections_removed_at_run_time_stop_the_migration() {
    for (body, what) in [
        ("EXECUTE 'RESET ALL'", "lock_timeout"),
        ("EXECUTE 'SET lock_timeout = 0'", "lock_timeout"),
        ("PERFORM pg_advisory_unlock_all()", "advisory lock"),
        ("EXECUTE 'SET search_path = pg_catalog'", "search_path"),
        ("EXECUTE 'SET statement_timeout = 0'", "statement_timeout"),
        (
            "EXECUTE 'SET statement_timeout = 3600000'",
            "statement_timeout",
        ),
        ("EXECUTE 'SET ROLE pg_monitor'", "the role changed"),
        (
            "EXECUTE 'SET idle_in_transaction_session_timeout = 0'",
            "idle_in_transaction_session_timeout",
        ),
        (
            "EXECUTE 'SET application_name = ''psql'''",
            "application_name",
        ),
        (
            "EXECUTE 'SET client_connection_check_interval = 0'",
            "client_connection_check_interval",
        ),
        (
            "EXECUTE 'SET standard_conforming_strings = off'",
            "standard_conforming_strings",
        ),
        (
            "EXECUTE 'SET transform_null_equals = on'",
            "transform_null_equals",
        ),
        ("EXECUTE 'SET backslash_quote = on'", "backslash_quote"),
        (
            "EXECUTE 'SET client_encoding = ''LATIN1'''",
            "client_encoding",
        ),
        (
            "EXECUTE 'SET search_path = public, \"$user\"'",
            "search_path",
        ),
    ] {
        let t = TestApp::spawn(Backend::Local).await;
        let conn = t.connect().await;
        let sql = format!("CREATE TABLE before_do (id int);\nDO $$ BEGIN {body}; END $$;");
        let status = run(&t, &conn, &sql).await;
        assert_eq!(status["status"], "failed", "{sql}: {status}");
        assert_eq!(status["error"]["code"], "PROTECTION_VIOLATED", "{sql}");
        assert_eq!(status["error"]["statement_index"], 1, "{sql}");
        let message = status["error"]["message"].as_str().unwrap();
        assert!(message.contains(what), "{sql}: {message}");
        assert!(!table_exists(&t, "before_do").await, "{sql}: rolled back");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrapped_migration_is_all_or_nothing_or_refused() {
    let t = TestApp::spawn(Backend::Local).await;
    t.db()
        .await
        .batch_execute("CREATE TABLE t (a int)")
        .await
        .unwrap();
    let conn = t.connect().await;
    let wrapped =
        "BEGIN;\nALTER TABLE t ADD c int;\nCREATE INDEX CONCURRENTLY t_c ON t (c);\nCOMMIT;";
    let (status, body) = t.analyze(&conn, wrapped).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "MIGRATION_REFUSED");
    let refused = &body["error"]["details"]["refused"][0];
    assert_eq!(refused["statement_index"], 2);
    assert!(refused["safe_alternative"]
        .as_str()
        .unwrap()
        .contains("two migrations"));

    // Unwrapped, the split is shown before approval.
    let split = "ALTER TABLE t ADD c int;\nCREATE INDEX CONCURRENTLY t_c ON t (c);";
    let (status, body) = t.analyze(&conn, split).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["data"]["atomic"], false);
    assert_eq!(
        body["data"]["transactions"],
        json!([
            {"statements": [0], "transactional": true},
            {"statements": [1], "transactional": false}
        ])
    );

    // A wrapped migration whose last statement fails leaves nothing applied.
    let failing = "BEGIN; ALTER TABLE t ADD d int; ALTER TABLE t ADD d int; COMMIT;";
    let (_, body) = t.analyze(&conn, failing).await;
    assert_eq!(body["data"]["atomic"], true, "{body}");
    let id = t.submit(&conn, failing).await;
    assert_eq!(t.drain().await, vec![Outcome::Failed]);
    let status = t.status(&id).await;
    assert_eq!(status["error"]["statement_index"], 2, "{status}");
    assert_eq!(
        t.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 't' AND column_name = 'd'")
            .await,
        0
    );
}

/// One database registered twice (here once by address and once by host name) is still one
/// database: its registrations share one migration lock, in the store and in PostgreSQL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_registrations_of_one_database_share_one_lock() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let first = t.connect().await;
        let (status, body) = t
            .post(
                "/connections",
                json!({
                    "name": "same database, another name",
                    "db_type": "postgresql",
                    "connection_string": t.db_url.replace("127.0.0.1", "localhost"),
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let second = body["data"]["id"].as_str().unwrap().to_string();
        assert_ne!(first, second);

        let one = "CREATE TABLE one (id int)";
        let running = t.submit(&first, one).await;
        let two = "CREATE TABLE two (id int)";
        let token = t.approve(&second, two).await;
        let (status, body) = t.execute(&token, two, &second).await;
        assert_eq!(status, StatusCode::CONFLICT, "{backend:?}: {body}");
        assert_eq!(body["error"]["code"], "MIGRATION_IN_PROGRESS");

        assert_eq!(t.drain().await, vec![Outcome::Completed]);
        assert_eq!(t.status(&running).await["status"], "completed");
        // Nothing was consumed by the 409: the same token runs now.
        let (status, body) = t.execute(&token, two, &second).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{backend:?}: {body}");
        assert_eq!(t.drain().await, vec![Outcome::Completed]);
        assert!(table_exists(&t, "two").await);
    }
}

async fn approve_change_execute(t: &TestApp, conn: &str, sql: &str, meanwhile: &str) -> Value {
    t.approve_change_execute(conn, sql, meanwhile).await
}

const DRIFT_SCHEMA: &str = "CREATE TABLE users (id int PRIMARY KEY);
    CREATE TABLE invoices (id int PRIMARY KEY);
    CREATE TABLE audit (id int);";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_drift_in_the_scope_stops_the_migration_before_anything_is_applied() {
    for backend in [Backend::Local, Backend::Aws] {
        let cases: [(&str, &str, &str); 4] = [
            (
                "ALTER TABLE users ADD COLUMN email text",
                "ALTER TABLE users ADD COLUMN sneaky int",
                "column `sneaky` added",
            ),
            (
                "ALTER TABLE users ADD COLUMN email text",
                "ALTER TABLE audit ADD COLUMN user_id int REFERENCES users (id)",
                "foreign keys pointing at it changed",
            ),
            (
                "CREATE TABLE fresh (id int); ALTER TABLE users ADD COLUMN email text",
                "CREATE TABLE fresh (other text)",
                "`fresh` now exists",
            ),
            (
                "ALTER TABLE users ADD COLUMN email text",
                "DROP TABLE users; CREATE TABLE users (id bigint PRIMARY KEY)",
                "column `id` altered",
            ),
        ];
        for (sql, meanwhile, what) in cases {
            let t = TestApp::spawn(backend).await;
            t.db().await.batch_execute(DRIFT_SCHEMA).await.unwrap();
            let conn = t.connect().await;
            let status = approve_change_execute(&t, &conn, sql, meanwhile).await;
            assert_eq!(
                status["status"], "failed",
                "{backend:?} {meanwhile}: {status}"
            );
            assert_eq!(status["error"]["code"], "SCHEMA_DRIFT");
            let message = status["error"]["message"].as_str().unwrap();
            assert!(message.contains(what), "{meanwhile}: {message}");
            assert!(message.contains("nothing was applied"), "{message}");
            assert_eq!(
                t.count(
                    "SELECT count(*) FROM information_schema.columns WHERE column_name = 'email'"
                )
                .await,
                0,
                "{meanwhile}: nothing applied"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_outside_the_scope_do_not_block() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        t.db().await.batch_execute(DRIFT_SCHEMA).await.unwrap();
        let conn = t.connect().await;
        let (_, report) = t
            .analyze(&conn, "ALTER TABLE users ADD COLUMN email text")
            .await;
        assert_eq!(report["data"]["drift_scope"], json!(["users"]), "{report}");
        let status = approve_change_execute(
            &t,
            &conn,
            "ALTER TABLE users ADD COLUMN email text",
            "ALTER TABLE invoices ADD COLUMN total numeric; CREATE TABLE unrelated (id int); \
             CREATE INDEX ON audit (id)",
        )
        .await;
        assert_eq!(status["status"], "completed", "{backend:?}: {status}");
        assert_eq!(status["result"]["columns_added"][0]["column"], "email");
    }
}

/// A deferred constraint that fails at COMMIT: the server refuses the COMMIT, so nothing was
/// applied, and the request says COMMIT_FAILED with the server's SQLSTATE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_constraint_that_fails_at_commit_applies_nothing() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let sql = "CREATE TABLE parents (id int PRIMARY KEY);
CREATE TABLE children (parent_id int REFERENCES parents DEFERRABLE INITIALLY DEFERRED);
INSERT INTO children VALUES (1);";
    let status = run(&t, &conn, sql).await;
    assert_eq!(status["status"], "failed", "{status}");
    assert_eq!(status["error"]["code"], "COMMIT_FAILED", "{status}");
    assert_eq!(status["error"]["sqlstate"], "23503", "{status}");
    assert!(!table_exists(&t, "parents").await);
    assert!(!table_exists(&t, "children").await);
    assert_eq!(
        t.count("SELECT count(*) FROM autodb.migration_ledger")
            .await,
        0
    );
}

/// A statement that cannot run in a transaction, running code that tries to lift a timeout
/// for the session: `CREATE INDEX CONCURRENTLY` over a function that lies about being
/// immutable and calls `set_config('statement_timeout', '0', false)` for every row. PostgreSQL
/// evaluates index expressions in a nested settings level it reverts (as it does for ANALYZE
/// and REINDEX), so the session keeps its protections: the guard, which reads them back after
/// the statement, lets the migration go on, and it completes. (Were the setting kept, the
/// guard would end it: `session::violation` is unit-tested for that case.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_expression_cannot_lift_a_timeout_for_the_session() {
    let t = TestApp::spawn(Backend::Local).await;
    t.db()
        .await
        .batch_execute(
            "CREATE FUNCTION public.lifts(i int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS
               $$ BEGIN PERFORM pg_catalog.set_config('statement_timeout', '0', false); RETURN i; END $$;
             CREATE TABLE public.items (id int);
             INSERT INTO public.items VALUES (1), (2);",
        )
        .await
        .unwrap();
    let conn = t.connect().await;
    let sql = "CREATE TABLE public.first (id int);
CREATE INDEX CONCURRENTLY items_lifts ON public.items (public.lifts(id));
CREATE TABLE public.after (id int);";
    let status = run(&t, &conn, sql).await;
    assert_eq!(status["status"], "completed", "{status}");
    assert!(table_exists(&t, "after").await);
    assert_eq!(
        t.count("SELECT count(*) FROM pg_index WHERE indexrelid = 'public.items_lifts'::regclass AND indisvalid")
            .await,
        1,
        "the index was built, its expression evaluated"
    );
}

/// A request the API would never have created (its SQL refused at analyze), written straight
/// into the store as an attacker with write access to it could, reaches the executor: the
/// executor's own checks refuse it, and the database is left as it was.
async fn forged(t: &TestApp, conn: &str, sql: &str) -> Value {
    use autodb::domain::{Binding, ConnectionId, MigrationRequest, RequestId, Sql};
    use autodb::ports::BeginExecution;
    let connection = autodb::app::connections::get(&t.app, conn).await.unwrap();
    let now = t.app.clock.now();
    let mut request = MigrationRequest::new(
        RequestId::generate(),
        ConnectionId::parse(conn).unwrap(),
        &Sql::parse(sql.into()).unwrap(),
        now,
    );
    request.binding = Some(Binding {
        search_path: vec!["public".into()],
        ..Default::default()
    });
    let nonce = format!("forged-{}", request.request_id);
    let begun = t
        .app
        .store
        .begin_execution(&BeginExecution {
            request: &request,
            lock_key: &connection.lock_key(),
            nonce: &nonce,
            nonce_keep_until: now + chrono::Duration::hours(1),
            lock_until: now + chrono::Duration::hours(1),
            now,
        })
        .await
        .unwrap();
    assert_eq!(begun, autodb::ports::BeginOutcome::Created);
    let outcome = autodb::executor::run_job(&t.app.executor(), &request.request_id)
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Failed);
    t.status(request.request_id.as_str()).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_api_would_refuse_are_refused_by_the_executor_too() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let ledger_rows = "SELECT count(*) FROM pg_class WHERE relname = 'migration_ledger' \
                       AND relnamespace = 'autodb'::regnamespace";

    // Nothing to run: only a comment.
    let status = forged(&t, &conn, "-- nothing to see here").await;
    assert_eq!(status["error"]["code"], "EMPTY_MIGRATION", "{status}");
    assert_eq!(status["status"], "failed");

    // Transaction control that breaks the one shape autodb runs (BEGIN first, COMMIT last):
    // the executor's refusals include the transaction plan, so it is refused before a plan is
    // made (`TRANSACTION_CONTROL` is left for a plan they would miss), at its statement.
    let status = forged(
        &t,
        &conn,
        "CREATE TABLE forged_before (id int); COMMIT; CREATE TABLE forged_after (id int)",
    )
    .await;
    assert_eq!(status["error"]["code"], "MIGRATION_REFUSED", "{status}");
    assert_eq!(status["error"]["statement_index"], 1, "{status}");
    assert!(!table_exists(&t, "forged_before").await);
    assert!(!table_exists(&t, "forged_after").await);

    // A statement autodb never runs (it would lift the executor's timeout for the session).
    let status = forged(
        &t,
        &conn,
        "SET lock_timeout = 0; DROP TABLE IF EXISTS anything",
    )
    .await;
    assert_eq!(status["error"]["code"], "MIGRATION_REFUSED", "{status}");

    // None of them wrote a ledger row: nothing committed.
    if t.count(ledger_rows).await > 0 {
        assert_eq!(
            t.count("SELECT count(*) FROM autodb.migration_ledger")
                .await,
            0
        );
    }
}
