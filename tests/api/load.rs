//! Production stays protected under load (issue 21): autodb bounds the sessions it holds on a
//! target, queues callers for one with a timeout, and shares one introspection between
//! concurrent analyzes.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use axum::http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio_postgres::NoTls;
use tower::ServiceExt;

use crate::helpers::{admin, Backend, TestApp};

/// The target's own slots for the role autodb and its other client use (superusers are
/// exempt from such limits, so the test's role is not one).
const TARGET_SLOTS: i64 = 30;
const ANALYZES: usize = 200;

/// A database owned by a new role limited to [`TARGET_SLOTS`] sessions; returns its URL (as
/// that role), its name and the role.
async fn limited_database() -> (String, String, String) {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let (role, db) = (format!("r_{id}"), format!("t_{id}"));
    let admin = admin().await;
    for ddl in [
        format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT {TARGET_SLOTS}"),
        format!("CREATE DATABASE {db} OWNER {role} CONNECTION LIMIT {TARGET_SLOTS}"),
    ] {
        admin
            .batch_execute(&ddl)
            .await
            .expect("create the limited database");
    }
    let base = std::env::var("AUTODB_TEST_PG_URL").expect("AUTODB_TEST_PG_URL");
    let host = base
        .trim_start_matches("postgresql://")
        .split_once('@')
        .expect("user@host")
        .1
        .rsplit_once('/')
        .expect("host/db")
        .0
        .to_string();
    (format!("postgresql://{role}@{host}/{db}"), db, role)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_analyzes_leave_the_target_serving_its_other_clients() {
    let t = Arc::new(TestApp::spawn(Backend::Local).await);
    let (url, db, role) = limited_database().await;
    // The test's own sessions name themselves, so that autodb's can be counted apart.
    let other_url = format!("{url}?application_name=other");
    let (setup, conn) = tokio_postgres::connect(&other_url, NoTls)
        .await
        .expect("connect");
    tokio::spawn(conn);
    setup
        .batch_execute("CREATE TABLE items (id bigint PRIMARY KEY, name text)")
        .await
        .unwrap();
    drop(setup);
    let (status, body) = t
        .post(
            "/connections",
            json!({"name": "busy", "db_type": "postgresql", "connection_string": url}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let conn = body["data"]["id"].as_str().unwrap().to_string();
    let limit = i64::try_from(t.app.settings.target_max_connections).unwrap();

    // Another client of the database: a new session and a query, again and again, while
    // the analyzes run; and a watcher of how many sessions the role holds.
    let done = Arc::new(AtomicBool::new(false));
    let other = tokio::spawn({
        let (url, done) = (other_url.clone(), Arc::clone(&done));
        async move {
            let mut served = 0u32;
            loop {
                let (client, conn) = tokio_postgres::connect(&url, NoTls)
                    .await
                    .expect("the database refused its other client");
                let task = tokio::spawn(conn);
                client.query_one("SELECT 1", &[]).await.expect("served");
                drop(client);
                let _ = task.await;
                served += 1;
                if done.load(Ordering::SeqCst) {
                    return served;
                }
            }
        }
    });
    let most = Arc::new(AtomicI64::new(0));
    let watcher = tokio::spawn({
        let (done, most, db, role) = (Arc::clone(&done), Arc::clone(&most), db, role);
        async move {
            let admin = admin().await;
            while !done.load(Ordering::SeqCst) {
                // autodb's sessions: the role's, but for the test's own.
                let n: i64 = admin
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 \
                         AND usename = $2 AND application_name <> 'other'",
                        &[&db, &role],
                    )
                    .await
                    .unwrap()
                    .get(0);
                most.fetch_max(n, Ordering::SeqCst);
                tokio::task::yield_now().await;
            }
        }
    });

    let mut analyzes = tokio::task::JoinSet::new();
    for i in 0..ANALYZES {
        let (t, conn) = (Arc::clone(&t), conn.clone());
        analyzes.spawn(async move {
            let sql = format!("ALTER TABLE public.items ADD COLUMN note_{i} text;");
            let request = t.request(
                Method::POST,
                &format!("/connections/{conn}/migrations/analyze"),
                Some(&json!({ "sql": sql })),
            );
            let response = t.router.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let retry_after = response.headers().get("retry-after").cloned();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let body: Value = serde_json::from_slice(&bytes).unwrap();
            (status, retry_after, body)
        });
    }
    let (mut ok, mut busy) = (0, 0);
    while let Some(joined) = analyzes.join_next().await {
        let (status, retry_after, body) = joined.expect("analyze task");
        match status {
            StatusCode::OK => ok += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(retry_after.is_some(), "503 without Retry-After: {body}");
                assert_eq!(body["error"]["code"], "DEPENDENCY_UNAVAILABLE", "{body}");
                busy += 1;
            }
            other => panic!("analyze ended {other}: {body}"),
        }
    }
    done.store(true, Ordering::SeqCst);
    let served = other.await.expect("the other client was served throughout");
    watcher.await.unwrap();
    let most = most.load(Ordering::SeqCst);
    eprintln!(
        "{ANALYZES} analyzes: {ok} ok, {busy} busy (503); other client served {served} times; \
         autodb held at most {most} sessions (limit {limit})"
    );
    assert_eq!(ok + busy, ANALYZES);
    assert!(ok > 0, "no analyze got through");
    assert!(
        most <= limit,
        "autodb held {most} sessions on the target; its limit is {limit}"
    );
}

/// A connection's own limit is validated and shown.
#[tokio::test]
async fn a_connection_carries_its_own_session_limit() {
    let t = TestApp::spawn(Backend::Local).await;
    let (status, body) = t
        .post(
            "/connections",
            json!({"name": "small", "db_type": "postgresql", "connection_string": t.db_url,
                   "max_connections": 0}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = t
        .post(
            "/connections",
            json!({"name": "small", "db_type": "postgresql", "connection_string": t.db_url,
                   "max_connections": 2}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["data"]["max_connections"], 2);
}

/// With every permit of the database taken, a caller waits its turn and is then told to come
/// back (503 with `Retry-After`), instead of opening one more session.
#[tokio::test]
async fn a_caller_that_finds_every_session_taken_is_told_when_to_retry() {
    let t = TestApp::spawn(Backend::Local).await;
    let (status, body) = t
        .post(
            "/connections",
            json!({"name": "one", "db_type": "postgresql", "connection_string": t.db_url,
                   "max_connections": 1}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["data"]["id"].as_str().unwrap().to_string();
    let app = Arc::new(autodb::app::App::new(
        Arc::clone(&t.app.store),
        Arc::clone(&t.app.queue),
        Arc::clone(&t.app.secrets),
        t.app.keys.current(),
        Arc::clone(&t.app.clock),
        autodb::app::Settings {
            target_wait_ms: 50,
            ..t.app.settings.clone()
        },
    ));
    let connection = autodb::app::connections::get(&app, &id).await.unwrap();
    let held = app
        .targets
        .checkout(&connection)
        .await
        .expect("the one session");
    let router = autodb::api::router(Arc::clone(&app));
    let request = t.request(
        Method::POST,
        &format!("/connections/{id}/migrations/analyze"),
        Some(&json!({"sql": "CREATE TABLE public.t (id int);"})),
    );
    let response = router.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"]["code"], "DEPENDENCY_UNAVAILABLE", "{body}");

    // Given back, the session serves the next caller.
    app.targets.give_back(&connection.secret_ref, held).await;
    let request = t.request(
        Method::POST,
        &format!("/connections/{id}/migrations/analyze"),
        Some(&json!({"sql": "CREATE TABLE public.t (id int);"})),
    );
    let response = router.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// CPU-heavy work (`App::cpu`, which analyze parses and judges through) never runs on the
/// async threads: on a runtime with one thread, a piece of work that waits for that thread
/// to do something still finishes.
#[tokio::test(flavor = "current_thread")]
async fn analysis_work_leaves_the_async_thread_free() {
    let t = TestApp::spawn(Backend::Local).await;
    let (tell, told) = std::sync::mpsc::channel::<u32>();
    // Run inline, the work would wait forever for a thread it blocks: fail instead of hang.
    let work = t.app.cpu(move || {
        told.recv_timeout(std::time::Duration::from_secs(120))
            .expect("the async side never ran while the work waited")
    });
    let async_side = async move {
        // Runs only if the one runtime thread is free while the work waits.
        tokio::task::yield_now().await;
        tell.send(42).unwrap();
    };
    let (answer, ()) = tokio::join!(work, async_side);
    assert_eq!(answer, 42);
}

/// Issue 21: a hundred analyzes at once on a connection with a sandbox. Overload delays
/// sandbox runs (a bounded number at once, the rest queued) instead of skipping them; and a run
/// that did not happen is never a pass — its analysis carries no token. Judged also by the
/// sandbox server: never more of its sessions than the bound allows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_analyzes_with_a_sandbox_get_no_token_for_a_skipped_run() {
    const RUNS: usize = 100;
    let t = Arc::new(TestApp::spawn(Backend::Local).await);
    let prefix = t.with_sandbox_settings(|s| s.estimate_rows = 100);
    let bound =
        i64::try_from(autodb::sandbox::SandboxSettings::default().max_concurrent_runs).unwrap();
    t.db()
        .await
        .batch_execute("CREATE TABLE items (id bigint PRIMARY KEY, name text)")
        .await
        .unwrap();
    let conn = t.connect().await;

    let done = Arc::new(AtomicBool::new(false));
    let most = Arc::new(AtomicI64::new(0));
    let watcher = tokio::spawn({
        let (done, most, prefix) = (Arc::clone(&done), Arc::clone(&most), prefix.clone());
        async move {
            let admin = admin().await;
            while !done.load(Ordering::SeqCst) {
                let n: i64 = admin
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity WHERE usename LIKE $1 || '\\_%'",
                        &[&prefix],
                    )
                    .await
                    .unwrap()
                    .get(0);
                most.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    });
    let mut analyzes = tokio::task::JoinSet::new();
    for i in 0..RUNS {
        let (t, conn) = (Arc::clone(&t), conn.clone());
        analyzes.spawn(async move {
            t.analyze(
                &conn,
                &format!("ALTER TABLE items ADD COLUMN note_{i} text;"),
            )
            .await
        });
    }
    let (mut passed, mut skipped) = (0, 0);
    while let Some(joined) = analyzes.join_next().await {
        let (status, body) = joined.expect("analyze task");
        assert_eq!(status, StatusCode::OK, "{body}");
        let report = &body["data"];
        match report["sandbox_result"]["status"].as_str() {
            Some("passed") => {
                passed += 1;
                assert!(report["approval_token"].is_string(), "{report}");
                assert_eq!(report["sandboxed"], true, "{report}");
            }
            Some("skipped") => {
                skipped += 1;
                assert!(report["approval_token"].is_null(), "{report}");
                assert!(report["approval_withheld"].is_string(), "{report}");
                assert_eq!(report["sandboxed"], false, "{report}");
            }
            _ => panic!("{report}"),
        }
    }
    done.store(true, Ordering::SeqCst);
    watcher.await.unwrap();
    let most = most.load(Ordering::SeqCst);
    eprintln!("{RUNS} analyzes with a sandbox: {passed} passed, {skipped} skipped; at most {most} run sessions");
    assert_eq!(passed + skipped, RUNS);
    assert!(
        passed >= RUNS / 2,
        "overload should delay runs, not skip them: {skipped} of {RUNS} skipped"
    );
    assert!(most <= 2 * bound, "{most} sandbox run sessions at once");
}
