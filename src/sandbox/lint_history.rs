//! A migration history tried on the sandbox (`autodb lint --sandbox-url`): one database for
//! the whole history, where every file runs in order as the executor would run it. What
//! PostgreSQL then holds is the schema the next file is judged against
//! (`History::observed`), so functions, triggers, domains and defaults the in-memory replay
//! does not model are known, and a file that PostgreSQL refuses after the earlier ones is
//! reported with its statement and error.
//!
//! The database starts as a clone of the history's starting schema (with the sandbox's
//! synthetic rows in every table, so a required column without a default fails as it would
//! on a table with data), or empty. Tables the files create hold only the rows the files
//! insert. A file that fails is rolled back as the executor would roll it back, and the
//! next file runs on the database without it. The database and its role are dropped at the
//! end, when the lint is interrupted (the guard), or by the next sweep after a crash.

use std::time::Instant;

use autodb_analysis::sandbox_result::{SandboxResult, SandboxStatus};
use autodb_core::schema::SchemaSnapshot;
use autodb_core::sql::ParsedStatement;
use tokio_postgres::Client;

use super::ephemeral::Ephemeral;
use super::{maintenance_db, observe, server, Sandbox, SandboxError, DEFAULT_ROWS_PER_TABLE};

/// The session settings of every file's run.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub lock_timeout_ms: u64,
    pub statement_timeout_ms: u64,
    pub idle_in_transaction_timeout_ms: u64,
}

/// The database a history runs on, and the sessions on it.
pub struct HistoryRun {
    admin: Client,
    database: Ephemeral,
    client: Client,
    monitor: Client,
    version: String,
    protections: super::watch::Protections,
    deadline: std::time::Duration,
}

impl HistoryRun {
    /// A database holding `start` (a clone with synthetic rows), or an empty one.
    pub async fn start(
        sandbox: &Sandbox,
        start: Option<&SchemaSnapshot>,
        timeouts: Timeouts,
        now: i64,
    ) -> Result<Self, SandboxError> {
        let target = sandbox.server.target().await?;
        let admin = server::connect_to(&target, maintenance_db(&target), None).await?;
        super::prepare(sandbox, &target, &admin, now).await?;
        let version = super::server_version(&admin).await?;
        let template = match start {
            Some(snapshot) => {
                super::template(
                    sandbox,
                    &target,
                    &admin,
                    snapshot,
                    &snapshot.fingerprint(),
                    DEFAULT_ROWS_PER_TABLE,
                    now,
                )
                .await?
                .0
            }
            None => "template0".to_string(),
        };
        let database =
            Ephemeral::create(&target, &admin, &sandbox.settings.prefix, &template, now).await?;
        let client = database.connect(&target).await?;
        let monitor = database.connect(&target).await?;
        super::set_session(
            sandbox,
            &client,
            timeouts.lock_timeout_ms,
            timeouts.statement_timeout_ms,
            timeouts.idle_in_transaction_timeout_ms,
        )
        .await?;
        let protections = super::watch::Protections::read(&client).await?;
        Ok(Self {
            admin,
            database,
            client,
            monitor,
            version,
            protections,
            deadline: std::time::Duration::from_millis(sandbox.settings.run_deadline_ms),
        })
    }

    /// Runs the next file. Never fails: a file PostgreSQL refuses is `failed` with its
    /// statement and error; a file that cannot be run as written (a transaction-control
    /// statement in the wrong place) is `skipped` with the reason.
    pub async fn file(&mut self, sql: &str, statements: &[ParsedStatement]) -> SandboxResult {
        let started = Instant::now();
        let plan = match autodb_core::sql::plan(statements) {
            Ok(plan) => plan,
            Err(err) => return SandboxResult::skipped(format!("not runnable as written: {err}")),
        };
        let running = std::sync::atomic::AtomicUsize::new(0);
        let run = super::watch::deadline(
            &self.admin,
            self.database.role(),
            self.deadline,
            &running,
            observe::run(
                &mut self.client,
                &self.monitor,
                sql,
                statements,
                &plan,
                &self.protections,
                &running,
            ),
        )
        .await;
        let mut result = match run {
            Ok(run) => {
                let applied = run.error.is_none();
                SandboxResult {
                    status: if applied {
                        SandboxStatus::Passed
                    } else {
                        SandboxStatus::Failed
                    },
                    reason: None,
                    passed: applied,
                    migration_applied: applied,
                    statements: super::observed_statements(&run),
                    migration_error: run.error,
                    server_version: Some(self.version.clone()),
                    ..SandboxResult::skipped("")
                }
            }
            Err(err) => SandboxResult::skipped(err.to_string()),
        };
        result.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        result
    }

    /// The schema the database holds now.
    pub async fn schema(&self) -> Result<SchemaSnapshot, SandboxError> {
        crate::schema::introspect::snapshot(&self.client)
            .await
            .map_err(SandboxError::server)
    }

    /// Drops the database and its role.
    pub async fn finish(self) {
        let Self {
            admin,
            database,
            client,
            monitor,
            ..
        } = self;
        drop((client, monitor));
        database.drop_now(&admin).await;
    }
}
