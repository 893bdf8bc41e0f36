//! The sandbox at scale, in one run on one throwaway cluster, on generated schemas of 100,
//! 1,000 and 10,000 tables (one enum type all of them use, each table but the first with a
//! foreign key to an earlier one; `bench_support::generated_enum_fk`):
//! - **introspection**: `introspect::snapshot()` (with its connect) against
//!   `pg_dump --schema-only` (process start included, output discarded) — what a cold
//!   analyze reads;
//! - **analyze**: `POST …/analyze`'s use case (`app::analyze::analyze`) of one
//!   `ALTER TABLE … ADD COLUMN`, with the sandbox: cold (the template built) and warm (the
//!   stored snapshot, the template and its ready copies there, as after any earlier analysis
//!   of the same schema), and once warm without ready copies (as right after another
//!   analysis, before they are made again).
//!
//! Run by `scripts/bench-scale`, which starts the cluster and passes `AUTODB_BENCH_PG_URL`,
//! `AUTODB_BENCH_PG_BIN`, `AUTODB_BENCH_RUNS` and `AUTODB_BENCH_TABLES` (comma-separated
//! sizes). Prints a Markdown table.

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use autodb::adapters::local::service;
use autodb::app::sandbox_run::SandboxOptions;
use autodb::app::Settings;
use autodb::ports::SystemClock;
use autodb::sandbox::{server, Sandbox, SandboxSettings, UrlServer};
use autodb::schema::introspect;
use autodb_analysis::sandbox_result::SandboxStatus;
use bench_support::{connect, db_url, generated_enum_fk, median};

#[allow(dead_code)]
mod bench_support;

