//! A target that is briefly down does not burn the approval (issue 21): execute waits for it
//! within the request's start bound, says so in the status, and runs once it is back; a
//! failure waiting cannot cure (a database that is gone) fails at once.
//!
//! The test cluster is shared, so these tests start their own throwaway cluster to stop.

use autodb::domain::RequestId;
use autodb::executor::{run_job, Outcome};
use axum::http::StatusCode;
use serde_json::json;
use tokio_postgres::NoTls;

use crate::helpers::{run_until_not_busy, Backend, TestApp};

async fn session(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls).await.expect("connect");
    tokio::spawn(conn);
    client
}

/// A throwaway cluster of this test's own (the shared one must not be stopped) with an empty
/// database `app`.
async fn cluster_with_app(label: &str) -> autodb::pgcluster::TempCluster {
    let cluster = autodb::pgcluster::TempCluster::start(label)
        .await
        .expect("a throwaway cluster (PostgreSQL server binaries)");
    session(&cluster.url("postgres"))
        .await
        .batch_execute("CREATE DATABASE app")
        .await
        .unwrap();
    cluster
}

async fn register(t: &TestApp, url: &str) -> String {
    let (status, body) = t
        .post(
            "/connections",
            json!({"name": "own", "db_type": "postgresql", "connection_string": url}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["data"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_restarted_during_execute_runs_the_approved_migration_once_it_is_back() {
    let t = TestApp::spawn(Backend::Local).await;
    let mut cluster = cluster_with_app("target-down").await;
    let conn = register(&t, &cluster.url("app")).await;
    let id = t
        .submit(&conn, "CREATE TABLE public.after_restart (id int);")
        .await;
    let job = RequestId::parse(&id).unwrap();

    tokio::task::block_in_place(|| cluster.stop()).expect("stop the target");
    assert_eq!(
        run_job(&t.app.executor(), &job).await.unwrap(),
        Outcome::Busy
    );
    let status = t.status(&id).await;
    assert!(
        status["status"] == "pending" || status["status"] == "executing",
        "{status}"
    );
    let progress = status["progress"].as_str().unwrap_or_default();
    assert!(progress.starts_with("Waiting for the database"), "{status}");
    // Until the request's start bound: its creation plus the expiry.
    let created: chrono::DateTime<chrono::Utc> =
        status["created_at"].as_str().unwrap().parse().unwrap();
    let until = created + chrono::Duration::seconds(t.app.settings.request_expiry_seconds);
    assert!(
        progress.ends_with(&format!(
            "retrying until {}",
            until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )),
        "{status}"
    );

    tokio::task::block_in_place(|| cluster.restart()).expect("start the target again");
    assert_eq!(run_until_not_busy(&t.app, &job).await, Outcome::Completed);
    let status = t.status(&id).await;
    assert_eq!(status["status"], "completed", "{status}");
    let tables: i64 = session(&cluster.url("app"))
        .await
        .query_one(
            "SELECT count(*) FROM pg_class WHERE relname = 'after_restart'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(tables, 1);

    // A database that is gone will not come back by waiting: the request fails at once.
    session(&cluster.url("postgres"))
        .await
        .batch_execute("CREATE DATABASE doomed")
        .await
        .unwrap();
    let conn = register(&t, &cluster.url("doomed")).await;
    let id = t.submit(&conn, "CREATE TABLE public.never (id int);").await;
    session(&cluster.url("postgres"))
        .await
        .batch_execute("DROP DATABASE doomed WITH (FORCE)")
        .await
        .unwrap();
    let job = RequestId::parse(&id).unwrap();
    assert_eq!(
        run_job(&t.app.executor(), &job).await.unwrap(),
        Outcome::Failed
    );
    let status = t.status(&id).await;
    assert_eq!(status["error"]["code"], "CONNECTION_FAILED", "{status}");
}

/// A restart while the first transaction runs (waiting for its locks): it dies with the server and
/// nothing was committed, so the request waits for the database (saying so) instead of
/// failing, and applies once it is back — once, as the target shows. A session ended by hand
/// on a server that stays up is not waited out: that request fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_target_restarted_while_the_migration_runs_applies_it_once_it_is_back() {
    let t = std::sync::Arc::new(TestApp::spawn(Backend::Local).await);
    let mut cluster = cluster_with_app("target-restart").await;
    let app_url = cluster.url("app");
    session(&app_url)
        .await
        .batch_execute("CREATE TABLE public.items (id int PRIMARY KEY)")
        .await
        .unwrap();
    // A long lock timeout, so the migration's statement is still waiting when the server
    // goes away.
    let (status, body) = t
        .post(
            "/connections",
            json!({"name": "own", "db_type": "postgresql", "connection_string": app_url,
                   "lock_timeout_ms": 60000}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let conn = body["data"]["id"].as_str().unwrap().to_string();

    /// Holds `items` until the server goes away, so that the executor's first transaction
    /// (its drift check's locks, then the statement) waits behind it.
    async fn blocked(url: &str) -> tokio_postgres::Client {
        let holder = session(url).await;
        holder
            .batch_execute("BEGIN; LOCK TABLE public.items IN ACCESS EXCLUSIVE MODE")
            .await
            .unwrap();
        holder
    }
    async fn wait_for_waiting_alter(url: &str) {
        let watcher = session(url).await;
        for _ in 0..600 {
            let waiting: i64 = watcher
                .query_one(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'",
                    &[],
                )
                .await
                .unwrap()
                .get(0);
            if waiting > 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("the migration never waited for its lock");
    }

    /// Submits `sql` and starts running it behind the test's lock; returns the request id,
    /// the lock's holder and the running attempt, once the attempt waits for the lock.
    async fn running_behind_a_lock(
        t: &std::sync::Arc<TestApp>,
        conn: &str,
        url: &str,
        sql: &str,
    ) -> (
        String,
        tokio_postgres::Client,
        tokio::task::JoinHandle<Outcome>,
    ) {
        let id = t.submit(conn, sql).await;
        let job = RequestId::parse(&id).unwrap();
        let holder = blocked(url).await;
        let attempt = tokio::spawn({
            let t = std::sync::Arc::clone(t);
            async move { run_job(&t.app.executor(), &job).await.unwrap() }
        });
        wait_for_waiting_alter(url).await;
        (id, holder, attempt)
    }

    let (id, holder, attempt) = running_behind_a_lock(
        &t,
        &conn,
        &app_url,
        "ALTER TABLE public.items ADD COLUMN note text;",
    )
    .await;
    let job = RequestId::parse(&id).unwrap();
    tokio::task::block_in_place(|| cluster.stop()).expect("stop the target");
    let outcome = attempt.await.unwrap();
    assert_eq!(outcome, Outcome::Busy, "{}", t.status(&id).await);
    drop(holder);
    let status = t.status(&id).await;
    assert!(
        status["status"] == "pending" || status["status"] == "executing",
        "{status}"
    );
    let progress = status["progress"].as_str().unwrap_or_default();
    assert!(
        progress.starts_with("Waiting for the database (the session was lost"),
        "{status}"
    );

    tokio::task::block_in_place(|| cluster.restart()).expect("start the target again");
    assert_eq!(run_until_not_busy(&t.app, &job).await, Outcome::Completed);
    assert_eq!(t.status(&id).await["status"], "completed");
    let db = session(&app_url).await;
    let columns: i64 = db
        .query_one(
            "SELECT count(*) FROM pg_attribute WHERE attrelid = 'public.items'::regclass \
             AND attname = 'note' AND NOT attisdropped",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(columns, 1);
    let ledger: i64 = db
        .query_one(
            "SELECT count(*) FROM autodb.migration_ledger WHERE request_id = $1",
            &[&id],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(ledger, 1);

    // The same statement's session ended by hand while the server stays up: it fails.
    let (id, holder, attempt) = running_behind_a_lock(
        &t,
        &conn,
        &app_url,
        "ALTER TABLE public.items ADD COLUMN other text;",
    )
    .await;
    db.batch_execute(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE wait_event_type = 'Lock'",
    )
    .await
    .unwrap();
    assert_eq!(attempt.await.unwrap(), Outcome::Failed);
    drop(holder);
    let status = t.status(&id).await;
    assert_ne!(status["status"], "completed", "{status}");
    assert!(
        status["error"]["message"]
            .as_str()
            .unwrap()
            .contains("terminating connection"),
        "{status}"
    );
}
