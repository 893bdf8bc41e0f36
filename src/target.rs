//! Connections to the registered (target) databases: credentials fetched from the secret
//! store and cached, idle connections kept for the next job, and a bound on how many
//! sessions autodb holds on each database.
//!
//! Analyze, introspect and the executor all reach target databases through here; `App` holds
//! one [`Targets`] so that neither the use cases nor the executor own the other's piece.
//!
//! **Bounded.** A production database has a fixed number of connection slots, shared with
//! its own applications; autodb must never be the client that takes them all. Every session
//! autodb opens on a target (introspection, the binding read, the executor and its drift
//! checks, the ledger read) holds one of the database's permits
//! ([`Connection::max_connections`], else `Settings::target_max_connections`), idle ones
//! included. A caller that finds none free waits in a queue, and after
//! `Settings::target_wait_ms` gets [`CheckoutError::Busy`] (503 `DEPENDENCY_UNAVAILABLE`
//! with `Retry-After` on the API; the executor retries the job later). The bound is per
//! process: on Lambda, per warm container, so the function's reserved concurrency times the
//! limit bounds the whole service.
//!
//! **Reuse is safe by construction.** A connection goes back to the pool only after
//! `DISCARD ALL` succeeded on it — which ends any session state a job left (settings, the
//! advisory lock, temporary objects, prepared statements) — and only while it is open; a job
//! that stopped without an answer (a lost connection, a COMMIT of unknown outcome) drops its
//! connection instead. At most [`MAX_IDLE`] idle connections are kept per database.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use secrecy::SecretString;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio_postgres::Client;

use crate::domain::Connection;
use crate::ports::{PortError, SecretStore};

/// Idle connections kept per registered database.
pub const MAX_IDLE: usize = 2;

/// A session on a target database. Its permit (see the module doc) is held by the
/// connection's driver task and freed when the connection has closed, not when the client is
/// dropped: a backend that is still exiting holds one of the server's slots too. Dropping a
/// session closes it; [`Targets::give_back`] keeps it for reuse.
pub struct Session {
    client: Client,
}

impl std::ops::Deref for Session {
    type Target = Client;
    fn deref(&self) -> &Client {
        &self.client
    }
}

impl std::ops::DerefMut for Session {
    fn deref_mut(&mut self) -> &mut Client {
        &mut self.client
    }
}

/// Why no session was handed out.
#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    /// Every permit of the database stayed taken for `Settings::target_wait_ms`.
    #[error("autodb's sessions on this database are all in use; retry shortly")]
    Busy,
    /// The database refused the session for a reason waiting does not cure (authentication,
    /// a missing database, TLS verification, the connection string); the message is safe to
    /// show (it never quotes the connection string).
    #[error("{0}")]
    Unreachable(String),
    /// The database could not be reached for a reason that may pass (refused, reset, starting
    /// up or shutting down, out of slots, timed out): worth retrying.
    #[error("{0}")]
    Down(String),
    #[error(transparent)]
    Port(#[from] PortError),
}

/// One database's permits, its idle sessions and a signal for callers waiting on either.
struct Pool {
    permits: Arc<Semaphore>,
    idle: Vec<Session>,
    returned: Arc<Notify>,
}

/// The credential cache, the pools and the in-flight introspections, built once per process
/// (per warm Lambda container).
pub struct Targets {
    /// Where each database's credentials are read from (by their reference).
    secrets: Arc<dyn SecretStore>,
    credentials: CredentialCache,
    pools: Mutex<HashMap<String, Pool>>,
    default_limit: usize,
    wait: Duration,
    /// One lock per connection id, held while its snapshot is taken, so that concurrent
    /// analyzes share one introspection (`app::introspect::current`).
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Targets {
    /// `default_limit` sessions per database unless its connection says otherwise; callers
    /// wait at most `wait` for one.
    pub fn new(secrets: Arc<dyn SecretStore>, default_limit: usize, wait: Duration) -> Self {
        Self {
            secrets,
            credentials: CredentialCache::default(),
            pools: Mutex::default(),
            default_limit: default_limit.max(1),
            wait,
            flights: Mutex::default(),
        }
    }

    /// How long a caller waits for a session before [`CheckoutError::Busy`].
    pub fn wait(&self) -> Duration {
        self.wait
    }

    /// The lock that serializes snapshots of one connection.
    pub fn flight(&self, connection_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        Arc::clone(flights.entry(connection_id.to_string()).or_default())
    }

    /// An open idle session, or the database's semaphore and signal to wait on.
    fn idle_or_wait(
        &self,
        connection: &Connection,
    ) -> Result<Session, (Arc<Semaphore>, Arc<Notify>)> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        let limit = connection
            .max_connections
            .map_or(self.default_limit, |n| n as usize)
            .max(1);
        let pool = pools
            .entry(connection.secret_ref.clone())
            .or_insert_with(|| Pool {
                permits: Arc::new(Semaphore::new(limit)),
                idle: Vec::new(),
                returned: Arc::new(Notify::new()),
            });
        while let Some(session) = pool.idle.pop() {
            if !session.is_closed() {
                return Ok(session);
            }
        }
        Err((Arc::clone(&pool.permits), Arc::clone(&pool.returned)))
    }

