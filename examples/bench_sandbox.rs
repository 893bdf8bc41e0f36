//! The sandbox against its baselines, in one run on one throwaway cluster:
//! - **warm clone**: `CREATE DATABASE … TEMPLATE` from the template cache, and claiming a
//!   copy made ahead of time (`sandbox::pool`: a rename), against
//!   `pg_dump --schema-only SOURCE | psql -1 TARGET` into a fresh database, for pagila and a
//!   generated schema of 1,000 tables;
//! - **sandbox run**: cold (clone built, rows made, migration run twice) and warm (from the
//!   template), and the analysis path end to end (snapshot, static analysis, sandbox run);
//! - **lock-time estimate** against the real timing: a table of 1,000,000 rows, each
//!   migration estimated by the sandbox (15 and 10,000 rows, extrapolated), then run on the
//!   real table with the executor's session settings, timed.
//!
//! Run by `scripts/bench-sandbox`, which starts the cluster and passes `AUTODB_BENCH_PG_URL`,
//! `AUTODB_BENCH_PG_BIN` and `AUTODB_BENCH_RUNS`. Prints Markdown tables.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use autodb::sandbox::{self, pool, server, Sandbox, SandboxSettings, UrlServer};
use autodb::schema::introspect;
use autodb_analysis::sandbox_result::SandboxResult;
use autodb_core::schema::SchemaSnapshot;
use bench_support::{connect, db_url, generated, median};

#[allow(dead_code)]
mod bench_support;

const PREFIX: &str = "autodb_bench";

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

async fn recreate(admin: &tokio_postgres::Client, name: &str) {
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
}

async fn run(sandbox: &Sandbox, snapshot: &SchemaSnapshot, sql: &str) -> SandboxResult {
    let statements = autodb_core::sql::parse(sql).expect("bench SQL parses");
    let plan = autodb_core::sql::plan(&statements).expect("plan");
    let analysis = autodb_analysis::analyze(&statements, Some(snapshot));
    let mut touched: Vec<String> = analysis
        .statements
        .iter()
        .flat_map(|s| s.lock.tables.clone())
        .filter(|t| snapshot.table(t).is_some())
        .collect();
    touched.dedup();
    sandbox::run(
        sandbox,
        &sandbox::Request {
            snapshot,
            fingerprint: &snapshot.fingerprint(),
            sql,
            statements: &statements,
            plan: &plan,
            rows_per_table: 15,
            validation_queries: &[],
            touched: &touched,
            scaling: &autodb::app::sandbox_run::scaling_statements(&analysis),
            lock_timeout_ms: 5_000,
            statement_timeout_ms: 600_000,
            idle_in_transaction_timeout_ms: 60_000,
            now: chrono::Utc::now().timestamp(),
        },
    )
    .await
}

