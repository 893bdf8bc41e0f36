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
/// (see [`connect`]); pinned either way ([`pin`]).
pub async fn checkout(app: &App, reference: &str) -> Result<Result<Client, String>, PortError> {
    if let Some(client) = app.targets.idle(reference) {
        if pin(&client).await.is_ok() {
            return Ok(Ok(client));
        }
    }
    connect(app, reference).await
}

/// What every autodb session on a target runs with before its first query, whatever the
/// role's or the database's defaults say (a writer on the target can set those): the
/// `search_path` `pg_catalog, pg_temp`, so no relation, function, type or operator a user
/// created can answer autodb's own catalog reads, and the settings that change how the
/// server reads a statement, at the values the parser assumes. The executor sets the
/// migration's own `search_path` on top (`executor::session`).
pub const PINNED: &str = "SET search_path = pg_catalog, pg_temp; \
     SET client_encoding = 'UTF8'; SET standard_conforming_strings = on; \
     SET backslash_quote = safe_encoding; SET transform_null_equals = off";

/// The `search_path` of autodb's own reads ([`PINNED`]'s first setting).
pub const OWN_SEARCH_PATH: &str = "SET search_path = pg_catalog, pg_temp";

/// Pins a session ([`PINNED`]).
pub async fn pin(client: &Client) -> Result<(), tokio_postgres::Error> {
    client.batch_execute(PINNED).await
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
            Ok(client) => {
                return Ok(match pin(&client).await {
                    Ok(()) => Ok(client),
                    Err(err) => Err(format!(
                        "could not prepare the session: {}",
                        err.as_db_error()
                            .map_or_else(|| err.to_string(), |db| db.message().to_string())
                    )),
                })
            }
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
