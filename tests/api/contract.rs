//! The contract of `docs/openapi.yaml` and docs/architecture.md §2–4, run against both backends: every test here runs twice, as
//! `contract::local::NAME` (SQLite, in-process queue, file secrets) and `contract::aws::NAME`
//! (DynamoDB, SQS and Secrets Manager on moto, through the real SDK).

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use chrono::Duration;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};
use autodb::executor::Outcome;

crate::helpers::on_both_backends!(
    happy_path_applies_and_reports_the_diff,
    replay_returns_the_same_request_and_runs_once,
    fifty_concurrent_replays_make_one_request,
    changed_sql_or_connection_is_a_token_mismatch,
    tampered_tokens_are_invalid,
    expired_tokens_are_refused_but_used_ones_still_replay,
    second_migration_on_a_busy_connection_gets_409_then_runs,
    failing_statement_fails_and_applies_nothing,
    api_key_is_required,
    bad_bodies_are_client_errors,
    parse_errors_carry_their_position,
    connections_never_show_credentials,
    executor_completes_from_the_ledger_without_reapplying,
    concurrent_index_runs_outside_the_transaction,
    an_outer_begin_commit_is_the_executors_transaction,
    a_database_held_by_another_session_is_retried_at_once,
    large_results_are_stored_whole,
    failure_after_a_concurrent_index_reports_what_stayed_applied,
    the_ledger_lists_what_completed_by_the_digest_of_its_sql,
    a_late_progress_write_leaves_a_finished_request_as_it_ended,
);

/// Not idempotent: applied twice, it leaves two rows. The tests count them.
const ADD_ONE_USER: &str =
    "INSERT INTO users (id, name) SELECT coalesce(max(id), 0) + 1, 'x' FROM users;";

async fn setup(backend: Backend) -> (TestApp, String) {
    let t = TestApp::spawn(backend).await;
    t.db()
        .await
        .batch_execute("CREATE TABLE users (id bigint PRIMARY KEY, name text)")
        .await
        .expect("seed");
    let conn = t.connect().await;
    (t, conn)
}

fn request_id(body: &Value) -> String {
    body["data"]["request_id"]
        .as_str()
        .expect("request_id")
        .to_string()
}

async fn happy_path_applies_and_reports_the_diff(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = "ALTER TABLE users ADD COLUMN email varchar(20);\n\
               CREATE TABLE audit (id bigint PRIMARY KEY, at timestamptz NOT NULL);\n\
               CREATE INDEX users_email_idx ON users (email);\n\
               ALTER TABLE users DROP COLUMN name;";
    let (status, analysis) = t
        .post(
            &format!("/connections/{conn}/migrations/analyze"),
            json!({"sql": sql}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{analysis}");
    let data = &analysis["data"];
    assert_eq!(data["total_statements"], 4);
    assert_eq!(data["statements"][1]["operation"], "CREATE TABLE");
    assert_eq!(
        data["statements"][2]["sql"],
        "CREATE INDEX users_email_idx ON users (email)"
    );
    assert!(data["expires_at"].is_string());
    let token = data["approval_token"].as_str().unwrap();

    let (status, accepted) = t.execute(token, sql, &conn).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["data"]["status"], "pending");
    let id = request_id(&accepted);
    let pending = t.status(&id).await;
    assert_eq!(pending["status"], "pending");
    assert!(
        pending.get("success").is_none(),
        "the status poll is not enveloped"
    );

    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    let done = t.status(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["sql"], sql);
    assert_eq!(done["connection_id"], conn.as_str());
    let result = &done["result"];
    assert_eq!(result["tables_added"], json!(["audit"]));
    assert_eq!(result["tables_removed"], json!([]));
    assert_eq!(
        result["columns_added"],
        json!([{"table": "users", "column": "email", "type": "varchar(20)"}])
    );
    assert_eq!(
        result["columns_removed"],
        json!([{"table": "users", "column": "name", "type": "text"}])
    );
    assert_eq!(
        result["indexes_added"],
        json!([{"table": "users", "name": "users_email_idx"}])
    );
    assert_eq!(result["statements_executed"], 4);
    assert!(result["execution_time_ms"].is_u64());
    assert!(done["started_at"].is_string() && done["completed_at"].is_string());
    assert!(done["error"].is_null());
    assert_eq!(done["progress"], "Completed 4 of 4 statements");
    assert_eq!(
        t.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email'")
            .await,
        1
    );
}

async fn replay_returns_the_same_request_and_runs_once(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = ADD_ONE_USER;
    let token = t.approve(&conn, sql).await;
    let (s1, first) = t.execute(&token, sql, &conn).await;
    let (s2, second) = t.execute(&token, sql, &conn).await;
    assert_eq!((s1, s2), (StatusCode::ACCEPTED, StatusCode::ACCEPTED));
    let id = request_id(&first);
    assert_eq!(request_id(&second), id);
    let outcomes = t.drain().await;
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Completed)
            .count(),
        1,
        "{outcomes:?}"
    );
    let (s3, third) = t.execute(&token, sql, &conn).await;
    assert_eq!(s3, StatusCode::ACCEPTED);
    assert_eq!(request_id(&third), id);
    assert_eq!(third["data"]["status"], "completed");
    assert!(
        t.drain().await.is_empty(),
        "a completed request is not queued again"
    );
    assert_eq!(t.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(
        t.count("SELECT count(*) FROM autodb.migration_ledger")
            .await,
        1
    );
}

