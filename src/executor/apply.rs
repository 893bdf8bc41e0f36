//! Applying a claimed request to its database.
//!
//! A migration is cut into *segments*: runs of statements that can share a transaction, and
//! single statements PostgreSQL refuses to run in one (`CREATE INDEX CONCURRENTLY`, …). The
//! usual migration is one segment: one transaction holding every statement, the before/after
//! snapshots and the ledger row, so it is applied entirely or not at all, exactly once.
//!
//! A migration with several segments commits each one as it goes and records every applied
//! statement in `autodb.migration_steps`, in the same transaction where there is one; a retry
//! skips the recorded statements. A failure there leaves the earlier segments applied, and the
//! error says so.

use std::collections::HashSet;
use std::time::Instant;

use autodb_core::schema::{self, SchemaSnapshot};
use autodb_core::sql::ParsedStatement;
use tokio_postgres::GenericClient;

use super::Deps;
use crate::domain::error_code::ExecutionErrorCode;
use crate::domain::Finish;
use crate::domain::{ExecutionError, ExecutionResult, MigrationRequest};
use crate::ports::PortError;

use super::drift;
use super::ledger;
use super::session::{self, Guard};

const LEDGER_DDL: &str = "CREATE SCHEMA IF NOT EXISTS autodb;
CREATE TABLE IF NOT EXISTS autodb.migration_ledger (
    request_id  text PRIMARY KEY,
    sql_sha256  text NOT NULL,
    result      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS autodb.migration_steps (
    request_id       text NOT NULL,
    statement_index  integer NOT NULL,
    applied_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, statement_index)
)";

/// How an attempt ended: the one outcome enum of the apply step (returned by [`attempt`],
/// and the error of every step inside it, so `?` ends the attempt).
#[expect(clippy::large_enum_variant, reason = "one value per job, never stored")]
pub(super) enum Stop {
    /// The request's end: applied, or failed for good.
    Finish(Finish),
    /// Another session holds the database's advisory lock, or autodb's sessions on it are
    /// all in use; nothing was sent.
    Busy,
    /// The database could not be reached for a reason that may pass (see
    /// `target::CheckoutError::Down`); nothing was sent.
    Down(String),
    /// No answer: a store failure, or a COMMIT whose outcome is unknown.
    Port(PortError),
}

impl From<PortError> for Stop {
    fn from(err: PortError) -> Self {
        Self::Port(err)
    }
}

pub(super) fn failed(code: ExecutionErrorCode, message: impl Into<String>) -> Stop {
    Stop::Finish(Finish::Failed(ExecutionError {
        code,
        message: message.into(),
        statement_index: None,
        sqlstate: None,
    }))
}

/// A PostgreSQL error as an execution error with `code`, keeping its message and SQLSTATE.
pub(super) fn pg_error(
    code: ExecutionErrorCode,
    statement_index: Option<usize>,
    err: &tokio_postgres::Error,
) -> ExecutionError {
    let (message, sqlstate) = match err.as_db_error() {
        Some(db) => (db.message().to_string(), Some(db.code().code().to_string())),
        None => (err.to_string(), None),
    };
    ExecutionError {
        code,
        message,
        statement_index,
        sqlstate,
    }
}

/// Maps a PostgreSQL error to the request's failure with `code` (see [`pg_error`]).
pub(super) fn pg_failed(
    code: ExecutionErrorCode,
    statement_index: Option<usize>,
) -> impl FnOnce(tokio_postgres::Error) -> Stop {
    move |err| Stop::Finish(Finish::Failed(pg_error(code, statement_index, &err)))
}

