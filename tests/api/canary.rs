//! Nothing leaks (issue 22): the whole cycle through `autodb serve` — register, introspect,
//! analyze, execute, poll, a refused high-risk execute, a second key's approval, errors, the
//! audit trail, `autodb keys` — with a database password and an API key set to recognisable
//! canaries. Every line the process writes (stdout and stderr, at `RUST_LOG=debug`) and every
//! response body is kept, and neither canary may appear in any of them.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::{admin, http_call, json_body, listening, serve_command, stop, TempDir};

const DB_PASSWORD: &str = "CanaryDbPassword7f3e9a1c";
const API_KEY: &str = "adb_CanaryApiKey0b5d2e8f4a6c";

/// Everything seen: log lines and response bodies.
#[derive(Default, Clone)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn push(&self, text: String) {
        self.0.lock().unwrap().push(text);
    }

    fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// One HTTP exchange ([`http_call`]); the status and the JSON body. The whole response is
/// recorded in `seen`.
async fn call(
    seen: &Seen,
    addr: SocketAddr,
    key: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, response) = http_call(addr, key, method, path, body.as_ref())
        .await
        .unwrap();
    seen.push(response.clone());
    (status, json_body(&response))
}

/// Registers `url` as a connection; its id.
async fn register(seen: &Seen, addr: SocketAddr, url: &str) -> String {
    let body = json!({"name": "canary", "db_type": "postgresql", "connection_string": url});
    let (status, created) = call(seen, addr, API_KEY, "POST", "/connections", Some(body)).await;
    assert_eq!(status, 201, "{created}");
    created["data"]["id"].as_str().unwrap().to_string()
}