async fn fifty_concurrent_replays_make_one_request(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = ADD_ONE_USER;
    let token = t.approve(&conn, sql).await;
    let t = std::sync::Arc::new(t);
    let calls = (0..50).map(|_| {
        let (t, token, conn) = (t.clone(), token.clone(), conn.clone());
        tokio::spawn(async move { t.execute(&token, sql, &conn).await })
    });
    let mut ids = std::collections::BTreeSet::new();
    for call in calls {
        let (status, body) = call.await.expect("task");
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        ids.insert(request_id(&body));
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let outcomes = t.drain().await;
    assert_eq!(
        outcomes
            .iter()
            .filter(|o| **o == Outcome::Completed)
            .count(),
        1,
        "{outcomes:?}"
    );
    assert_eq!(t.count("SELECT count(*) FROM users").await, 1);
}

async fn changed_sql_or_connection_is_a_token_mismatch(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let other = t.connect().await;
    let sql = "ALTER TABLE users ADD COLUMN age int;";
    let token = t.approve(&conn, sql).await;
    let (status, body) = t.execute(&token, &format!("{sql} "), &conn).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "TOKEN_MISMATCH");
    assert_eq!(body["success"], false);
    let (status, body) = t.execute(&token, sql, &other).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "TOKEN_MISMATCH");
    // A mismatch consumes nothing: the right SQL still goes through.
    let (status, body) = t.execute(&token, sql, &conn).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

async fn tampered_tokens_are_invalid(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = "ALTER TABLE users ADD COLUMN age int;";
    let token = t.approve(&conn, sql).await;
    // Every bit of a sample of positions across payload, dot and signature (the token module's
    // unit test covers every bit of every byte).
    let bytes = token.as_bytes();
    let positions = (0..bytes.len())
        .step_by(bytes.len() / 12)
        .chain([bytes.len() - 1]);
    for i in positions {
        for bit in 0..7 {
            let mut tampered = bytes.to_vec();
            tampered[i] ^= 1 << bit;
            let text = String::from_utf8(tampered).expect("ASCII stays UTF-8 below bit 7");
            let (status, body) = t.execute(&text, sql, &conn).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "byte {i} bit {bit}: {body}"
            );
            assert_eq!(body["error"]["code"], "TOKEN_INVALID");
        }
    }
    let (status, _) = t.execute(&token, sql, &conn).await;
    assert_eq!(
        status,
        StatusCode::ACCEPTED,
        "the genuine token is untouched"
    );
}

