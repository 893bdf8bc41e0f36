//! The observed run: the migration on the clone, exactly as the executor sends it (the same
//! statement texts, the same transactions, the same session settings), one statement at a
//! time, with what PostgreSQL did recorded after each.
//!
//! - **Locks**: the table locks the session holds (`pg_locks` for its own backend) after the
//!   statement, less those it held before. Inside a transaction they are held until COMMIT,
//!   so this is exact; a statement that runs outside a transaction (`CREATE INDEX
//!   CONCURRENTLY`) has released its locks when it returns, and they are sampled from a
//!   second session while it runs.
//! - **Rewrites**: the tables whose `relfilenode` changed: PostgreSQL wrote their data anew.
//! - **Errors**: the first failure ends the run (the executor would stop there too), with
//!   its SQLSTATE and position.
//! - **Protections**: after every statement the session's timeouts, role, `search_path` and
//!   reading settings are read back (`super::watch::Protections`); a statement that changed
//!   them ends the run as a failure of the migration.
//!
//! The session is the migration's, so it is hostile: every catalog relation and function in
//! autodb's queries is named `pg_catalog.`-qualified (a `CREATE TEMP VIEW pg_locks` would
//! otherwise come first), and when one of those queries fails after the migration started,
//! that is the migration's doing and the run **failed** — never "skipped".

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use autodb_analysis::catalog::LockMode;
use autodb_analysis::sandbox_result::{lock_mode_from_pg_locks, MigrationError, ObservedLock};
use autodb_core::sql::{ParsedStatement, Plan};
use pg_query::NodeEnum;
use tokio_postgres::{Client, GenericClient};

use super::watch::Protections;
use super::SandboxError;

/// Every user table's file, as two arrays in one row: a schema of thousands of tables is
/// read twice per statement, and one row decodes far faster than thousands.
const RELFILES: &str = "SELECT pg_catalog.array_agg(c.oid ORDER BY c.oid),
       pg_catalog.array_agg(c.relfilenode::bigint ORDER BY c.oid)
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'm', 't')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'";

/// The names of the tables whose file changed.
const NAMES: &str = "SELECT n.nspname::text, c.relname::text
  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.oid OPERATOR(pg_catalog.=) ANY ($1)";

const LOCKS: &str = "SELECT n.nspname::text, c.relname::text, l.mode
  FROM pg_catalog.pg_locks l
  JOIN pg_catalog.pg_class c ON c.oid = l.relation
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE l.pid = $1 AND l.locktype = 'relation' AND l.granted
   AND c.relkind IN ('r', 'p', 'm', 'f')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'";

/// One statement as it ran.
#[derive(Debug, Clone)]
pub struct Ran {
    pub index: usize,
    pub duration_ms: f64,
    pub locks: Vec<ObservedLock>,
    pub rewritten: Vec<String>,
    pub not_run: Option<String>,
}

/// The whole run.
#[derive(Debug, Default)]
pub struct Run {
    pub statements: Vec<Ran>,
    pub error: Option<MigrationError>,
}

/// Statements the sandbox does not run, and why: they act on the whole server or name roles
/// the sandbox does not have, so their outcome there says nothing about production.
pub fn not_run_reason(ast: &NodeEnum) -> Option<&'static str> {
    use NodeEnum as N;
    Some(match ast {
        N::CreateRoleStmt(_)
        | N::AlterRoleStmt(_)
        | N::AlterRoleSetStmt(_)
        | N::DropRoleStmt(_)
        | N::GrantRoleStmt(_) => "roles belong to the whole server, not to the sandbox's database",
        N::CreatedbStmt(_)
        | N::DropdbStmt(_)
        | N::AlterDatabaseStmt(_)
        | N::AlterDatabaseSetStmt(_)
        | N::AlterDatabaseRefreshCollStmt(_)
        | N::AlterSystemStmt(_)
        | N::CreateTableSpaceStmt(_)
        | N::DropTableSpaceStmt(_)
        | N::AlterTableSpaceOptionsStmt(_) => {
            "it acts on the server, not on the sandbox's database"
        }
        N::GrantStmt(_)
        | N::AlterDefaultPrivilegesStmt(_)
        | N::AlterOwnerStmt(_)
        | N::ReassignOwnedStmt(_)
        | N::DropOwnedStmt(_) => {
            "privileges and ownership name production roles the sandbox does not have"
        }
        N::CreatePolicyStmt(p) if !p.roles.is_empty() => {
            "the policy names production roles the sandbox does not have"
        }
        _ => return None,
    })
}

