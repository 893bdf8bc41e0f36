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
    let mut cluster = autodb::pgcluster::TempCluster::start("target-down")
        .await
        .expect("a throwaway cluster (PostgreSQL server binaries)");
    session(&cluster.url("postgres"))
        .await
        .batch_execute("CREATE DATABASE app")
        .await
        .unwrap();
    let conn = register(&t, &cluster.url("app")).await;
    let id = t
        .submit(&conn, "CREATE TABLE public.after_restart (id int);")
        .await;
    let job = RequestId::parse(&id).unwrap();

    tokio::task::block_in_place(|| cluster.stop()).expect("stop the target");
    assert_eq!(run_job(&t.app, &job).await.unwrap(), Outcome::Busy);
    let status = t.status(&id).await;
    assert!(
        status["status"] == "pending" || status["status"] == "executing",
        "{status}"
    );
    let progress = status["progress"].as_str().unwrap_or_default();
    assert!(progress.starts_with("Waiting for the database"), "{status}");

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
    assert_eq!(run_job(&t.app, &job).await.unwrap(), Outcome::Failed);
    let status = t.status(&id).await;
    assert_eq!(status["error"]["code"], "CONNECTION_FAILED", "{status}");
}
