//! Use cases: what autodb does, independent of how it is reached (HTTP locally, HTTP through
//! API Gateway, SQS) and of which backend stores its state (AWS or local).

pub mod analyze;
pub mod api_keys;
pub mod approval;
pub mod audit;
pub mod connections;
pub mod execute;
pub mod introspect;
pub mod keys;
pub mod ledger;
pub mod rate_limit;
pub mod sandbox;
pub mod upload;

use std::sync::Arc;

use autodb_core::sql::ParseError;

use crate::domain::{ConnectionId, SqlError};
use crate::ports::{Clock, JobQueue, PortError, SecretStore, Store};
use crate::token::{KeyRing, TokenError};
use keys::Keys;

/// Tunables (docs/architecture.md §3–4; every one documented in the README).
#[derive(Debug, Clone)]
pub struct Settings {
    /// Lifetime of an approval token.
    pub token_ttl_seconds: i64,
    /// How long a connection lock lives without a heartbeat.
    pub lock_lease_seconds: i64,
    /// How long an executor owns an `executing` request before another may take it over.
    pub claim_seconds: i64,
    /// How long a request may wait to start before it expires (`EXPIRED`) instead of
    /// running: by default the token lifetime.
    pub request_expiry_seconds: i64,
    /// How long a consumed nonce is remembered (replays within it return the same request).
    pub nonce_retention_seconds: i64,
    /// `lock_timeout` for migration statements.
    pub lock_timeout_ms: u64,
    /// How long the executor keeps retrying a transaction whose locks were not granted within
    /// `lock_timeout` (each attempt rolled back, retried after a jittered pause) before the
    /// request fails with `LOCK_TIMEOUT`.
    pub lock_retry_budget_ms: u64,
    /// `statement_timeout` for migration statements.
    pub statement_timeout_ms: u64,
    /// `idle_in_transaction_session_timeout` for the executor's session: if the executor dies
    /// mid-migration (a Lambda timeout), PostgreSQL ends the session and frees its locks.
    pub idle_in_transaction_timeout_ms: u64,
    /// Name prefix of the secrets that hold connection credentials.
    pub secret_prefix: String,
    /// How old a schema snapshot may be before analyze takes a new one.
    pub snapshot_max_age_seconds: i64,
    /// How many sessions autodb holds at once on one target database (introspection, the
    /// executor, drift checks, idle ones), unless its connection sets its own
    /// (`Connection::max_connections`); see `crate::target`.
    pub target_max_connections: usize,
    /// How long a caller waits for one of those sessions before it is told to retry later
    /// (503 with `Retry-After`; the executor re-queues the job).
    pub target_wait_ms: u64,
    /// How old the signing key ring may grow before it is read again from its secret
    /// (AWS; see `app::keys`).
    pub key_reload_seconds: i64,
    /// Requests a minute each API key may send (a burst of as many); beyond it, 429
    /// `RATE_LIMITED`. `None`: no limit in the process (AWS: API Gateway throttles).
    pub rate_limit_per_minute: Option<u32>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            token_ttl_seconds: 3600,
            lock_lease_seconds: 900,
            claim_seconds: 900,
            request_expiry_seconds: 3600,
            nonce_retention_seconds: 7 * 24 * 3600,
            lock_timeout_ms: 5_000,
            lock_retry_budget_ms: 60_000,
            statement_timeout_ms: 15 * 60 * 1000,
            idle_in_transaction_timeout_ms: 60 * 1000,
            secret_prefix: "autodb/connections/".into(),
            snapshot_max_age_seconds: 300,
            key_reload_seconds: 300,
            target_max_connections: 4,
            target_wait_ms: 10_000,
            rate_limit_per_minute: None,
        }
    }
}

impl Settings {
    /// The executor's timeouts on `connection`, which a migration may tighten but never
    /// loosen.
    pub fn limits(&self, connection: &crate::domain::Connection) -> autodb_analysis::Limits {
        autodb_analysis::Limits {
            lock_timeout_ms: self.lock_timeout_for(connection),
            statement_timeout_ms: self.statement_timeout_ms,
        }
    }

    /// `lock_timeout` for migrations on `connection`: its own, else the service's.
    pub fn lock_timeout_for(&self, connection: &crate::domain::Connection) -> u64 {
        connection.lock_timeout_ms.unwrap_or(self.lock_timeout_ms)
    }
}

