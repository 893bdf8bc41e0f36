//! Lock acquisition as trusted migration runners do it: a short `lock_timeout`, retried with
//! jittered backoff up to a budget, so the application's sessions never queue behind a
//! waiting migration for longer than one `lock_timeout`.

use std::sync::Arc;

use autodb::app::{App, Settings};
use autodb::domain::RequestId;
use autodb::executor::{run_job, Outcome};

use crate::helpers::{Backend, TestApp};

const LOCK_TIMEOUT_MS: u64 = 200;

/// `t`'s application with a short lock timeout and the given retry budget.
fn patient(t: &TestApp, budget_ms: u64) -> Arc<App> {
    Arc::new(App::new(
        Arc::clone(&t.app.store),
        Arc::clone(&t.app.queue),
        Arc::clone(&t.app.secrets),
        t.app.keys.current(),
        Arc::clone(&t.app.clock),
        Settings {
            lock_timeout_ms: LOCK_TIMEOUT_MS,
            lock_retry_budget_ms: budget_ms,
            ..t.app.settings.clone()
        },
    ))
}

async fn setup() -> (TestApp, String) {
    let t = TestApp::spawn(Backend::Local).await;
    t.db()
        .await
        .batch_execute("CREATE TABLE hot (id int); INSERT INTO hot SELECT generate_series(1, 100)")
        .await
        .unwrap();
    let conn = t.connect().await;
    (t, conn)
}

