//! psql meta-commands, end to end: an accepted one is reported by analyze and left out of
//! what the executor sends, which is exactly what was analyzed; a refused one stops analyze
//! with its line and name. The tokenization cases are unit-tested in
//! `crates/core/src/sql/psql/tests.rs`.

use axum::http::StatusCode;

use crate::helpers::{self, Backend, TestApp};

/// Files with meta-commands, how many are left out, the operations the analysis reports,
/// and whether `victim` survives the execution.
const FILES: &[(&str, usize, &[&str], bool)] = &[
    (
        "\\set ON_ERROR_STOP 1\n\\echo creating\nCREATE TABLE created (id int);",
        2,
        &["CREATE TABLE"],
        true,
    ),
    // The argument's quote does not open a literal: the DROP is analyzed, and runs.
    (
        "\\echo it's here\nDROP TABLE victim;\nCREATE TABLE created (id int);",
        1,
        &["DROP TABLE", "CREATE TABLE"],
        false,
    ),
    // A meta-command line inside a statement: the statement keeps every token.
    (
        "CREATE TABLE created (\n  id int,\n\\echo inside\n  note text\n);",
        1,
        &["CREATE TABLE"],
        true,
    ),
    // A backslash line inside a dollar-quoted default is data, not a command.
    (
        "\\timing on\nCREATE TABLE created (s text DEFAULT $$\n\\echo x\nDROP TABLE victim;\n$$);",
        1,
        &["CREATE TABLE"],
        true,
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_meta_commands_are_reported_and_not_sent() {
    for (sql, left_out, operations, survives) in FILES {
        let t = TestApp::spawn(Backend::Local).await;
        let db = t.db().await;
        db.batch_execute("CREATE TABLE victim (id int)")
            .await
            .unwrap();
        let conn = t.connect().await;
        let (status, report) = t.analyze(&conn, sql).await;
        assert_eq!(status, StatusCode::OK, "{sql:?}: {report}");
        let reported = report["data"]["psql_commands"].as_array().unwrap();
        assert_eq!(reported.len(), *left_out, "{sql:?}");
        assert_eq!(&helpers::operations(&report), operations, "{sql:?}");
        let id = t.submit(&conn, sql).await;
        t.drain().await;
        let status = t.status(&id).await;
        assert_eq!(status["status"], "completed", "{sql:?}: {status}");
        assert_eq!(
            status["result"]["statements_executed"],
            operations.len(),
            "{sql:?}"
        );
        let victims = t
            .count("SELECT count(*) FROM pg_class WHERE relname = 'victim'")
            .await;
        assert_eq!(victims == 1, *survives, "{sql:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_meta_command_names_its_line() {
    let t = TestApp::spawn(Backend::Local).await;
    let conn = t.connect().await;
    let (status, body) = t
        .analyze(
            &conn,
            "\\set ON_ERROR_STOP 1\nCREATE TABLE a (id int);\n\\i more.sql\n",
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "SQL_PARSE_ERROR");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("psql meta-command \\i on line 3 includes another file"),
        "{message}"
    );
    assert_eq!(body["error"]["details"]["line"], 3);
    assert_eq!(body["error"]["details"]["statement_index"], 1);
}
