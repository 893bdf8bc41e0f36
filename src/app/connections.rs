//! Registering and reading connections. Credentials go to the secret store on the way in
//! and are never read back by these use cases.

use secrecy::SecretString;

use autodb_analysis::RiskCategory;

use super::audit::{self, Action, Entry};
use super::{App, AppError};
use crate::domain::access::{Principal, Role};
use crate::domain::{Connection, ConnectionId, DbType};

/// Where the credentials of a new connection come from. `Debug` shows no secret.
#[derive(Debug)]
pub enum Credentials {
    /// A libpq connection string or URL, stored as a new secret.
    ConnectionString(SecretString),
    /// An existing secret (an ARN in AWS) that holds the connection string.
    SecretRef(String),
}

#[derive(Debug)]
pub struct NewConnection {
    pub name: String,
    pub db_type: DbType,
    pub credentials: Credentials,
    /// See [`Connection::lock_timeout_ms`].
    pub lock_timeout_ms: Option<u64>,
    /// See [`Connection::max_connections`].
    pub max_connections: Option<u32>,
    /// See [`Connection::production`].
    pub production: bool,
}

/// The range a connection's own session limit may take (see [`crate::target`]).
pub const MAX_CONNECTIONS: std::ops::RangeInclusive<u32> = 1..=100;

/// The range a connection's own `lock_timeout` may take.
pub const LOCK_TIMEOUT_MS: std::ops::RangeInclusive<u64> = 50..=60_000;

const MAX_NAME_LEN: usize = 128;

/// Registers a connection for `by`'s tenant (the `admin` role).
pub async fn register(
    app: &App,
    by: &Principal,
    new: NewConnection,
) -> Result<Connection, AppError> {
    by.require(Role::Admin)?;
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
        tenant: by.tenant.clone(),
        production: new.production,
        self_approve_max_risk: None,
        id,
        name: name.to_string(),
        db_type: new.db_type,
        secret_ref,
        created_at: app.clock.now(),
    };
    app.store.put_connection(&connection).await?;
    audit::record(
        app,
        by,
        Action::RegisterConnection,
        Entry {
            connection_id: Some(connection.id.to_string()),
            detail: Some(format!("production={}", connection.production)),
            ..Entry::default()
        },
    )
    .await?;
    Ok(connection)
}

/// The connection `id` if `by` may see it; else, as if it did not exist, `NotFound`.
pub async fn visible(app: &App, by: &Principal, id: &str) -> Result<Connection, AppError> {
    let connection = get(app, id).await?;
    if by.sees(&connection) {
        Ok(connection)
    } else {
        Err(AppError::NotFound("connection"))
    }
}

/// Any connection, whoever asks: for the executor and the upload trigger, which act on a
/// connection named by a request or a bucket key, not by a caller.
pub async fn get(app: &App, id: &str) -> Result<Connection, AppError> {
    let id = ConnectionId::parse(id).ok_or(AppError::NotFound("connection"))?;
    app.store
        .get_connection(&id)
        .await?
        .ok_or(AppError::NotFound("connection"))
}

/// The connections `by` may see.
pub async fn list(app: &App, by: &Principal) -> Result<Vec<Connection>, AppError> {
    let mut all = app.store.list_connections().await?;
    all.retain(|c| by.sees(c));
    all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(all)
}

/// A change of a connection's policies (`admin` only; each one audited).
#[derive(Debug, Clone)]
pub enum PolicyChange {
    /// [`Connection::auto_approve_max_risk`]; `None` turns auto-approve off.
    AutoApprove(Option<RiskCategory>),
    /// [`Connection::allow_unsandboxed_approval`].
    Sandbox(bool),
    /// [`Connection::self_approve_max_risk`] (`None`: the default) and, when given,
    /// [`Connection::production`].
    Approval {
        self_approve_max_risk: Option<RiskCategory>,
        production: Option<bool>,
    },
}

/// Applies `change` to connection `id`, by `by` (the `admin` role).
pub async fn set_policy(
    app: &App,
    by: &Principal,
    id: &str,
    change: PolicyChange,
) -> Result<Connection, AppError> {
    by.require(Role::Admin)?;
    let mut connection = visible(app, by, id).await?;
    let show = |r: Option<RiskCategory>| r.map_or("null", |r| r.as_str());
    let (verdict, detail) = match change {
        PolicyChange::AutoApprove(max_risk) => {
            connection.auto_approve_max_risk = max_risk;
            (
                "auto_approve",
                format!("auto_approve_max_risk={}", show(max_risk)),
            )
        }
        PolicyChange::Sandbox(allow) => {
            connection.allow_unsandboxed_approval = allow;
            ("sandbox", format!("allow_unsandboxed_approval={allow}"))
        }
        PolicyChange::Approval {
            self_approve_max_risk,
            production,
        } => {
            connection.self_approve_max_risk = self_approve_max_risk;
            if let Some(production) = production {
                connection.production = production;
            }
            (
                "approval",
                format!(
                    "self_approve_max_risk={} production={}",
                    show(self_approve_max_risk),
                    connection.production
                ),
            )
        }
    };
    app.store.put_connection(&connection).await?;
    audit::record(
        app,
        by,
        Action::SetPolicy,
        Entry {
            connection_id: Some(connection.id.to_string()),
            verdict: Some(verdict.into()),
            detail: Some(detail),
            ..Entry::default()
        },
    )
    .await?;
    Ok(connection)
}
