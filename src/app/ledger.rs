//! What a registered database says autodb has applied to it: the rows of its ledger
//! (`autodb.migration_ledger`, written by the executor in the migration's own transaction).
//!
//! This is what `autodb deploy DIR` compares a directory of migrations with, by the SHA-256
//! of each file's SQL, so that a pipeline run on a fresh machine skips what an earlier run
//! applied. The database is the source of truth rather than autodb's store: the ledger
//! commits with the migration, so it cannot claim a migration that did not commit.
//!
//! The ledger is read in autodb's own session (pinned settings, `pg_catalog`-qualified
//! names). A writer on the target could add rows to it (the executor refuses to write to a
//! ledger with triggers, rules or policies, see `executor::ledger`, but rows are just rows);
//! the worst a forged row does here is make a client skip a file it would otherwise have
//! submitted for analysis, which the same writer could as well have applied by hand.

use serde::Serialize;

use super::{connections, App, AppError};

/// One migration the executor applied and recorded.
#[derive(Debug, Clone, Serialize)]
pub struct Applied {
    pub request_id: String,
    pub sql_sha256: String,
    /// RFC 3339, UTC.
    pub applied_at: String,
}

/// Every row, oldest first. Empty when autodb never applied anything there (no ledger).
const ROWS: &str = "SELECT l.request_id::pg_catalog.text, l.sql_sha256::pg_catalog.text,
        pg_catalog.to_char(pg_catalog.timezone('UTC', l.applied_at),
                           'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')
   FROM autodb.migration_ledger l
  ORDER BY l.applied_at, l.request_id";

const EXISTS: &str = "SELECT pg_catalog.to_regclass('autodb.migration_ledger') IS NOT NULL";

/// The ledger of the database registered as `connection_id`.
pub async fn applied(app: &App, connection_id: &str) -> Result<Vec<Applied>, AppError> {
    let connection = connections::get(app, connection_id).await?;
    let client = app.targets.checkout(&connection).await?;
    let failed = |err: tokio_postgres::Error| {
        AppError::DatabaseUnreachable(format!(
            "reading the ledger failed: {}",
            err.as_db_error()
                .map_or("the connection was lost", |db| db.message())
        ))
    };
    let exists: bool = client.query_one(EXISTS, &[]).await.map_err(failed)?.get(0);
    let rows = if exists {
        client.query(ROWS, &[]).await.map_err(failed)?
    } else {
        Vec::new()
    };
    app.targets.give_back(&connection.secret_ref, client).await;
    Ok(rows
        .iter()
        .map(|row| Applied {
            request_id: row.get(0),
            sql_sha256: row.get(1),
            applied_at: row.get(2),
        })
        .collect())
}
