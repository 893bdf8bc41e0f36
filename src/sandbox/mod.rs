//! The sandbox: every migration is tried on a throwaway copy of its schema before it is
//! approved, and what PostgreSQL really did is reported.
//!
//! One run, start to end:
//! 1. **Clone.** The target's snapshot is rendered as DDL (`autodb_core::schema::render`) and
//!    applied to a new database, which synthetic rows then fill (`rows`). The result becomes
//!    a template database keyed by the snapshot's fingerprint and the row count, so the next
//!    analysis of the same schema starts with `CREATE DATABASE … TEMPLATE …` (milliseconds).
//! 2. **Observed run** (`observe`): the run's database is created from the template, owned by
//!    a login role made for this run alone (`server`: no privileges, member of no role, a
//!    random password; `ephemeral`: it owns its copy's objects and nothing else), and the
//!    migration runs there exactly as the executor would run it, checked after every
//!    statement and bounded by a watchdog outside the session (`watch`).
//! 3. **Estimate.** A second database from the same template gets more rows in the tables the
//!    migration works on, and the migration runs again. The two timings give each statement a
//!    line (duration against rows), evaluated at the production row counts in the snapshot
//!    (`autodb_analysis::sandbox_result::extrapolate`).
//! 4. **Clean up.** Both databases and the run's role are dropped — also when the run is
//!    cancelled midway (a guard spawns the drop), and after a crash by the next process's
//!    sweep of its prefix.
//!
//! At most [`SandboxSettings::max_concurrent_runs`] runs at once per process; a run that
//! waits longer than [`SandboxSettings::queue_timeout_ms`] for its turn is `skipped`. A
//! skipped run is never a pass (and analyze then issues no token unless the connection's
//! policy allows approval without the sandbox).

mod ephemeral;
pub mod lint_history;
mod observe;
pub mod pool;
pub mod rows;
pub mod server;
mod watch;

use std::collections::HashSet;
use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use autodb_analysis::sandbox_result::{
    extrapolate, lock_times, ObservedStatement, SandboxResult, SandboxStatus, Timing,
    ValidationResult,
};
use autodb_core::schema::SchemaSnapshot;
use autodb_core::sql::{ParsedStatement, Plan};
use tokio_postgres::Client;

use ephemeral::{Build, Ephemeral};

pub use server::{SandboxServer, SecretServer, UrlServer};

/// Bounds of a sandbox request.
pub const DEFAULT_ROWS_PER_TABLE: u32 = 15;
pub const MAX_ROWS_PER_TABLE: u32 = 10_000;
pub const MAX_VALIDATION_QUERIES: usize = 20;
pub const MAX_VALIDATION_QUERY_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The server could not be reached or refused what the sandbox needs; the message is safe
    /// to show.
    #[error("{0}")]
    Unavailable(String),
    #[error("the sandbox server failed: {0}")]
    Server(String),
}

impl SandboxError {
    fn server(err: tokio_postgres::Error) -> Self {
        Self::Server(match err.as_db_error() {
            Some(db) => db.message().to_string(),
            None => crate::domain::error_chain(&err),
        })
    }
}

/// Tunables of the sandbox.
#[derive(Debug, Clone)]
pub struct SandboxSettings {
    /// Names of every database and role this sandbox makes start with it (and a sweep only
    /// touches those): one per deployment, so two deployments may share a server.
    pub prefix: String,
    /// Templates kept at most, newest first.
    pub max_templates: usize,
    /// Templates older than this are dropped.
    pub template_max_age_seconds: i64,
    /// Rows per touched table in the second run, for the estimate.
    pub estimate_rows: u32,
    /// `statement_timeout` in the sandbox: the executor's, but at most this.
    pub statement_timeout_ms: u64,
    /// Wall-clock bound of one run of the migration (the observed run, and the estimate's),
    /// kept by the watchdog from the server account's session whatever the migration sets.
    pub run_deadline_ms: u64,
    /// Runs at once in this process; the others wait their turn.
    pub max_concurrent_runs: usize,
    /// How long a run waits for its turn before it is skipped (never passed).
    pub queue_timeout_ms: u64,
    /// How often what crashed runs left behind is swept: before the process's first run,
    /// then in the background at the first run after this many seconds.
    pub sweep_interval_seconds: u64,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        Self {
            prefix: "autodb_sbx".into(),
            max_templates: 8,
            template_max_age_seconds: 24 * 3600,
            estimate_rows: 10_000,
            statement_timeout_ms: 20_000,
            run_deadline_ms: 30_000,
            max_concurrent_runs: 4,
            queue_timeout_ms: 30_000,
            sweep_interval_seconds: 300,
        }
    }
}

