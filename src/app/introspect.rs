//! Schema snapshots of registered databases: taken on request, and by analyze when the
//! latest is older than `Settings::snapshot_max_age_seconds`.

use chrono::Duration;

use super::{connections, App, AppError};
use crate::domain::{Connection, SnapshotRecord};
use crate::schema::introspect;

/// Connects to the database, snapshots its schema and stores the snapshot as the latest.
pub async fn introspect(app: &App, connection: &Connection) -> Result<SnapshotRecord, AppError> {
    let client = app.targets.checkout(connection).await?;
    // A backstop: the snapshot takes no table locks, but a catalog lock held by a long DDL
    // elsewhere must fail it quickly rather than hang analyze. (Pooled connections are reset
    // before reuse, so the setting does not outlive this call.)
    client
        .batch_execute("SET lock_timeout = '2s'")
        .await
        .map_err(|_| AppError::DatabaseUnreachable("the connection was lost".into()))?;
    let failed = |err: tokio_postgres::Error| {
        AppError::DatabaseUnreachable(format!(
            "introspection failed: {}",
            err.as_db_error()
                .map_or("the connection was lost", |db| db.message())
        ))
    };
    let mut schema = introspect::snapshot(&*client).await.map_err(failed)?;
    // The session runs with autodb's own pinned path; the names of a migration resolve
    // through the role's (see `crate::target::role_search_path`).
    schema.search_path = crate::target::role_search_path(&client)
        .await
        .map_err(failed)?;
    let record = SnapshotRecord {
        snapshot_id: format!("snap_{}", uuid::Uuid::new_v4().simple()),
        connection_id: connection.id.clone(),
        taken_at: app.clock.now(),
        fingerprint: schema.fingerprint(),
        schema,
    };
    app.store.put_snapshot(&record).await?;
    // Learn which database this is, so that two registrations of it share one lock. A
    // server that will not say (an unusual proxy) keeps the per-registration lock.
    if let Ok(key) = introspect::database_key(&*client).await {
        if connection.database_key.as_deref() != Some(key.as_str()) {
            // Read again: the record may have changed since `connection` was read (an
            // execution ended, `executed_at`).
            if let Some(mut updated) = app.store.get_connection(&connection.id).await? {
                updated.database_key = Some(key);
                app.store.put_connection(&updated).await?;
            }
        }
    }
    app.targets.give_back(&connection.secret_ref, client).await;
    Ok(record)
}

pub async fn introspect_by_id(app: &App, connection_id: &str) -> Result<SnapshotRecord, AppError> {
    let connection = connections::get(app, connection_id).await?;
    introspect(app, &connection).await
}

/// The latest snapshot if it is fresh enough, else a new one. Concurrent callers for one
/// connection share one introspection: they take turns on the connection's flight lock, and
/// whoever gets it after a snapshot was taken uses that one (a queue of 200 analyzes costs
/// the database one introspection, not 200). A caller that waits longer than
/// `Settings::target_wait_ms` is told the database is busy.
pub async fn current(app: &App, connection: &Connection) -> Result<SnapshotRecord, AppError> {
    if let Some(fresh) = fresh(app, connection).await? {
        return Ok(fresh);
    }
    let flight = app.targets.flight(connection.id.as_str());
    let _turn = tokio::time::timeout(app.targets.wait(), flight.lock())
        .await
        .map_err(|_| AppError::DatabaseBusy)?;
    if let Some(fresh) = fresh(app, connection).await? {
        return Ok(fresh);
    }
    introspect(app, connection).await
}

/// The latest snapshot, if it is younger than `Settings::snapshot_max_age_seconds` and was
/// taken after the last migration autodb ran on the database ended
/// ([`Connection::executed_at`], read again: it may have changed since `connection` was).
async fn fresh(app: &App, connection: &Connection) -> Result<Option<SnapshotRecord>, AppError> {
    let Some(latest) = app.store.latest_snapshot(&connection.id).await? else {
        return Ok(None);
    };
    let executed_at = app
        .store
        .get_connection(&connection.id)
        .await?
        .and_then(|c| c.executed_at);
    if executed_at.is_some_and(|at| latest.taken_at <= at) {
        return Ok(None);
    }
    let age = app.clock.now() - latest.taken_at;
    Ok((age < Duration::seconds(app.settings.snapshot_max_age_seconds)).then_some(latest))
}

/// The latest stored snapshot, without touching the database.
pub async fn latest(app: &App, connection_id: &str) -> Result<SnapshotRecord, AppError> {
    let connection = connections::get(app, connection_id).await?;
    app.store
        .latest_snapshot(&connection.id)
        .await?
        .ok_or(AppError::NotFound(
            "schema snapshot (introspect the connection first)",
        ))
}