/// A session that holds ACCESS SHARE on `hot` until told to finish.
async fn long_reader(t: &TestApp) -> tokio_postgres::Client {
    let reader = t.db().await;
    reader
        .batch_execute("SET application_name = 'long-reader'; BEGIN; SELECT count(*) FROM hot")
        .await
        .unwrap();
    reader
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_migration_retries_until_the_reader_ends_and_readers_never_queue_long() {
    let (t, conn) = setup().await;
    let id = t
        .submit(&conn, "ALTER TABLE hot ADD COLUMN note text;")
        .await;
    let reader = long_reader(&t).await;
    let app = patient(&t, 30_000);
    let job = RequestId::parse(&id).unwrap();
    let running = tokio::spawn({
        let app = Arc::clone(&app);
        async move { run_job(&app.executor(), &job).await }
    });

    // The application keeps reading `hot` while the migration waits. A reader that queued
    // behind the waiting ALTER for longer than a few lock timeouts would be cancelled by its
    // own statement_timeout.
    let app_reader = t.db().await;
    app_reader
        .batch_execute(&format!("SET statement_timeout = {}", 3 * LOCK_TIMEOUT_MS))
        .await
        .unwrap();
    let mut reads = 0;
    while reads < 20 {
        app_reader
            .query_one("SELECT count(*) FROM hot", &[])
            .await
            .expect("an application read is never held longer than one lock_timeout");
        reads += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    reader.batch_execute("COMMIT").await.unwrap();

    assert_eq!(running.await.unwrap().unwrap(), Outcome::Completed);
    let status = t.status(&id).await;
    assert_eq!(
        status["result"]["columns_added"][0]["column"], "note",
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_ends_fails_the_migration_naming_it() {
    let (t, conn) = setup().await;
    let id = t
        .submit(&conn, "ALTER TABLE hot ADD COLUMN note text;")
        .await;
    let reader = long_reader(&t).await;
    let app = patient(&t, 1_500);
    assert_eq!(
        run_job(&app.executor(), &RequestId::parse(&id).unwrap())
            .await
            .unwrap(),
        Outcome::Failed
    );
    let status = t.status(&id).await;
    assert_eq!(status["error"]["code"], "LOCK_TIMEOUT", "{status}");
    assert_eq!(status["error"]["sqlstate"], "55P03");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(message.contains("application `long-reader`"), "{message}");
    assert!(message.contains("idle in transaction"), "{message}");
    assert!(message.contains("SELECT count(*) FROM hot"), "{message}");
    // It retried, and says how often: every attempt is counted.
    let attempts: u32 = message
        .split_once("lock_timeout in ")
        .and_then(|(_, rest)| rest.split_once(" attempts"))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no attempt count: {message}"));
    assert!(attempts >= 2, "it retried: {message}");
    assert_eq!(
        t.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'hot' AND column_name = 'note'")
            .await,
        0
    );
    reader.batch_execute("ROLLBACK").await.unwrap();
}

/// The retry budget counts the pause before a retry: an attempt that could not begin within
/// the budget is not begun. With a budget of one `lock_timeout` and 50 ms, the first attempt
/// alone uses 200 ms and the shortest pause (100 ms) would end past the budget, so there is
/// exactly one attempt, however fast or slow the machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_that_would_start_past_the_budget_is_not_begun() {
    let (t, conn) = setup().await;
    let id = t
        .submit(&conn, "ALTER TABLE hot ADD COLUMN note text;")
        .await;
    let reader = long_reader(&t).await;
    let app = patient(&t, LOCK_TIMEOUT_MS + 50);
    assert_eq!(
        run_job(&app.executor(), &RequestId::parse(&id).unwrap())
            .await
            .unwrap(),
        Outcome::Failed
    );
    let status = t.status(&id).await;
    assert_eq!(status["error"]["code"], "LOCK_TIMEOUT", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(message.contains("lock_timeout in 1 attempt"), "{message}");
    reader.batch_execute("ROLLBACK").await.unwrap();
}

/// A database can have its own, shorter `lock_timeout`: the executor uses it, and analyze
/// holds the migration to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_can_have_its_own_lock_timeout() {
    for backend in [Backend::Local, Backend::Aws] {
        own_lock_timeout(backend).await;
    }
}

async fn own_lock_timeout(backend: Backend) {
    use axum::http::StatusCode;
    use serde_json::json;
    let t = TestApp::spawn(backend).await;
    let register = |ms: u64| {
        json!({"name": "busy db", "db_type": "postgresql",
               "connection_string": t.db_url, "lock_timeout_ms": ms})
    };
    let (status, body) = t.post("/connections", register(10)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = t.post("/connections", register(300)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["lock_timeout_ms"], 300);
    let conn_id = body["data"]["id"].as_str().unwrap();
    let (_, stored) = t.get(&format!("/connections/{conn_id}")).await;
    assert_eq!(
        stored["data"]["lock_timeout_ms"], 300,
        "{backend:?}: stored"
    );
    let conn = body["data"]["id"].as_str().unwrap().to_string();

    // Looser than the connection's 300 ms (though stricter than the service's 2 s): refused.
    let (status, body) = t
        .post(
            &format!("/connections/{conn}/migrations/analyze"),
            json!({"sql": "SET lock_timeout = '1s'; CREATE TABLE x (id int)"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "MIGRATION_REFUSED");

    let id = t
        .submit(
            &conn,
            "CREATE TABLE seen AS SELECT current_setting('lock_timeout') AS lock_timeout",
        )
        .await;
    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    assert_eq!(t.status(&id).await["status"], "completed");
    let row = t
        .db()
        .await
        .query_one("SELECT lock_timeout FROM seen", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "300ms");
}

/// The drift check's own locks (SHARE UPDATE EXCLUSIVE on the scope, taken before anything is
/// applied) wait like any statement's: a session holding a conflicting lock for longer than
/// the retry budget (here as a long VACUUM or an index build would) fails the migration with
/// LOCK_TIMEOUT naming it, and nothing is applied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_against_the_drift_check_times_out_naming_its_holder() {
    let (t, conn) = setup().await;
    let id = t
        .submit(&conn, "ALTER TABLE hot ADD COLUMN note text;")
        .await;
    let holder = t.db().await;
    holder
        .batch_execute(
            "SET application_name = 'maintenance'; BEGIN; \
             LOCK TABLE hot IN SHARE UPDATE EXCLUSIVE MODE",
        )
        .await
        .unwrap();
    let app = patient(&t, 1_500);
    assert_eq!(
        run_job(&app.executor(), &RequestId::parse(&id).unwrap())
            .await
            .unwrap(),
        Outcome::Failed
    );
    let status = t.status(&id).await;
    assert_eq!(status["error"]["code"], "LOCK_TIMEOUT", "{status}");
    let message = status["error"]["message"].as_str().unwrap();
    assert!(message.contains("application `maintenance`"), "{message}");
    assert_eq!(
        t.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'hot' AND column_name = 'note'")
            .await,
        0
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
}

/// The drift check's lock is `SHARE UPDATE EXCLUSIVE` on every table the migration names,
/// even one that only writes rows: it conflicts with every DDL on them, so nothing can change
/// the checked schema before the statements run. A session holding that mode (as a VACUUM,
/// an `ANALYZE` or another DDL would) lets a plain `UPDATE` (`ROW EXCLUSIVE`) through, but not
/// the drift check: the migration times out and the row is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_drift_check_locks_the_named_tables_against_ddl_even_for_a_plain_update() {
    let (t, conn) = setup().await;
    let id = t
        .submit(&conn, "UPDATE hot SET id = -1 WHERE id = 1;")
        .await;
    let holder = t.db().await;
    holder
        .batch_execute(
            "SET application_name = 'maintenance'; BEGIN; \
             LOCK TABLE hot IN SHARE UPDATE EXCLUSIVE MODE",
        )
        .await
        .unwrap();
    // The UPDATE's own lock is granted beside the holder's.
    let writer = t.db().await;
    writer
        .batch_execute(
            "SET lock_timeout = '5s'; BEGIN; UPDATE hot SET id = 1 WHERE id = 1; ROLLBACK",
        )
        .await
        .unwrap();
    let app = patient(&t, 1_000);
    assert_eq!(
        run_job(&app.executor(), &RequestId::parse(&id).unwrap())
            .await
            .unwrap(),
        Outcome::Failed
    );
    let status = t.status(&id).await;
    assert_eq!(status["error"]["code"], "LOCK_TIMEOUT", "{status}");
    assert_eq!(t.count("SELECT count(*) FROM hot WHERE id = -1").await, 0);
    holder.batch_execute("ROLLBACK").await.unwrap();
}
