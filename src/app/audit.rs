//! The audit trail: who analyzed, approved, rejected, executed, revoked, registered or
//! changed a policy, when, on which connection, with which SQL (by its SHA-256) and verdict.
//!
//! Records are appended, never changed: the stores offer no update or delete for them (the
//! SQLite table refuses both with triggers; DynamoDB items are written with a condition that
//! they do not exist, and the template denies the functions updates and deletes of them), and
//! no route writes one except as the side effect of the action it records. Reading is
//! scoped to the caller's tenant (and, for a key limited to some connections, to those).

use chrono::{DateTime, Utc};

use super::{App, AppError};
use crate::domain::access::{Principal, Role};
use crate::ports::AuditLog;

pub use crate::domain::audit::*;

/// What [`record`] is told; the rest (id, time, tenant, actor, request id) it fills in.
#[derive(Debug, Default)]
pub struct Entry {
    pub connection_id: Option<String>,
    pub subject: Option<String>,
    pub sql_sha256: Option<String>,
    pub verdict: Option<String>,
    pub detail: Option<String>,
}

/// Appends a record of `action` by `by`. A record that cannot be written fails the caller:
/// an action the trail does not show must not look like it succeeded.
pub async fn record(
    app: &App,
    by: &Principal,
    action: Action,
    entry: Entry,
) -> Result<(), AppError> {
    append(app.store.as_ref(), app.clock.now(), by, action, entry).await
}

/// A record's id: its time, then this process's high-resolution time (records stamped with
/// the same time by the injected clock keep the order they were written in), then a random
/// part (records of several processes never collide).
fn record_id(at: DateTime<Utc>) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}#{nanos:020}#{}",
        at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

/// [`record`] on a bare store (for tools that act without an [`App`]: `autodb keys`).
pub async fn append(
    store: &dyn AuditLog,
    at: DateTime<Utc>,
    by: &Principal,
    action: Action,
    entry: Entry,
) -> Result<(), AppError> {
    let record = AuditRecord {
        id: record_id(at),
        at,
        tenant: by.tenant.clone(),
        actor: by.key_id.clone(),
        action,
        connection_id: entry.connection_id,
        request_id: crate::context::current(),
        subject: entry.subject,
        sql_sha256: entry.sql_sha256,
        verdict: entry.verdict,
        detail: entry.detail,
    };
    store.append_audit(&record).await?;
    Ok(())
}

/// The caller's tenant's records, oldest first, within the query's bounds.
pub async fn list(
    app: &App,
    by: &Principal,
    connection_id: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<usize>,
) -> Result<Vec<AuditRecord>, AppError> {
    by.require(Role::Admin)?;
    if let Some(id) = &connection_id {
        if !by.may_use(id) {
            return Ok(Vec::new());
        }
    }
    let query = AuditQuery {
        tenant: by.tenant.clone(),
        connection_id,
        since,
        until,
        limit: limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT),
    };
    let mut records = app.store.list_audit(&query).await?;
    // A key limited to some connections reads only their records.
    records.retain(|r| r.connection_id.as_deref().is_none_or(|c| by.may_use(c)));
    Ok(records)
}
