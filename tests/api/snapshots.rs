//! Snapshots that follow the database (issue 21): a migration that ended through autodb makes
//! the connection's cached snapshot out of date, and the next analyze judges the schema as
//! it is now, not as it was before the migration.

use autodb::domain::ConnectionId;
use autodb::executor::Outcome;
use axum::http::StatusCode;

use crate::helpers::{Backend, TestApp};

/// The tables of the snapshot the last analyze used.
async fn snapshot_tables(t: &TestApp, conn: &str) -> Vec<String> {
    let snapshot = t
        .app
        .store
        .latest_snapshot(&ConnectionId::parse(conn).unwrap())
        .await
        .unwrap()
        .expect("a snapshot");
    snapshot
        .schema
        .tables
        .iter()
        .map(|t| t.name.clone())
        .collect()
}

#[tokio::test]
async fn analyze_after_an_execution_judges_the_schema_it_left() {
    for backend in [Backend::Local, Backend::Aws] {
        let t = TestApp::spawn(backend).await;
        let conn = t.connect().await;
        // A snapshot is cached (the clock does not move: it stays young).
        let (status, before) = t.analyze(&conn, "CREATE TABLE public.a (id int);").await;
        assert_eq!(status, StatusCode::OK, "{before}");
        assert!(!snapshot_tables(&t, &conn).await.contains(&"b".to_string()));

        let id = t
            .submit(&conn, "CREATE TABLE public.b (id int PRIMARY KEY);")
            .await;
        assert_eq!(t.drain().await, vec![Outcome::Completed], "{backend:?}");
        assert_eq!(t.status(&id).await["status"], "completed");

        // The table the migration created is in the schema the next analyze judges.
        let (status, after) = t
            .analyze(&conn, "CREATE INDEX b_id ON public.b (id);")
            .await;
        assert_eq!(status, StatusCode::OK, "{after}");
        assert_ne!(
            after["data"]["snapshot_id"], before["data"]["snapshot_id"],
            "{backend:?}: analyze reused the snapshot from before the migration"
        );
        assert!(
            snapshot_tables(&t, &conn).await.contains(&"b".to_string()),
            "{backend:?}"
        );

        // A failed execution makes it out of date too.
        let snapshot = after["data"]["snapshot_id"].clone();
        t.db()
            .await
            .batch_execute("CREATE TABLE public.c (id int)")
            .await
            .unwrap();
        let sql = "ALTER TABLE public.b ADD COLUMN x int; SELECT 1/0;";
        let token = t.approve(&conn, sql).await;
        let (status, body) = t.execute(&token, sql, &conn).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(t.drain().await, vec![Outcome::Failed], "{backend:?}");
        let (status, again) = t.analyze(&conn, "CREATE TABLE public.d (id int);").await;
        assert_eq!(status, StatusCode::OK, "{again}");
        assert_ne!(again["data"]["snapshot_id"], snapshot, "{backend:?}");
        assert!(
            snapshot_tables(&t, &conn).await.contains(&"c".to_string()),
            "{backend:?}"
        );
    }
}

/// An execution makes out of date the snapshots of every registration of the database it
/// changed, and only those: another registration of the same database analyzes the schema as
/// it is now, a registration of another database keeps its cached snapshot.
#[tokio::test]
async fn an_execution_ages_the_snapshots_of_its_own_database_only() {
    let t = TestApp::spawn(Backend::Local).await;
    let register = |url: String| {
        let t = &t;
        async move {
            let (status, body) = t
                .post(
                    "/connections",
                    serde_json::json!({"name": "r", "db_type": "postgresql", "connection_string": url}),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            body["data"]["id"].as_str().unwrap().to_string()
        }
    };
    let first = t.connect().await;
    let same_database = register(t.db_url.clone()).await;
    let other_database = register(crate::helpers::create_database().await).await;
    let snapshot_of = |conn: String| {
        let t = &t;
        async move {
            let (status, body) = t
                .analyze(&conn, "CREATE TABLE public.probe (id int);")
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body["data"]["snapshot_id"].clone()
        }
    };
    let before_same = snapshot_of(same_database.clone()).await;
    let before_other = snapshot_of(other_database.clone()).await;

    let id = t.submit(&first, "CREATE TABLE public.made (id int);").await;
    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    assert_eq!(t.status(&id).await["status"], "completed");

    assert_ne!(
        snapshot_of(same_database.clone()).await,
        before_same,
        "the other registration of the changed database reused its old snapshot"
    );
    assert!(snapshot_tables(&t, &same_database)
        .await
        .contains(&"made".to_string()));
    assert_eq!(
        snapshot_of(other_database).await,
        before_other,
        "a database the migration did not touch lost its snapshot"
    );
}
