//! A connection registered with the standard RDS secret JSON (on moto's Secrets Manager):
//! connected as it is, `verify-full` by default, with the secret's own `ca_pem` trusted.

use serde_json::{json, Value};

use crate::helpers::{aws_sdk, Backend, TestApp};

/// Host, port and database of the test's own database.
fn parts(url: &str) -> (String, u16, String) {
    let rest = url.split_once('@').expect("user@host").1;
    let (address, dbname) = rest.split_once('/').expect("/dbname");
    let (_, port) = address.rsplit_once(':').expect("host:port");
    (
        "localhost".into(),
        port.parse().expect("port"),
        dbname.into(),
    )
}

async fn register(t: &TestApp, secret: Value) -> String {
    let arn = aws_sdk_secretsmanager::Client::new(&aws_sdk().await)
        .create_secret()
        .name(format!("rds-{}", uuid::Uuid::new_v4().simple()))
        .secret_string(secret.to_string())
        .send()
        .await
        .expect("create secret")
        .arn
        .expect("arn");
    let (status, body) = t
        .post(
            "/connections",
            json!({"name": "rds", "db_type": "postgresql", "secret_arn": arn}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    body["data"]["id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rds_secret_json_connects_with_verify_full() {
    let t = TestApp::spawn(Backend::Aws).await;
    let (host, port, dbname) = parts(&t.db_url);
    let ca = std::fs::read_to_string(
        std::env::var("AUTODB_TEST_PG_CA").expect("AUTODB_TEST_PG_CA: run with scripts/test"),
    )
    .expect("read CA");
    let secret = json!({
        "username": "postgres", "password": "", "engine": "postgres",
        "host": host, "port": port, "dbname": dbname, "dbInstanceIdentifier": "test",
    });

    // verify-full is the default: the test server's private CA is not trusted...
    let untrusted = register(&t, secret.clone()).await;
    let (status, body) = t
        .post(&format!("/connections/{untrusted}/introspect"), json!({}))
        .await;
    assert_ne!(status, 200, "{body}");
    assert!(
        !body.to_string().contains(&ca[40..80]),
        "no certificate material in the answer"
    );

    // ...and with it in `ca_pem`, the same secret connects, encrypted.
    let mut with_ca = secret;
    with_ca["ca_pem"] = ca.into();
    let conn = register(&t, with_ca).await;
    let (status, body) = t
        .post(&format!("/connections/{conn}/introspect"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let sql = "CREATE TABLE over_tls AS SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid();";
    t.submit(&conn, sql).await;
    t.drain().await;
    assert_eq!(t.count("SELECT count(*) FROM over_tls WHERE ssl").await, 1);
}
