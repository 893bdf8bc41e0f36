//! The sandbox server: where throwaway databases are made, and the bookkeeping that keeps it
//! clean.
//!
//! [`SandboxServer`] is the port: locally a URL (`--sandbox-url`, or the throwaway cluster
//! `autodb serve` starts), on AWS a secret holding the server's credentials (the standard
//! RDS secret JSON, or a URL). Either way the
//! server account must be allowed to create databases and roles.
//!
//! **Who runs what.** Clones are built by the server account with `SET ROLE` to
//! [`OWNER_ROLE`], a role without login that owns every cloned object. The migration itself
//! never runs as the server account: each run gets a login role of its own, with a random
//! password, no superuser, no `CREATEDB`/`CREATEROLE`, a member of [`OWNER_ROLE`] (so it may
//! alter what the clone holds), and the only database it owns is the run's. `SET ROLE` is no
//! boundary (a `DO` block could `RESET ROLE`), a separate login is — so a migration that would
//! run a program on the server (`COPY … FROM PROGRAM`) fails in the sandbox with "permission
//! denied" instead of running.
//!
//! **Names.** Ephemeral databases and roles are `{prefix}_{epoch}_{random}`; templates are
//! `{prefix}_tpl_{fingerprint}_{rows}` and carry their creation time in their comment. A
//! crashed process leaves ephemeral objects behind; [`sweep`] drops those older than
//! [`STALE_AFTER_SECONDS`] and the templates past their age or count.

use async_trait::async_trait;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::Client;

use crate::app::ports::SecretStore;
use crate::pgconn::Target;

use super::SandboxError;

/// The role that owns every object of a clone.
pub const OWNER_ROLE: &str = "autodb_sandbox_owner";
/// An ephemeral database or role older than this belongs to a run that ended without
/// cleaning up (runs are bounded far below it).
pub const STALE_AFTER_SECONDS: i64 = 15 * 60;

/// Where sandbox databases are created.
#[async_trait]
pub trait SandboxServer: Send + Sync {
    /// The server account's connection (to a maintenance database such as `postgres`).
    async fn target(&self) -> Result<Target, SandboxError>;
}

/// A server given by URL: `--sandbox-url`, or the cluster `autodb serve` started.
pub struct UrlServer(pub SecretString);

#[async_trait]
impl SandboxServer for UrlServer {
    async fn target(&self) -> Result<Target, SandboxError> {
        Target::parse(self.0.expose_secret())
            .map_err(|e| SandboxError::Unavailable(format!("the sandbox server URL: {e}")))
    }
}

/// A server whose credentials are kept in the secret store (on AWS, the secret named by the
/// stack's sandbox parameter).
pub struct SecretServer {
    pub secrets: std::sync::Arc<dyn SecretStore>,
    pub secret_id: String,
}

#[async_trait]
impl SandboxServer for SecretServer {
    async fn target(&self) -> Result<Target, SandboxError> {
        let value = self.secrets.get(&self.secret_id).await.map_err(|e| {
            tracing::warn!(error = %e, "sandbox secret unreadable");
            SandboxError::Unavailable("the sandbox server's secret could not be read".into())
        })?;
        // The standard RDS secret JSON, or a connection URL.
        Target::from_secret(value.expose_secret())
            .map_err(|e| SandboxError::Unavailable(format!("the sandbox server's secret: {e}")))
    }
}

/// Connects to `target` with a database (and optionally a user) of our choosing.
pub async fn connect(
    target: &Target,
    database: &str,
    login: Option<&Login>,
) -> Result<Client, SandboxError> {
    let mut target = target.clone();
    target.config.dbname(database);
    if let Some(login) = login {
        target.config.user(&login.name);
        target.config.password(login.password.expose_secret());
    }
    target.connect().await.map_err(|e| {
        SandboxError::Unavailable(format!(
            "could not connect to the sandbox server: {}",
            crate::api::error_chain(&e)
        ))
    })
}