/// The one way a failure says which statements of a split migration stay applied (given
/// 0-based, in order, at least one): "statements 1 to 3 were committed and remain applied
/// (…)". Every message that ends a migration after some of it committed appends this after
/// a "; ".
pub(super) fn remain_applied(applied: impl IntoIterator<Item = usize>) -> String {
    let mut runs: Vec<(usize, usize)> = Vec::new();
    for index in applied {
        let n = index + 1;
        match runs.last_mut() {
            Some((_, last)) if *last + 1 == n => *last = n,
            _ => runs.push((n, n)),
        }
    }
    let count: usize = runs.iter().map(|(first, last)| last - first + 1).sum();
    let list: Vec<String> = runs
        .iter()
        .map(|&(first, last)| match last - first {
            0 => first.to_string(),
            _ => format!("{first} to {last}"),
        })
        .collect();
    let (noun, verbs) = if count == 1 {
        ("statement", "was committed and remains")
    } else {
        ("statements", "were committed and remain")
    };
    format!(
        "{noun} {} {verbs} applied (statements that cannot run in a transaction split the \
         migration)",
        list.join(", ")
    )
}

pub(super) async fn attempt(
    deps: &Deps<'_>,
    request: &MigrationRequest,
    lock_key: &str,
    progress: &tokio::sync::watch::Sender<String>,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Stop {
    match run(deps, request, lock_key, progress, deadline).await {
        Ok(finish) => Stop::Finish(finish),
        Err(stop) => stop,
    }
}

/// The result an earlier attempt recorded in the ledger, if the migration committed. `Err`
/// says why the database could not be asked.
/// What the target database says an earlier attempt applied: the ledger's result if the
/// migration committed, else the statements recorded as applied by a split migration.
pub(super) struct AppliedState {
    pub ledger: Option<ExecutionResult>,
    pub steps: Vec<i32>,
}

/// Reads [`AppliedState`]. `Err` says why the database could not be asked.
pub(super) async fn applied_state(
    deps: &Deps<'_>,
    request: &MigrationRequest,
) -> Result<AppliedState, String> {
    let connection = deps
        .store
        .get_connection(&request.connection_id)
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the connection was removed")?;
    let client = deps
        .targets
        .checkout(&connection)
        .await
        .map_err(|e| e.to_string())?;
    let id = request.request_id.as_str();
    let read = async {
        let ledger = client
            .query_opt(
                "SELECT result FROM autodb.migration_ledger WHERE request_id = $1",
                &[&id],
            )
            .await?;
        let steps = client
            .query(
                "SELECT statement_index FROM autodb.migration_steps WHERE request_id = $1 \
                 ORDER BY statement_index",
                &[&id],
            )
            .await?;
        Ok::<_, tokio_postgres::Error>((ledger, steps))
    };
    match read.await {
        Ok((ledger, steps)) => Ok(AppliedState {
            ledger: ledger
                .map(|row| serde_json::from_str(row.get::<_, &str>(0)))
                .transpose()
                .map_err(|e| format!("unreadable ledger row: {e}"))?,
            steps: steps.iter().map(|r| r.get(0)).collect(),
        }),
        // No ledger tables: nothing was ever applied to this database by autodb.
        Err(err) if err.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE) => {
            Ok(AppliedState {
                ledger: None,
                steps: vec![],
            })
        }
        Err(err) => Err(crate::domain::error_chain(&err)),
    }
}