/// The sandbox of one process: a server and what it knows about it.
pub struct Sandbox {
    pub server: Arc<dyn SandboxServer>,
    pub settings: SandboxSettings,
    /// When the last sweep began (none yet: the first run sweeps before it starts).
    swept: tokio::sync::Mutex<Option<Instant>>,
    /// One permit per run that may be under way.
    capacity: Arc<tokio::sync::Semaphore>,
}

impl Sandbox {
    pub fn new(server: Arc<dyn SandboxServer>, settings: SandboxSettings) -> Self {
        Self {
            server,
            capacity: Arc::new(tokio::sync::Semaphore::new(
                settings.max_concurrent_runs.max(1),
            )),
            settings,
            swept: tokio::sync::Mutex::new(None),
        }
    }
}

/// One sandbox run's input.
pub struct Request<'a> {
    pub snapshot: &'a SchemaSnapshot,
    /// `snapshot.fingerprint()`, as stored with it (computing it again costs a copy and a
    /// serialization of the whole schema): it names the template.
    pub fingerprint: &'a str,
    pub sql: &'a str,
    pub statements: &'a [ParsedStatement],
    pub plan: &'a Plan,
    pub rows_per_table: u32,
    pub validation_queries: &'a [String],
    /// Existing tables the migration works on (`schema.name`, bare in `public`): they get
    /// more rows in the estimate's run.
    pub touched: &'a [String],
    /// The statements whose work grows with the rows (they scan, rewrite, index or write
    /// every row): only their timings are extrapolated. The others (catalog-only changes)
    /// take in production what they took in the sandbox; a slope measured on them would be
    /// noise multiplied by a million.
    pub scaling: &'a [usize],
    pub lock_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub idle_in_transaction_timeout_ms: u64,
    pub now: i64,
}

/// Runs the migration in the sandbox. Never fails: what went wrong is in the result
/// (`skipped` with the reason when the sandbox itself could not be used).
pub async fn run(sandbox: &Sandbox, request: &Request<'_>) -> SandboxResult {
    let started = Instant::now();
    let queue = Duration::from_millis(sandbox.settings.queue_timeout_ms);
    let permit = tokio::time::timeout(queue, sandbox.capacity.clone().acquire_owned()).await;
    let Ok(Ok(permit)) = permit else {
        let mut result = SandboxResult::skipped(format!(
            "no sandbox capacity: {} runs were under way and none ended within {} ms",
            sandbox.settings.max_concurrent_runs,
            queue.as_millis()
        ));
        result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        return result;
    };
    let mut done = Vec::new();
    let mut result = match attempt(sandbox, request, &mut done).await {
        Ok(result) => result,
        Err(err) => {
            tracing::warn!(error = %err, "sandbox run not possible");
            SandboxResult::skipped(err.to_string())
        }
    };
    result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    // The run's databases are dropped after the answer (dropping thousands of tables' files
    // takes a while), still under this run's permit: capacity counts them until they are gone.
    tokio::spawn(async move {
        let _permit = permit;
        Ephemeral::drop_all(done).await;
    });
    result
}

