//! The service's tunables, read once at start (environment variables in AWS, flags and
//! defaults for `autodb serve`) and handed to each part that uses them.

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