/// Everything a use case needs, built once per process.
pub struct App {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn JobQueue>,
    pub secrets: Arc<dyn SecretStore>,
    /// The signing key ring; read it with [`App::key_ring`].
    pub keys: Keys,
    pub clock: Arc<dyn Clock>,
    pub settings: Settings,
    /// Connections to registered databases: cached credentials and idle connections.
    pub targets: crate::target::Targets,
    /// Where migrations are tried before approval; `None` when no sandbox server is
    /// configured (analysis then says the sandbox was skipped, and why).
    pub sandbox: std::sync::OnceLock<Arc<crate::sandbox::Sandbox>>,
    /// Where the end of every request is announced (`events`).
    pub events: Arc<dyn crate::events::EventPublisher>,
    /// Where EMF metric lines go (`metrics`).
    pub metrics: crate::metrics::Metrics,
    /// One permit per core for CPU-heavy work ([`App::cpu`]).
    cpu_slots: Arc<tokio::sync::Semaphore>,
    /// Per-key request limits (`autodb serve`); `None`: none (in AWS, API Gateway
    /// throttles).
    pub rate_limit: Option<rate_limit::RateLimiter>,
}

impl App {
    pub fn new(
        store: Arc<dyn Store>,
        queue: Arc<dyn JobQueue>,
        secrets: Arc<dyn SecretStore>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        settings: Settings,
    ) -> Self {
        let rate_limit = settings
            .rate_limit_per_minute
            .map(rate_limit::RateLimiter::new);
        let targets = crate::target::Targets::new(
            settings.target_max_connections,
            std::time::Duration::from_millis(settings.target_wait_ms),
        );
        Self {
            store,
            queue,
            secrets,
            keys: Keys::fixed(keys),
            clock,
            settings,
            targets,
            sandbox: std::sync::OnceLock::new(),
            events: Arc::new(crate::events::LogEvents),
            metrics: Default::default(),
            cpu_slots: Arc::new(tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            )),
            rate_limit,
        }
    }

    /// Runs CPU-heavy work (parsing a migration, analyzing it) on the blocking pool, at most
    /// one piece per core at a time: the async threads stay free to answer other requests
    /// (`/healthz`, status polls) however many large analyses arrive, and the queue for the
    /// cores is fair. A panic in `work` resumes here, as if it had run inline.
    pub async fn cpu<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let _slot = self.cpu_slots.acquire().await;
        match tokio::task::spawn_blocking(work).await {
            Ok(value) => value,
            Err(err) => std::panic::resume_unwind(err.into_panic()),
        }
    }

    /// Replaces the log-line publisher of [`App::new`].
    pub fn with_events(mut self, events: Arc<dyn crate::events::EventPublisher>) -> Self {
        self.events = events;
        self
    }

    /// Sends EMF metric lines to `metrics` (off by default).
    pub fn with_metrics(mut self, metrics: crate::metrics::Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Replaces the fixed key ring of [`App::new`] (e.g. with one that reloads).
    pub fn with_keys(mut self, keys: Keys) -> Self {
        self.keys = keys;
        self
    }
}

/// Why a use case did not succeed. Client mistakes and dependency failures are distinct
/// variants so the HTTP layer can map them without inspecting messages.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    Validation(String),
    #[error("the SQL could not be parsed: {0}")]
    SqlParse(#[from] ParseError),
    /// Statements autodb will not run, whatever their score.
    #[error("{} statement(s) refused", .0.len())]
    Refused(Vec<autodb_analysis::Refusal>),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller's key lacks a role the action needs.
    #[error("{0}")]
    Forbidden(String),
    /// The token cannot run yet (or ever): what is missing (`approval`).
    #[error("{0}")]
    NotApproved(approval::Missing),
    /// A key tried to approve its own analysis.
    #[error("an analysis must be approved by a different key than the one that asked for it")]
    SelfApproval,
    /// The analysis was approved or rejected before.
    #[error("the analysis was already {0}")]
    AlreadyDecided(&'static str),
    #[error(transparent)]
    Token(#[from] TokenError),
    /// The registered database could not be reached or read; the message is safe to show.
    #[error("{0}")]
    DatabaseUnreachable(String),
    /// autodb's sessions on the registered database stayed all in use while this caller
    /// waited (`crate::target`): retry later.
    #[error("autodb's sessions on the connection's database are all in use")]
    DatabaseBusy,
    #[error("connection {0} already has a migration in progress")]
    MigrationInProgress(ConnectionId),
    #[error(transparent)]
    Port(#[from] PortError),
}

impl From<crate::target::CheckoutError> for AppError {
    fn from(err: crate::target::CheckoutError) -> Self {
        use crate::target::CheckoutError;
        match err {
            CheckoutError::Busy => Self::DatabaseBusy,
            CheckoutError::Unreachable(message) | CheckoutError::Down(message) => {
                Self::DatabaseUnreachable(message)
            }
            CheckoutError::Port(port) => Self::Port(port),
        }
    }
}

impl From<crate::domain::access::Forbidden> for AppError {
    fn from(err: crate::domain::access::Forbidden) -> Self {
        Self::Forbidden(err.0)
    }
}

impl From<SqlError> for AppError {
    fn from(err: SqlError) -> Self {
        match err {
            SqlError::Empty => Self::Validation(err.to_string()),
            SqlError::TooLarge(_) => Self::PayloadTooLarge(err.to_string()),
        }
    }
}
