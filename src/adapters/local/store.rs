//! The local [`Store`]: one SQLite file in the data directory.
//!
//! `begin_execution` is one `BEGIN IMMEDIATE` transaction, the local equivalent of the
//! DynamoDB `TransactWriteItems` (docs/architecture.md §2–4). SQLite calls are short and run on the blocking
//! pool behind one mutex, which also serializes writers the way SQLite wants.

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection as Db, OptionalExtension, TransactionBehavior};

use crate::domain::access::{ApiKeyRecord, DEFAULT_TENANT};
use crate::domain::approval::{AnalysisRecord, Decision};
use crate::domain::audit::{AuditQuery, AuditRecord};
use crate::domain::Finish;
use crate::domain::{
    Connection, ConnectionId, DbType, MigrationRequest, RequestId, RequestStatus, SnapshotRecord,
    Sql,
};
use crate::ports::{
    AnalysisStore, AuditLog, BeginExecution, BeginOutcome, ClaimOutcome, ConnectionStore, KeyStore,
    LockStore, PortError, RequestStore,
};
use crate::schema::codec;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS connections (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, db_type TEXT NOT NULL,
    secret_ref TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS api_keys (sha256 TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS nonces (
    nonce TEXT PRIMARY KEY, request_id TEXT NOT NULL, keep_until TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS locks (
    connection_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, lease_until TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY, connection_id TEXT NOT NULL, sql TEXT NOT NULL,
    sql_sha256 TEXT NOT NULL, status TEXT NOT NULL, progress TEXT, result TEXT, error TEXT,
    created_at TEXT NOT NULL, started_at TEXT, completed_at TEXT, claim_until TEXT,
    attempts INTEGER NOT NULL DEFAULT 0);
CREATE INDEX IF NOT EXISTS requests_status ON requests (status);
CREATE TABLE IF NOT EXISTS snapshots (
    snapshot_id TEXT PRIMARY KEY, connection_id TEXT NOT NULL, taken_at TEXT NOT NULL,
    fingerprint TEXT NOT NULL, data BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS snapshots_latest ON snapshots (connection_id, taken_at);
CREATE TABLE IF NOT EXISTS analyses (analysis_id TEXT PRIMARY KEY, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, tenant TEXT NOT NULL,
    at TEXT NOT NULL, connection_id TEXT, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (tenant, at);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
    BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
";

#[derive(Clone)]
pub struct SqliteStore {
    db: Arc<Mutex<Db>>,
}

fn unavailable(err: impl std::error::Error + Send + Sync + 'static) -> PortError {
    PortError::unavailable("sqlite", err)
}

fn corrupt(detail: impl ToString) -> PortError {
    PortError::Corrupt {
        what: "request",
        detail: detail.to_string(),
    }
}

/// Timestamps are stored as RFC 3339 with fixed precision so text order is time order.
fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

fn parse_ts(raw: Option<String>) -> Result<Option<DateTime<Utc>>, PortError> {
    raw.map(|s| {
        DateTime::parse_from_rfc3339(&s)
            .map(|t| t.with_timezone(&Utc))
            .map_err(corrupt)
    })
    .transpose()
}

impl SqliteStore {
    pub fn open(path: &Path) -> Result<Self, PortError> {
        let db = Db::open(path).map_err(unavailable)?;
        db.pragma_update(None, "journal_mode", "WAL")
            .map_err(unavailable)?;
        db.pragma_update(None, "busy_timeout", 5000)
            .map_err(unavailable)?;
        db.execute_batch(SCHEMA).map_err(unavailable)?;
        // Added after the first release: stores created before them gain the columns.
        for (table, column, kind) in [
            ("connections", "database_key", "TEXT"),
            ("connections", "lock_timeout_ms", "INTEGER"),
            ("connections", "auto_approve_max_risk", "TEXT"),
            ("connections", "allow_unsandboxed_approval", "INTEGER"),
            ("connections", "max_connections", "INTEGER"),
            ("connections", "executed_at", "TEXT"),
            ("requests", "schema_fp", "TEXT"),
            ("requests", "schema_scope", "TEXT"),
            ("requests", "binding", "TEXT"),
            ("connections", "tenant", "TEXT"),
            ("connections", "production", "INTEGER"),
            ("connections", "self_approve_max_risk", "TEXT"),
            ("api_keys", "data", "TEXT"),
        ] {
            let present: bool = db
                .prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2")
                .and_then(|mut q| q.exists([table, column]))
                .map_err(unavailable)?;
            if !present {
                db.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                    .map_err(unavailable)?;
            }
        }
        Ok(Self {
            db: Arc::new(Mutex::new(db)),
        })
    }

    async fn with<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Db) -> Result<T, PortError> + Send + 'static,
    ) -> Result<T, PortError> {
        let db = Arc::clone(&self.db);
        tokio::task::spawn_blocking(move || {
            let mut guard = db.lock().unwrap_or_else(|e| e.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(unavailable)?
    }

    /// Requests that were queued or running when the process stopped, oldest first: the
    /// local queue re-queues them on start so nothing accepted is lost.
    pub async fn unfinished_requests(&self) -> Result<Vec<RequestId>, PortError> {
        self.with(|db| {
            let mut stmt = db
                .prepare(
                    "SELECT request_id FROM requests WHERE status IN ('pending', 'executing')
                     ORDER BY created_at",
                )
                .map_err(unavailable)?;
            let ids = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(unavailable)?
                .filter_map(|r| r.ok().and_then(|s| RequestId::parse(&s)))
                .collect();
            Ok(ids)
        })
        .await
    }
}

const REQUEST_COLUMNS: &str = "request_id, connection_id, sql, sql_sha256, status, progress, \
     result, error, created_at, started_at, completed_at, claim_until, attempts, schema_fp, schema_scope, binding";

fn read_request(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<MigrationRequest, PortError>> {
    let raw: [Option<String>; 12] = [
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
        row.get(5)?,
        row.get(6)?,
        row.get(7)?,
        row.get(8)?,
        row.get(9)?,
        row.get(10)?,
        row.get(11)?,
    ];
    let attempts: u32 = row.get(12)?;
    let schema_fp: Option<String> = row.get(13)?;
    let scope: Option<String> = row.get(14)?;
    let binding: Option<String> = row.get(15)?;
    Ok(build_request(raw, attempts).and_then(|r| {
        let schema_scope = scope
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(corrupt)?;
        let binding = binding
            .map(|s| serde_json::from_str(&s))
            .transpose()
            .map_err(corrupt)?;
        Ok(MigrationRequest {
            schema_fp,
            schema_scope,
            binding,
            ..r
        })
    }))
}

fn build_request(raw: [Option<String>; 12], attempts: u32) -> Result<MigrationRequest, PortError> {
    let [id, conn, sql, sha, status, progress, result, error, created, started, completed, claim] =
        raw;
    Ok(MigrationRequest {
        request_id: id
            .as_deref()
            .and_then(RequestId::parse)
            .ok_or_else(|| corrupt("id"))?,
        connection_id: conn
            .as_deref()
            .and_then(ConnectionId::parse)
            .ok_or_else(|| corrupt("connection_id"))?,
        sql: Sql::stored(sql.unwrap_or_default()),
        sql_sha256: sha.unwrap_or_default(),
        status: status
            .as_deref()
            .and_then(RequestStatus::parse)
            .ok_or_else(|| corrupt("status"))?,
        progress,
        result: result
            .map(|r| serde_json::from_str(&r))
            .transpose()
            .map_err(corrupt)?,
        error: error
            .map(|e| serde_json::from_str(&e))
            .transpose()
            .map_err(corrupt)?,
        created_at: parse_ts(created)?.ok_or_else(|| corrupt("created_at"))?,
        started_at: parse_ts(started)?,
        completed_at: parse_ts(completed)?,
        claim_until: parse_ts(claim)?,
        attempts,
        schema_fp: None,
        schema_scope: None,
        binding: None,
    })
}

fn get_request(db: &Db, id: &str) -> Result<Option<MigrationRequest>, PortError> {
    db.query_row(
        &format!("SELECT {REQUEST_COLUMNS} FROM requests WHERE request_id = ?1"),
        [id],
        read_request,
    )
    .optional()
    .map_err(unavailable)?
    .transpose()
}

const CONNECTION_COLUMNS: &str = "id, name, db_type, secret_ref, created_at, database_key, \
     lock_timeout_ms, auto_approve_max_risk, allow_unsandboxed_approval, max_connections, \
     executed_at, tenant, production, self_approve_max_risk";

fn to_json(value: &impl serde::Serialize) -> Result<String, PortError> {
    serde_json::to_string(value).map_err(|e| PortError::Corrupt {
        what: "record",
        detail: e.to_string(),
    })
}

fn from_json<T: serde::de::DeserializeOwned>(
    what: &'static str,
    raw: &str,
) -> Result<T, PortError> {
    serde_json::from_str(raw).map_err(|e| PortError::Corrupt {
        what,
        detail: e.to_string(),
    })
}

/// A stored key; one stored before tenants existed has no data.
fn api_key(hash: &str, data: Option<String>) -> Result<ApiKeyRecord, PortError> {
    match data {
        Some(data) => from_json("API key", &data),
        None => Ok(ApiKeyRecord::legacy(hash)),
    }
}

fn read_connection(row: &rusqlite::Row<'_>) -> rusqlite::Result<Option<Connection>> {
    let (id, name, db_type, secret_ref, created): (String, String, String, String, String) = (
        row.get(0)?,
        row.get(1)?,
        row.get(2)?,
        row.get(3)?,
        row.get(4)?,
    );
    let database_key: Option<String> = row.get(5)?;
    let lock_timeout_ms: Option<i64> = row.get(6)?;
    let auto_approve: Option<String> = row.get(7)?;
    let unsandboxed: Option<i64> = row.get(8)?;
    let max_connections: Option<i64> = row.get(9)?;
    let executed_at: Option<String> = row.get(10)?;
    let tenant: Option<String> = row.get(11)?;
    let production: Option<i64> = row.get(12)?;
    let self_approve: Option<String> = row.get(13)?;
    Ok((|| {
        Some(Connection {
            id: ConnectionId::parse(&id)?,
            name,
            db_type: DbType::parse(&db_type)?,
            secret_ref,
            created_at: parse_ts(Some(created)).ok()??,
            database_key,
            lock_timeout_ms: lock_timeout_ms.and_then(|ms| u64::try_from(ms).ok()),
            auto_approve_max_risk: match auto_approve {
                None => None,
                Some(category) => Some(category.parse().ok()?),
            },
            allow_unsandboxed_approval: unsandboxed == Some(1),
            max_connections: max_connections.and_then(|n| u32::try_from(n).ok()),
            executed_at: match executed_at {
                None => None,
                raw => Some(parse_ts(raw).ok()??),
            },
            tenant: tenant.unwrap_or_else(|| DEFAULT_TENANT.to_string()),
            production: production == Some(1),
            self_approve_max_risk: match self_approve {
                None => None,
                Some(category) => Some(category.parse().ok()?),
            },
        })
    })())
}

#[async_trait]
impl ConnectionStore for SqliteStore {
    async fn put_connection(&self, c: &Connection) -> Result<(), PortError> {
        let c = c.clone();
        self.with(move |db| {
            db.execute(
                "INSERT OR REPLACE INTO connections \
                 (id, name, db_type, secret_ref, created_at, database_key, lock_timeout_ms, \
                  auto_approve_max_risk, allow_unsandboxed_approval, max_connections, executed_at, \
                  tenant, production, self_approve_max_risk) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    c.id.as_str(),
                    c.name,
                    "postgresql",
                    c.secret_ref,
                    ts(c.created_at),
                    c.database_key,
                    c.lock_timeout_ms.and_then(|ms| i64::try_from(ms).ok()),
                    c.auto_approve_max_risk.map(|r| r.as_str()),
                    i64::from(c.allow_unsandboxed_approval),
                    c.max_connections.map(i64::from),
                    c.executed_at.map(ts),
                    c.tenant,
                    i64::from(c.production),
                    c.self_approve_max_risk.map(|r| r.as_str())
                ],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn get_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, PortError> {
        let id = id.clone();
        self.with(move |db| {
            db.query_row(
                &format!("SELECT {CONNECTION_COLUMNS} FROM connections WHERE id = ?1"),
                [id.as_str()],
                read_connection,
            )
            .optional()
            .map(Option::flatten)
            .map_err(unavailable)
        })
        .await
    }

    async fn list_connections(&self) -> Result<Vec<Connection>, PortError> {
        self.with(|db| {
            let mut stmt = db
                .prepare(&format!("SELECT {CONNECTION_COLUMNS} FROM connections"))
                .map_err(unavailable)?;
            let rows = stmt
                .query_map([], read_connection)
                .map_err(unavailable)?
                .filter_map(|r| r.ok().flatten())
                .collect();
            Ok(rows)
        })
        .await
    }

    async fn put_snapshot(&self, snap: &SnapshotRecord) -> Result<(), PortError> {
        let data = codec::encode(&snap.schema);
        let snap = snap.clone();
        self.with(move |db| {
            db.execute(
                "INSERT OR REPLACE INTO snapshots VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    snap.snapshot_id,
                    snap.connection_id.as_str(),
                    ts(snap.taken_at),
                    snap.fingerprint,
                    data
                ],
            )
            .map_err(unavailable)?;
            // Only the latest is ever read; keep a few for inspection.
            db.execute(
                "DELETE FROM snapshots WHERE connection_id = ?1 AND snapshot_id NOT IN
                   (SELECT snapshot_id FROM snapshots WHERE connection_id = ?1
                     ORDER BY taken_at DESC LIMIT 5)",
                [snap.connection_id.as_str()],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn latest_snapshot(
        &self,
        id: &ConnectionId,
    ) -> Result<Option<SnapshotRecord>, PortError> {
        let id = id.clone();
        self.with(move |db| {
            let row: Option<(String, String, String, Vec<u8>)> = db
                .query_row(
                    "SELECT snapshot_id, taken_at, fingerprint, data FROM snapshots
                      WHERE connection_id = ?1 ORDER BY taken_at DESC LIMIT 1",
                    [id.as_str()],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(unavailable)?;
            let Some((snapshot_id, taken_at, fingerprint, data)) = row else {
                return Ok(None);
            };
            let corrupt_snapshot = |detail: String| PortError::Corrupt {
                what: "snapshot",
                detail,
            };
            Ok(Some(SnapshotRecord {
                snapshot_id,
                connection_id: id,
                taken_at: parse_ts(Some(taken_at))?.ok_or_else(|| corrupt("taken_at"))?,
                fingerprint,
                schema: codec::decode(&data).map_err(corrupt_snapshot)?,
            }))
        })
        .await
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), PortError> {
        let data = to_json(key)?;
        let hash = key.sha256.clone();
        self.with(move |db| {
            db.execute(
                "INSERT INTO api_keys (sha256, data) VALUES (?1, ?2)
                 ON CONFLICT (sha256) DO UPDATE SET data = excluded.data",
                [hash, data],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn get_api_key(&self, sha256_hex: &str) -> Result<Option<ApiKeyRecord>, PortError> {
        let hash = sha256_hex.to_string();
        self.with(move |db| {
            let row: Option<(String, Option<String>)> = db
                .query_row(
                    "SELECT sha256, data FROM api_keys WHERE sha256 = ?1",
                    [hash],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            row.map(|(hash, data)| api_key(&hash, data)).transpose()
        })
        .await
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, PortError> {
        self.with(|db| {
            let mut stmt = db
                .prepare("SELECT sha256, data FROM api_keys")
                .map_err(unavailable)?;
            let rows: Vec<(String, Option<String>)> = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(unavailable)?
                .collect::<Result<_, _>>()
                .map_err(unavailable)?;
            rows.into_iter()
                .map(|(hash, data)| api_key(&hash, data))
                .collect()
        })
        .await
    }
}

#[async_trait]
impl AnalysisStore for SqliteStore {
    async fn put_analysis(&self, analysis: &AnalysisRecord) -> Result<(), PortError> {
        let (id, data) = (analysis.analysis_id.clone(), to_json(analysis)?);
        self.with(move |db| {
            db.execute(
                "INSERT OR IGNORE INTO analyses (analysis_id, data) VALUES (?1, ?2)",
                [id, data],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn get_analysis(&self, analysis_id: &str) -> Result<Option<AnalysisRecord>, PortError> {
        let id = analysis_id.to_string();
        self.with(move |db| {
            let data: Option<String> = db
                .query_row(
                    "SELECT data FROM analyses WHERE analysis_id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            data.map(|d| from_json("analysis", &d)).transpose()
        })
        .await
    }

    async fn decide_analysis(
        &self,
        analysis: &AnalysisRecord,
        decision: &Decision,
    ) -> Result<bool, PortError> {
        let decided = analysis.decided(decision.clone());
        let (id, data) = (decided.analysis_id.clone(), to_json(&decided)?);
        self.with(move |db| {
            let changed = db
                .execute(
                    "UPDATE analyses SET data = ?2
                      WHERE analysis_id = ?1 AND json_extract(data, '$.decision') IS NULL",
                    [id, data],
                )
                .map_err(unavailable)?;
            Ok(changed == 1)
        })
        .await
    }
}

#[async_trait]
impl AuditLog for SqliteStore {
    async fn append_audit(&self, record: &AuditRecord) -> Result<(), PortError> {
        let data = to_json(record)?;
        let r = record.clone();
        self.with(move |db| {
            db.execute(
                "INSERT INTO audit (id, tenant, at, connection_id, data) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![r.id, r.tenant, ts(r.at), r.connection_id, data],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, PortError> {
        let q = query.clone();
        self.with(move |db| {
            let mut stmt = db
                .prepare(
                    "SELECT data FROM audit
                      WHERE tenant = ?1 AND (?2 IS NULL OR connection_id = ?2)
                        AND (?3 IS NULL OR at >= ?3) AND (?4 IS NULL OR at <= ?4)
                      ORDER BY at, seq LIMIT ?5",
                )
                .map_err(unavailable)?;
            let rows: Vec<String> = stmt
                .query_map(
                    params![
                        q.tenant,
                        q.connection_id,
                        q.since.map(ts),
                        q.until.map(ts),
                        i64::try_from(q.limit).unwrap_or(i64::MAX)
                    ],
                    |r| r.get(0),
                )
                .map_err(unavailable)?
                .collect::<Result<_, _>>()
                .map_err(unavailable)?;
            rows.iter().map(|d| from_json("audit", d)).collect()
        })
        .await
    }
}

#[async_trait]
impl RequestStore for SqliteStore {
    async fn begin_execution(&self, b: &BeginExecution<'_>) -> Result<BeginOutcome, PortError> {
        let r = b.request.clone();
        let lock_key = b.lock_key.to_string();
        let (nonce, keep, lock_until, now) = (
            b.nonce.to_string(),
            ts(b.nonce_keep_until),
            ts(b.lock_until),
            ts(b.now),
        );
        self.with(move |db| {
            let tx = db
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(unavailable)?;
            let used: Option<String> = tx
                .query_row("SELECT request_id FROM nonces WHERE nonce = ?1", [&nonce], |row| {
                    row.get(0)
                })
                .optional()
                .map_err(unavailable)?;
            if let Some(existing) = used {
                let id = RequestId::parse(&existing).ok_or_else(|| corrupt("nonce"))?;
                return Ok(BeginOutcome::Replay(id));
            }
            let holder: Option<(String, String)> = tx
                .query_row(
                    "SELECT request_id, lease_until FROM locks WHERE connection_id = ?1",
                    [lock_key.as_str()],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()
                .map_err(unavailable)?;
            if matches!(holder, Some((_, lease)) if lease > now) {
                return Ok(BeginOutcome::Busy);
            }
            tx.execute("INSERT INTO nonces VALUES (?1, ?2, ?3)", params![nonce, r.request_id.as_str(), keep])
                .map_err(unavailable)?;
            tx.execute(
                "INSERT OR REPLACE INTO locks VALUES (?1, ?2, ?3)",
                params![lock_key, r.request_id.as_str(), lock_until],
            )
            .map_err(unavailable)?;
            tx.execute(
                &format!("INSERT INTO requests ({REQUEST_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, NULL, ?7, NULL, NULL, NULL, 0, ?8, ?9, ?10)"),
                params![
                    r.request_id.as_str(), r.connection_id.as_str(), r.sql.as_str(), r.sql_sha256,
                    r.status.as_str(), r.progress, ts(r.created_at), r.schema_fp,
                    r.schema_scope.as_ref().and_then(|s| serde_json::to_string(s).ok()),
                    r.binding.as_ref().and_then(|b| serde_json::to_string(b).ok())
                ],
            )
            .map_err(unavailable)?;
            tx.commit().map_err(unavailable)?;
            Ok(BeginOutcome::Created)
        })
        .await
    }

    async fn nonce_request(&self, nonce: &str) -> Result<Option<RequestId>, PortError> {
        let nonce = nonce.to_string();
        self.with(move |db| {
            let found: Option<String> = db
                .query_row(
                    "SELECT request_id FROM nonces WHERE nonce = ?1",
                    [nonce],
                    |r| r.get(0),
                )
                .optional()
                .map_err(unavailable)?;
            Ok(found.and_then(|s| RequestId::parse(&s)))
        })
        .await
    }

    async fn get_request(&self, id: &RequestId) -> Result<Option<MigrationRequest>, PortError> {
        let id = id.clone();
        self.with(move |db| get_request(db, id.as_str())).await
    }

    async fn claim_request(
        &self,
        id: &RequestId,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
    ) -> Result<ClaimOutcome, PortError> {
        let id = id.clone();
        let (now, until) = (ts(now), ts(claim_until));
        self.with(move |db| {
            let changed = db
                .execute(
                    "UPDATE requests SET status = 'executing', claim_until = ?2,
                            started_at = coalesce(started_at, ?3), attempts = attempts + 1,
                            progress = 'Starting'
                      WHERE request_id = ?1 AND (status = 'pending'
                            OR (status = 'executing' AND claim_until < ?3))",
                    params![id.as_str(), until, now],
                )
                .map_err(unavailable)?;
            let Some(request) = get_request(db, id.as_str())? else {
                return Ok(ClaimOutcome::Missing);
            };
            Ok(if changed == 1 {
                ClaimOutcome::Claimed(request)
            } else if request.status.is_terminal() {
                ClaimOutcome::Finished(request)
            } else {
                ClaimOutcome::Busy
            })
        })
        .await
    }

    async fn release_claim(&self, id: &RequestId) -> Result<(), PortError> {
        let id = id.clone();
        self.with(move |db| {
            db.execute(
                "UPDATE requests SET claim_until = ?2 WHERE request_id = ?1 AND status = 'executing'",
                params![id.as_str(), ts(DateTime::<Utc>::UNIX_EPOCH)],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn set_progress(&self, id: &RequestId, progress: &str) -> Result<(), PortError> {
        let (id, progress) = (id.clone(), progress.to_string());
        self.with(move |db| {
            db.execute(
                // Never over a finished request's final progress (a late write of the
                // progress reporter).
                "UPDATE requests SET progress = ?2 WHERE request_id = ?1 \
                 AND status NOT IN ('completed', 'failed')",
                params![id.as_str(), progress],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }

    async fn finish_request(
        &self,
        id: &RequestId,
        finish: &Finish,
        now: DateTime<Utc>,
    ) -> Result<(), PortError> {
        let id = id.clone();
        let (status, progress, result, error) = finish.columns();
        let now = ts(now);
        self.with(move |db| {
            db.execute(
                "UPDATE requests SET status = ?2, progress = ?3, result = ?4, error = ?5,
                        completed_at = ?6, claim_until = NULL
                  WHERE request_id = ?1 AND status NOT IN ('completed', 'failed')",
                params![id.as_str(), status, progress, result, error, now],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl LockStore for SqliteStore {
    async fn renew_lock(
        &self,
        key: &str,
        request: &RequestId,
        until: DateTime<Utc>,
    ) -> Result<bool, PortError> {
        let (c, r, until) = (key.to_string(), request.clone(), ts(until));
        self.with(move |db| {
            let n = db
                .execute(
                    "UPDATE locks SET lease_until = ?3 WHERE connection_id = ?1 AND request_id = ?2",
                    params![c.as_str(), r.as_str(), until],
                )
                .map_err(unavailable)?;
            Ok(n == 1)
        })
        .await
    }

    async fn release_lock(&self, key: &str, request: &RequestId) -> Result<(), PortError> {
        let (c, r) = (key.to_string(), request.clone());
        self.with(move |db| {
            db.execute(
                "DELETE FROM locks WHERE connection_id = ?1 AND request_id = ?2",
                params![c.as_str(), r.as_str()],
            )
            .map_err(unavailable)?;
            Ok(())
        })
        .await
    }
}