/// Runs the migration on `client` (connected to the clone as the run's role). `monitor` is
/// a second session on the same database, for sampling the locks of statements that run
/// outside a transaction. `running` is set to the index of the statement under way (for the
/// watchdog's report). The `Err` is the sandbox's own failure before anything ran.
pub async fn run(
    client: &mut Client,
    monitor: &Client,
    full_sql: &str,
    statements: &[ParsedStatement],
    plan: &Plan,
    protections: &Protections,
    running: &AtomicUsize,
) -> Result<Run, SandboxError> {
    let pid: i32 = client
        .query_one("SELECT pg_catalog.pg_backend_pid()", &[])
        .await
        .map_err(SandboxError::server)?
        .get(0);
    let mut out = Run::default();
    let checked = |stmt| Checked {
        pid,
        full_sql,
        stmt,
        protections,
    };
    for segment in &plan.segments {
        if segment.transactional {
            let txn = match client.transaction().await {
                Ok(txn) => txn,
                Err(err) => {
                    let first = &statements[segment.statements.start];
                    out.error = Some(observation_failed(first, &err));
                    return Ok(out);
                }
            };
            for i in segment.statements.clone() {
                running.store(i, Ordering::Relaxed);
                match checked(&statements[i]).run(&txn).await {
                    Ok(ran) => out.statements.push(ran),
                    Err(err) => {
                        out.error = Some(err);
                        return Ok(out);
                    }
                }
            }
            if let Err(err) = txn.commit().await {
                let last = &statements[segment.statements.end - 1];
                out.error = Some(migration_error(full_sql, last, &err));
                return Ok(out);
            }
        } else {
            let stmt = &statements[segment.statements.start];
            running.store(stmt.index, Ordering::Relaxed);
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let running = async {
                let result = checked(stmt).run(&*client).await;
                let _ = stop.send(());
                result
            };
            let (result, sampled) = tokio::join!(running, sample_locks(monitor, pid, stopped));
            match result {
                Ok(mut ran) => {
                    ran.locks = sampled;
                    out.statements.push(ran);
                }
                Err(err) => {
                    out.error = Some(err);
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// One statement with what it is checked against.
struct Checked<'a> {
    pid: i32,
    full_sql: &'a str,
    stmt: &'a ParsedStatement,
    protections: &'a Protections,
}

impl Checked<'_> {
    /// Runs the statement, checks the protections, observes. Every failure after the
    /// statement was sent is the migration's.
    async fn run(&self, client: &impl GenericClient) -> Result<Ran, MigrationError> {
        let stmt = self.stmt;
        if let Some(reason) = not_run_reason(&stmt.ast) {
            return Ok(Ran {
                index: stmt.index,
                duration_ms: 0.0,
                locks: vec![],
                rewritten: vec![],
                not_run: Some(reason.to_string()),
            });
        }
        let failed = |err: tokio_postgres::Error| observation_failed(stmt, &err);
        // Before the statement, the session is as autodb left it (the previous check passed).
        let files_before = relfiles(client).await.map_err(failed)?;
        let locks_before = locks(client, self.pid).await.map_err(failed)?;
        let started = Instant::now();
        // The extended protocol, as the executor: one statement per message.
        if let Err(err) = client.execute(stmt.sql.as_str(), &[]).await {
            return Err(migration_error(self.full_sql, stmt, &err));
        }
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        // The protections first: autodb's observation queries below assume them.
        self.protections.check(client, stmt).await?;
        let files_after = relfiles(client).await.map_err(failed)?;
        let locks_after = locks(client, self.pid).await.map_err(failed)?;
        let changed: Vec<u32> = files_after
            .iter()
            .filter(|(oid, file)| files_before.get(oid).is_some_and(|before| before != *file))
            .map(|(oid, _)| *oid)
            .collect();
        let mut rewritten = if changed.is_empty() {
            vec![]
        } else {
            names(client, &changed).await.map_err(failed)?
        };
        rewritten.sort();
        rewritten.dedup();
        Ok(Ran {
            index: stmt.index,
            duration_ms,
            locks: new_locks(&locks_before, &locks_after),
            rewritten,
            not_run: None,
        })
    }
}

/// autodb's own query failed in the migration's session after the migration began: the
/// migration's doing (a shadowing view, a changed setting, a killed session), so a failure.
pub fn observation_failed(stmt: &ParsedStatement, err: &tokio_postgres::Error) -> MigrationError {
    let (sqlstate, detail) = match err.as_db_error() {
        Some(db) => (Some(db.code().code().to_string()), db.message().to_string()),
        None => (None, crate::domain::error_chain(err)),
    };
    MigrationError {
        statement_index: stmt.index,
        sqlstate,
        message: format!(
            "autodb could not observe the sandbox around statement {} ({detail}); what the \
             migration did there is unknown, so the run counts as failed",
            stmt.index + 1
        ),
        position: None,
        line: None,
        column: None,
    }
}

/// The locks in `after` that are new or stronger than in `before`.
fn new_locks(
    before: &BTreeMap<String, LockMode>,
    after: &BTreeMap<String, LockMode>,
) -> Vec<ObservedLock> {
    after
        .iter()
        .filter(|(t, m)| before.get(*t).is_none_or(|b| b < *m))
        .map(|(t, m)| ObservedLock {
            table: t.clone(),
            mode: *m,
        })
        .collect()
}

async fn relfiles(client: &impl GenericClient) -> Result<HashMap<u32, i64>, tokio_postgres::Error> {
    let row = client.query_one(RELFILES, &[]).await?;
    // No table at all: two nulls.
    let oids: Option<Vec<u32>> = row.get(0);
    let files: Option<Vec<i64>> = row.get(1);
    Ok(oids
        .unwrap_or_default()
        .into_iter()
        .zip(files.unwrap_or_default())
        .collect())
}

/// `schema.name` (bare in `public`) of each of `oids`.
async fn names(
    client: &impl GenericClient,
    oids: &[u32],
) -> Result<Vec<String>, tokio_postgres::Error> {
    Ok(client
        .query(NAMES, &[&oids])
        .await?
        .iter()
        .map(|r| autodb_core::schema::qualified(r.get(0), r.get(1)))
        .collect())
}

/// The strongest lock `pid` holds on each user table.
async fn locks(
    client: &impl GenericClient,
    pid: i32,
) -> Result<BTreeMap<String, LockMode>, tokio_postgres::Error> {
    let mut out = BTreeMap::new();
    for row in client.query(LOCKS, &[&pid]).await? {
        let schema: String = row.get(0);
        let name: String = row.get(1);
        let mode: String = row.get(2);
        if let Some(mode) = lock_mode_from_pg_locks(&mode) {
            let entry = out
                .entry(autodb_core::schema::qualified(&schema, &name))
                .or_insert(mode);
            *entry = (*entry).max(mode);
        }
    }
    Ok(out)
}

/// The locks `pid` holds, sampled every few milliseconds from another session until
/// `stopped`: a statement outside a transaction releases its locks before it returns.
async fn sample_locks(
    monitor: &Client,
    pid: i32,
    mut stopped: tokio::sync::oneshot::Receiver<()>,
) -> Vec<ObservedLock> {
    let mut seen: BTreeMap<String, LockMode> = BTreeMap::new();
    loop {
        if let Ok(now) = locks(monitor, pid).await {
            for (table, mode) in now {
                let entry = seen.entry(table).or_insert(mode);
                *entry = (*entry).max(mode);
            }
        }
        tokio::select! {
            _ = &mut stopped => break,
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
    new_locks(&BTreeMap::new(), &seen)
}

/// A statement's failure, with the position PostgreSQL gave translated from the statement's
/// text to the whole migration.
pub fn migration_error(
    full_sql: &str,
    stmt: &ParsedStatement,
    err: &tokio_postgres::Error,
) -> MigrationError {
    let Some(db) = err.as_db_error() else {
        return MigrationError {
            statement_index: stmt.index,
            sqlstate: None,
            message: crate::domain::error_chain(err),
            position: None,
            line: None,
            column: None,
        };
    };
    let offset = match db.position() {
        Some(tokio_postgres::error::ErrorPosition::Original(p)) => {
            // 1-based characters into the statement's text → a byte offset in the migration.
            let chars = usize::try_from(*p).unwrap_or(1).saturating_sub(1);
            let within = stmt
                .sql
                .char_indices()
                .nth(chars)
                .map_or(stmt.sql.len(), |(b, _)| b);
            Some(stmt.offset + within)
        }
        _ => None,
    };
    let position = offset.map(|o| full_sql.get(..o).map_or(0, |s| s.chars().count()) + 1);
    let (line, column) = match offset {
        Some(o) => {
            let (l, c) = autodb_core::sql::line_col(full_sql, o);
            (Some(l), Some(c))
        }
        None => (None, None),
    };
    MigrationError {
        statement_index: stmt.index,
        sqlstate: Some(db.code().code().to_string()),
        message: db.message().to_string(),
        position,
        line,
        column,
    }
}