async fn expired_tokens_are_refused_but_used_ones_still_replay(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = "ALTER TABLE users ADD COLUMN age int;";
    let unused = t.approve(&conn, sql).await;
    let used = t.approve(&conn, sql).await;
    let (status, first) = t.execute(&used, sql, &conn).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    t.drain().await;
    t.clock.advance(Duration::seconds(3600));
    let (status, body) = t.execute(&unused, sql, &conn).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "TOKEN_EXPIRED");
    let (status, replay) = t.execute(&used, sql, &conn).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{replay}");
    assert_eq!(request_id(&replay), request_id(&first));
    assert_eq!(replay["data"]["status"], "completed");
    // After expiry a replay must still match byte for byte.
    let (status, body) = t.execute(&used, &format!("{sql} "), &conn).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "TOKEN_EXPIRED");
}

async fn second_migration_on_a_busy_connection_gets_409_then_runs(backend: Backend) {
    let (t, conn) = setup(backend).await;
    // The second migration touches another table, so the first one's change is no drift
    // for it (`tests/api/what_runs.rs` covers the same table).
    let (sql1, sql2) = (
        "ALTER TABLE users ADD COLUMN a int;",
        "CREATE TABLE teams (id bigint PRIMARY KEY);",
    );
    let (token1, token2) = (t.approve(&conn, sql1).await, t.approve(&conn, sql2).await);
    let (status, _) = t.execute(&token1, sql1, &conn).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (status, body) = t.execute(&token2, sql2, &conn).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "MIGRATION_IN_PROGRESS");
    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    // The 409 consumed nothing: the same token is accepted once the connection is free.
    let (status, body) = t.execute(&token2, sql2, &conn).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    assert_eq!(t.status(&request_id(&body)).await["status"], "completed");
}

async fn failing_statement_fails_and_applies_nothing(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = "CREATE TABLE first_table (id int);\nALTER TABLE missing_table ADD COLUMN x int;";
    let id = t.submit(&conn, sql).await;
    assert_eq!(t.drain().await, vec![Outcome::Failed]);
    let failed = t.status(&id).await;
    assert_eq!(failed["status"], "failed");
    assert!(failed["result"].is_null());
    let error = &failed["error"];
    assert_eq!(error["code"], "STATEMENT_FAILED");
    assert_eq!(error["statement_index"], 1);
    assert_eq!(error["sqlstate"], "42P01");
    assert!(
        error["message"].as_str().unwrap().contains("missing_table"),
        "{error}"
    );
    assert_eq!(
        t.count("SELECT count(*) FROM pg_class WHERE relname = 'first_table'")
            .await,
        0,
        "the first statement was rolled back"
    );
    // The lock was released: the next migration is accepted.
    let next = "CREATE TABLE second_table (id int);";
    let token = t.approve(&conn, next).await;
    assert_eq!(t.execute(&token, next, &conn).await.0, StatusCode::ACCEPTED);
}

async fn api_key_is_required(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    for (method, path) in [
        (Method::GET, "/api/v1/connections"),
        (Method::POST, "/api/v1/connections"),
        (Method::POST, "/api/v1/migrations/execute"),
        (
            Method::GET,
            "/api/v1/migrations/requests/req_00000000000000000000000000000000",
        ),
    ] {
        for key in [None, Some("wrong"), Some("")] {
            let mut req = Request::builder().method(method.clone()).uri(path);
            if let Some(k) = key {
                req = req.header("x-api-key", k);
            }
            let (status, body) = t.send(req.body(Body::from("{}")).unwrap()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path} {key:?}");
            assert_eq!(body["error"]["code"], "UNAUTHORIZED");
        }
    }
    let health = Request::builder()
        .uri("/api/v1/healthz")
        .body(Body::empty())
        .unwrap();
    let (status, body) = t.send(health).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["success"], true);
}