async fn run(
    deps: &Deps<'_>,
    request: &MigrationRequest,
    lock_key: &str,
    progress: &tokio::sync::watch::Sender<String>,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Result<Finish, Stop> {
    let Some(connection) = deps.store.get_connection(&request.connection_id).await? else {
        return Err(failed(
            ExecutionErrorCode::ConnectionNotFound,
            "the connection was removed",
        ));
    };
    let reference = &connection.secret_ref;
    let mut client = match deps.targets.checkout(&connection).await {
        Ok(session) => session,
        // autodb's sessions on the database are all in use: nothing was done, try later.
        Err(crate::target::CheckoutError::Busy) => return Err(Stop::Busy),
        Err(crate::target::CheckoutError::Port(err)) => return Err(Stop::Port(err)),
        // A restart, a failover, a full server: the request waits (within its start bound,
        // the token's lifetime) instead of failing.
        Err(crate::target::CheckoutError::Down(message)) => return Err(Stop::Down(message)),
        // Credentials, a missing database, TLS: waiting cannot help.
        Err(crate::target::CheckoutError::Unreachable(message)) => {
            return Err(failed(ExecutionErrorCode::ConnectionFailed, message))
        }
    };
    let outcome = run_on(
        deps,
        request,
        &connection,
        lock_key,
        progress,
        deadline,
        &mut client,
    )
    .await;
    // A run that ended without an answer leaves the session in an unknown state: close it.
    if !matches!(outcome, Err(Stop::Port(_))) {
        deps.targets.give_back(reference, client).await;
    }
    outcome
}

async fn run_on(
    deps: &Deps<'_>,
    request: &MigrationRequest,
    connection: &crate::domain::Connection,
    lock_key: &str,
    progress: &tokio::sync::watch::Sender<String>,
    deadline: chrono::DateTime<chrono::Utc>,
    client: &mut tokio_postgres::Client,
) -> Result<Finish, Stop> {
    let Some(binding) = &request.binding else {
        // Tokens have carried a binding since version 2; an older request never runs.
        return Err(failed(
            ExecutionErrorCode::SchemaDrift,
            "the approval binds no search path or schema fingerprint, so autodb cannot show \
             the schema is still the one analyzed; nothing was applied — analyze the \
             migration again",
        ));
    };
    let guard = session::prepare(
        deps,
        client,
        deps.settings.lock_timeout_for(connection),
        &binding.search_path,
        deadline,
    )
    .await?;
    if let Some(result) = committed_earlier(client, request).await? {
        tracing::info!("ledger shows the migration applied; completing without re-applying");
        return Ok(Finish::Completed(result));
    }
    let statements = statements_to_run(deps, connection, request)
        .map_err(|error| Stop::Finish(Finish::Failed(error)))?;
    let plan = autodb_core::sql::plan(&statements)
        .map_err(|err| failed(ExecutionErrorCode::TransactionControl, err.to_string()))?;
    let done = applied_steps(client, request).await?;
    let stepwise = plan.segments.len() > 1;
    // Drift is checked on a first attempt only: a resumed split migration changed its own
    // scope with the statements it already committed.
    let check_drift = done.is_empty();
    let mut run = Run {
        deps,
        request,
        lock_key,
        progress,
        statements: &statements,
        total: statements.len(),
        sent: plan.sent(),
        guard,
        committed: 0,
        started: Instant::now(),
        before: None,
    };
    for (k, segment) in plan.segments.iter().enumerate() {
        let step = Step {
            first: k == 0,
            last: k + 1 == plan.segments.len(),
            check_drift,
            stepwise,
            done: &done,
        };
        let finish = if segment.transactional {
            run.transaction_with_retries(client, connection, segment, &step)
                .await?
        } else {
            run.alone(client, segment, &step).await?
        };
        if let Some(finish) = finish {
            return Ok(finish);
        }
        run.committed = segment.statements.end;
    }
    Err(failed(
        ExecutionErrorCode::EmptyMigration,
        "the migration has no statements",
    ))
}

/// The ledger's result if an earlier attempt committed the migration (after making sure the
/// ledger tables exist and are autodb's own).
async fn committed_earlier(
    client: &tokio_postgres::Client,
    request: &MigrationRequest,
) -> Result<Option<ExecutionResult>, Stop> {
    client
        .batch_execute(LEDGER_DDL)
        .await
        .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?;
    ledger::check(client).await?;
    let Some(row) = client
        .query_opt(
            "SELECT result FROM autodb.migration_ledger WHERE request_id = $1",
            &[&request.request_id.as_str()],
        )
        .await
        .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?
    else {
        return Ok(None);
    };
    let stored: String = row.get(0);
    let result = serde_json::from_str(&stored).map_err(|e| PortError::Corrupt {
        what: "ledger",
        detail: e.to_string(),
    })?;
    Ok(Some(result))
}

/// The statements exactly as analyzed: each text is proven to parse alone to the tree the
/// analysis judged, and the guard's refusals are checked again with this executor's own
/// limits. Analyze refused all of this already; a request that got here anyway (a token from
/// an older version, a changed limit) is refused before anything is sent.
fn statements_to_run(
    deps: &Deps<'_>,
    connection: &crate::domain::Connection,
    request: &MigrationRequest,
) -> Result<Vec<ParsedStatement>, ExecutionError> {
    let refusal = |code: ExecutionErrorCode, message: String, statement_index| ExecutionError {
        code,
        message,
        statement_index,
        sqlstate: None,
    };
    let statements = autodb_core::sql::parse_for_execution(request.sql.as_str())
        .map_err(|err| refusal(ExecutionErrorCode::SqlParseError, err.to_string(), None))?;
    let refused = autodb_analysis::refusals(&statements, deps.settings.limits(connection));
    if let Some(r) = refused.first() {
        return Err(refusal(
            ExecutionErrorCode::MigrationRefused,
            format!("{}; nothing was applied", r.reason),
            Some(r.statement_index),
        ));
    }
    Ok(statements)
}

/// The statements of a split migration that earlier attempts committed.
async fn applied_steps(
    client: &tokio_postgres::Client,
    request: &MigrationRequest,
) -> Result<HashSet<i32>, Stop> {
    Ok(client
        .query(
            "SELECT statement_index FROM autodb.migration_steps WHERE request_id = $1",
            &[&request.request_id.as_str()],
        )
        .await
        .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?
        .iter()
        .map(|r| r.get(0))
        .collect())
}

/// Where a segment stands in its migration.
struct Step<'a> {
    first: bool,
    last: bool,
    check_drift: bool,
    /// The migration is split: each statement's step is recorded as it commits.
    stepwise: bool,
    /// Statements earlier attempts committed (skipped).
    done: &'a HashSet<i32>,
}

