//! The executor's session on the target database, and the protections a migration cannot
//! take away from it.
//!
//! Before the first statement the session gets its timeouts and `application_name`, and takes
//! the database's advisory lock: one key for every autodb executor, so two registrations of
//! the same database (advisory locks are per database) never migrate it at once.
//!
//! The analysis refuses every statement that would undo these (`crate::guard` in the
//! analysis crate). What it cannot see — a `DO` block or a function doing the same through
//! dynamic SQL — is caught here: after every statement, [`Guard::check`] reads the timeouts,
//! the roles, the `search_path` and the advisory lock back from the server; if any was
//! loosened or lost, the migration stops and its open transaction is rolled back.

use tokio_postgres::{Client, GenericClient};

use super::apply::{pg, Stop};
use crate::app::ports::Finish;
use crate::app::App;
use crate::domain::ExecutionError;

/// The advisory lock every autodb executor takes on a target database ("autodb" + 1).
pub const ADVISORY_KEY: i64 = 0x6175_746f_6462_0001;

/// Kept free at the end of an attempt for the ledger row, COMMIT and the status write.
const DEADLINE_MARGIN_SECONDS: i64 = 20;
/// An attempt with less time than this left starts nothing.
const MIN_STATEMENT_MS: i64 = 1_000;

/// What the session must still look like after every statement.
#[derive(Debug, Clone)]
pub(super) struct Guard {
    lock_timeout_ms: i64,
    statement_timeout_ms: i64,
    current_user: String,
    session_user: String,
    search_path: String,
}

const STATE: &str = "SELECT
    (SELECT setting FROM pg_settings WHERE name = 'lock_timeout')::bigint,
    (SELECT setting FROM pg_settings WHERE name = 'statement_timeout')::bigint,
    current_user::text, session_user::text, current_setting('search_path'),
    EXISTS (SELECT 1 FROM pg_locks
            WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
              AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1)";

/// The session settings of every migration run, in production and in the sandbox alike:
/// the timeouts and the `application_name` the protections check.
pub(crate) fn settings_sql(
    lock_timeout_ms: u64,
    statement_timeout_ms: u64,
    idle_in_transaction_timeout_ms: u64,
    server_version_num: i32,
) -> String {
    let mut settings = format!(
        "SET lock_timeout = {lock_timeout_ms}; SET statement_timeout = {statement_timeout_ms}; \
         SET idle_in_transaction_session_timeout = {idle_in_transaction_timeout_ms}; \
         SET application_name = 'autodb'"
    );
    // PostgreSQL 14+ can notice a vanished client while a statement runs: a killed executor's
    // statement (and its locks) then ends within a second instead of at statement_timeout.
    if server_version_num >= 140_000 {
        settings.push_str("; SET client_connection_check_interval = 1000");
    }
    settings
}

/// Session settings and the advisory lock. `Busy` when another executor holds the lock.
/// `deadline` bounds this attempt (Lambda: the invocation's end; locally: the claim): no
/// statement may run past it, so `statement_timeout` is the smaller of the setting and the
/// time left, less a margin for the bookkeeping after the last statement.
pub(super) async fn prepare(
    app: &App,
    client: &Client,
    lock_timeout_ms: u64,
    deadline: chrono::DateTime<chrono::Utc>,
) -> Result<Guard, Stop> {
    let left_ms = (deadline - app.clock.now() - chrono::Duration::seconds(DEADLINE_MARGIN_SECONDS))
        .num_milliseconds();
    if left_ms < MIN_STATEMENT_MS {
        // Not enough time left to start anything: the next attempt starts fresh.
        return Err(Stop::Busy);
    }
    let statement_timeout_ms = app
        .settings
        .statement_timeout_ms
        .min(u64::try_from(left_ms).unwrap_or(0));
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(pg("PREPARE_FAILED", None))?
        .get(0);
    let settings = settings_sql(
        lock_timeout_ms,
        statement_timeout_ms,
        app.settings.idle_in_transaction_timeout_ms,
        version,
    );
    client
        .batch_execute(&settings)
        .await
        .map_err(pg("PREPARE_FAILED", None))?;
    let locked: bool = client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&ADVISORY_KEY])
        .await
        .map_err(pg("PREPARE_FAILED", None))?
        .get(0);
    if !locked {
        return Err(Stop::Busy);
    }
    let row = client
        .query_one(STATE, &[&ADVISORY_KEY])
        .await
        .map_err(pg("PREPARE_FAILED", None))?;
    Ok(Guard {
        lock_timeout_ms: row.get(0),
        statement_timeout_ms: row.get(1),
        current_user: row.get(2),
        session_user: row.get(3),
        search_path: row.get(4),
    })
}

impl Guard {
    /// Reads the session back after statement `index`; stops the migration if the statement
    /// loosened a timeout, changed a role or the `search_path`, or released the advisory lock.
    /// `committed` statements stayed applied (a split migration) and the message says so.
    pub(super) async fn check(
        &self,
        client: &impl GenericClient,
        index: usize,
        committed: usize,
        in_transaction: bool,
    ) -> Result<(), Stop> {
        let row = client
            .query_one(STATE, &[&ADVISORY_KEY])
            .await
            .map_err(pg("PROTECTION_CHECK_FAILED", Some(index)))?;
        let lock_timeout: i64 = row.get(0);
        let statement_timeout: i64 = row.get(1);
        let mut broken = Vec::new();
        if lock_timeout <= 0 || lock_timeout > self.lock_timeout_ms {
            broken.push(format!("lock_timeout is now {lock_timeout} ms"));
        }
        if statement_timeout <= 0 || statement_timeout > self.statement_timeout_ms {
            broken.push(format!("statement_timeout is now {statement_timeout} ms"));
        }
        if row.get::<_, String>(2) != self.current_user
            || row.get::<_, String>(3) != self.session_user
        {
            broken.push("the role changed".into());
        }
        if row.get::<_, String>(4) != self.search_path {
            broken.push("search_path changed".into());
        }
        if !row.get::<_, bool>(5) {
            broken.push("autodb's advisory lock was released".into());
        }
        if broken.is_empty() {
            return Ok(());
        }
        let mut message = format!(
            "statement {} took away the executor's protections ({}); {}",
            index + 1,
            broken.join(", "),
            if in_transaction {
                "its transaction was rolled back"
            } else {
                "it ran outside a transaction, so what it did stays applied; nothing after it ran"
            }
        );
        if committed > 0 {
            message.push_str(&format!(
                "; statements 1 to {committed} were committed before it and remain applied"
            ));
        }
        Err(Stop::Finish(Finish::Failed(ExecutionError {
            code: "PROTECTION_VIOLATED".into(),
            message,
            statement_index: Some(index),
            sqlstate: None,
        })))
    }
}