/// One run; the databases it is done with go to `done`, for [`run`] to drop.
async fn attempt(
    sandbox: &Sandbox,
    request: &Request<'_>,
    done: &mut Vec<Ephemeral>,
) -> Result<SandboxResult, SandboxError> {
    let target = sandbox.server.target().await?;
    let settings = &sandbox.settings;
    let phase = Phases::start();
    let admin = server::connect_to(&target, maintenance_db(&target), None).await?;
    prepare(sandbox, &target, &admin, request.now).await?;
    let version = server_version(&admin).await?;
    phase.end("connect and sweep");
    let (template, cached, clone) = template(
        sandbox,
        &target,
        &admin,
        request.snapshot,
        request.fingerprint,
        request.rows_per_table,
        request.now,
    )
    .await?;
    phase.end("template");

    // The observed run.
    let first =
        Ephemeral::create(&target, &admin, &settings.prefix, &template, request.now).await?;
    phase.end("first database");
    let mut client = first.connect(&target).await?;
    let monitor = first.connect(&target).await?;
    let run = execute(sandbox, request, &admin, &first, &mut client, &monitor).await?;
    phase.end("observed run");
    let validation_results = if run.error.is_none() {
        validate(&client, request.validation_queries).await
    } else {
        vec![]
    };
    drop((client, monitor));
    let _ = server::end_run(&admin, first.role()).await;
    done.push(first);

    let mut statements = observed_statements(&run);
    if run.error.is_none() && !request.touched.is_empty() && scales(request, &statements) {
        estimate(
            sandbox,
            &target,
            &admin,
            request,
            &template,
            &mut statements,
            done,
        )
        .await?;
        phase.end("estimate");
    } else if run.error.is_none() && !request.touched.is_empty() {
        // Nothing here grows with the rows: each statement takes in production what it
        // took here, and a second run at more rows would only measure noise.
        extrapolated(request, &mut statements, &Default::default());
    }
    // Copies of the template for the next runs, made while nobody waits for them.
    tokio::spawn({
        let (target, prefix) = (target.clone(), settings.prefix.clone());
        async move {
            if let Ok(admin) = server::connect_to(&target, maintenance_db(&target), None).await {
                pool::replenish(&target, &admin, &prefix, &template).await;
            }
        }
    });
    let applied = run.error.is_none();
    Ok(SandboxResult {
        status: if applied {
            SandboxStatus::Passed
        } else {
            SandboxStatus::Failed
        },
        reason: None,
        passed: applied && validation_results.iter().all(|v| v.passed),
        migration_applied: applied,
        migration_error: run.error,
        tables_created: clone.tables,
        rows_inserted: clone.rows,
        validation_results,
        duration_ms: 0,
        server_version: Some(version),
        version_note: None,
        cached_clone: cached,
        statements,
    })
}

/// Where a run's time goes, at `debug` (`RUST_LOG=autodb::sandbox=debug`).
struct Phases(std::sync::Mutex<Instant>);

impl Phases {
    fn start() -> Self {
        Self(std::sync::Mutex::new(Instant::now()))
    }

    fn end(&self, phase: &'static str) {
        let mut last = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let ms = last.elapsed().as_secs_f64() * 1000.0;
        tracing::debug!(phase, ms, "sandbox phase");
        *last = Instant::now();
    }
}

/// The tables a run locked that `before` does not have: the migration created them, and
/// locks on them hurt nobody (`autodb_analysis::sandbox_result::apply_observations`).
pub fn new_tables(result: &SandboxResult, before: &SchemaSnapshot) -> Vec<String> {
    result
        .statements
        .iter()
        .flat_map(|s| s.observed_locks.iter().map(|l| &l.table))
        .filter(|t| before.table(t).is_none())
        .cloned()
        .collect()
}

/// What earlier processes (and this one's cancelled runs) left behind is swept: before the
/// process's first run, then every [`SandboxSettings::sweep_interval_seconds`] in the
/// background (a run does not wait for it).
async fn prepare(
    sandbox: &Sandbox,
    target: &crate::pgconn::ConnectionString,
    admin: &Client,
    now: i64,
) -> Result<(), SandboxError> {
    let settings = &sandbox.settings;
    let mut last = sandbox.swept.lock().await;
    match *last {
        None => {
            let swept = server::sweep(
                admin,
                &settings.prefix,
                now,
                settings.max_templates,
                settings.template_max_age_seconds,
            )
            .await?;
            tracing::info!(?swept, "sandbox server swept");
            *last = Some(Instant::now());
        }
        Some(at) if at.elapsed() >= Duration::from_secs(settings.sweep_interval_seconds) => {
            *last = Some(Instant::now());
            let (target, prefix, max, age) = (
                target.clone(),
                settings.prefix.clone(),
                settings.max_templates,
                settings.template_max_age_seconds,
            );
            tokio::spawn(async move {
                let Ok(admin) = server::connect_to(&target, maintenance_db(&target), None).await
                else {
                    return;
                };
                match server::sweep(&admin, &prefix, now, max, age).await {
                    Ok(swept) => tracing::info!(?swept, "sandbox server swept"),
                    Err(err) => tracing::warn!(error = %err, "sandbox sweep failed"),
                }
            });
        }
        Some(_) => {}
    }
    Ok(())
}

async fn server_version(admin: &Client) -> Result<String, SandboxError> {
    Ok(admin
        .query_one("SELECT pg_catalog.current_setting('server_version')", &[])
        .await
        .map_err(SandboxError::server)?
        .get(0))
}