/// The state of one application of a migration.
struct Run<'a> {
    deps: &'a Deps<'a>,
    request: &'a MigrationRequest,
    lock_key: &'a str,
    progress: &'a tokio::sync::watch::Sender<String>,
    statements: &'a [ParsedStatement],
    /// Statements in the migration, and how many are sent (an outer BEGIN/COMMIT is not).
    total: usize,
    sent: usize,
    /// What the session must still look like after every statement.
    guard: Guard,
    /// Statements committed by earlier segments (they stay applied if a later one fails).
    committed: usize,
    started: Instant,
    before: Option<SchemaSnapshot>,
}

impl Run<'_> {
    /// A transactional segment. A lock not granted within `lock_timeout` rolls it back; it is
    /// tried again after a jittered pause until the retry budget is spent. Each attempt queues
    /// the application's sessions behind it for at most one `lock_timeout`.
    async fn transaction_with_retries(
        &mut self,
        client: &mut tokio_postgres::Client,
        connection: &crate::domain::Connection,
        segment: &autodb_core::sql::Segment,
        step: &Step<'_>,
    ) -> Result<Option<Finish>, Stop> {
        let deps = self.deps;
        let retry_until =
            Instant::now() + std::time::Duration::from_millis(deps.settings.lock_retry_budget_ms);
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            if step.first {
                // The drift check's locks went with the rolled-back attempt: check again.
                self.before = None;
            }
            match self.transaction(client, segment, step).await {
                Ok(finish) => return Ok(finish),
                Err(stop) if self.committed == 0 && session_gone(client, &stop) => {
                    return Err(cut_off(deps, connection, stop).await)
                }
                Err(stop) if is_lock_timeout(&stop) => {
                    deps.metrics.emit(crate::metrics::lock_wait(
                        deps.clock.now().timestamp_millis(),
                    ));
                    let pause = backoff(attempts);
                    if Instant::now() + pause >= retry_until {
                        return Err(lock_timeout(client, stop, attempts, self.statements).await);
                    }
                    self.progress(&format!(
                        "Waiting for locks (attempt {attempts} timed out); retrying"
                    ));
                    tokio::time::sleep(pause).await;
                }
                Err(stop) => return Err(stop),
            }
        }
    }

    /// A statement that cannot run in a transaction block, sent alone; the drift check (if it
    /// has not run yet) gets a transaction of its own first.
    async fn alone(
        &mut self,
        client: &mut tokio_postgres::Client,
        segment: &autodb_core::sql::Segment,
        step: &Step<'_>,
    ) -> Result<Option<Finish>, Stop> {
        if self.before.is_none() {
            let txn = client
                .transaction()
                .await
                .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?;
            let before = drift::checked_snapshot(
                self.deps,
                self.request,
                &txn,
                self.statements,
                step.check_drift,
            )
            .await?;
            txn.commit()
                .await
                .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?;
            self.before = Some(before);
        }
        let i = segment.statements.start;
        self.fence().await?;
        self.statement(&*client, &self.statements[i], true, false, step.done)
            .await?;
        if step.last {
            return Ok(Some(Finish::Completed(self.finish(&*client).await?)));
        }
        Ok(None)
    }

    /// One attempt at a transactional segment: its statements, and for the last segment the
    /// ledger row, in one transaction that commits. `Some` is the migration's end.
    async fn transaction(
        &mut self,
        client: &mut tokio_postgres::Client,
        segment: &autodb_core::sql::Segment,
        step: &Step<'_>,
    ) -> Result<Option<Finish>, Stop> {
        let txn = client
            .transaction()
            .await
            .map_err(pg_failed(ExecutionErrorCode::PrepareFailed, None))?;
        if self.before.is_none() {
            self.before = Some(
                drift::checked_snapshot(
                    self.deps,
                    self.request,
                    &txn,
                    self.statements,
                    step.check_drift,
                )
                .await?,
            );
        }
        for i in segment.statements.clone() {
            self.statement(&txn, &self.statements[i], step.stepwise, true, step.done)
                .await?;
        }
        if step.last {
            // The lock window: from the end of the last statement to the acknowledged
            // COMMIT, only what must be atomic with the migration happens — the scoped
            // after-snapshot and ledger row, and one fencing call to the store, made while
            // the database answers the snapshot (both must succeed before COMMIT).
            let window = Instant::now();
            let (finished, fenced) = tokio::join!(self.finish(&txn), self.fence());
            let mut result = finished?;
            fenced?;
            txn.commit().await.map_err(commit_error)?;
            // Both spans end at the acknowledged COMMIT, so the window is never longer than
            // the run (the ledger row keeps the figure as of its own write).
            result.lock_window_ms = Some(elapsed_ms(window));
            result.execution_time_ms = elapsed_ms(self.started);
            self.progress(&format!("Committed {} statements", self.sent));
            return Ok(Some(Finish::Completed(result)));
        }
        self.fence().await?;
        txn.commit().await.map_err(commit_error)?;
        Ok(None)
    }

    /// Progress goes to a reporter task (`super::report_progress`) and never waits for the
    /// store: a slow or failing store must neither lengthen a lock window nor roll back a
    /// migration.
    fn progress(&self, text: &str) {
        self.progress.send_replace(text.to_string());
    }

    async fn statement(
        &self,
        client: &impl GenericClient,
        statement: &ParsedStatement,
        record_step: bool,
        in_transaction: bool,
        done: &HashSet<i32>,
    ) -> Result<(), Stop> {
        let index = statement.index;
        let step = i32::try_from(index).unwrap_or(i32::MAX);
        if done.contains(&step) {
            return Ok(());
        }
        self.progress(&format!(
            "Applying statement {} of {}",
            index + 1,
            self.total
        ));
        // The extended protocol runs exactly one statement per message: a text that the
        // server read as two would be an error, never two statements.
        if let Err(err) = client.execute(statement.sql.as_str(), &[]).await {
            let mut error = pg_error(ExecutionErrorCode::StatementFailed, Some(index), &err);
            if error.sqlstate.as_deref() == Some("57014") {
                // Cut off by statement_timeout (or this attempt's deadline): running it again
                // would hold its locks just as long, and be cut off again.
                error.code = ExecutionErrorCode::StatementTimeout;
                error.message = format!(
                    "{}: the statement ran past the executor's time limit and was rolled \
                     back; split the migration so that each part finishes in time, or raise \
                     statement_timeout",
                    error.message
                );
            }
            if self.committed > 0 {
                error.message = format!("{}; {}", error.message, remain_applied(0..self.committed));
            }
            return Err(Stop::Finish(Finish::Failed(error)));
        }
        self.guard
            .check(client, index, self.committed, in_transaction)
            .await?;
        if record_step {
            ledger::check(client).await?;
            client
                .execute(
                    "INSERT INTO autodb.migration_steps (request_id, statement_index) VALUES ($1, $2)",
                    &[&self.request.request_id.as_str(), &step],
                )
                .await
                .map_err(pg_failed(ExecutionErrorCode::LedgerFailed, Some(index)))?;
        }
        Ok(())
    }

    /// Snapshots the result, diffs it and writes the ledger row, on `client` (inside the last
    /// transaction where there is one).
    async fn finish(&self, client: &impl GenericClient) -> Result<ExecutionResult, Stop> {
        let after = drift::scoped_snapshot(client, self.request).await?;
        let before = self.before.clone().unwrap_or_default();
        let result = ExecutionResult {
            diff: schema::diff_with_renames(
                &before,
                &after,
                &autodb_core::sql::renames(self.statements),
            ),
            statements_executed: self.sent,
            execution_time_ms: elapsed_ms(self.started),
            lock_window_ms: None,
        };
        let stored = serde_json::to_string(&result).unwrap_or_default();
        ledger::check(client).await?;
        client
            .execute(
                "INSERT INTO autodb.migration_ledger (request_id, sql_sha256, result) VALUES ($1, $2, $3)",
                &[&self.request.request_id.as_str(), &self.request.sql_sha256, &stored],
            )
            .await
            .map_err(pg_failed(ExecutionErrorCode::LedgerFailed, None))?;
        Ok(result)
    }

    /// Fencing: go on only while this request still holds the connection lock.
    async fn fence(&self) -> Result<(), Stop> {
        let lease = self.deps.clock.now()
            + chrono::Duration::seconds(self.deps.settings.lock_lease_seconds);
        let held = self
            .deps
            .store
            .renew_lock(self.lock_key, &self.request.request_id, lease)
            .await?;
        if held {
            return Ok(());
        }
        let mut message =
            "the connection lock was lost during the migration; nothing more was applied \
             (an open transaction was rolled back)"
                .to_string();
        if self.committed > 0 {
            message.push_str(&format!("; {}", remain_applied(0..self.committed)));
        }
        Err(failed(ExecutionErrorCode::LockLost, message))
    }
}

