//! TLS to the target database: the test cluster runs with a throwaway CA whose certificate
//! names `localhost` only (see `infra/local/services.sh`).

use std::sync::Arc;

use autodb::adapters::local::service;
use autodb::domain::RequestId;
use autodb::executor::{run_job, Outcome};
use autodb::ports::Clock;
use serde_json::{json, Value};

use crate::helpers::{settings, Backend, TestApp};

fn ca() -> String {
    std::env::var("AUTODB_TEST_PG_CA").expect("AUTODB_TEST_PG_CA: run the tests with scripts/test")
}

fn with_params(url: &str, params: &str) -> String {
    format!("{url}?{params}")
}

/// Runs a migration that records whether its own session is encrypted; returns that flag,
/// or the analyze error when the connection was refused before anything was approved.
async fn run_with(t: &TestApp, url: &str) -> Result<bool, Value> {
    let (status, created) = t
        .post(
            "/connections",
            json!({"name": "tls", "db_type": "postgresql", "connection_string": url}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let conn = created["data"]["id"].as_str().unwrap().to_string();
    let table = format!("tls_{}", uuid::Uuid::new_v4().simple());
    let sql = format!(
        "CREATE TABLE {table} AS SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();"
    );
    let (status, analysis) = t
        .post(
            &format!("/connections/{conn}/migrations/analyze"),
            json!({"sql": sql}),
        )
        .await;
    if status != 200 {
        return Err(analysis);
    }
    let token = analysis["data"]["approval_token"].as_str().unwrap();
    t.execute(token, &sql, &conn).await;
    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    Ok(t.db()
        .await
        .query_one(&format!("SELECT ssl FROM {table}"), &[])
        .await
        .unwrap()
        .get(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssl_modes_behave_as_in_libpq() {
    let t = TestApp::spawn(Backend::Local).await;
    let ca = ca();
    let by_name = t.db_url.replace("127.0.0.1", "localhost");
    let cases = [
        (t.db_url.clone(), Some(true)),
        (with_params(&t.db_url, "sslmode=disable"), Some(false)),
        (with_params(&t.db_url, "sslmode=require"), Some(true)),
        (
            with_params(&t.db_url, &format!("sslmode=verify-ca&sslrootcert={ca}")),
            Some(true),
        ),
        (
            with_params(
                &by_name,
                &format!("sslmode=verify-full&sslrootcert={ca}&hostaddr=127.0.0.1"),
            ),
            Some(true),
        ),
        // The certificate names localhost, not 127.0.0.1.
        (
            with_params(&t.db_url, &format!("sslmode=verify-full&sslrootcert={ca}")),
            None,
        ),
        // A private CA is not among the public roots.
        (
            with_params(&by_name, "sslmode=verify-full&hostaddr=127.0.0.1"),
            None,
        ),
    ];
    for (url, expected) in cases {
        match (run_with(&t, &url).await, expected) {
            (Ok(encrypted), Some(flag)) => assert_eq!(encrypted, flag, "{url}"),
            (Err(error), None) => {
                assert_eq!(error["error"]["code"], "DEPENDENCY_UNAVAILABLE", "{url}");
                assert!(
                    error["error"]["message"].as_str().unwrap().contains("TLS"),
                    "{error}"
                );
            }
            (got, _) => panic!("{url}: {got:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_refused_at_execution_fails_the_request() {
    // Approved over a trusted connection; then the stored connection string is replaced by
    // one whose certificate check fails, and a fresh executor process (no cached
    // credentials) picks the job up.
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let sql = "CREATE TABLE never (id int);";
    let token = t.approve(&conn, sql).await;
    let connection = autodb::app::connections::get(&t.app, &conn).await.unwrap();
    let strict = with_params(
        &t.db_url,
        &format!("sslmode=verify-full&sslrootcert={}", ca()),
    );
    let name = format!("{}{conn}", t.app.settings.secret_prefix);
    let reference = t
        .app
        .secrets
        .create(&name, &secrecy::SecretString::from(strict))
        .await
        .unwrap();
    assert_eq!(
        reference, connection.secret_ref,
        "the secret was replaced in place"
    );
    let (_, accepted) = t.execute(&token, sql, &conn).await;
    let id = accepted["data"]["request_id"].as_str().unwrap();

    let dir = t.data_dir().unwrap();
    let mut executor = settings();
    executor.secret_prefix = t.app.settings.secret_prefix.clone();
    let fresh = service::open(&dir, executor, t.clock.clone() as Arc<dyn Clock>).unwrap();
    let outcome = run_job(&fresh.app.executor(), &RequestId::parse(id).unwrap())
        .await
        .unwrap();
    assert_eq!(outcome, Outcome::Failed);
    let failed = t.status(id).await;
    assert_eq!(failed["error"]["code"], "CONNECTION_FAILED");
    assert!(
        failed["error"]["message"].as_str().unwrap().contains("TLS"),
        "{failed}"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'never'")
            .await,
        0
    );
}

/// `sslrootcert` naming something that is not a small regular file — a FIFO nobody writes
/// to, `/dev/zero` — is refused when autodb connects, without reading it: the service keeps
/// answering, and the caller is told why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslrootcert_at_a_fifo_or_dev_zero_is_refused_without_reading_it() {
    let t = crate::helpers::TestApp::spawn(crate::helpers::Backend::Local).await;
    let dir = crate::helpers::TempDir::new();
    let fifo = dir.0.join("ca.pem");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    for path in [fifo.to_str().unwrap(), "/dev/zero"] {
        let url = format!("{}?sslmode=verify-full&sslrootcert={path}", t.db_url);
        let (status, body) = t
            .post(
                "/connections",
                serde_json::json!({"name": "ca", "db_type": "postgresql", "connection_string": url}),
            )
            .await;
        assert_eq!(status, axum::http::StatusCode::CREATED, "{body}");
        let conn = body["data"]["id"].as_str().unwrap();
        let (status, body) = t
            .post(
                &format!("/connections/{conn}/introspect"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(
            status,
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "{body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("not a regular file"), "{path}: {message}");
    }
    let (status, _) = t.get("/healthz").await;
    assert_eq!(status, axum::http::StatusCode::OK);
}