/// Each statement of a run as the report shows it (no estimate yet).
fn observed_statements(run: &observe::Run) -> Vec<ObservedStatement> {
    run.statements
        .iter()
        .map(|r| ObservedStatement {
            index: r.index,
            duration_ms: (r.duration_ms * 1000.0).round() / 1000.0,
            observed_locks: r.locks.clone(),
            rewritten_tables: r.rewritten.clone(),
            estimated_duration_ms: None,
            estimated_lock_ms: None,
            not_run: r.not_run.clone(),
        })
        .collect()
}

/// The database named in the server's URL, or `postgres`.
fn maintenance_db(target: &crate::pgconn::ConnectionString) -> &str {
    target.config.get_dbname().unwrap_or("postgres")
}

/// What the clone holds.
#[derive(Debug, Clone, Copy, Default)]
struct Clone {
    tables: usize,
    rows: u64,
}

/// The template for this snapshot and row count: the cached one, or a new one.
async fn template(
    sandbox: &Sandbox,
    target: &crate::pgconn::ConnectionString,
    admin: &Client,
    snapshot: &SchemaSnapshot,
    fingerprint: &str,
    rows_per_table: u32,
    now: i64,
) -> Result<(String, bool, Clone), SandboxError> {
    let prefix = &sandbox.settings.prefix;
    let name = server::template_name(prefix, fingerprint, rows_per_table);
    let cached = admin
        .query_opt(
            "SELECT COALESCE(pg_catalog.shobj_description(oid, 'pg_database'), '') \
             FROM pg_catalog.pg_database WHERE datname = $1 AND datistemplate",
            &[&name],
        )
        .await
        .map_err(SandboxError::server)?
        .and_then(|row| server::template_facts(row.get(0)));
    if let Some((_, tables, rows)) = cached {
        return Ok((name, true, Clone { tables, rows }));
    }
    // Built by a login role made for it, which becomes the template's owner role.
    let build = Build::create(target, admin, prefix, now).await?;
    let clone = build_clone(target, &build.inner, snapshot, rows_per_table).await;
    let clone = match clone {
        Ok(c) => c,
        Err(err) => {
            build.inner.drop_now(admin).await;
            return Err(err);
        }
    };
    let comment = server::template_comment(now, clone.tables, clone.rows);
    build.publish(admin, prefix, &name, &comment).await?;
    Ok((name, false, clone))
}

/// Applies the clone's DDL and fills it. Extensions are created by the server account (in a
/// database that holds nothing else yet); everything else, and the fill that evaluates the
/// schema's defaults, triggers and checks, by the build's own unprivileged login.
async fn build_clone(
    target: &crate::pgconn::ConnectionString,
    build: &Ephemeral,
    snapshot: &SchemaSnapshot,
    rows_per_table: u32,
) -> Result<Clone, SandboxError> {
    let script = autodb_core::schema::render::clone_script(snapshot);
    let (extensions, rest): (Vec<&String>, Vec<&String>) = script.iter().partition(|s| {
        s.trim_start()
            .to_ascii_uppercase()
            .starts_with("CREATE EXTENSION")
    });
    if !extensions.is_empty() {
        let admin_db = server::connect_to(target, &build.name, None).await?;
        for statement in extensions {
            if let Err(err) = admin_db.batch_execute(statement).await {
                return Err(SandboxError::Unavailable(format!(
                    "the sandbox server cannot provide an extension the schema uses ({statement}): {}",
                    err.as_db_error()
                        .map_or(err.to_string(), |d| d.message().to_string())
                )));
            }
        }
    }
    let owner = build.connect(target).await?;
    // In batches, each its own transaction and one round trip: a schema of thousands of
    // tables would need more locks than the server's lock table holds
    // (`max_locks_per_transaction` 64 by default) in one. The build database is nobody
    // else's, and a build that fails is dropped whole, so the batches need no atomicity
    // between them. The session settings (`check_function_bodies`, `search_path`) come
    // first in the script and hold for the session.
    for batch in rest.chunks(CLONE_BATCH) {
        if owner.batch_execute(&batched(batch)).await.is_err() {
            // Which statement: again one at a time, in a transaction that is rolled back.
            return Err(clone_failure(&owner, batch).await);
        }
    }
    let filled = rows::fill(&owner, 1, i64::from(rows_per_table), None).await?;
    owner
        .batch_execute("ANALYZE")
        .await
        .map_err(SandboxError::server)?;
    Ok(Clone {
        tables: filled.tables,
        rows: filled.rows,
    })
}