fn is_lock_timeout(stop: &Stop) -> bool {
    matches!(stop, Stop::Finish(Finish::Failed(e)) if e.sqlstate.as_deref() == Some("55P03"))
}

/// 200 ms doubling per attempt up to 5 s, each pause drawn between half and all of it, so
/// that retries do not line up with the sessions they wait for.
fn backoff(attempt: u32) -> std::time::Duration {
    use rand::Rng;
    let full = (200u64 << attempt.saturating_sub(1).min(5)).min(5_000);
    std::time::Duration::from_millis(rand::thread_rng().gen_range(full / 2..=full))
}

/// The end of a migration whose locks were not granted within the retry budget: what it
/// waited for, and who held it.
async fn lock_timeout(
    client: &tokio_postgres::Client,
    stop: Stop,
    attempts: u32,
    statements: &[ParsedStatement],
) -> Stop {
    let Stop::Finish(Finish::Failed(mut error)) = stop else {
        return stop;
    };
    let names = autodb_analysis::scope::scope(statements, None);
    let (schemas, relations) = crate::schema::introspect::split_names(&names);
    let blockers = client
        .query(
            "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.state, ''),
                    coalesce(extract(epoch FROM now() - coalesce(a.xact_start, a.query_start)), 0)::bigint,
                    left(coalesce(a.query, ''), 80)
               FROM pg_catalog.pg_stat_activity a
              WHERE a.pid <> pg_catalog.pg_backend_pid() AND a.pid IN (
                    SELECT l.pid FROM pg_catalog.pg_locks l
                      JOIN pg_catalog.pg_class c ON c.oid = l.relation
                      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                      JOIN unnest($1::text[], $2::text[]) AS s(nsp, rel)
                        ON s.nsp = n.nspname AND s.rel = c.relname
                     WHERE l.granted)
              ORDER BY a.pid",
            &[&schemas, &relations],
        )
        .await
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    format!(
                        "pid {} ({}, {} for {} s: {})",
                        r.get::<_, i32>(0),
                        match r.get::<_, String>(1) {
                            name if name.is_empty() => "no application name".to_string(),
                            name => format!("application `{name}`"),
                        },
                        r.get::<_, String>(2),
                        r.get::<_, i64>(3),
                        r.get::<_, String>(4)
                    )
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    error.code = ExecutionErrorCode::LockTimeout;
    error.message = format!(
        "the migration's locks were not granted within lock_timeout in {attempts} attempt{} \
         ({}); the transaction was rolled back each time. Blocking sessions: {}. Retry when \
         they end, or raise the retry budget",
        if attempts == 1 { "" } else { "s" },
        error.message,
        if blockers.is_empty() {
            "none left by the time of this report".to_string()
        } else {
            blockers.join("; ")
        }
    );
    Stop::Finish(Finish::Failed(error))
}