/// Runs `autodb keys …` on the data directory; its output is recorded.
async fn keys(seen: &Seen, data_dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_autodb"))
        .arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("RUST_LOG", "debug")
        .env_remove("AUTODB_TABLE")
        .output()
        .await
        .unwrap();
    assert!(out.status.success(), "autodb keys {args:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    seen.push(stdout.clone());
    seen.push(String::from_utf8(out.stderr).unwrap());
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_log_line_or_response_carries_the_db_password_or_the_api_key() {
    // A role whose password is the canary, owning a fresh database.
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let (role, db) = (format!("canary_{suffix}"), format!("canary_db_{suffix}"));
    let admin = admin().await;
    for statement in [
        format!("CREATE ROLE {role} LOGIN PASSWORD '{DB_PASSWORD}'"),
        format!("CREATE DATABASE {db} OWNER {role}"),
    ] {
        admin.batch_execute(&statement).await.unwrap();
    }
    let cluster = std::env::var("AUTODB_TEST_PG_URL").unwrap();
    let host = cluster
        .split_once('@')
        .unwrap()
        .1
        .rsplit_once('/')
        .unwrap()
        .0
        .to_string();
    let url = format!("postgresql://{role}:{DB_PASSWORD}@{host}/{db}");
    let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
        .batch_execute(
            "CREATE TABLE ledger (id bigint PRIMARY KEY);
             INSERT INTO ledger SELECT g FROM generate_series(1, 12000) g; ANALYZE ledger;",
        )
        .await
        .unwrap();

    let dir = TempDir::new();
    let data_dir = dir.0.join("data");
    let seen = Seen::default();
    let mut child = serve_command(
        &data_dir,
        &[("AUTODB_API_KEY", API_KEY), ("RUST_LOG", "debug")],
    )
    .stderr(Stdio::piped())
    .arg("--no-sandbox")
    .spawn()
    .expect("start autodb serve");
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let logs = {
        let seen = seen.clone();
        tokio::spawn(async move {
            let mut lines = stderr.lines();
            while let Ok(Some(line)) = lines.next_line().await {
                seen.push(line);
            }
        })
    };
    let addr = listening(&mut stdout, |line| seen.push(line.to_string())).await;
    let printed = {
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stdout.next_line().await {
                seen.push(line);
            }
        })
    };

    // Register, read, introspect.
    let conn = register(&seen, addr, &url).await;
    for (method, path) in [
        ("GET", "/connections".to_string()),
        ("GET", format!("/connections/{conn}")),
        ("POST", format!("/connections/{conn}/introspect")),
        ("GET", format!("/connections/{conn}/schema")),
    ] {
        let (status, body) = call(&seen, addr, API_KEY, method, &path, None).await;
        assert_eq!(status, 200, "{method} {path}: {body}");
    }

    // A low-risk migration, executed and polled to its end.
    let sql = "CREATE TABLE notes (id bigint PRIMARY KEY);";
    let analyze = |sql: &'static str| {
        let (seen, conn) = (seen.clone(), conn.clone());
        async move {
            let (status, report) = call(
                &seen,
                addr,
                API_KEY,
                "POST",
                &format!("/connections/{conn}/migrations/analyze"),
                Some(json!({"sql": sql})),
            )
            .await;
            assert_eq!(status, 200, "{report}");
            report["data"].clone()
        }
    };
    let execute = |report: Value, sql: &'static str| {
        let (seen, conn) = (seen.clone(), conn.clone());
        async move {
            call(
                &seen,
                addr,
                API_KEY,
                "POST",
                "/migrations/execute",
                Some(json!({
                    "approval_token": report["approval_token"],
                    "sql": sql,
                    "connection_id": conn,
                })),
            )
            .await
        }
    };
    let wait = |request: String| {
        let seen = seen.clone();
        async move {
            for _ in 0..300 {
                let (status, body) = call(
                    &seen,
                    addr,
                    API_KEY,
                    "GET",
                    &format!("/migrations/requests/{request}"),
                    None,
                )
                .await;
                assert_eq!(status, 200, "{body}");
                if body["status"] == "completed" || body["status"] == "failed" {
                    return body;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            panic!("request {request} did not finish");
        }
    };
    let report = analyze(sql).await;
    let (status, accepted) = execute(report, sql).await;
    assert_eq!(status, 202, "{accepted}");
    let done = wait(accepted["data"]["request_id"].as_str().unwrap().into()).await;
    assert_eq!(done["status"], "completed", "{done}");

    // A high-risk one: refused alone, approved by a second key made with `autodb keys`.
    let risky = "DROP TABLE ledger;";
    let report = analyze(risky).await;
    let (status, refused) = execute(report.clone(), risky).await;
    assert_eq!(status, 403, "{refused}");
    let approver = keys(&seen, &data_dir, &["create", "--role", "approve"]).await;
    let (status, approved) = call(
        &seen,
        addr,
        approver.trim(),
        "POST",
        &format!(
            "/migrations/analyses/{}/approve",
            report["analysis_id"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    let (status, accepted) = execute(report, risky).await;
    assert_eq!(status, 202, "{accepted}");
    let done = wait(accepted["data"]["request_id"].as_str().unwrap().into()).await;
    assert_eq!(done["status"], "completed", "{done}");

    // Errors: a wrong key, a bad token, a database that does not exist under the canary's
    // credentials, a server that does not answer.
    let (status, _) = call(&seen, addr, "adb_wrong", "GET", "/connections", None).await;
    assert_eq!(status, 401);
    let (status, _) = call(
        &seen,
        addr,
        API_KEY,
        "POST",
        "/migrations/execute",
        Some(json!({"approval_token": "x.y", "sql": sql, "connection_id": conn})),
    )
    .await;
    assert_eq!(status, 401);
    let closed_port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    for bad in [
        format!("postgresql://{role}:{DB_PASSWORD}@{host}/no_such_db_{suffix}"),
        format!("postgresql://{role}:{DB_PASSWORD}@127.0.0.1:{closed_port}/{db}?connect_timeout=2"),
    ] {
        let bad_conn = register(&seen, addr, &bad).await;
        let (status, body) = call(
            &seen,
            addr,
            API_KEY,
            "POST",
            &format!("/connections/{bad_conn}/migrations/analyze"),
            Some(json!({"sql": sql})),
        )
        .await;
        assert!(status >= 400, "{body}");
    }
    let (status, audit) = call(&seen, addr, API_KEY, "GET", "/audit", None).await;
    assert_eq!(status, 200, "{audit}");
    keys(&seen, &data_dir, &["list"]).await;

    // Stop it and collect the rest of its output.
    stop(&mut child).await;
    logs.await.unwrap();
    printed.await.unwrap();

    let all = seen.all();
    assert!(
        all.iter()
            .any(|l| l.contains("DEBUG") || l.contains("INFO")),
        "the logs were captured: {all:?}"
    );
    assert!(all.len() > 30, "{} lines and bodies", all.len());
    // Positive controls: what should be seen was seen — the 4xx log lines of the process,
    // and the one key `autodb keys create` shows by design.
    assert!(all.iter().any(|l| l.contains("client error")), "{all:#?}");
    assert!(all.iter().any(|l| l.contains(approver.trim())));
    for canary in [DB_PASSWORD, API_KEY] {
        let leaks: Vec<&String> = all.iter().filter(|l| l.contains(canary)).collect();
        assert!(leaks.is_empty(), "{canary} leaked: {leaks:#?}");
    }
    drop(admin);
}

#[test]
fn debug_output_of_secret_holding_types_redacts() {
    use secrecy::SecretString;
    let secret = SecretString::from(DB_PASSWORD.to_string());
    assert!(!format!("{secret:?}").contains(DB_PASSWORD));
    let url = format!("postgresql://u:{DB_PASSWORD}@127.0.0.1:5432/db");
    let config: tokio_postgres::Config = url.parse().unwrap();
    assert!(!format!("{config:?}").contains(DB_PASSWORD));
    let ring = autodb::token::KeyRing::generate();
    let stored = ring.to_secret();
    let key_material: Value = serde_json::from_str(&stored).unwrap();
    let material = key_material["keys"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()
        .as_str()
        .unwrap()
        .to_string();
    assert!(!format!("{ring:?}").contains(&material));
    let key = autodb::domain::access::ApiKeyRecord::legacy(&autodb::domain::sha256_hex(
        API_KEY.as_bytes(),
    ));
    assert!(!format!("{key:?}").contains(API_KEY));
    let credentials =
        autodb::app::connections::Credentials::ConnectionString(SecretString::from(url.clone()));
    assert!(!format!("{credentials:?}").contains(DB_PASSWORD));
}