#[tokio::main]
async fn main() {
    let base = std::env::var("AUTODB_BENCH_PG_URL").expect("AUTODB_BENCH_PG_URL");
    let bin = std::env::var("AUTODB_BENCH_PG_BIN").expect("AUTODB_BENCH_PG_BIN");
    let runs: usize = std::env::var("AUTODB_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let admin = connect(&base).await;
    let target = autodb::pgconn::ConnectionString::parse(&base).expect("URL");
    let sandbox = Sandbox::new(
        Arc::new(UrlServer(base.clone().into())),
        SandboxSettings {
            prefix: PREFIX.into(),
            statement_timeout_ms: 600_000,
            ..SandboxSettings::default()
        },
    );
    let pagila = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/pagila.sql"
    ))
    .expect("tests/fixtures/pagila.sql");
    let schemas = [
        (
            "pagila",
            pagila,
            "ALTER TABLE film ADD COLUMN subtitle text;",
        ),
        (
            "1,000 tables",
            generated(1000),
            "ALTER TABLE t_500 ADD COLUMN note text;",
        ),
    ];
    println!("| schema | `pg_dump \\| psql` (baseline) | warm clone: `CREATE DATABASE … TEMPLATE` | ratio | warm clone: ready copy claimed | ratio | cold sandbox run | warm sandbox run | analyze end to end (warm) |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for (label, ddl, migration) in &schemas {
        recreate(&admin, "bench_source").await;
        connect(&db_url(&base, "bench_source"))
            .await
            .batch_execute(ddl)
            .await
            .expect("load source");
        let source_url = db_url(&base, "bench_source");
        let source = connect(&source_url).await;
        let snapshot = introspect::snapshot(&source).await.expect("snapshot");

        let mut baseline = Vec::new();
        for _ in 0..runs {
            recreate(&admin, "bench_target").await;
            let started = Instant::now();
            let mut dump = Command::new(format!("{bin}/pg_dump"))
                .args(["--schema-only", &source_url])
                .stdout(Stdio::piped())
                .spawn()
                .expect("pg_dump");
            let status = Command::new(format!("{bin}/psql"))
                .args([
                    "-X",
                    "-q",
                    "-1",
                    "-o",
                    "/dev/null",
                    &db_url(&base, "bench_target"),
                ])
                .stdin(dump.stdout.take().expect("pipe"))
                .stderr(Stdio::null())
                .status()
                .expect("psql");
            dump.wait().expect("pg_dump ends");
            assert!(status.success());
            baseline.push(ms(started));
        }

        // Cold: no template yet.
        let template = server::template_name(PREFIX, &snapshot.fingerprint(), 15);
        let _ = server::drop_template(&admin, &template).await;
        let started = Instant::now();
        let cold = run(&sandbox, &snapshot, migration).await;
        let cold_ms = ms(started);
        assert_eq!(
            cold.status,
            autodb_analysis::sandbox_result::SandboxStatus::Passed,
            "{cold:?}"
        );

        let mut warm_clone = Vec::new();
        let mut claimed = Vec::new();
        let mut warm_run = Vec::new();
        let mut end_to_end = Vec::new();
        for _ in 0..runs {
            admin
                .batch_execute("DROP DATABASE IF EXISTS bench_warm")
                .await
                .unwrap();
            let started = Instant::now();
            admin
                .batch_execute(&format!(
                    "CREATE DATABASE bench_warm TEMPLATE {}",
                    server::ident(&template)
                ))
                .await
                .expect("clone from template");
            warm_clone.push(ms(started));

            // What a warm run waits for when a copy was made ahead (`sandbox::pool`).
            pool::replenish(&target, &admin, PREFIX, &template).await;
            admin
                .batch_execute("DROP DATABASE IF EXISTS bench_claimed")
                .await
                .unwrap();
            admin
                .batch_execute("DROP ROLE IF EXISTS bench_claimed")
                .await
                .unwrap();
            let started = Instant::now();
            // A claimed copy and its role take the run's name.
            assert!(pool::claim(&admin, PREFIX, &template, "bench_claimed")
                .await
                .is_some());
            claimed.push(ms(started));

            let started = Instant::now();
            let warm = run(&sandbox, &snapshot, migration).await;
            warm_run.push(ms(started));
            assert!(warm.cached_clone);

            let started = Instant::now();
            let fresh = introspect::snapshot(&source).await.expect("snapshot");
            let stmts = autodb_core::sql::parse(migration).unwrap();
            let _ = autodb_analysis::analyze(&stmts, Some(&fresh));
            let _ = run(&sandbox, &fresh, migration).await;
            end_to_end.push(ms(started));
        }
        let (b, w, c) = (median(baseline), median(warm_clone), median(claimed));
        println!(
            "| {label} | {b:.0} ms | {w:.0} ms | {:.3}× | {c:.1} ms | **{:.3}×** | {cold_ms:.0} ms | {:.0} ms | {:.0} ms |",
            w / b,
            c / b,
            median(warm_run),
            median(end_to_end)
        );
        let _ = server::drop_template(&admin, &template).await;
        let _ = pool::sweep(&admin, PREFIX, &[]).await;
    }
    for db in ["bench_warm", "bench_claimed"] {
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
            .await
            .unwrap();
    }
    admin
        .batch_execute("DROP ROLE IF EXISTS bench_claimed")
        .await
        .unwrap();

    // The estimate against the real timing, on 1,000,000 rows.
    recreate(&admin, "bench_source").await;
    let source_url = db_url(&base, "bench_source");
    let source = connect(&source_url).await;
    source
        .batch_execute(
            "CREATE TABLE big (id int PRIMARY KEY, v int NOT NULL, note text);
             INSERT INTO big SELECT g, g % 1000, 'note ' || g FROM generate_series(1, 1000000) g;
             ANALYZE big;",
        )
        .await
        .expect("load big");
    println!();
    println!("| migration on 1,000,000 rows | estimated (sandbox) | real | estimate / real |");
    println!("|---|---|---|---|");
    for migration in [
        "ALTER TABLE big ALTER COLUMN v TYPE bigint;",
        "CREATE INDEX big_v ON big (v);",
        "ALTER TABLE big ADD COLUMN flag boolean;",
        "UPDATE big SET note = upper(note);",
    ] {
        let snapshot = introspect::snapshot(&source).await.expect("snapshot");
        let result = run(&sandbox, &snapshot, migration).await;
        let estimate = result.statements[0]
            .estimated_duration_ms
            .expect("an estimate") as f64;
        let started = Instant::now();
        source
            .batch_execute(&format!(
                "BEGIN; SET statement_timeout = 600000; {migration} ROLLBACK"
            ))
            .await
            .expect("real run");
        let real = ms(started);
        println!(
            "| `{}` | {estimate:.0} ms | {real:.0} ms | **{:.2}×** |",
            migration.trim_end_matches(';'),
            estimate / real.max(0.001)
        );
    }
}
