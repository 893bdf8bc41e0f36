//! Clone fidelity, measured: a schema is loaded into database A, snapshotted, rendered with
//! `clone_script` and applied to an empty database B in one transaction; then
//! `pg_dump --schema-only` of A and of B must be identical after normalization.
//!
//! Normalization (and only this):
//! - `--no-owner --no-privileges` on both dumps: owners and GRANT/REVOKE name roles, which
//!   are cluster-wide; a sandbox server does not have production's roles, so the clone
//!   creates everything as the role that runs it and copies no privileges (pagila, for one,
//!   changes the owner of schema `public`, which the clone leaves to `pg_database_owner`).
//! - comment lines (`--`, they carry the dump's own header and object labels), blank lines,
//!   and psql's `\restrict`/`\unrestrict` lines (a random key per dump run) are dropped.
//!
//! Everything else, including the order pg_dump writes the objects in, must match.

use autodb::core::schema::clone_script;
use autodb::schema::introspect;
use tokio_postgres::{Client, NoTls};

use crate::helpers::create_database;

async fn connect(url: &str) -> Client {
    let (client, conn) = tokio_postgres::connect(url, NoTls)
        .await
        .expect("connect to a test database");
    tokio::spawn(conn);
    client
}

fn fixture(path: &str) -> String {
    let full = format!("{}/tests/fixtures/{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

fn schema_dump(url: &str) -> String {
    let bin = autodb::pgcluster::find_bin_dir().expect("PostgreSQL binaries");
    let out = std::process::Command::new(bin.join("pg_dump"))
        .args([
            "--schema-only",
            "--no-owner",
            "--no-privileges",
            "--dbname",
            url,
        ])
        .output()
        .expect("run pg_dump");
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 dump")
}

fn normalize(dump: &str) -> Vec<String> {
    dump.lines()
        .filter(|l| {
            !(l.is_empty()
                || l.starts_with("--")
                || l.starts_with("\\restrict ")
                || l.starts_with("\\unrestrict "))
        })
        .map(str::to_string)
        .collect()
}

/// Clones the schema of `source` (already loaded) into a new database and compares dumps.
/// Returns the clone script, for tests that check more.
async fn assert_clone_is_faithful(source: &str) -> Vec<String> {
    let a = connect(source).await;
    let snapshot = introspect::snapshot(&a).await.expect("snapshot the source");
    assert!(
        snapshot.major_version() >= Some(13),
        "server version recorded"
    );
    let script = clone_script(&snapshot);

    let target = create_database().await;
    let mut b = connect(&target).await;
    let tx = b.transaction().await.expect("begin");
    for statement in &script {
        if let Err(e) = tx.batch_execute(statement).await {
            panic!("clone statement failed: {e:?}\n{statement}");
        }
    }
    tx.commit().await.expect("commit the clone");

    let (want, got) = (
        normalize(&schema_dump(source)),
        normalize(&schema_dump(&target)),
    );
    if want != got {
        let first = want
            .iter()
            .zip(&got)
            .position(|(w, g)| w != g)
            .unwrap_or(want.len().min(got.len()));
        let from = first.saturating_sub(5);
        panic!(
            "dumps differ at line {first} ({} vs {} lines)\n--- source\n{}\n--- clone\n{}",
            want.len(),
            got.len(),
            want[from..(first + 10).min(want.len())].join("\n"),
            got[from..(first + 10).min(got.len())].join("\n"),
        );
    }
    script
}

/// A new database with `tests/fixtures/{path}` loaded; returns its URL.
async fn loaded(path: &str) -> String {
    let source = create_database().await;
    connect(&source)
        .await
        .batch_execute(&fixture(path))
        .await
        .unwrap_or_else(|e| panic!("load {path}: {e:?}"));
    source
}

#[tokio::test]
async fn pagila_clones_faithfully() {
    let source = loaded("pagila.sql").await;
    let script = assert_clone_is_faithful(&source).await;
    // The aggregate and the function returning SETOF customer came through.
    assert!(script
        .iter()
        .any(|s| s.starts_with("CREATE AGGREGATE public.group_concat(text)")));
    let customer = script
        .iter()
        .position(|s| s.starts_with("CREATE TABLE public.customer "))
        .expect("customer table");
    let rewards = script
        .iter()
        .position(|s| s.contains("FUNCTION public.rewards_report("))
        .expect("rewards_report");
    assert!(customer < rewards);
}

#[tokio::test]
async fn harbor_clones_faithfully() {
    let source = create_database().await;
    let client = connect(&source).await;
    // golang-migrate, which Harbor uses, keeps its version table in the same database.
    client
        .batch_execute(
            "CREATE TABLE schema_migrations (version bigint NOT NULL PRIMARY KEY, \
             dirty boolean NOT NULL)",
        )
        .await
        .expect("migration table");
    let dir = format!("{}/tests/corpus/harbor", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/corpus/harbor")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    assert!(files.len() > 30, "harbor migrations vendored");
    for file in files {
        let sql = std::fs::read_to_string(&file).expect("read migration");
        client
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{}: {e:?}", file.display()));
    }
    assert_clone_is_faithful(&source).await;
}

#[tokio::test]
async fn every_object_kind_clones_faithfully() {
    let source = loaded("clone_every_kind.sql").await;
    let script = assert_clone_is_faithful(&source).await;
    for expected in [
        "CREATE EXTENSION IF NOT EXISTS citext",
        "CREATE DOMAIN \"Billing\".positive_money",
        "CREATE TYPE public.address AS (",
        "CREATE POLICY no_drafts ON \"Billing\".\"Invoice\" AS RESTRICTIVE",
        "ALTER TABLE public.customer DISABLE TRIGGER customer_touch_disabled",
    ] {
        assert!(
            script.iter().any(|s| s.starts_with(expected)),
            "no statement starts with {expected:?}"
        );
    }
    // Extension members come with CREATE EXTENSION, never one by one.
    assert!(!script
        .iter()
        .any(|s| s.contains("FUNCTION public.similarity(")));
}
