//! Executor overhead and lock window against `psql -1 -f`, on schemas of several sizes.
//!
//! Run by `scripts/bench-executor`, which starts a throwaway PostgreSQL and passes its URL in
//! `AUTODB_BENCH_PG_URL` and the `psql` path in `AUTODB_BENCH_PSQL`. For each size it builds a
//! database of N tables (every tenth with a foreign key to the one before), copies it (`CREATE
//! DATABASE … TEMPLATE`) so both runs start from identical databases, then times:
//! - `psql -1 -f migration.sql` on one copy (process start included: that is what a user
//!   running psql pays);
//! - autodb on the other: `execute` (token check, nonce, lock, queue) → the executor's
//!   `run_job` → `completed`, through the local backend, and the lock window the executor
//!   reports (last statement end → COMMIT acknowledged).
//!
//! Each figure is the median of RUNS runs on fresh copies. Prints a Markdown table.

use std::sync::Arc;
use std::time::Instant;

use autodb::adapters::local::service;
use autodb::app::connections::{register, Credentials, NewConnection};
use autodb::app::execute::{execute, ExecuteCommand};
use autodb::app::ports::SystemClock;
use autodb::app::Settings;
use autodb::domain::{DbType, RequestId, Sql};
use autodb::executor::{run_job, Outcome};
use bench_support::{connect as admin, db_url, median};
use secrecy::SecretString;

// Each example uses part of the shared module.
#[allow(dead_code)]
mod bench_support;

const MIGRATION: &str = "ALTER TABLE t_0 ADD COLUMN note text;
CREATE INDEX t_0_note ON t_0 (note);
ALTER TABLE t_0 ADD COLUMN flag boolean;
";

async fn build_template(base: &str, tables: usize) -> String {
    let name = format!("bench_tpl_{tables}");
    let admin = admin(base).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin.batch_execute(&sql).await.expect("create template");
    }
    let db = admin_for(&db_url(base, &name)).await;
    let mut ddl = String::new();
    for i in 0..tables {
        if i % 10 == 9 {
            ddl.push_str(&format!(
                "CREATE TABLE t_{i} (id bigint PRIMARY KEY, v text, parent bigint REFERENCES t_{} (id));\n",
                i - 1
            ));
        } else {
            ddl.push_str(&format!(
                "CREATE TABLE t_{i} (id bigint PRIMARY KEY, v text);\n"
            ));
        }
        if i % 500 == 499 {
            db.batch_execute(&ddl).await.expect("tables");
            ddl.clear();
        }
    }
    ddl.push_str("INSERT INTO t_0 SELECT g, 'row ' || g FROM generate_series(1, 1000) g; ANALYZE;");
    db.batch_execute(&ddl).await.expect("tables");
    name
}

async fn admin_for(url: &str) -> tokio_postgres::Client {
    admin(url).await
}

async fn copy(base: &str, template: &str, name: &str) -> String {
    let admin = admin(base).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name} TEMPLATE {template}"),
    ] {
        admin.batch_execute(&sql).await.expect("copy database");
    }
    db_url(base, name)
}

#[tokio::main]
async fn main() {
    let base = std::env::var("AUTODB_BENCH_PG_URL").expect("AUTODB_BENCH_PG_URL");
    let psql = std::env::var("AUTODB_BENCH_PSQL").unwrap_or_else(|_| "psql".into());
    let sizes: Vec<usize> = std::env::var("AUTODB_BENCH_SIZES")
        .unwrap_or_else(|_| "10,1000,10000".into())
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    let runs: usize = std::env::var("AUTODB_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let dir = std::env::temp_dir().join(format!("autodb-bench-{}", std::process::id()));
    let migration_file = dir.join("migration.sql");
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(&migration_file, MIGRATION).expect("migration file");

    println!("| tables | psql -1 -f | autodb execute → completed | overhead | executor's own time | lock window |");
    println!("|---:|---:|---:|---:|---:|---:|");
    for &n in &sizes {
        let template = build_template(&base, n).await;
        let (mut psql_ms, mut autodb_ms, mut exec_ms, mut window_ms) =
            (vec![], vec![], vec![], vec![]);
        for run in 0..runs {
            // psql on its own copy.
            let url = copy(&base, &template, &format!("bench_psql_{n}_{run}")).await;
            let started = Instant::now();
            let status = std::process::Command::new(&psql)
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-1", "-f"])
                .arg(&migration_file)
                .arg(&url)
                .status()
                .expect("run psql");
            assert!(status.success(), "psql failed");
            psql_ms.push(started.elapsed().as_secs_f64() * 1000.0);

            // autodb on an identical copy.
            let url = copy(&base, &template, &format!("bench_autodb_{n}_{run}")).await;
            let data = dir.join(format!("data-{n}-{run}"));
            let parts = service::open(&data, Settings::default(), Arc::new(SystemClock))
                .expect("local service");
            let app = parts.app;
            // One principal analyzes and executes: the bench measures the executor, not the
            // separation of duties, so its connection lets a key run any risk alone.
            let by = autodb::app::access::Principal::operator("bench");
            let connection = register(
                &app,
                &by,
                NewConnection {
                    production: false,
                    lock_timeout_ms: None,
                    max_connections: None,
                    name: "bench".into(),
                    db_type: DbType::Postgresql,
                    credentials: Credentials::ConnectionString(SecretString::from(url)),
                },
            )
            .await
            .expect("register");
            autodb::app::connections::set_policy(
                &app,
                &by,
                connection.id.as_str(),
                autodb::app::connections::PolicyChange::Approval {
                    self_approve_max_risk: Some(autodb_analysis::RiskCategory::Critical),
                    production: None,
                },
            )
            .await
            .expect("policy");
            let sql = Sql::parse(MIGRATION.to_string()).expect("sql");
            let report = autodb::app::analyze::analyze(
                &app,
                &by,
                connection.id.as_str(),
                sql.clone(),
                &Default::default(),
            )
            .await
            .expect("analyze");
            let started = Instant::now();
            let accepted = execute(
                &app,
                &by,
                ExecuteCommand {
                    approval_token: report
                        .approval_token
                        .clone()
                        .expect("no sandbox in this bench: a token"),
                    sql,
                    connection_id: connection.id.to_string(),
                },
            )
            .await
            .expect("execute");
            let id = RequestId::parse(accepted.request_id.as_str()).expect("id");
            assert_eq!(run_job(&app, &id).await.expect("run"), Outcome::Completed);
            autodb_ms.push(started.elapsed().as_secs_f64() * 1000.0);
            let request = app
                .store
                .get_request(&id)
                .await
                .expect("get")
                .expect("request");
            let result = request.result.expect("result");
            exec_ms.push(result.execution_time_ms as f64);
            window_ms.push(result.lock_window_ms.unwrap_or(0) as f64);
        }
        let (p, a) = (median(psql_ms), median(autodb_ms));
        println!(
            "| {n} | {p:.0} ms | {a:.0} ms | {:+.0} ms | {:.0} ms | {:.1} ms |",
            a - p,
            median(exec_ms),
            median(window_ms)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
