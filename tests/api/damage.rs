//! Verdicts that see what a statement does to data and behaviour, on a real server: each
//! statement is analyzed against the introspected database, its band asserted, then it is run
//! through autodb and the damage the verdict announced is observed in the database.

use serde_json::{json, Value};

use crate::helpers::{Backend, TestApp};

async fn analyze(t: &TestApp, conn: &str, sql: &str) -> Value {
    let (status, body) = t.analyze(conn, sql).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

fn rules(report: &Value) -> Vec<String> {
    report["statements"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["findings"].as_array().unwrap().clone())
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_where_true_is_data_loss_and_loses_the_rows() {
    let t = TestApp::spawn(Backend::Local).await;
    t.db()
        .await
        .batch_execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY, total numeric);
             INSERT INTO orders SELECT g, g FROM generate_series(1, 300000) g;
             ANALYZE orders;",
        )
        .await
        .unwrap();
    let conn = t.connect().await;
    let sql = "DELETE FROM orders WHERE true;";
    let report = analyze(&t, &conn, sql).await;
    assert_eq!(report["statements"][0]["destructive"], true, "{report}");
    assert_eq!(report["risk_category"], "critical", "{report}");
    assert!(rules(&report).contains(&"data-loss".to_string()));
    t.submit(&conn, sql).await;
    t.drain().await;
    assert_eq!(t.count("SELECT count(*) FROM orders").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncating_an_empty_parent_counts_its_inheritance_child() {
    let t = TestApp::spawn(Backend::Local).await;
    t.db()
        .await
        .batch_execute(
            "CREATE TABLE events (id bigint, at timestamptz);
             CREATE TABLE events_2024 () INHERITS (events);
             INSERT INTO events_2024 SELECT g, now() FROM generate_series(1, 200000) g;
             ANALYZE events; ANALYZE events_2024;",
        )
        .await
        .unwrap();
    let conn = t.connect().await;
    let sql = "TRUNCATE events;";
    let report = analyze(&t, &conn, sql).await;
    let score = report["risk_score"].as_u64().unwrap();
    assert!(score >= 50, "{report}");
    let child = report["affected_tables"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["table"] == "events_2024")
        .unwrap_or_else(|| panic!("{report}"));
    assert_eq!(child["estimated_rows"], json!(200000));
    t.submit(&conn, sql).await;
    t.drain().await;
    assert_eq!(t.count("SELECT count(*) FROM events_2024").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replacing_a_trigger_function_names_the_trigger_and_silences_writes() {
    let t = TestApp::spawn(Backend::Local).await;
    t.db()
        .await
        .batch_execute(
            "CREATE TABLE orders (id bigint PRIMARY KEY);
             CREATE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql
               AS $$ BEGIN RETURN NEW; END $$;
             CREATE TRIGGER orders_audit BEFORE INSERT ON orders
               FOR EACH ROW EXECUTE FUNCTION audit_fn();
             INSERT INTO orders VALUES (1);",
        )
        .await
        .unwrap();
    let conn = t.connect().await;
    let sql = "CREATE OR REPLACE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql \
               AS $$ BEGIN RETURN NULL; END $$;";
    let report = analyze(&t, &conn, sql).await;
    assert!(report["risk_score"].as_u64().unwrap() >= 25, "{report}");
    let finding = report["statements"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "behaviour-change")
        .unwrap_or_else(|| panic!("{report}"))
        .clone();
    assert!(
        finding["message"]
            .as_str()
            .unwrap()
            .contains("orders_audit"),
        "{finding}"
    );
    t.submit(&conn, sql).await;
    t.drain().await;
    // What the verdict warned of: the insert reports success and stores nothing.
    t.db()
        .await
        .batch_execute("INSERT INTO orders VALUES (2)")
        .await
        .unwrap();
    assert_eq!(t.count("SELECT count(*) FROM orders").await, 1);
}
