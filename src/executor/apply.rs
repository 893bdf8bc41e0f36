//! Applying a claimed request to its database: one transaction holding the migration, the
//! before/after snapshots and the ledger row.

use std::time::Instant;

use autodb_core::schema;
use secrecy::ExposeSecret;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use super::credentials;
use crate::app::ports::{Finish, PortError};
use crate::app::App;
use crate::domain::{ExecutionError, ExecutionResult, MigrationRequest};
use crate::schema::introspect;

#[expect(clippy::large_enum_variant, reason = "one value per job, never stored")]
pub(super) enum Applied {
    Done(Finish),
    /// Another session holds the database's advisory lock.
    DatabaseBusy,
}

const LEDGER_DDL: &str = "CREATE SCHEMA IF NOT EXISTS autodb;
CREATE TABLE IF NOT EXISTS autodb.migration_ledger (
    request_id  text PRIMARY KEY,
    sql_sha256  text NOT NULL,
    result      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)";

fn failed(code: &str, message: impl Into<String>) -> Applied {
    Applied::Done(Finish::Failed(ExecutionError {
        code: code.into(),
        message: message.into(),
        statement_index: None,
        sqlstate: None,
    }))
}

fn db_failure(code: &str, err: &tokio_postgres::Error, statement_index: Option<usize>) -> Finish {
    let (message, sqlstate) = match err.as_db_error() {
        Some(db) => (db.message().to_string(), Some(db.code().code().to_string())),
        None => (err.to_string(), None),
    };
    Finish::Failed(ExecutionError {
        code: code.into(),
        message,
        statement_index,
        sqlstate,
    })
}

async fn connect(
    app: &App,
    reference: &str,
) -> Result<Result<Client, tokio_postgres::Error>, PortError> {
    let mut fresh = false;
    loop {
        let url = credentials(app, reference, fresh).await?;
        match tokio_postgres::connect(url.expose_secret(), NoTls).await {
            Ok((client, connection)) => {
                tokio::spawn(async move {
                    if let Err(err) = connection.await {
                        tracing::debug!(error = %err, "database connection closed with an error");
                    }
                });
                return Ok(Ok(client));
            }
            // Credentials may have been rotated since they were cached: fetch them once more.
            Err(err)
                if !fresh
                    && matches!(
                        err.code(),
                        Some(&SqlState::INVALID_PASSWORD)
                            | Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
                    ) =>
            {
                fresh = true;
            }
            Err(err) => return Ok(Err(err)),
        }
    }
}

pub(super) async fn apply(app: &App, request: &MigrationRequest) -> Result<Applied, PortError> {
    let id = &request.request_id;
    let Some(connection) = app.store.get_connection(&request.connection_id).await? else {
        return Ok(failed("CONNECTION_NOT_FOUND", "the connection was removed"));
    };
    let mut client = match connect(app, &connection.secret_ref).await? {
        Ok(client) => client,
        Err(err) => {
            return Ok(failed(
                "CONNECTION_FAILED",
                format!(
                    "could not connect to the database: {}",
                    safe_connect_error(&err)
                ),
            ))
        }
    };
    let settings = format!(
        "SET lock_timeout = {}; SET statement_timeout = {}; SET application_name = 'autodb'",
        app.settings.lock_timeout_ms, app.settings.statement_timeout_ms
    );
    let prepared: Result<bool, tokio_postgres::Error> = async {
        client.batch_execute(&settings).await?;
        let row = client
            .query_one(
                "SELECT pg_try_advisory_lock(hashtext('autodb:' || $1::text))",
                &[&request.connection_id.as_str()],
            )
            .await?;
        let locked: bool = row.get(0);
        if locked {
            client.batch_execute(LEDGER_DDL).await?;
        }
        Ok(locked)
    }
    .await;
    match prepared {
        Ok(true) => {}
        Ok(false) => return Ok(Applied::DatabaseBusy),
        Err(err) => return Ok(Applied::Done(db_failure("PREPARE_FAILED", &err, None))),
    }

    // A ledger row means an earlier attempt committed the migration: finish, don't re-apply.
    match client
        .query_opt(
            "SELECT result FROM autodb.migration_ledger WHERE request_id = $1",
            &[&id.as_str()],
        )
        .await
    {
        Ok(Some(row)) => {
            let stored: String = row.get(0);
            let result = serde_json::from_str(&stored).map_err(|e| PortError::Corrupt {
                what: "ledger",
                detail: e.to_string(),
            })?;
            tracing::info!("ledger shows the migration applied; completing without re-applying");
            return Ok(Applied::Done(Finish::Completed(result)));
        }
        Ok(None) => {}
        Err(err) => return Ok(Applied::Done(db_failure("PREPARE_FAILED", &err, None))),
    }

    let statements = match autodb_core::sql::parse(&request.sql) {
        Ok(s) => s,
        Err(err) => return Ok(failed("SQL_PARSE_ERROR", err.to_string())),
    };
    let total = statements.len();
    let started = Instant::now();
    let txn = match client.transaction().await {
        Ok(t) => t,
        Err(err) => return Ok(Applied::Done(db_failure("PREPARE_FAILED", &err, None))),
    };
    let before = match introspect::snapshot(&txn).await {
        Ok(s) => s,
        Err(err) => {
            return Ok(Applied::Done(db_failure(
                "INTROSPECTION_FAILED",
                &err,
                None,
            )))
        }
    };
    for (i, statement) in statements.iter().enumerate() {
        app.store
            .set_progress(id, &format!("Applying statement {} of {total}", i + 1))
            .await?;
        if let Err(err) = txn.batch_execute(&statement.sql).await {
            // Dropping the transaction rolls it back: nothing of the migration remains.
            drop(txn);
            return Ok(Applied::Done(db_failure("STATEMENT_FAILED", &err, Some(i))));
        }
    }
    let after = match introspect::snapshot(&txn).await {
        Ok(s) => s,
        Err(err) => {
            return Ok(Applied::Done(db_failure(
                "INTROSPECTION_FAILED",
                &err,
                None,
            )))
        }
    };
    let result = ExecutionResult {
        diff: schema::diff(&before, &after),
        statements_executed: total,
        execution_time_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    };
    let stored = serde_json::to_string(&result).unwrap_or_default();
    if let Err(err) = txn
        .execute(
            "INSERT INTO autodb.migration_ledger (request_id, sql_sha256, result) VALUES ($1, $2, $3)",
            &[&id.as_str(), &request.sql_sha256, &stored],
        )
        .await
    {
        return Ok(Applied::Done(db_failure("LEDGER_FAILED", &err, None)));
    }
    // Fencing: commit only while this request still holds the connection lock.
    let lease = app.clock.now() + chrono::Duration::seconds(app.settings.lock_lease_seconds);
    if !app
        .store
        .renew_lock(&request.connection_id, id, lease)
        .await?
    {
        drop(txn);
        return Ok(failed(
            "LOCK_LOST",
            "the connection lock expired during the migration; it was rolled back",
        ));
    }
    app.store
        .set_progress(id, &format!("Committing {total} statements"))
        .await?;
    if let Err(err) = txn.commit().await {
        return Ok(Applied::Done(db_failure("COMMIT_FAILED", &err, None)));
    }
    Ok(Applied::Done(Finish::Completed(result)))
}

/// A connection error's text without anything that could echo the connection string.
fn safe_connect_error(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None if err.code().is_some() => "the server rejected the connection".into(),
        None => "the server is unreachable or refused the connection".into(),
    }
}
