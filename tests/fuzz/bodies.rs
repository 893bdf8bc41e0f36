//! Every route's body parsing (and the audit route's query), through the real router over
//! the local backend: arbitrary bytes, and JSON built from the fields the routes read with
//! values of every type. No case may panic or answer 5xx, and every answer is the envelope.

use std::sync::Arc;

use autodb::adapters::local::service;
use autodb::app::api_keys::{self, NewKey};
use autodb::app::Settings;
use autodb::domain::access::{Principal, Role};
use autodb::ports::{ManualClock, Store};
use axum::body::Body;
use axum::http::{Method, Request};
use axum::Router;
use chrono::{TimeZone, Utc};
use http_body_util::BodyExt;
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};
use secrecy::ExposeSecret;
use serde_json::{json, Value};
use tower::ServiceExt;

const NO_CONN: &str = "conn_0123456789abcdef0123456789abcdef";
const NO_ANALYSIS: &str = "ana_0123456789abcdef0123456789abcdef";

/// The fields the routes read.
const FIELDS: &[&str] = &[
    "sql",
    "connection_id",
    "approval_token",
    "name",
    "db_type",
    "connection_string",
    "secret_arn",
    "lock_timeout_ms",
    "max_connections",
    "production",
    "max_risk",
    "allow_unsandboxed_approval",
    "self_approve_max_risk",
    "reason",
    "rows_per_table",
    "validation_queries",
];

/// Bodies a random search rarely produces.
fn seeds() -> Vec<Vec<u8>> {
    vec![
        Vec::new(),
        b"null".to_vec(),
        b"{}".to_vec(),
        b"[]".to_vec(),
        b"\"\"".to_vec(),
        // Deeper than serde_json's recursion limit.
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).into_bytes(),
        format!("{{\"sql\": {}}}", "[".repeat(10_000)).into_bytes(),
        // Over the 1 MiB body limit.
        vec![b' '; 1024 * 1024 + 1],
        json!({"sql": "x".repeat(300 * 1024), "connection_id": NO_CONN})
            .to_string()
            .into_bytes(),
        json!({"name": "n", "db_type": "postgresql", "connection_string": "postgresql://u:p@127.0.0.1:1/d"})
            .to_string()
            .into_bytes(),
        json!({"name": "n", "db_type": "postgresql", "secret_arn": "arn:x", "lock_timeout_ms": -1})
            .to_string()
            .into_bytes(),
        json!({"max_risk": "critical"}).to_string().into_bytes(),
        json!({"self_approve_max_risk": null, "production": true}).to_string().into_bytes(),
        b"{\"sql\": \"\\ud800\"}".to_vec(),
        vec![0xff, 0xfe, 0x00],
    ]
}

struct Fixture {
    router: Router,
    key: String,
    /// A registered connection (never connected to), for the policy routes.
    conn: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Fixture {
    async fn new() -> Self {
        let dir = TempDir(
            std::env::temp_dir().join(format!("autodb-fuzz-{}", uuid::Uuid::new_v4().simple())),
        );
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap(),
        ));
        let settings = Settings {
            secret_prefix: "fuzz/".into(),
            ..Settings::default()
        };
        let parts = service::open(&dir.0.join("data"), settings, clock).expect("local service");
        let app = parts.app;
        let by = Principal::operator("fuzz");
        let new = NewKey {
            tenant: "default".into(),
            roles: Role::ALL.into_iter().collect(),
            connections: None,
        };
        let store: &dyn Store = app.store.as_ref();
        let (key, _) = api_keys::create(store, Utc::now(), &by, new).await.unwrap();
        let conn = autodb::app::connections::register(
            &app,
            &by,
            autodb::app::connections::NewConnection {
                name: "fuzz".into(),
                db_type: autodb::domain::DbType::Postgresql,
                credentials: autodb::app::connections::Credentials::SecretRef("arn:fuzz".into()),
                lock_timeout_ms: None,
                max_connections: None,
                production: false,
            },
        )
        .await
        .unwrap()
        .id
        .to_string();
        Self {
            router: autodb::api::router(app),
            key: key.expose_secret().to_string(),
            conn,
            _dir: dir,
        }
    }

    /// The routes with a body, and where a body can reach without a database.
    fn routes(&self) -> Vec<(Method, String)> {
        let c = &self.conn;
        vec![
            (Method::POST, "/connections".into()),
            (Method::PUT, format!("/connections/{c}/auto-approve")),
            (Method::PUT, format!("/connections/{c}/sandbox-policy")),
            (Method::PUT, format!("/connections/{c}/approval-policy")),
            (
                Method::POST,
                format!("/connections/{NO_CONN}/migrations/analyze"),
            ),
            (
                Method::POST,
                format!("/connections/{NO_CONN}/migrations/sandbox"),
            ),
            (Method::POST, "/migrations/analyze".into()),
            (Method::POST, "/migrations/execute".into()),
            (
                Method::POST,
                format!("/migrations/analyses/{NO_ANALYSIS}/approve"),
            ),
            (
                Method::POST,
                format!("/migrations/analyses/{NO_ANALYSIS}/reject"),
            ),
        ]
    }

    /// Sends one request; fails the case on a 5xx or a body that is not the envelope.
    async fn check(&self, method: Method, path: &str, body: Vec<u8>) -> Result<(), TestCaseError> {
        let request = Request::builder()
            .method(method.clone())
            .uri(format!("/api/v1{path}"))
            .header("x-api-key", &self.key)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        prop_assert!(
            !status.is_server_error(),
            "{method} {path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        );
        let body: Value = serde_json::from_slice(&bytes)
            .map_err(|e| TestCaseError::fail(format!("{method} {path}: not JSON: {e}")))?;
        prop_assert!(body["success"].is_boolean(), "{method} {path}: {body}");
        Ok(())
    }
}

