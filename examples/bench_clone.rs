//! Cold schema clone against `pg_dump --schema-only | psql`, and the snapshot alone against
//! `pg_dump --schema-only` alone, for pagila and a generated schema of 1,000 tables.
//!
//! Run by `scripts/bench-clone`, which starts a throwaway PostgreSQL and passes its URL in
//! `AUTODB_BENCH_PG_URL` and its binary directory in `AUTODB_BENCH_PG_BIN`. For each schema
//! it loads a source database once, then, RUNS times, each into a database created just
//! before the timer starts:
//! - (a) autodb: connect, `snapshot()`, `clone_script()`, connect to the new database and
//!   run the script as one batch in one transaction;
//! - (b) `pg_dump --schema-only SOURCE | psql -X -q -1 TARGET` (both processes included);
//! - (c) `snapshot()` alone (with its connect) against `pg_dump --schema-only` alone
//!   (process start included, output discarded): the snapshot analyze takes.
//!
//! Prints medians and ratios as a Markdown table.

use std::process::{Command, Stdio};
use std::time::Instant;

use autodb::core::schema::clone_script;
use autodb::schema::introspect;
use bench_support::{connect, db_url, generated, median};

#[allow(dead_code)]
mod bench_support;

async fn fresh(base: &str, name: &str) -> String {
    let admin = connect(base).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin.batch_execute(&sql).await.expect("create database");
    }
    db_url(base, name)
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let base = std::env::var("AUTODB_BENCH_PG_URL").expect("AUTODB_BENCH_PG_URL");
    let bin = std::path::PathBuf::from(std::env::var("AUTODB_BENCH_PG_BIN").expect("PG bin"));
    let runs: usize = std::env::var("AUTODB_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let pagila = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pagila.sql"
    ))
    .expect("tests/fixtures/pagila.sql");
    let schemas = [("pagila", pagila), ("1,000 tables", generated(1000))];

    println!("| schema | objects | autodb clone (a) | pg_dump \\| psql (b) | a/b | snapshot() (c) | pg_dump alone | c/pg_dump |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (i, (label, ddl)) in schemas.iter().enumerate() {
        let source = fresh(&base, &format!("bench_src_{i}")).await;
        connect(&source)
            .await
            .batch_execute(ddl)
            .await
            .expect("load source");
        let statements = clone_script(
            &introspect::snapshot(&connect(&source).await)
                .await
                .expect("snapshot"),
        )
        .len();
        let (mut clone, mut dump_psql, mut snap, mut dump) = (vec![], vec![], vec![], vec![]);
        for run in 0..runs {
            let target = fresh(&base, &format!("bench_clone_{i}_{run}")).await;
            let started = Instant::now();
            let snapshot = introspect::snapshot(&connect(&source).await)
                .await
                .expect("snapshot");
            let script = clone_script(&snapshot).join(";\n");
            connect(&target)
                .await
                .batch_execute(&format!("BEGIN;\n{script};\nCOMMIT;"))
                .await
                .expect("apply the clone");
            clone.push(ms(started));

            let target = fresh(&base, &format!("bench_psql_{i}_{run}")).await;
            let started = Instant::now();
            let mut pg_dump = Command::new(bin.join("pg_dump"))
                .args(["--schema-only", "--dbname", &source])
                .stdout(Stdio::piped())
                .spawn()
                .expect("pg_dump");
            let psql = Command::new(bin.join("psql"))
                .args([
                    "-X",
                    "-q",
                    "-1",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "--dbname",
                    &target,
                ])
                .stdin(pg_dump.stdout.take().expect("pg_dump's output"))
                .stdout(Stdio::null())
                .status()
                .expect("psql");
            assert!(pg_dump.wait().expect("pg_dump").success() && psql.success());
            dump_psql.push(ms(started));

            let started = Instant::now();
            introspect::snapshot(&connect(&source).await)
                .await
                .expect("snapshot");
            snap.push(ms(started));

            let started = Instant::now();
            let out = Command::new(bin.join("pg_dump"))
                .args(["--schema-only", "--dbname", &source])
                .stdout(Stdio::null())
                .status()
                .expect("pg_dump");
            assert!(out.success());
            dump.push(ms(started));
        }
        let (a, b, c, d) = (median(clone), median(dump_psql), median(snap), median(dump));
        println!(
            "| {label} | {statements} statements | {a:.0} ms | {b:.0} ms | {:.2}× | {c:.0} ms | {d:.0} ms | {:.2}× |",
            a / b,
            c / d
        );
    }
}