    /// Returns a session for the next job, after clearing its session state; a session that
    /// cannot be cleared is closed instead (its permit freed).
    pub async fn give_back(&self, reference: &str, session: Session) {
        if session.is_closed() || session.batch_execute("DISCARD ALL").await.is_err() {
            return;
        }
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get_mut(reference) {
            if pool.idle.len() < MAX_IDLE {
                pool.idle.push(session);
                // A caller waiting for a permit may take this session instead.
                pool.returned.notify_waiters();
            }
        }
    }
}

impl Targets {
    /// A session on a registered database: an idle one if the pool has it, else a new one (see
    /// [`Targets::connect`]) once a permit is free; pinned either way ([`pin`]). Waits at most
    /// `Settings::target_wait_ms`.
    pub async fn checkout(&self, connection: &Connection) -> Result<Session, CheckoutError> {
        let targets = self;
        let deadline = tokio::time::Instant::now() + targets.wait;
        loop {
            let (permits, returned) = match targets.idle_or_wait(connection) {
                Ok(session) => {
                    if pin(&session).await.is_ok() {
                        return Ok(session);
                    }
                    continue;
                }
                Err(wait) => wait,
            };
            // Registered before the permit race so that a session given back meanwhile wakes us.
            let notified = returned.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let permit = tokio::select! {
                permit = permits.acquire_owned() => permit.map_err(|_| CheckoutError::Busy)?,
                () = &mut notified => continue,
                () = tokio::time::sleep_until(deadline) => return Err(CheckoutError::Busy),
            };
            let client = targets.connect(&connection.secret_ref, permit).await?;
            return Ok(Session { client });
        }
    }