/// `name` as an SQL identifier. Every name made here is lower-case ASCII, digits and `_`;
/// quoting still keeps a misconfigured prefix from becoming SQL.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The name of a new ephemeral database or role.
pub fn ephemeral_name(prefix: &str, now: i64) -> String {
    let suffix: u32 = rand::thread_rng().gen();
    format!("{prefix}_{now}_{suffix:08x}")
}

/// The creation time an ephemeral name carries, if `name` is one of `prefix`'s.
pub fn ephemeral_epoch(prefix: &str, name: &str) -> Option<i64> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('_')?;
    let (epoch, random) = rest.split_once('_')?;
    (random.len() == 8 && random.chars().all(|c| c.is_ascii_hexdigit()))
        .then(|| epoch.parse().ok())
        .flatten()
}

pub fn template_name(prefix: &str, fingerprint: &str, rows: u32) -> String {
    let short: String = fingerprint.chars().take(16).collect();
    format!("{prefix}_tpl_{short}_{rows}")
}

/// A run's own login role.
pub struct Login {
    pub name: String,
    pub password: SecretString,
}

/// Creates the owner role if it is missing, and lets the server account act as it.
pub async fn ensure_owner_role(admin: &Client) -> Result<(), SandboxError> {
    let exists = admin
        .query_opt("SELECT 1 FROM pg_roles WHERE rolname = $1", &[&OWNER_ROLE])
        .await
        .map_err(SandboxError::server)?
        .is_some();
    if !exists {
        let created = admin
            .batch_execute(&format!(
                "CREATE ROLE {} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE",
                ident(OWNER_ROLE)
            ))
            .await;
        // Another process may have created it in the meantime.
        if let Err(err) = created {
            if err.code() != Some(&tokio_postgres::error::SqlState::DUPLICATE_OBJECT) {
                return Err(SandboxError::server(err));
            }
        }
    }
    // A superuser is a member of every role already; a CREATEROLE account must be granted it.
    let _ = admin
        .batch_execute(&format!("GRANT {} TO CURRENT_USER", ident(OWNER_ROLE)))
        .await;
    Ok(())
}

/// A new login role for one run, member of the owner role and nothing more.
pub async fn create_login(admin: &Client, name: &str) -> Result<Login, SandboxError> {
    let password: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
             NOBYPASSRLS CONNECTION LIMIT 4 PASSWORD '{password}' IN ROLE {}",
            ident(name),
            ident(OWNER_ROLE)
        ))
        .await
        .map_err(SandboxError::server)?;
    Ok(Login {
        name: name.to_string(),
        password: SecretString::from(password),
    })
}

/// Drops a database (ending its sessions) and the role of the same name, if they exist.
pub async fn drop_ephemeral(admin: &Client, name: &str) -> Result<(), tokio_postgres::Error> {
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(name)
        ))
        .await?;
    admin
        .batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(name)))
        .await
}

/// Drops a template database.
pub async fn drop_template(admin: &Client, name: &str) -> Result<(), tokio_postgres::Error> {
    // One statement per call: DROP DATABASE refuses to run in the implicit transaction of a
    // multi-statement query.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {} WITH IS_TEMPLATE false",
            ident(name)
        ))
        .await?;
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(name)
        ))
        .await
}

/// How many objects a sweep removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Swept {
    pub databases: usize,
    pub roles: usize,
    pub templates: usize,
}

