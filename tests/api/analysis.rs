//! The analysis as the service delivers it: introspection of a live database, snapshots that
//! outgrow a DynamoDB item, and verdicts that depend on what is really in the tables.

use autodb::adapters::aws::dynamo::CHUNK_BYTES;
use autodb::domain::{ConnectionId, SnapshotRecord};
use autodb::ports::Clock;
use autodb::schema::codec;
use autodb_core::schema::model::{Column, Table, TableKind};
use autodb_core::schema::SchemaSnapshot;
use chrono::Duration;
use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

const SHOP: &str = autodb::demo::SHOP_SQL;

async fn shop(backend: Backend) -> (TestApp, String) {
    let t = TestApp::spawn(backend).await;
    t.db().await.batch_execute(SHOP).await.expect("shop schema");
    let conn = t.connect().await;
    (t, conn)
}

async fn analyze(t: &TestApp, conn: &str, sql: &str) -> Value {
    let (status, body) = t
        .post(
            &format!("/connections/{conn}/migrations/analyze"),
            json!({"sql": sql}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_reads_tables_keys_views_and_sizes() {
    let (t, conn) = shop(Backend::Local).await;
    t.db()
        .await
        .batch_execute(
            "CREATE TYPE order_state AS ENUM ('new', 'paid');
             CREATE VIEW big_spenders AS SELECT c.id, count(*) FROM customers c JOIN orders o ON o.customer_id = c.id GROUP BY c.id;",
        )
        .await
        .unwrap();
    let (status, missing) = t.get(&format!("/connections/{conn}/schema")).await;
    assert_eq!(
        (status.as_u16(), missing["error"]["code"].as_str()),
        (404, Some("NOT_FOUND"))
    );

    let (status, body) = t
        .post(&format!("/connections/{conn}/introspect"), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    let data = &body["data"];
    assert_eq!(data["table_count"], 4);
    assert_eq!(
        data["tables"],
        json!(["customers", "order_items", "orders", "products"])
    );
    assert_eq!(data["schemas_introspected"], json!(["public"]));
    assert!(data["snapshot_id"].as_str().unwrap().starts_with("snap_"));

    let (status, body) = t.get(&format!("/connections/{conn}/schema")).await;
    assert_eq!(status, 200);
    let schema = &body["data"]["schema"];
    let table = |name: &str| {
        schema["tables"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["name"] == name)
            .unwrap()
            .clone()
    };
    let orders = table("orders");
    assert_eq!(
        orders["estimated_rows"], 5000,
        "ANALYZE ran in the shop script"
    );
    assert!(orders["total_bytes"].as_i64().unwrap() > 8192);
    let fk = orders["constraints"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "foreign_key")
        .unwrap();
    assert_eq!(
        (fk["references"].as_str(), &fk["columns"]),
        (Some("customers"), &json!(["customer_id"]))
    );
    let status_col = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "status")
        .unwrap();
    assert_eq!(status_col["data_type"], "character varying(20)");
    assert_eq!(status_col["default"], "'new'::character varying");
    assert_eq!(
        schema["views"][0]["depends_on"],
        json!(["customers", "orders"])
    );
    assert_eq!(schema["enums"][0]["labels"], json!(["new", "paid"]));
    assert_eq!(
        body["data"]["schema_fingerprint"],
        data["schema_fingerprint"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_reports_blast_radius_and_binds_the_schema() {
    let (t, conn) = shop(Backend::Local).await;
    t.db().await.batch_execute("CREATE VIEW customer_names AS SELECT id, name FROM customers;
             CREATE VIEW order_totals AS SELECT order_id, sum(unit_price) FROM order_items GROUP BY order_id;").await.unwrap();
    let report = analyze(
        &t,
        &conn,
        "ALTER TABLE customers ALTER COLUMN name SET NOT NULL;",
    )
    .await;
    let affected = report["affected_tables"].as_array().unwrap();
    let find = |name: &str| {
        affected
            .iter()
            .find(|a| a["table"] == name)
            .unwrap_or_else(|| panic!("{name}: {affected:?}"))
    };
    assert_eq!(find("customers")["impact"], "direct");
    assert_eq!(find("customers")["estimated_rows"], 2000);
    assert_eq!(find("orders")["impact"], "cascade");
    assert_eq!(
        find("orders")["cascade_path"],
        json!(["customers", "orders"])
    );
    assert_eq!(
        find("order_items")["cascade_path"],
        json!(["customers", "orders", "order_items"])
    );
    assert!(
        affected.iter().all(|a| a["table"] != "products"),
        "products does not reference customers"
    );
    let views: Vec<&str> = report["dependent_views"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["view"].as_str().unwrap())
        .collect();
    // A view reading the changed table queues behind its lock; one reading only a table
    // further down the foreign keys does not.
    assert_eq!(views, vec!["customer_names"]);
    let statement = &report["statements"][0];
    assert_eq!(statement["lock"]["mode"], "ACCESS EXCLUSIVE");
    assert_eq!(statement["scans_table"], true);
    let rules: Vec<&str> = statement["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(
        !rules.contains(&"missing-lock-timeout"),
        "the executor sets lock_timeout: {rules:?}"
    );
    assert!(report["schema_fingerprint"].as_str().unwrap().len() == 64);

    // 12 000 rows are few, but dropping them cannot be undone.
    let drop = analyze(&t, &conn, "DROP TABLE order_items;").await;
    assert_eq!(drop["statements"][0]["destructive"], true);
    assert_eq!(drop["risk_category"], "high", "{}", drop["risk_score"]);

    // The token carries the fingerprint of the part of that snapshot the verdict depends on
    // (the drift scope), so the executor can tell whether it still holds.
    let token = report["approval_token"].as_str().unwrap();
    let claims = autodb::token::verify_signature(&t.app.keys.current(), token).unwrap();
    let snapshot = t
        .app
        .store
        .latest_snapshot(&autodb::domain::ConnectionId::parse(&conn).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(report["schema_fingerprint"], snapshot.fingerprint.as_str());
    let scope: Vec<String> = serde_json::from_value(report["drift_scope"].clone()).unwrap();
    assert!(!scope.is_empty());
    assert_eq!(
        claims.schema_fp,
        autodb_core::schema::scope_fingerprint(&snapshot.schema, &scope)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_statement_scores_by_table_size() {
    let t = TestApp::spawn(Backend::Local).await;
    t.db()
        .await
        .batch_execute(
            "CREATE TABLE small (id bigint PRIMARY KEY, v integer, label varchar(20));
             CREATE TABLE large (id bigint PRIMARY KEY, v integer, label varchar(20));
             INSERT INTO large SELECT g, g, 'x' FROM generate_series(1, 1000000) g;
             ANALYZE small; ANALYZE large;",
        )
        .await
        .unwrap();
    let conn = t.connect().await;
    let score = |r: &Value| r["risk_score"].as_u64().unwrap();
    let rewrite_small = analyze(&t, &conn, "ALTER TABLE small ALTER COLUMN v TYPE bigint;").await;
    let rewrite_large = analyze(&t, &conn, "ALTER TABLE large ALTER COLUMN v TYPE bigint;").await;
    assert_eq!(rewrite_large["statements"][0]["rewrites_table"], true);
    assert_eq!(
        rewrite_large["affected_tables"][0]["estimated_rows"],
        1_000_000
    );
    assert!(
        score(&rewrite_large) >= 75,
        "rewriting a million rows is critical: {}",
        score(&rewrite_large)
    );
    assert!(
        score(&rewrite_small) < 50,
        "the same on an empty table is not: {}",
        score(&rewrite_small)
    );
    assert_eq!(rewrite_large["risk_category"], "critical");

    let index_small = analyze(&t, &conn, "CREATE INDEX small_v ON small (v);").await;
    let index_large = analyze(&t, &conn, "CREATE INDEX large_v ON large (v);").await;
    assert!(
        score(&index_large) > score(&index_small),
        "{} vs {}",
        score(&index_large),
        score(&index_small)
    );

    // Binary-coercible changes are recognized from the snapshot's column types.
    let widen = analyze(&t, &conn, "ALTER TABLE large ALTER COLUMN label TYPE text;").await;
    assert_eq!(widen["statements"][0]["rewrites_table"], false, "{widen}");
    assert!(score(&widen) < score(&rewrite_large));
    let longer = analyze(
        &t,
        &conn,
        "ALTER TABLE large ALTER COLUMN label TYPE varchar(50);",
    )
    .await;
    assert_eq!(longer["statements"][0]["rewrites_table"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_uses_a_fresh_snapshot_and_takes_a_new_one_when_stale() {
    let (t, conn) = shop(Backend::Local).await;
    let first = analyze(&t, &conn, "SELECT 1;").await;
    let again = analyze(&t, &conn, "SELECT 1;").await;
    assert_eq!(
        first["snapshot_id"], again["snapshot_id"],
        "a fresh snapshot is reused"
    );
    t.db()
        .await
        .batch_execute("ALTER TABLE products ADD COLUMN color text")
        .await
        .unwrap();
    t.clock.advance(Duration::seconds(
        t.app.settings.snapshot_max_age_seconds + 1,
    ));
    let later = analyze(&t, &conn, "SELECT 1;").await;
    assert_ne!(later["snapshot_id"], first["snapshot_id"]);
    assert_ne!(
        later["schema_fingerprint"], first["schema_fingerprint"],
        "the new column changed the schema"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagila_loads_introspects_and_cascades() {
    let t = TestApp::spawn(Backend::Local).await;
    let pagila = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pagila.sql"
    ))
    .expect("tests/fixtures/pagila.sql");
    t.db()
        .await
        .batch_execute(&pagila)
        .await
        .expect("load pagila");
    let conn = t.connect().await;
    let report = analyze(
        &t,
        &conn,
        "ALTER TABLE country ADD COLUMN iso char(2) NOT NULL DEFAULT 'XX';",
    )
    .await;
    let affected = report["affected_tables"].as_array().unwrap();
    let path = |name: &str| {
        affected
            .iter()
            .find(|a| a["table"] == name)
            .map(|a| a["cascade_path"].clone())
    };
    assert_eq!(path("city"), Some(json!(["country", "city"])));
    assert_eq!(path("address"), Some(json!(["country", "city", "address"])));
    assert_eq!(
        path("customer"),
        Some(json!(["country", "city", "address", "customer"]))
    );
    let (_, schema) = t.get(&format!("/connections/{conn}/schema")).await;
    let tables = schema["data"]["schema"]["tables"].as_array().unwrap();
    assert!(
        tables
            .iter()
            .any(|t| t["name"] == "payment" && t["kind"] == "partitioned"),
        "the partitioned table"
    );
    assert!(
        tables.iter().any(|t| t["partition_of"] == "payment"),
        "and its partitions"
    );
    let views = schema["data"]["schema"]["views"].as_array().unwrap();
    assert!(views.iter().any(|v| v["materialized"] == true));
}

/// A schema of a few thousand tables with names that do not compress away.
fn big_snapshot() -> SchemaSnapshot {
    let tables = (0..2500)
        .map(|i| Table {
            schema: "public".into(),
            name: format!("t_{i}_{}", uuid::Uuid::new_v4().simple()),
            kind: TableKind::Regular,
            columns: (0..12)
                .map(|c| Column {
                    name: format!("c{c}_{}", uuid::Uuid::new_v4().simple()),
                    data_type: "character varying(200)".into(),
                    nullable: c % 2 == 0,
                    default: None,
                    identity: None,
                    generated: None,
                })
                .collect(),
            indexes: vec![],
            constraints: vec![],
            estimated_rows: i,
            total_bytes: i * 8192,
            partition_of: None,
            inherits: vec![],
        })
        .collect();
    SchemaSnapshot {
        schemas: vec!["public".into()],
        tables,
        ..Default::default()
    }
}

async fn large_snapshots_round_trip(backend: Backend) {
    let t = TestApp::spawn(backend).await;
    let schema = big_snapshot();
    let compressed = codec::encode(&schema).len();
    assert!(
        compressed > 2 * CHUNK_BYTES,
        "the test must exercise chunking: {compressed} bytes"
    );
    let record = SnapshotRecord {
        snapshot_id: "snap_big".into(),
        connection_id: ConnectionId::generate(),
        taken_at: t.clock.now(),
        fingerprint: schema.fingerprint(),
        schema,
    };
    t.app
        .store
        .put_snapshot(&record)
        .await
        .expect("a large snapshot fits the store");
    let read = t
        .app
        .store
        .latest_snapshot(&record.connection_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read, record);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_snapshots_round_trip_locally() {
    large_snapshots_round_trip(Backend::Local).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_snapshots_round_trip_on_dynamodb() {
    large_snapshots_round_trip(Backend::Aws).await;
}