/// Statements of the clone per transaction: few enough locks for a server with default
/// settings, many enough that a round trip per batch costs little.
const CLONE_BATCH: usize = 500;

/// A batch of the clone's statements as one query string, in a transaction.
fn batched(statements: &[&String]) -> String {
    let mut sql = String::from("BEGIN;\n");
    for statement in statements {
        sql.push_str(statement);
        // A statement may end in a comment: the separator goes on a line of its own.
        sql.push_str("\n;\n");
    }
    sql.push_str("COMMIT;");
    sql
}

/// Why a batch of the clone failed: its statements again, one at a time, in a transaction
/// rolled back at the end (or at the first failure, which is reported).
async fn clone_failure(owner: &Client, batch: &[&String]) -> SandboxError {
    let _ = owner.batch_execute("ROLLBACK; BEGIN").await;
    for statement in batch {
        if let Err(err) = owner.batch_execute(statement).await {
            let _ = owner.batch_execute("ROLLBACK").await;
            let reason = err
                .as_db_error()
                .map_or(err.to_string(), |d| d.message().to_string());
            let head: String = statement.chars().take(120).collect();
            return SandboxError::Unavailable(format!(
                "the schema could not be cloned: {reason} (at `{head}`)"
            ));
        }
    }
    let _ = owner.batch_execute("ROLLBACK").await;
    SandboxError::Unavailable("the schema could not be cloned: a batch of its statements failed together but not one by one".into())
}

/// Runs the migration on the clone with the executor's session settings.
/// The watchdog keeps [`SandboxSettings::run_deadline_ms`] from `admin`, the server
/// account's session, ending every session of `database`'s role when it passes.
async fn execute(
    sandbox: &Sandbox,
    request: &Request<'_>,
    admin: &Client,
    database: &Ephemeral,
    client: &mut Client,
    monitor: &Client,
) -> Result<observe::Run, SandboxError> {
    set_session(
        sandbox,
        client,
        request.lock_timeout_ms,
        request.statement_timeout_ms,
        request.idle_in_transaction_timeout_ms,
    )
    .await?;
    let protections = watch::Protections::read(client).await?;
    let running = AtomicUsize::new(0);
    watch::deadline(
        admin,
        database.role(),
        Duration::from_millis(sandbox.settings.run_deadline_ms),
        &running,
        observe::run(
            client,
            monitor,
            request.sql,
            request.statements,
            request.plan,
            &protections,
            &running,
        ),
    )
    .await
}

/// The executor's session settings on a sandbox session, `statement_timeout` capped by the
/// sandbox's own.
async fn set_session(
    sandbox: &Sandbox,
    client: &Client,
    lock_timeout_ms: u64,
    statement_timeout_ms: u64,
    idle_in_transaction_timeout_ms: u64,
) -> Result<(), SandboxError> {
    let version: i32 = client
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::int",
            &[],
        )
        .await
        .map_err(SandboxError::server)?
        .get(0);
    let settings = crate::target::migration_settings_sql(
        lock_timeout_ms,
        statement_timeout_ms.min(sandbox.settings.statement_timeout_ms),
        idle_in_transaction_timeout_ms,
        version,
    );
    client
        .batch_execute(&settings)
        .await
        .map_err(SandboxError::server)
}

/// The validation queries, after the migration. A query passes when it runs without error
/// and, if it returns one boolean, that boolean is true.
async fn validate(client: &Client, queries: &[String]) -> Vec<ValidationResult> {
    let mut out = Vec::with_capacity(queries.len());
    for query in queries {
        let started = Instant::now();
        let result = client.query(query.as_str(), &[]).await;
        let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let (passed, error) = match result {
            Ok(rows) => {
                let verdict = match rows.as_slice() {
                    [row]
                        if row.len() == 1
                            && *row.columns()[0].type_() == tokio_postgres::types::Type::BOOL =>
                    {
                        row.get::<_, Option<bool>>(0).unwrap_or(false)
                    }
                    _ => true,
                };
                (
                    verdict,
                    (!verdict).then(|| "the query returned false".to_string()),
                )
            }
            Err(err) => (
                false,
                Some(
                    err.as_db_error()
                        .map_or(err.to_string(), |d| d.message().to_string()),
                ),
            ),
        };
        out.push(ValidationResult {
            query: query.clone(),
            passed,
            error,
            duration_ms,
        });
    }
    out
}

