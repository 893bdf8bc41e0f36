//! Registering and reading connections. Credentials go to the secret store on the way in
//! and are never read back by these use cases.

use secrecy::SecretString;

use super::{App, AppError};
use crate::domain::{Connection, ConnectionId, DbType};

/// Where the credentials of a new connection come from.
pub enum Credentials {
    /// A libpq connection string or URL, stored as a new secret.
    ConnectionString(SecretString),
    /// An existing secret (an ARN in AWS) that holds the connection string.
    SecretRef(String),
}

pub struct NewConnection {
    pub name: String,
    pub db_type: DbType,
    pub credentials: Credentials,
    /// See [`Connection::lock_timeout_ms`].
    pub lock_timeout_ms: Option<u64>,
    /// See [`Connection::max_connections`].
    pub max_connections: Option<u32>,
}

/// The range a connection's own session limit may take (see [`crate::target`]).
pub const MAX_CONNECTIONS: std::ops::RangeInclusive<u32> = 1..=100;

/// The range a connection's own `lock_timeout` may take.
pub const LOCK_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 50..=60_000;

const MAX_NAME_LEN: usize = 128;

pub async fn register(app: &App, new: NewConnection) -> Result<Connection, AppError> {
    let name = new.name.trim();
    if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(AppError::Validation(format!(
            "name must be 1 to {MAX_NAME_LEN} printable characters"
        )));
    }
    if let Some(ms) = new.lock_timeout_ms {
        if !LOCK_TIMEOUT_MS.contains(&ms) {
            return Err(AppError::Validation(format!(
                "lock_timeout_ms must be between {} and {}",
                LOCK_TIMEOUT_MS.start(),
                LOCK_TIMEOUT_MS.end()
            )));
        }
    }
    if let Some(max) = new.max_connections {
        if !MAX_CONNECTIONS.contains(&max) {
            return Err(AppError::Validation(format!(
                "max_connections must be between {} and {}",
                MAX_CONNECTIONS.start(),
                MAX_CONNECTIONS.end()
            )));
        }
    }
    let id = ConnectionId::generate();
    let secret_ref = match new.credentials {
        Credentials::ConnectionString(value) => {
            let secret_name = format!("{}{}", app.settings.secret_prefix, id);
            app.secrets.create(&secret_name, &value).await?
        }
        Credentials::SecretRef(reference) => reference,
    };
    let connection = Connection {
        database_key: None,
        lock_timeout_ms: new.lock_timeout_ms,
        max_connections: new.max_connections,
        executed_at: None,
        auto_approve_max_risk: None,
        allow_unsandboxed_approval: false,
        id,
        name: name.to_string(),
        db_type: new.db_type,
        secret_ref,
        created_at: app.clock.now(),
    };
    app.store.put_connection(&connection).await?;
    Ok(connection)
}

pub async fn get(app: &App, id: &str) -> Result<Connection, AppError> {
    let id = ConnectionId::parse(id).ok_or(AppError::NotFound("connection"))?;
    app.store
        .get_connection(&id)
        .await?
        .ok_or(AppError::NotFound("connection"))
}

pub async fn list(app: &App) -> Result<Vec<Connection>, AppError> {
    let mut all = app.store.list_connections().await?;
    all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(all)
}

/// Sets (or, with `None`, turns off) a connection's auto-approve policy for uploaded
/// migrations ([`Connection::auto_approve_max_risk`]).
pub async fn set_auto_approve(
    app: &App,
    id: &str,
    max_risk: Option<autodb_analysis::RiskCategory>,
) -> Result<Connection, AppError> {
    let mut connection = get(app, id).await?;
    connection.auto_approve_max_risk = max_risk;
    app.store.put_connection(&connection).await?;
    Ok(connection)
}

/// Sets whether analyze may approve a migration whose sandbox run did not happen
/// ([`Connection::allow_unsandboxed_approval`]).
pub async fn set_sandbox_policy(
    app: &App,
    id: &str,
    allow_unsandboxed_approval: bool,
) -> Result<Connection, AppError> {
    let mut connection = get(app, id).await?;
    connection.allow_unsandboxed_approval = allow_unsandboxed_approval;
    app.store.put_connection(&connection).await?;
    Ok(connection)
}