    /// Connects to a registered database with its stored credentials, outside the bound: only
    /// [`checkout`] calls it, with a permit in hand. Fetches the credentials again once if the
    /// server rejects them (they may have been rotated since they were cached). Messages are safe
    /// to show: they never quote the connection string.
    async fn connect(
        &self,
        reference: &str,
        permit: OwnedSemaphorePermit,
    ) -> Result<Client, CheckoutError> {
        use tokio_postgres::error::SqlState;
        let mut permit = Some(permit);
        let mut fresh = false;
        loop {
            let url = match self.credentials(reference, fresh).await {
                Ok(url) => url,
                // A registration that names a secret that does not exist: retrying cannot help.
                Err(PortError::SecretNotFound(_)) => {
                    return Err(CheckoutError::Unreachable(
                        "the connection's credentials secret was not found".into(),
                    ))
                }
                Err(err) => return Err(err.into()),
            };
            let err = match crate::pgconn::connect_with_secret(&url, &mut permit).await {
                Ok(client) => {
                    return match pin(&client).await {
                        Ok(()) => Ok(client),
                        Err(err) => Err(classify(&err, "could not prepare the session")),
                    }
                }
                Err(crate::pgconn::ConnectError::ConnectionString(err)) => {
                    return Err(CheckoutError::Unreachable(format!(
                        "the connection string: {err}"
                    )))
                }
                Err(crate::pgconn::ConnectError::Postgres(err)) => err,
            };
            let auth = matches!(
                err.code(),
                Some(&SqlState::INVALID_PASSWORD)
                    | Some(&SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
            );
            if auth && !fresh {
                fresh = true;
                continue;
            }
            return Err(classify(&err, "could not connect to the database"));
        }
    }

    async fn credentials(&self, reference: &str, fresh: bool) -> Result<SecretString, PortError> {
        if fresh {
            self.credentials.forget(reference);
        } else if let Some(cached) = self.credentials.get(reference) {
            return Ok(cached);
        }
        let value = self.secrets.get(reference).await?;
        self.credentials.put(reference, value.clone());
        Ok(value)
    }
}

/// Settings that change how the server lexes or reads a statement, with the value every
/// autodb session runs with (the one `pg_query` parses by). A database or role default of
/// `standard_conforming_strings = off` would otherwise make the server read a different
/// statement than the one analyzed.
pub(crate) const LEXING: &[(&str, &str)] = &[
    ("client_encoding", "UTF8"),
    ("standard_conforming_strings", "on"),
    ("backslash_quote", "safe_encoding"),
    ("transform_null_equals", "off"),
];

/// `SET` of each [`LEXING`] setting, `; `-separated.
pub(crate) fn lexing_sql() -> String {
    LEXING
        .iter()
        .map(|(name, value)| format!("SET {name} = '{value}'"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The session settings of every migration run, in production and in the sandbox alike: the
/// pinned lexing settings, the timeouts and the `application_name` the protections check.
pub(crate) fn migration_settings_sql(
    lock_timeout_ms: u64,
    statement_timeout_ms: u64,
    idle_in_transaction_timeout_ms: u64,
    server_version_num: i32,
) -> String {
    let mut settings = vec![lexing_sql()];
    settings.push(format!(
        "SET lock_timeout = {lock_timeout_ms}; SET statement_timeout = {statement_timeout_ms}; \
         SET idle_in_transaction_session_timeout = {idle_in_transaction_timeout_ms}; \
         SET application_name = 'autodb'"
    ));
    // PostgreSQL 14+ can notice a vanished client while a statement runs: a killed executor's
    // statement (and its locks) then ends within a second instead of at statement_timeout.
    if server_version_num >= 140_000 {
        settings.push("SET client_connection_check_interval = 1000".into());
    }
    settings.join("; ")
}

/// The `search_path` of autodb's own reads: no relation, function, type or operator a user
/// created can answer them.
pub const OWN_SEARCH_PATH: &str = "SET search_path = pg_catalog, pg_temp";

/// Pins a session: what every autodb session on a target runs with before its first query,
/// whatever the role's or the database's defaults say (a writer on the target can set
/// those): [`OWN_SEARCH_PATH`] and the [`LEXING`] settings. The executor sets the migration's
/// own `search_path` on top (`executor::session`).
pub async fn pin(client: &Client) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(&format!("{OWN_SEARCH_PATH}; {}", lexing_sql()))
        .await
}

/// The schemas the connection's role finds unqualified names in by default
/// (`current_schemas(false)` under the role's and database's own `search_path`, `"$user"`
/// expanded where that schema exists): what the analysis resolves names through and the
/// executor pins. Read on a pinned session, which it leaves pinned.
pub async fn role_search_path(client: &Client) -> Result<Vec<String>, tokio_postgres::Error> {
    client.batch_execute("SET search_path TO DEFAULT").await?;
    // Only a qualified function runs under the role's own path.
    let path = client
        .query_one(
            "SELECT pg_catalog.current_schemas(false)::pg_catalog.text[]",
            &[],
        )
        .await;
    pin(client).await?;
    Ok(path?.get(0))
}

/// Credentials fetched from the secret store, by reference. Refetched when the database
/// rejects them (the secret may have been rotated).
#[derive(Default)]
struct CredentialCache(Mutex<HashMap<String, SecretString>>);

impl CredentialCache {
    fn get(&self, reference: &str) -> Option<SecretString> {
        self.0.lock().ok()?.get(reference).cloned()
    }

    fn put(&self, reference: &str, value: SecretString) {
        if let Ok(mut map) = self.0.lock() {
            map.insert(reference.to_string(), value);
        }
    }

    fn forget(&self, reference: &str) {
        if let Ok(mut map) = self.0.lock() {
            map.remove(reference);
        }
    }
}

/// A failed connection attempt as [`CheckoutError::Down`] when waiting may cure it (the
/// server refused or dropped the connection, is starting up or shutting down, has no slot
/// free, did not answer in time) or [`CheckoutError::Unreachable`] when it cannot
/// (authentication, a database that does not exist, TLS verification, a bad host name).
fn classify(err: &tokio_postgres::Error, step: &str) -> CheckoutError {
    // tokio-postgres errors name the failing step and its cause (refused, TLS, auth); none
    // of them quotes the connection string.
    let reason = match err.as_db_error() {
        Some(db) => db.message().to_string(),
        None => crate::domain::error_chain(err),
    };
    let message = format!("{step}: {reason}");
    let transient = waiting_may_cure(err);
    if transient {
        CheckoutError::Down(message)
    } else {
        CheckoutError::Unreachable(message)
    }
}

/// Whether `err` (from a connection attempt or from a session in use) says the server or the
/// network dropped or refused the session for a reason that may pass: refused, reset, closed,
/// starting up or shutting down, out of slots, timed out.
pub(crate) fn waiting_may_cure(err: &tokio_postgres::Error) -> bool {
    use std::io::ErrorKind;
    use tokio_postgres::error::SqlState;
    match err.code() {
        Some(code) => [
            SqlState::CANNOT_CONNECT_NOW,
            SqlState::TOO_MANY_CONNECTIONS,
            SqlState::ADMIN_SHUTDOWN,
            SqlState::CRASH_SHUTDOWN,
        ]
        .contains(code),
        None => {
            let mut source = std::error::Error::source(err);
            let mut io = None;
            while let Some(cause) = source {
                if let Some(found) = cause.downcast_ref::<std::io::Error>() {
                    io = Some(found.kind());
                }
                source = cause.source();
            }
            err.is_closed()
                || matches!(
                    io,
                    Some(
                        ErrorKind::ConnectionRefused
                            | ErrorKind::ConnectionReset
                            | ErrorKind::ConnectionAborted
                            | ErrorKind::NotConnected
                            | ErrorKind::BrokenPipe
                            | ErrorKind::TimedOut
                            | ErrorKind::UnexpectedEof
                    )
                )
        }
    }
}
