//! Executor overhead and lock window against `psql -1 -f`, on schemas of several sizes.
//!
//! Run by `scripts/bench-executor`, which starts a throwaway PostgreSQL and passes its URL in
//! `AUTODB_BENCH_PG_URL` and the `psql` path in `AUTODB_BENCH_PSQL`. For each shape and size it
//! builds a database of N tables, copies it (`CREATE DATABASE … TEMPLATE`) so both runs start
//! from identical databases, then times:
//! - `psql -1 -f migration.sql` on one copy (process start included: that is what a user
//!   running psql pays);
//! - autodb on the other: `execute` (token check, nonce, lock, queue) → the executor's
//!   `run_job` → `completed`, through the local backend, and the lock window the executor
//!   reports (last statement end → COMMIT acknowledged).
//!
//! Shapes (`AUTODB_BENCH_SHAPES`, default both):
//! - `plain`: every tenth table with a foreign key to the one before; the migration changes
//!   `t_0`;
//! - `enum-fk`: one enum type every table uses, each table but the first with a foreign key to
//!   an earlier one (`bench_support::generated_enum_fk`, the scale benchmark's schema) — what
//!   made the lock window grow with the schema (issue 21); the migration changes the middle
//!   table, which has a parent and children.
//!
//! Each figure is the median of RUNS runs on fresh copies. Prints a Markdown table.

use std::sync::Arc;
use std::time::Instant;

use autodb::adapters::local::service;
use autodb::app::connections::{register, Credentials, NewConnection};
use autodb::app::execute::{execute, ExecuteCommand};
use autodb::app::Settings;
use autodb::domain::{DbType, RequestId, Sql};
use autodb::executor::{run_job, Outcome};
use autodb::ports::SystemClock;
use bench_support::{connect as admin, db_url, generated_enum_fk, median};
use secrecy::SecretString;

// Each example uses part of the shared module.
#[allow(dead_code)]
mod bench_support;

/// The migration both runs apply, on table `t_{table}`.
fn migration(table: usize) -> String {
    format!(
        "ALTER TABLE t_{table} ADD COLUMN note text;
CREATE INDEX t_{table}_note ON t_{table} (note);
ALTER TABLE t_{table} ADD COLUMN flag boolean;
"
    )
}

#[derive(Clone, Copy, PartialEq)]
enum Shape {
    Plain,
    EnumFk,
}

impl Shape {
    fn parse(name: &str) -> Self {
        match name.trim() {
            "plain" => Shape::Plain,
            "enum-fk" => Shape::EnumFk,
            other => panic!("unknown shape {other:?}: plain or enum-fk"),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Shape::Plain => "plain",
            Shape::EnumFk => "enum-fk",
        }
    }

    /// The table the migration changes.
    fn table(self, tables: usize) -> usize {
        match self {
            Shape::Plain => 0,
            Shape::EnumFk => tables / 2,
        }
    }
}

async fn build_template(base: &str, shape: Shape, tables: usize) -> String {
    let name = format!("bench_tpl_{}_{tables}", shape.name().replace('-', "_"));
    let admin = admin(base).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name}"),
    ] {
        admin.batch_execute(&sql).await.expect("create template");
    }
    let db = admin_for(&db_url(base, &name)).await;
    if shape == Shape::EnumFk {
        for chunk in generated_enum_fk(tables, 500) {
            db.batch_execute(&chunk).await.expect("tables");
        }
        let t = shape.table(tables);
        db.batch_execute(&format!(
            "INSERT INTO t_{t} (name) SELECT 'row ' || g FROM generate_series(1, 1000) g; ANALYZE;"
        ))
        .await
        .expect("rows");
        return name;
    }
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

/// A copy of `template` named `name`, made by copying its files (`STRATEGY = FILE_COPY`:
/// PostgreSQL 15's default copies block by block through the WAL, which at 10,000 tables took
/// seconds to create and minutes to drop). Each run's copies are dropped after it, untimed.
async fn copy(base: &str, template: &str, name: &str) -> String {
    let admin = admin(base).await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {name}"),
        format!("CREATE DATABASE {name} TEMPLATE {template} STRATEGY = FILE_COPY"),
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
    let shapes: Vec<Shape> = std::env::var("AUTODB_BENCH_SHAPES")
        .unwrap_or_else(|_| "plain,enum-fk".into())
        .split(',')
        .map(Shape::parse)
        .collect();
    let runs: usize = std::env::var("AUTODB_BENCH_RUNS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(3);
    let dir = std::env::temp_dir().join(format!("autodb-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");

    println!("| shape | tables | psql -1 -f | autodb execute → completed | overhead | executor's own time | lock window |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (shape, n) in shapes
        .iter()
        .flat_map(|&shape| sizes.iter().map(move |&n| (shape, n)))
    {
        let template = build_template(&base, shape, n).await;
        let sql_text = migration(shape.table(n));
        let migration_file = dir.join(format!("migration-{}-{n}.sql", shape.name()));
        std::fs::write(&migration_file, &sql_text).expect("migration file");
        let (mut psql_ms, mut autodb_ms, mut exec_ms, mut window_ms) =
            (vec![], vec![], vec![], vec![]);
        for run in 0..runs {
            // psql on its own copy.
            let url = copy(
                &base,
                &template,
                &format!("bench_psql_{}_{n}_{run}", shape.name().replace('-', "_")),
            )
            .await;
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
            let url = copy(
                &base,
                &template,
                &format!("bench_autodb_{}_{n}_{run}", shape.name().replace('-', "_")),
            )
            .await;
            let data = dir.join(format!("data-{}-{n}-{run}", shape.name()));
            let parts = service::open(&data, Settings::default(), Arc::new(SystemClock))
                .expect("local service");
            let app = parts.app;
            // One principal analyzes and executes: the bench measures the executor, not the
            // separation of duties, so its connection lets a key run any risk alone.
            let by = autodb::domain::access::Principal::operator("bench");
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
            let sql = Sql::parse(sql_text.clone()).expect("sql");
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
            assert_eq!(
                run_job(&app.executor(), &id).await.expect("run"),
                Outcome::Completed
            );
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
            // This run's copies go before the next (untimed): at 10,000 tables each holds
            // hundreds of megabytes.
            drop(app);
            let admin = admin(&base).await;
            for tool in ["psql", "autodb"] {
                let name = format!("bench_{tool}_{}_{n}_{run}", shape.name().replace('-', "_"));
                admin
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .expect("drop a copy");
            }
        }
        let (p, a) = (median(psql_ms), median(autodb_ms));
        println!(
            "| {} | {n} | {p:.0} ms | {a:.0} ms | {:+.0} ms | {:.0} ms | {:.1} ms |",
            shape.name(),
            a - p,
            median(exec_ms),
            median(window_ms)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
