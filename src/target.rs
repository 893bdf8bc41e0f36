//! Connections to the registered (target) databases: credentials fetched from the secret
//! store and cached, and idle connections kept for the next job.
//!
//! Analyze, introspect and the executor all reach target databases through here; `App` holds
//! one [`Targets`] so that neither the use cases nor the executor own the other's piece.
//!
//! **Reuse is safe by construction.** A connection goes back to the pool only after
//! `DISCARD ALL` succeeded on it — which ends any session state a job left (settings, the
//! advisory lock, temporary objects, prepared statements) — and only while it is open; a job
//! that stopped without an answer (a lost connection, a COMMIT of unknown outcome) drops its
//! connection instead. At most [`MAX_IDLE`] idle connections are kept per database.

use std::collections::HashMap;
use std::sync::Mutex;

use secrecy::SecretString;
use tokio_postgres::Client;

use crate::app::ports::PortError;
use crate::app::App;

/// Idle connections kept per registered database.
pub const MAX_IDLE: usize = 2;

/// The credential cache and the pool, built once per process (per warm Lambda container).
#[derive(Default)]
pub struct Targets {
    credentials: CredentialCache,
    idle: Mutex<HashMap<String, Vec<Client>>>,
}

impl Targets {
    /// An open idle connection to the database behind `reference`, if one is kept.
    fn idle(&self, reference: &str) -> Option<Client> {
        let mut idle = self.idle.lock().ok()?;
        let list = idle.get_mut(reference)?;
        while let Some(client) = list.pop() {
            if !client.is_closed() {
                return Some(client);
            }
        }
        None
    }

    /// Returns a connection for the next job, after clearing its session state; a
    /// connection that cannot be cleared is closed instead.
    pub async fn give_back(&self, reference: &str, client: Client) {
        if client.is_closed() || client.batch_execute("DISCARD ALL").await.is_err() {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(reference.to_string()).or_default();
            if list.len() < MAX_IDLE {
                list.push(client);
            }
        }
    }
}

/// A connection to a registered database: an idle one if the pool has it, else a new one
/// (see [`connect`]).
pub async fn checkout(app: &App, reference: &str) -> Result<Result<Client, String>, PortError> {
    if let Some(client) = app.targets.idle(reference) {
        return Ok(Ok(client));
    }
    connect(app, reference).await
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

/// Connects to a registered database with its stored credentials, fetching them again once if
/// the server rejects them (they may have been rotated since they were cached). The inner
/// `Err` is a message safe to show: it never quotes the connection string.
pub async fn connect(
    app: &App,
    reference: &str,
) -> Result<Result<tokio_postgres::Client, String>, PortError> {
    use tokio_postgres::error::SqlState;
    let mut fresh = false;
    loop {
        let url = match credentials(app, reference, fresh).await {
            Ok(url) => url,
            // A registration that names a secret that does not exist: retrying cannot help.
            Err(PortError::SecretNotFound(_)) => {
                return Ok(Err(
                    "the connection's credentials secret was not found".into()
                ))
            }
            Err(err) => return Err(err),
        };
        let err = match crate::pgconn::connect(&url).await {
            Ok(client) => return Ok(Ok(client)),
            Err(crate::pgconn::ConnectError::Target(err)) => {
                return Ok(Err(format!("the connection string: {err}")))
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
        // tokio-postgres errors name the failing step and its cause (refused, TLS, auth);
        // none of them quotes the connection string.
        let reason = match err.as_db_error() {
            Some(db) => db.message().to_string(),
            None => crate::api::error_chain(&err),
        };
        return Ok(Err(format!("could not connect to the database: {reason}")));
    }
}

async fn credentials(app: &App, reference: &str, fresh: bool) -> Result<SecretString, PortError> {
    if fresh {
        app.targets.credentials.forget(reference);
    } else if let Some(cached) = app.targets.credentials.get(reference) {
        return Ok(cached);
    }
    let value = app.secrets.get(reference).await?;
    app.targets.credentials.put(reference, value.clone());
    Ok(value)
}
