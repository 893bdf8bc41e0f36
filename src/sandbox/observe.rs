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

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use autodb_analysis::catalog::LockMode;
use autodb_analysis::sandbox::{lock_mode_from_pg_locks, MigrationError, ObservedLock};
use autodb_core::sql::{ParsedStatement, Plan};
use pg_query::NodeEnum;
use tokio_postgres::{Client, GenericClient};

use super::SandboxError;

const RELFILES: &str = "SELECT c.oid, n.nspname, c.relname, c.relfilenode::bigint
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind IN ('r', 'm', 't')
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'";

const LOCKS: &str = "SELECT n.nspname, c.relname, l.mode
  FROM pg_locks l
  JOIN pg_class c ON c.oid = l.relation
  JOIN pg_namespace n ON n.oid = c.relnamespace
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
/// outside a transaction.
pub async fn run(
    client: &mut Client,
    monitor: &Client,
    full_sql: &str,
    statements: &[ParsedStatement],
    plan: &Plan,
) -> Result<Run, SandboxError> {
    let pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .map_err(SandboxError::server)?
        .get(0);
    let mut out = Run::default();
    for segment in &plan.segments {
        if segment.transactional {
            let txn = client.transaction().await.map_err(SandboxError::server)?;
            for i in segment.statements.clone() {
                match statement(&txn, pid, &statements[i]).await? {
                    Ok(ran) => out.statements.push(ran),
                    Err(err) => {
                        out.error = Some(migration_error(full_sql, &statements[i], &err));
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
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let running = async {
                let result = statement(&*client, pid, stmt).await;
                let _ = stop.send(());
                result
            };
            let (result, sampled) = tokio::join!(running, sample_locks(monitor, pid, stopped));
            match result? {
                Ok(mut ran) => {
                    ran.locks = sampled;
                    out.statements.push(ran);
                }
                Err(err) => {
                    out.error = Some(migration_error(full_sql, stmt, &err));
                    return Ok(out);
                }
            }
        }
    }
    Ok(out)
}

/// Runs one statement; the outer `Err` is the sandbox's own failure, the inner one the
/// statement's.
async fn statement(
    client: &impl GenericClient,
    pid: i32,
    stmt: &ParsedStatement,
) -> Result<Result<Ran, tokio_postgres::Error>, SandboxError> {
    if let Some(reason) = not_run_reason(&stmt.ast) {
        return Ok(Ok(Ran {
            index: stmt.index,
            duration_ms: 0.0,
            locks: vec![],
            rewritten: vec![],
            not_run: Some(reason.to_string()),
        }));
    }
    let files_before = relfiles(client).await?;
    let locks_before = locks(client, pid).await?;
    let started = Instant::now();
    // The extended protocol, as the executor: one statement per message.
    if let Err(err) = client.execute(stmt.sql.as_str(), &[]).await {
        return Ok(Err(err));
    }
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let files_after = relfiles(client).await?;
    let locks_after = locks(client, pid).await?;
    let mut rewritten: Vec<String> = files_after
        .iter()
        .filter(|(oid, (_, file))| {
            files_before
                .get(oid)
                .is_some_and(|(_, before)| before != file)
        })
        .map(|(_, (name, _))| name.clone())
        .collect();
    rewritten.sort();
    rewritten.dedup();
    Ok(Ok(Ran {
        index: stmt.index,
        duration_ms,
        locks: new_locks(&locks_before, &locks_after),
        rewritten,
        not_run: None,
    }))
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

async fn relfiles(
    client: &impl GenericClient,
) -> Result<HashMap<u32, (String, i64)>, SandboxError> {
    Ok(client
        .query(RELFILES, &[])
        .await
        .map_err(SandboxError::server)?
        .iter()
        .map(|r| {
            let schema: String = r.get(1);
            let name: String = r.get(2);
            (
                r.get(0),
                (autodb_core::schema::qualified(&schema, &name), r.get(3)),
            )
        })
        .collect())
}

/// The strongest lock `pid` holds on each user table.
async fn locks(
    client: &impl GenericClient,
    pid: i32,
) -> Result<BTreeMap<String, LockMode>, SandboxError> {
    let mut out = BTreeMap::new();
    for row in client
        .query(LOCKS, &[&pid])
        .await
        .map_err(SandboxError::server)?
    {
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
            message: crate::api::error_chain(err),
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