/// Whether the session ended with `stop`: closed, or ended by the server (the FATAL errors of
/// a shutdown, a crash or a terminated backend, which close it next).
fn session_gone(client: &tokio_postgres::Client, stop: &Stop) -> bool {
    client.is_closed()
        || matches!(stop, Stop::Finish(Finish::Failed(e))
            if matches!(e.sqlstate.as_deref(), Some("57P01" | "57P02" | "57P03")))
}

/// The first transaction's attempt ended with its session gone (a restart, a crash, a
/// failover, the network): the transaction died with it and nothing was committed, so when the
/// server cannot be reached now the request waits for the database like one that could not
/// connect ([`Stop::Down`]) and runs again once it is back — the ledger then says whether it
/// committed. A session ended on a server that still accepts sessions (a person or a tool
/// terminated the migration's backend) is not waited out: `stop` stands.
async fn cut_off(deps: &Deps<'_>, connection: &crate::domain::Connection, stop: Stop) -> Stop {
    let Stop::Finish(Finish::Failed(error)) = &stop else {
        return stop;
    };
    match deps.targets.checkout(connection).await {
        Err(crate::target::CheckoutError::Down(_)) => {
            let during = error
                .statement_index
                .map_or_else(String::new, |i| format!(" during statement {}", i + 1));
            Stop::Down(format!(
                "the session was lost{during}: {}; its transaction was rolled back",
                error.message
            ))
        }
        Ok(session) => {
            deps.targets
                .give_back(&connection.secret_ref, session)
                .await;
            stop
        }
        Err(_) => stop,
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// A COMMIT that PostgreSQL refused failed for sure (nothing was applied); one that lost its
/// connection may or may not have committed, so the attempt ends without an answer and the
/// next one reads the ledger.
fn commit_error(err: tokio_postgres::Error) -> Stop {
    if err.as_db_error().is_some() {
        pg_failed(ExecutionErrorCode::CommitFailed, None)(err)
    } else {
        Stop::Port(PortError::unavailable("postgresql", err))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_pauses_double_up_to_five_seconds_with_jitter_from_half() {
        for (attempt, full) in [
            (0, 200),
            (1, 200),
            (2, 400),
            (3, 800),
            (6, 5_000),
            (40, 5_000),
        ] {
            for _ in 0..200 {
                let pause = backoff(attempt).as_millis() as u64;
                assert!(
                    (full / 2..=full).contains(&pause),
                    "attempt {attempt}: {pause} ms outside {}..={full}",
                    full / 2
                );
            }
        }
        // Drawn, not fixed: 200 draws of 2.5–5 s are not all the same.
        let draws: HashSet<u128> = (0..200).map(|_| backoff(6).as_millis()).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn what_remains_applied_is_said_one_way() {
        let why = "(statements that cannot run in a transaction split the migration)";
        assert_eq!(
            remain_applied(0..1),
            format!("statement 1 was committed and remains applied {why}")
        );
        assert_eq!(
            remain_applied(0..3),
            format!("statements 1 to 3 were committed and remain applied {why}")
        );
        assert_eq!(
            remain_applied([0, 1, 3]),
            format!("statements 1 to 2, 4 were committed and remain applied {why}")
        );
    }
}
