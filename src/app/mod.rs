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
pub mod sandbox_run;
pub mod upload;

use std::sync::Arc;

use autodb_core::sql::ParseError;

use crate::domain::{ConnectionId, SqlError};
use crate::ports::{Clock, JobQueue, PortError, SecretStore, Store};
use crate::token::{KeyRing, TokenError};
use keys::Keys;

pub use crate::settings::Settings;

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
            Arc::clone(&secrets),
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

    /// What the executor needs of this process, borrowed: the executor takes no `App`.
    pub fn executor(&self) -> crate::executor::Deps<'_> {
        crate::executor::Deps {
            store: self.store.as_ref(),
            clock: self.clock.as_ref(),
            targets: &self.targets,
            events: self.events.as_ref(),
            metrics: &self.metrics,
            settings: &self.settings,
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