const PREFIX: &str = "autodb_bscale";
const SOURCE: &str = "bench_scale_source";

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// Waits (up to five minutes) until the ready copies of the prefix's templates are made: a warm
/// analysis is one that finds them, as the one after an earlier analysis does.
async fn ready_copies(admin: &tokio_postgres::Client) {
    let like = format!("{}\\_rdy\\_%", PREFIX.replace('_', "\\_"));
    let making = format!("{}\\_rdy\\_mk\\_%", PREFIX.replace('_', "\\_"));
    for _ in 0..3000 {
        let n: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_database WHERE datname LIKE $1 \
                 AND datname NOT LIKE $2",
                &[&like, &making],
            )
            .await
            .unwrap()
            .get(0);
        let busy: i64 = admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity WHERE query ILIKE 'CREATE DATABASE%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if n >= autodb::sandbox::pool::READY_PER_TEMPLATE as i64 && busy == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let base = std::env::var("AUTODB_BENCH_PG_URL").expect("AUTODB_BENCH_PG_URL");
    let bin = std::env::var("AUTODB_BENCH_PG_BIN").expect("AUTODB_BENCH_PG_BIN");
    let runs: usize = std::env::var("AUTODB_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(5);
    let sizes: Vec<usize> = std::env::var("AUTODB_BENCH_TABLES")
        .unwrap_or_else(|_| "100,1000,10000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("AUTODB_BENCH_TABLES: numbers"))
        .collect();
    let admin = connect(&base).await;
    let data = std::env::temp_dir().join(format!("autodb-bench-scale-{}", std::process::id()));
    let parts = service::open(&data, Settings::default(), Arc::new(SystemClock)).expect("app");
    let app = parts.app;
    let sandbox = Sandbox::new(
        Arc::new(UrlServer(base.clone().into())),
        SandboxSettings {
            prefix: PREFIX.into(),
            ..SandboxSettings::default()
        },
    );
    assert!(app.sandbox.set(Arc::new(sandbox)).is_ok());

    println!("| tables | `pg_dump --schema-only` | `snapshot()` | ratio | cold analyze | warm analyze (median of {runs}) | warm runs | warm, no ready copy |");
    println!("|---|---:|---:|---:|---:|---:|---|---:|");
    for &tables in &sizes {
        admin
            .batch_execute(&format!("DROP DATABASE IF EXISTS {SOURCE} WITH (FORCE)"))
            .await
            .unwrap();
        admin
            .batch_execute(&format!("CREATE DATABASE {SOURCE}"))
            .await
            .unwrap();
        let source_url = db_url(&base, SOURCE);
        let source = connect(&source_url).await;
        for chunk in generated_enum_fk(tables, 500) {
            source.batch_execute(&chunk).await.expect("load source");
        }
        source.batch_execute("ANALYZE").await.unwrap();

        // (b) Introspection against pg_dump, alternating.
        let (mut dump, mut snap) = (Vec::new(), Vec::new());
        for _ in 0..runs {
            let started = Instant::now();
            let status = Command::new(format!("{bin}/pg_dump"))
                .args(["--schema-only", &source_url])
                .stdout(Stdio::null())
                .status()
                .expect("pg_dump");
            assert!(status.success());
            dump.push(ms(started));
            let started = Instant::now();
            let client = connect(&source_url).await;
            let snapshot = introspect::snapshot(&client).await.expect("snapshot");
            snap.push(ms(started));
            assert_eq!(snapshot.tables.len(), tables);
        }

        // (a) Analyze with the sandbox, through the use case.
        let by = autodb::domain::access::Principal::operator("bench");
        let conn = autodb::app::connections::register(
            &app,
            &by,
            autodb::app::connections::NewConnection {
                production: false,
                name: format!("bench {tables}"),
                db_type: autodb::domain::DbType::Postgresql,
                credentials: autodb::app::connections::Credentials::ConnectionString(
                    source_url.clone().into(),
                ),
                lock_timeout_ms: None,
                max_connections: None,
            },
        )
        .await
        .expect("register")
        .id
        .to_string();
        let sql = format!("ALTER TABLE t_{} ADD COLUMN note text;", tables / 2);
        let analyze = || async {
            let started = Instant::now();
            let report = autodb::app::analyze::analyze(
                &app,
                &by,
                &conn,
                autodb::domain::Sql::parse(sql.clone()).unwrap(),
                &SandboxOptions::default(),
            )
            .await
            .expect("analyze");
            let elapsed = ms(started);
            assert_eq!(
                report.sandbox_result.status,
                SandboxStatus::Passed,
                "{:?}",
                report.sandbox_result
            );
            (elapsed, report.sandbox_result.cached_clone)
        };
        let (cold, cached) = analyze().await;
        assert!(!cached, "the first analysis builds the template");
        let mut warm = Vec::new();
        for _ in 0..runs {
            ready_copies(&admin).await;
            let (elapsed, cached) = analyze().await;
            assert!(cached);
            warm.push(elapsed);
        }
        // Warm, but without ready copies (a second analysis right after the first): the
        // run's databases are made and their objects reassigned while it waits.
        ready_copies(&admin).await;
        let _ = autodb::sandbox::pool::sweep(&admin, PREFIX, &[]).await;
        let (unready, cached) = analyze().await;
        assert!(cached);
        let shown: Vec<String> = warm.iter().map(|w| format!("{w:.0}")).collect();
        let (d, s) = (median(dump), median(snap));
        println!(
            "| {tables} | {d:.0} ms | {s:.0} ms | **{:.2}×** | {cold:.0} ms | **{:.0} ms** | {} | {unready:.0} ms |",
            s / d,
            median(warm),
            shown.join(", ")
        );
        ready_copies(&admin).await;
        let templates = admin
            .query(
                "SELECT datname::text FROM pg_database WHERE datistemplate AND datname LIKE $1",
                &[&format!("{PREFIX}\\_tpl\\_%")],
            )
            .await
            .unwrap();
        for t in templates {
            let _ = server::drop_template(&admin, t.get(0)).await;
        }
        let _ = server::sweep(&admin, PREFIX, i64::MAX / 2, 0, 0).await;
    }
    admin
        .batch_execute(&format!("DROP DATABASE IF EXISTS {SOURCE} WITH (FORCE)"))
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(&data);
}