/// Removes what crashed runs left behind (ephemeral databases and roles older than
/// [`STALE_AFTER_SECONDS`]) and templates older than `max_age_seconds` or beyond the
/// `max_templates` newest.
pub async fn sweep(
    admin: &Client,
    prefix: &str,
    now: i64,
    max_templates: usize,
    max_age_seconds: i64,
) -> Result<Swept, SandboxError> {
    let mut swept = Swept::default();
    let pattern = format!("{}\\_%", prefix.replace('_', "\\_"));
    let databases = admin
        .query(
            "SELECT datname, coalesce(shobj_description(oid, 'pg_database'), '') \
             FROM pg_database WHERE datname LIKE $1",
            &[&pattern],
        )
        .await
        .map_err(SandboxError::server)?;
    let template_prefix = format!("{prefix}_tpl_");
    let mut templates: Vec<(i64, String)> = Vec::new();
    for row in &databases {
        let name: String = row.get(0);
        if name.starts_with(&template_prefix) {
            let comment: String = row.get(1);
            let created = template_facts(&comment).map_or(0, |(t, _, _)| t);
            templates.push((created, name));
        } else if ephemeral_epoch(prefix, &name).is_some_and(|t| now - t > STALE_AFTER_SECONDS) {
            drop_ephemeral(admin, &name)
                .await
                .map_err(SandboxError::server)?;
            swept.databases += 1;
        }
    }
    templates.sort_by(|a, b| b.cmp(a));
    let mut kept = Vec::new();
    for (i, (created, name)) in templates.iter().enumerate() {
        if i >= max_templates || now - created > max_age_seconds {
            drop_template(admin, name)
                .await
                .map_err(SandboxError::server)?;
            swept.templates += 1;
        } else {
            kept.push(name.clone());
        }
    }
    swept.databases += super::pool::sweep(admin, prefix, &kept)
        .await
        .map_err(SandboxError::server)?;
    // Roles whose database is gone (a crash between the two drops) or stale.
    let roles = admin
        .query(
            "SELECT rolname FROM pg_roles WHERE rolname LIKE $1",
            &[&pattern],
        )
        .await
        .map_err(SandboxError::server)?;
    for row in roles {
        let name: String = row.get(0);
        if ephemeral_epoch(prefix, &name).is_some_and(|t| now - t > STALE_AFTER_SECONDS) {
            admin
                .batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(&name)))
                .await
                .map_err(SandboxError::server)?;
            swept.roles += 1;
        }
    }
    Ok(swept)
}

/// The comment a template carries: when it was made, and what it holds.
pub fn template_comment(now: i64, tables: usize, rows: u64) -> String {
    format!("autodb sandbox template created {now}; tables {tables}; rows {rows}")
}

/// `(created, tables, rows)` from a template's comment.
pub fn template_facts(comment: &str) -> Option<(i64, usize, u64)> {
    let rest = comment.strip_prefix("autodb sandbox template created ")?;
    let mut parts = rest.split("; ");
    let created = parts.next()?.parse().ok()?;
    let tables = parts.next()?.strip_prefix("tables ")?.parse().ok()?;
    let rows = parts.next()?.strip_prefix("rows ")?.parse().ok()?;
    Some((created, tables, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ephemeral_names_carry_their_creation_time() {
        let name = ephemeral_name("autodb_sbx", 1_700_000_000);
        assert_eq!(ephemeral_epoch("autodb_sbx", &name), Some(1_700_000_000));
        assert!(name.len() < 63, "fits a PostgreSQL identifier");
        // Other prefixes, templates and foreign names are not ours to sweep.
        assert_eq!(ephemeral_epoch("autodb_other", &name), None);
        assert_eq!(ephemeral_epoch("autodb_sbx", "autodb_sbx_tpl_abc_15"), None);
        assert_eq!(ephemeral_epoch("autodb_sbx", "autodb_sbx_12_nothex!"), None);
        assert_eq!(ephemeral_epoch("autodb_sbx", "autodb_sbx"), None);
    }

    #[test]
    fn templates_are_keyed_by_fingerprint_and_rows() {
        assert_eq!(
            template_name("autodb_sbx", "0123456789abcdef0123", 15),
            "autodb_sbx_tpl_0123456789abcdef_15"
        );
        assert_eq!(
            template_facts(&template_comment(42, 3, 45)),
            Some((42, 3, 45))
        );
        assert_eq!(template_facts("something else"), None);
    }

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(ident("a"), "\"a\"");
        assert_eq!(ident("a\"; DROP"), "\"a\"\"; DROP\"");
    }
}