async fn bad_bodies_are_client_errors(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let analyze = format!("/connections/{conn}/migrations/analyze");
    let raw = |body: Vec<u8>| {
        Request::builder()
            .method(Method::POST)
            .uri(format!("/api/v1{analyze}"))
            .header("x-api-key", &t.api_key)
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap()
    };
    let cases: Vec<(Request<Body>, StatusCode, &str)> = vec![
        (
            raw(vec![b' '; 1024 * 1024 + 1]),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            raw(b"{not json".to_vec()),
            StatusCode::BAD_REQUEST,
            "INVALID_JSON",
        ),
        (raw(b"".to_vec()), StatusCode::BAD_REQUEST, "INVALID_JSON"),
        (
            raw(br#"{"sql": 5}"#.to_vec()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            raw(br#"{}"#.to_vec()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            raw(br#"{"sql": "  "}"#.to_vec()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            raw(br#"{"sql": "-- only a comment"}"#.to_vec()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
        (
            raw(
                json!({"sql": format!("SELECT 1;{}", " ".repeat(300 * 1024))})
                    .to_string()
                    .into_bytes(),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            raw(json!({"sql": "SELECT 1;".repeat(1001)})
                .to_string()
                .into_bytes()),
            StatusCode::UNPROCESSABLE_ENTITY,
            "VALIDATION_ERROR",
        ),
    ];
    for (req, expected, code) in cases {
        let (status, body) = t.send(req).await;
        assert_eq!(
            (status, body["error"]["code"].as_str().unwrap()),
            (expected, code),
            "{body}"
        );
        assert_eq!(body["success"], false);
    }
    let (status, body) = t
        .post(
            "/migrations/execute",
            json!({"sql": "x", "connection_id": conn}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR")
    );
    let (status, body) = t
        .post(
            "/connections",
            json!({"name": "x", "db_type": "mysql", "connection_string": "postgresql://h/db"}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR")
    );
    let (status, _) = t
        .post(
            "/connections/conn_ffffffffffffffffffffffffffffffff/migrations/analyze",
            json!({"sql": "SELECT 1"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = t
        .get("/migrations/requests/req_ffffffffffffffffffffffffffffffff")
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let (status, _) = t.get("/migrations/requests/../../etc/passwd").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, body) = t.get("/migrations/requests/%FF%FE").await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    // A secret that does not exist is the registrant's mistake, reported as such, not a 500.
    let (_, created) = t
        .post("/connections", json!({"name": "x", "db_type": "postgresql", "secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:missing"}))
        .await;
    let missing = created["data"]["id"].as_str().unwrap();
    let (status, body) = t
        .post(
            &format!("/connections/{missing}/migrations/analyze"),
            json!({"sql": "SELECT 1"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("secret was not found"),
        "{body}"
    );
    let (status, body) = t.get("/no/such/route").await;
    assert_eq!(
        (status, body["error"]["code"].as_str().unwrap()),
        (StatusCode::NOT_FOUND, "NOT_FOUND")
    );
    let (status, body) = t
        .send(t.request(Method::DELETE, "/migrations/execute", None))
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{body}");
}

async fn parse_errors_carry_their_position(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = "ALTER TABLE users ADD COLUMN a int;\nALTER TABEL users ADD COLUMN b int;";
    let (status, body) = t
        .post(
            "/migrations/analyze",
            json!({"sql": sql, "connection_id": conn}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["code"], "SQL_PARSE_ERROR");
    let details = &body["error"]["details"];
    assert_eq!(details["statement_index"], 1);
    assert_eq!(details["line"], 2);
    assert_eq!(details["column"], 7);
    assert_eq!(details["position"], 43, "1-based, as PostgreSQL counts");
}

async fn connections_never_show_credentials(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let secret_url = "postgresql://app:Sup3rSecret@127.0.0.1:1/db";
    let (status, created) = t
        .post(
            "/connections",
            json!({"name": "prod", "db_type": "postgresql", "connection_string": secret_url}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let id = created["data"]["id"].as_str().unwrap().to_string();
    let (_, listed) = t.get("/connections").await;
    let (status, fetched) = t.get(&format!("/connections/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(fetched["data"]["name"], "prod");
    assert_eq!(listed["data"].as_array().unwrap().len(), 1);
    for body in [&created, &listed, &fetched] {
        let text = body.to_string();
        assert!(
            !text.contains("Sup3rSecret") && !text.contains("secret"),
            "{text}"
        );
    }
    let (status, body) = t
        .post("/connections", json!({"name": "bad", "db_type": "postgresql", "connection_string": "host=x port=notaport password=Sup3rSecret"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!body.to_string().contains("Sup3rSecret"));
}

async fn executor_completes_from_the_ledger_without_reapplying(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = "INSERT INTO users (id, name) VALUES (1, 'once');";
    let id = t.submit(&conn, sql).await;
    // An earlier attempt committed (the ledger says so) and crashed before recording it.
    let db = t.db().await;
    db.batch_execute(
        "CREATE SCHEMA autodb; CREATE TABLE autodb.migration_ledger (request_id text PRIMARY KEY, \
         sql_sha256 text NOT NULL, result text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .unwrap();
    let recorded = json!({"tables_added": [], "tables_removed": [], "columns_added": [], "columns_removed": [],
        "columns_altered": [], "indexes_added": [], "indexes_removed": [], "constraints_added": [],
        "constraints_removed": [], "statements_executed": 1, "execution_time_ms": 7});
    db.execute(
        "INSERT INTO autodb.migration_ledger (request_id, sql_sha256, result) VALUES ($1, 'x', $2)",
        &[&id, &recorded.to_string()],
    )
    .await
    .unwrap();
    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    let done = t.status(&id).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["result"]["execution_time_ms"], 7);
    assert_eq!(
        t.count("SELECT count(*) FROM users").await,
        0,
        "not applied a second time"
    );
}

async fn concurrent_index_runs_outside_the_transaction(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = "ALTER TABLE users ADD COLUMN email text;\n\
               CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n\
               ALTER TABLE users ADD COLUMN phone text;";
    let id = t.submit(&conn, sql).await;
    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    let done = t.status(&id).await;
    assert_eq!(done["status"], "completed", "{done}");
    let result = &done["result"];
    assert_eq!(result["statements_executed"], 3);
    assert_eq!(
        result["indexes_added"],
        json!([{"table": "users", "name": "users_email_idx"}])
    );
    assert_eq!(result["columns_added"].as_array().unwrap().len(), 2);
    assert_eq!(
        t.count("SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'users_email_idx' AND i.indisvalid").await,
        1
    );
    assert_eq!(
        t.count("SELECT count(*) FROM autodb.migration_steps").await,
        3,
        "each statement of a split migration is recorded"
    );
}

async fn failure_after_a_concurrent_index_reports_what_stayed_applied(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = "ALTER TABLE users ADD COLUMN email text;\n\
               CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\n\
               ALTER TABLE no_such_table ADD COLUMN x int;";
    let id = t.submit(&conn, sql).await;
    assert_eq!(t.drain().await, vec![Outcome::Failed]);
    let failed = t.status(&id).await;
    let error = &failed["error"];
    assert_eq!(error["statement_index"], 2);
    assert_eq!(error["sqlstate"], "42P01");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("statements 1 to 2 were committed"),
        "{error}"
    );
    assert_eq!(failed["progress"], "Failed at statement 3");
    assert_eq!(
        t.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'email'").await,
        1,
        "what the error says stayed applied did"
    );
}

async fn an_outer_begin_commit_is_the_executors_transaction(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let analyze = format!("/connections/{conn}/migrations/analyze");
    for sql in [
        "ALTER TABLE users ADD COLUMN a int; COMMIT; ALTER TABLE users ADD COLUMN b int;",
        "BEGIN; ALTER TABLE users ADD COLUMN a int; ROLLBACK;",
        "BEGIN; ALTER TABLE users ADD COLUMN a int;",
    ] {
        let (status, body) = t.post(&analyze, json!({"sql": sql})).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{sql}: {body}");
        assert!(body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("own transaction"));
    }
    let sql = "BEGIN;\nALTER TABLE users ADD COLUMN a int;\nALTER TABLE no_such_table ADD COLUMN b int;\nCOMMIT;";
    let token = t.approve(&conn, sql).await;
    let (_, body) = t.execute(&token, sql, &conn).await;
    assert_eq!(t.drain().await, vec![Outcome::Failed]);
    let failed = t.status(&request_id(&body)).await;
    assert_eq!(failed["error"]["statement_index"], 2);
    assert_eq!(
        t.count("SELECT count(*) FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'a'").await,
        0,
        "the wrapper did not commit the first statement on its own"
    );
    let sql = "BEGIN;\nALTER TABLE users ADD COLUMN a int;\nCOMMIT;";
    let token = t.approve(&conn, sql).await;
    let (_, body) = t.execute(&token, sql, &conn).await;
    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    let done = t.status(&request_id(&body)).await;
    assert_eq!(done["result"]["statements_executed"], 1);
    assert_eq!(done["result"]["columns_added"][0]["column"], "a");
}

async fn a_database_held_by_another_session_is_retried_at_once(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let sql = "ALTER TABLE users ADD COLUMN held int;";
    let id = t.submit(&conn, sql).await;
    // Another executor's session holds the database's advisory lock.
    let other = t.db().await;
    other
        .query_one(
            "SELECT pg_advisory_lock($1)",
            &[&autodb::executor::ADVISORY_KEY],
        )
        .await
        .unwrap();
    let id = autodb::domain::RequestId::parse(&id).unwrap();
    assert_eq!(
        autodb::executor::run_job(&t.app.executor(), &id)
            .await
            .unwrap(),
        Outcome::Busy
    );
    assert_eq!(t.status(id.as_str()).await["status"], "executing");
    other
        .batch_execute("SELECT pg_advisory_unlock_all()")
        .await
        .unwrap();
    // No clock moved: the busy attempt gave its claim back instead of holding it 15 minutes.
    assert_eq!(
        autodb::executor::run_job(&t.app.executor(), &id)
            .await
            .unwrap(),
        Outcome::Completed
    );
}

async fn large_results_are_stored_whole(backend: Backend) {
    let (t, conn) = setup(backend).await;
    // 600 added columns: a result of ~40 KB of JSON, stored compressed in DynamoDB.
    let sql: String = (0..600)
        .map(|i| format!("ALTER TABLE users ADD COLUMN column_with_a_long_name_{i} varchar(20);\n"))
        .collect();
    let id = t.submit(&conn, &sql).await;
    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    let done = t.status(&id).await;
    let added = done["result"]["columns_added"].as_array().unwrap();
    assert_eq!(added.len(), 600);
    assert_eq!(added[599]["column"], "column_with_a_long_name_599");
    assert!(done["result"].to_string().len() > 16 * 1024);
}

/// `GET /connections/{id}/migrations`: the database's own ledger, read back — empty before
/// autodb applied anything, then one row per completed request, keyed by the SHA-256 of
/// its SQL (what `autodb deploy` compares files with); a failed request is not in it.
async fn the_ledger_lists_what_completed_by_the_digest_of_its_sql(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let path = format!("/connections/{conn}/migrations");
    let (status, before) = t.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before["data"]["applied"], json!([]));

    let sql = "ALTER TABLE users ADD COLUMN email text;";
    let id = t.submit(&conn, sql).await;
    t.drain().await;
    let failing = "ALTER TABLE users ADD COLUMN name text;";
    let failed = t.submit(&conn, failing).await;
    t.drain().await;
    assert_eq!(t.status(&failed).await["status"], "failed");

    let (status, after) = t.get(&path).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    let applied = after["data"]["applied"].as_array().expect("applied");
    assert_eq!(applied.len(), 1, "{after}");
    assert_eq!(applied[0]["request_id"], id.as_str());
    assert_eq!(
        applied[0]["sql_sha256"],
        autodb::domain::sha256_hex(sql.as_bytes())
    );
    let recorded: i64 = t
        .db()
        .await
        .query_one("SELECT count(*) FROM autodb.migration_ledger", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(recorded, 1, "the answer is the database's");

    let (status, missing) = t
        .get("/connections/conn_00000000000000000000000000000000/migrations")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
}

/// The progress reporter writes off the migration's path; a write still in flight when the
/// request ended must not replace its final progress (seen as "Applying statement 3 of 3" on a
/// failed request).
async fn a_late_progress_write_leaves_a_finished_request_as_it_ended(backend: Backend) {
    let (t, conn) = setup(backend).await;
    let id = t
        .submit(&conn, "ALTER TABLE users ADD COLUMN note text;")
        .await;
    assert_eq!(t.drain().await, vec![Outcome::Completed]);
    let before = t.status(&id).await;
    let request = autodb::domain::RequestId::parse(&id).unwrap();
    t.app
        .store
        .set_progress(&request, "Applying statement 1 of 1")
        .await
        .unwrap();
    let after = t.status(&id).await;
    assert_eq!(after["progress"], before["progress"], "{after}");
    assert_eq!(after["status"], "completed");
}
