//! TLS to the target database: the test cluster runs with a throwaway CA whose certificate
//! names `localhost` only (see `infra/local/services.sh`).

use serde_json::json;

use crate::helpers::{Backend, TestApp};
use autodb::executor::Outcome;

fn ca() -> String {
    std::env::var("AUTODB_TEST_PG_CA").expect("AUTODB_TEST_PG_CA: run the tests with scripts/test")
}

/// Runs a migration that records whether its own session is encrypted; returns the outcome
/// and, when it completed, that flag.
async fn run_with(t: &TestApp, url: &str) -> (Outcome, Option<bool>) {
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
    let token = t.approve(&conn, &sql).await;
    t.execute(&token, &sql, &conn).await;
    let outcome = t.drain().await.pop().expect("one job");
    let encrypted = match outcome {
        Outcome::Completed => Some(
            t.db()
                .await
                .query_one(&format!("SELECT ssl FROM {table}"), &[])
                .await
                .unwrap()
                .get(0),
        ),
        _ => None,
    };
    (outcome, encrypted)
}

fn with_params(url: &str, params: &str) -> String {
    format!("{url}?{params}")
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
        let (outcome, encrypted) = run_with(&t, &url).await;
        match expected {
            Some(flag) => assert_eq!(
                (outcome, encrypted),
                (Outcome::Completed, Some(flag)),
                "{url}"
            ),
            None => assert_eq!(outcome, Outcome::Failed, "{url}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_certificate_is_a_connection_failure() {
    let t = TestApp::spawn(Backend::Local).await;
    let url = with_params(
        &t.db_url,
        &format!("sslmode=verify-full&sslrootcert={}", ca()),
    );
    let (status, created) = t
        .post(
            "/connections",
            json!({"name": "tls", "db_type": "postgresql", "connection_string": url}),
        )
        .await;
    assert_eq!(status, 201);
    let conn = created["data"]["id"].as_str().unwrap().to_string();
    let sql = "CREATE TABLE never (id int);";
    let token = t.approve(&conn, sql).await;
    let (_, accepted) = t.execute(&token, sql, &conn).await;
    t.drain().await;
    let failed = t
        .status(accepted["data"]["request_id"].as_str().unwrap())
        .await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["error"]["code"], "CONNECTION_FAILED");
    assert!(
        !failed["error"]["message"].as_str().unwrap().contains(&ca()),
        "{failed}"
    );
}
