//! The ports: the seams where autodb meets a service that has two implementations (AWS and
//! local) or lives outside the process. Everything else is a plain function.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use secrecy::SecretString;

use crate::domain::access::ApiKeyRecord;
use crate::domain::approval::{AnalysisRecord, Decision};
use crate::domain::audit::{AuditQuery, AuditRecord};
use crate::domain::{
    Connection, ConnectionId, Finish, MigrationRequest, RequestId, SnapshotRecord,
};

/// A failure of a backing service (DynamoDB, SQLite, SQS, Secrets Manager). Its source is
/// logged where it is handled; it never reaches a response body.
#[derive(Debug, thiserror::Error)]
pub enum PortError {
    #[error("{service} is unavailable")]
    Unavailable {
        service: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("a stored {what} record is corrupt: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("secret {0} not found")]
    SecretNotFound(String),
}

impl PortError {
    pub fn unavailable(
        service: &'static str,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> Self {
        Self::Unavailable {
            service,
            source: source.into(),
        }
    }
}

/// What `execute` writes atomically: consume the nonce, take the connection lock, create
/// the pending request.
pub struct BeginExecution<'a> {
    pub request: &'a MigrationRequest,
    /// The connection's [`Connection::lock_key`].
    pub lock_key: &'a str,
    pub nonce: &'a str,
    /// Nonce records are kept at least this long, so replays stay idempotent after `exp`.
    pub nonce_keep_until: DateTime<Utc>,
    pub lock_until: DateTime<Utc>,
    pub now: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BeginOutcome {
    Created,
    /// The nonce was consumed before, by this request.
    Replay(RequestId),
    /// Another request holds the connection lock; nothing was written.
    Busy,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// `pending → executing` (or a takeover of an expired claim): the caller owns the work.
    Claimed(MigrationRequest),
    /// Another executor holds an unexpired claim.
    Busy,
    /// Already completed or failed.
    Finished(MigrationRequest),
    Missing,
}

/// Everything autodb keeps, by concern: an adapter implements each part, a consumer names the
/// parts it uses (`&dyn RequestStore`), and `Store` is all of them (what `App` holds).
/// Implemented for every type that implements the parts.
pub trait Store:
    ConnectionStore + KeyStore + AnalysisStore + AuditLog + RequestStore + LockStore
{
}

impl<T> Store for T where
    T: ConnectionStore + KeyStore + AnalysisStore + AuditLog + RequestStore + LockStore
{
}

/// Registered connections and their schema snapshots.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    async fn put_connection(&self, connection: &Connection) -> Result<(), PortError>;

    async fn get_connection(&self, id: &ConnectionId) -> Result<Option<Connection>, PortError>;

    async fn list_connections(&self) -> Result<Vec<Connection>, PortError>;

    /// Stores a snapshot as the connection's latest. Large schemas are compressed (and, in
    /// DynamoDB, chunked) by the store.
    async fn put_snapshot(&self, snapshot: &SnapshotRecord) -> Result<(), PortError>;

    async fn latest_snapshot(&self, id: &ConnectionId)
        -> Result<Option<SnapshotRecord>, PortError>;
}

/// API keys, by their hash.
#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Stores (or replaces: revocation) an API key's record.
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<(), PortError>;

    /// The key whose SHA-256 is `sha256_hex`; a key stored before tenants existed reads as
    /// [`ApiKeyRecord::legacy`]. Read consistently: a revocation counts at once.
    async fn get_api_key(&self, sha256_hex: &str) -> Result<Option<ApiKeyRecord>, PortError>;

    /// Every key, revoked ones included (for `autodb keys list|revoke`; not on a request
    /// path: in DynamoDB it is a scan).
    async fn list_api_keys(&self) -> Result<Vec<ApiKeyRecord>, PortError>;
}

/// Analyses that issued tokens, and the decisions on them.
#[async_trait]
pub trait AnalysisStore: Send + Sync {
    /// Stores an analysis record unless one with its id exists: the same token issued
    /// again (an upload's event redelivered within the second) keeps its decision.
    async fn put_analysis(&self, analysis: &AnalysisRecord) -> Result<(), PortError>;

    async fn get_analysis(&self, analysis_id: &str) -> Result<Option<AnalysisRecord>, PortError>;

    /// Records `decision` on `analysis` unless one is recorded already (then `false`).
    async fn decide_analysis(
        &self,
        analysis: &AnalysisRecord,
        decision: &Decision,
    ) -> Result<bool, PortError>;
}

/// The audit trail: appended, never changed.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Appends an audit record; records are never changed or removed.
    async fn append_audit(&self, record: &AuditRecord) -> Result<(), PortError>;

    /// A tenant's audit records, oldest first, at most `query.limit`.
    async fn list_audit(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, PortError>;
}

/// Nonces and migration requests: their creation, claims, progress and end.
#[async_trait]
pub trait RequestStore: Send + Sync {
    async fn begin_execution(&self, begin: &BeginExecution<'_>) -> Result<BeginOutcome, PortError>;

    /// The request a consumed nonce created, if it was consumed.
    async fn nonce_request(&self, nonce: &str) -> Result<Option<RequestId>, PortError>;

    async fn get_request(&self, id: &RequestId) -> Result<Option<MigrationRequest>, PortError>;

    /// Moves `pending → executing`, or takes over an `executing` request whose claim expired.
    async fn claim_request(
        &self,
        id: &RequestId,
        now: DateTime<Utc>,
        claim_until: DateTime<Utc>,
    ) -> Result<ClaimOutcome, PortError>;

    /// Makes an `executing` request claimable again at once: its attempt ended without an
    /// answer, and waiting for the claim to expire would only delay the retry.
    async fn release_claim(&self, id: &RequestId) -> Result<(), PortError>;

    /// Sets the progress text of a request that has not finished; a finished request keeps
    /// the progress its end wrote (a late write of the progress reporter changes nothing).
    async fn set_progress(&self, id: &RequestId, progress: &str) -> Result<(), PortError>;

    async fn finish_request(
        &self,
        id: &RequestId,
        finish: &Finish,
        now: DateTime<Utc>,
    ) -> Result<(), PortError>;
}

/// Connection locks, held by one request at a time.
#[async_trait]
pub trait LockStore: Send + Sync {
    /// Extends the lease if `request` still holds the lock `key` ([`Connection::lock_key`]);
    /// `false` means it lost it.
    async fn renew_lock(
        &self,
        key: &str,
        request: &RequestId,
        until: DateTime<Utc>,
    ) -> Result<bool, PortError>;

    /// Releases the lock if `request` holds it.
    async fn release_lock(&self, key: &str, request: &RequestId) -> Result<(), PortError>;
}

/// Hands a request to the executor.
#[async_trait]
pub trait JobQueue: Send + Sync {
    async fn enqueue(&self, id: &RequestId) -> Result<(), PortError>;
}

/// Database credentials and other secrets, by reference.
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// Stores a new secret under `name`; returns the reference to read it back with.
    async fn create(&self, name: &str, value: &SecretString) -> Result<String, PortError>;
    async fn get(&self, reference: &str) -> Result<SecretString, PortError>;
}

/// The current time, injected so that expiry and leases can be tested without waiting.
pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until moved: for tests and for replaying events.
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(start: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(start))
    }

    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|e| e.into_inner());
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}