fn value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        any::<u64>().prop_map(Value::from),
        ".{0,64}".prop_map(Value::from),
        prop_oneof![
            Just("low"),
            Just("medium"),
            Just("high"),
            Just("critical"),
            Just("postgresql"),
            Just("SELECT 1;"),
            Just("DROP TABLE t;"),
            Just(NO_CONN),
            Just("e30.AA"),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            proptest::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::btree_map(
        prop_oneof![
            proptest::sample::select(FIELDS).prop_map(String::from),
            "[a-z_]{1,12}"
        ],
        value(),
        0..8,
    )
    .prop_map(|fields| serde_json::to_vec(&fields).unwrap())
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..512),
        json_body(),
        json_body(),
        json_body(),
    ]
}

fn runner(name: &'static str) -> TestRunner {
    TestRunner::new(Config {
        cases: super::cases(),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(name))),
        ..Config::default()
    })
}

#[test]
fn every_route_answers_any_body_with_a_client_error_or_success() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fixture = rt.block_on(Fixture::new());
    let routes = fixture.routes();
    for (method, path) in &routes {
        for seed in seeds() {
            rt.block_on(fixture.check(method.clone(), path, seed))
                .unwrap_or_else(|e| panic!("seed on {method} {path}: {e}"));
        }
    }
    let mut runner = runner("tests/fuzz/bodies.proptest-regressions");
    runner
        .run(
            &(proptest::sample::select(routes), body()),
            |((method, path), body)| rt.block_on(fixture.check(method, &path, body)),
        )
        .unwrap();
}

#[test]
fn the_audit_query_answers_any_query_with_a_client_error_or_success() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fixture = rt.block_on(Fixture::new());
    let pair = (
        prop_oneof![
            Just("connection".to_string()),
            Just("since".to_string()),
            Just("until".to_string()),
            Just("limit".to_string()),
            "[a-z]{0,6}",
        ],
        prop_oneof![
            "[ -~]{0,40}",
            Just("2026-01-01T12:00:00Z".to_string()),
            Just("99999999999999999999".to_string()),
            Just("%FF%00".to_string()),
        ],
    );
    let mut runner = runner("tests/fuzz/audit.proptest-regressions");
    runner
        .run(&proptest::collection::vec(pair, 0..5), |pairs| {
            let query: Vec<String> = pairs
                .iter()
                .map(|(k, v)| {
                    let v: String = v
                        .chars()
                        .map(|c| if c == ' ' || c == '#' { '+' } else { c })
                        .collect();
                    format!("{k}={v}")
                })
                .collect();
            let path = format!("/audit?{}", query.join("&"));
            // A query that is not a valid URI cannot be sent at all; skip it.
            if path.parse::<axum::http::Uri>().is_err() {
                return Ok(());
            }
            rt.block_on(fixture.check(Method::GET, &path, Vec::new()))
        })
        .unwrap();
}