/// Whether any statement's work grows with the rows: the static analysis says it scans,
/// rewrites, indexes or writes every row, or the run saw it rewrite a table.
fn scales(request: &Request<'_>, statements: &[ObservedStatement]) -> bool {
    statements.iter().any(|s| {
        s.not_run.is_none()
            && (request.scaling.contains(&s.index) || !s.rewritten_tables.is_empty())
    })
}

/// The second run, at [`SandboxSettings::estimate_rows`] rows in the touched tables, and the
/// extrapolation of each statement to the production row counts.
async fn estimate(
    sandbox: &Sandbox,
    target: &crate::pgconn::ConnectionString,
    admin: &Client,
    request: &Request<'_>,
    template: &str,
    statements: &mut [ObservedStatement],
    done: &mut Vec<Ephemeral>,
) -> Result<(), SandboxError> {
    let small = i64::from(request.rows_per_table);
    let large = i64::from(
        sandbox
            .settings
            .estimate_rows
            .max(request.rows_per_table + 1),
    );
    let second = Ephemeral::create(
        target,
        admin,
        &sandbox.settings.prefix,
        template,
        request.now,
    )
    .await?;
    let outcome = async {
        // The run's role owns the copy's objects: it fills them logged in as itself, and
        // the same session then runs the migration.
        let mut client = second.connect(target).await?;
        let touched: HashSet<String> = request.touched.iter().cloned().collect();
        let filled = rows::fill(&client, small + 1, large, Some(&touched)).await?;
        // The other tables' statistics came with the template.
        if !filled.names.is_empty() {
            client
                .batch_execute(&format!("ANALYZE {}", filled.names.join(", ")))
                .await
                .map_err(SandboxError::server)?;
        }
        let monitor = second.connect(target).await?;
        execute(sandbox, request, admin, &second, &mut client, &monitor).await
    }
    .await;
    let _ = server::end_run(admin, second.role()).await;
    done.push(second);
    let run = outcome?;
    if run.error.is_some() {
        // More rows made it fail (a unique index on a column with few distinct values…):
        // no estimate rather than a wrong one.
        return Ok(());
    }
    let larger: std::collections::HashMap<usize, (f64, f64)> = run
        .statements
        .iter()
        .map(|r| (r.index, (large as f64, r.duration_ms)))
        .collect();
    extrapolated(request, statements, &larger);
    Ok(())
}

/// Each statement's estimate at the production row counts, from its duration here and, in
/// `larger`, at [`SandboxSettings::estimate_rows`] rows (none: its duration here).
fn extrapolated(
    request: &Request<'_>,
    statements: &mut [ObservedStatement],
    larger: &std::collections::HashMap<usize, (f64, f64)>,
) {
    let small = request.rows_per_table as f64;
    // A statement's time grows with the largest production table it locks or rewrites.
    let rows_of = |s: &ObservedStatement| -> Option<f64> {
        s.observed_locks
            .iter()
            .map(|l| &l.table)
            .chain(&s.rewritten_tables)
            .filter_map(|t| request.snapshot.table(t))
            .map(|t| t.estimated_rows as f64)
            .reduce(f64::max)
    };
    let mut estimates = Vec::with_capacity(statements.len());
    for s in statements.iter() {
        let production = rows_of(s);
        let estimate = match (larger.get(&s.index), production) {
            (Some(d2), Some(rows))
                if s.not_run.is_none()
                    && (request.scaling.contains(&s.index) || !s.rewritten_tables.is_empty()) =>
            {
                extrapolate(
                    Timing {
                        small: (small, s.duration_ms),
                        large: (d2.0, d2.1),
                    },
                    rows,
                )
            }
            _ => s.duration_ms,
        };
        estimates.push(estimate);
    }
    for segment in &request.plan.segments {
        let indexes: Vec<usize> = segment.statements.clone().collect();
        let positions: Vec<usize> = indexes
            .iter()
            .filter_map(|i| statements.iter().position(|s| s.index == *i))
            .collect();
        let durations: Vec<f64> = positions.iter().map(|p| estimates[*p]).collect();
        let held = if segment.transactional {
            lock_times(&durations)
        } else {
            durations.clone()
        };
        for (k, p) in positions.iter().enumerate() {
            statements[*p].estimated_duration_ms = Some(durations[k].round() as u64);
            statements[*p].estimated_lock_ms = Some(held[k].round() as u64);
        }
    }
}
