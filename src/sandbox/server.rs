//! The sandbox server: where throwaway databases are made, and the bookkeeping that keeps it
//! clean.
//!
//! [`SandboxServer`] is the port: locally a URL (`--sandbox-url`, or the throwaway cluster
//! `autodb serve` starts), on AWS a secret holding the server's credentials (the standard
//! RDS secret JSON, or a URL). Either way the
//! server account must be allowed to create databases and roles.
//!
//! **Who runs what** (the security model; `docs/sandbox.md` has the whole of it). The server
//! account only runs autodb's own statements: it creates databases and roles, creates the
//! extensions a clone needs, and watches and ends runs from outside (`super::watchdog`).
//! Nothing from the target's schema or the migration — defaults, triggers, domain checks,
//! functions, the migration's statements — ever runs in its sessions:
//! - a template is built and filled by a login role made for the build (no superuser, no
//!   `CREATEDB`/`CREATEROLE`, member of no role), which then becomes the template's owner
//!   role [`template_owner`] and loses its login;
//! - each run gets a login role of its own, member of no role, with a connection limit; its
//!   database is a copy of the template in which everything the template's owner owned is
//!   reassigned to it, so it owns its copy and nothing else;
//! - `CONNECT` is revoked from `PUBLIC` on every database made here, and granted only to the
//!   database's own role.
//!
//! `SET ROLE` from a privileged session is never used: a `DO` block or a default could
//! `RESET ROLE`.
//!
//! **Names.** Ephemeral databases and roles are `{prefix}_{epoch}_{random}`; templates are
//! `{prefix}_tpl_{fingerprint}_{rows}` and carry their creation time in their comment. A
//! crashed process leaves ephemeral objects behind; [`sweep`] drops those older than
//! [`STALE_AFTER_SECONDS`] and the templates past their age or count.

use async_trait::async_trait;
use rand::Rng;
use secrecy::{ExposeSecret, SecretString};
use tokio_postgres::Client;

use crate::pgconn::ConnectionString;
use crate::ports::SecretStore;

use super::SandboxError;

/// Connections a run's role may hold: the migration's session, the lock sampler's, and one
/// spare for a reconnect. The role cannot raise it (that takes `CREATEROLE`).
pub const RUN_CONNECTION_LIMIT: i32 = 3;
/// An ephemeral database or role older than this belongs to a run that ended without
/// cleaning up (runs are bounded far below it).
pub const STALE_AFTER_SECONDS: i64 = 15 * 60;

/// Where sandbox databases are created.
#[async_trait]
pub trait SandboxServer: Send + Sync {
    /// The server account's connection (to a maintenance database such as `postgres`).
    async fn target(&self) -> Result<ConnectionString, SandboxError>;
}

/// A server given by URL: `--sandbox-url`, or the cluster `autodb serve` started.
pub struct UrlServer(pub SecretString);

#[async_trait]
impl SandboxServer for UrlServer {
    async fn target(&self) -> Result<ConnectionString, SandboxError> {
        ConnectionString::parse(self.0.expose_secret())
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
    async fn target(&self) -> Result<ConnectionString, SandboxError> {
        let value = self.secrets.get(&self.secret_id).await.map_err(|e| {
            tracing::warn!(error = %e, "sandbox secret unreadable");
            SandboxError::Unavailable("the sandbox server's secret could not be read".into())
        })?;
        // The standard RDS secret JSON, or a connection URL.
        ConnectionString::from_secret(value.expose_secret())
            .map_err(|e| SandboxError::Unavailable(format!("the sandbox server's secret: {e}")))
    }
}

/// Connects to `target` with a database (and optionally a user) of our choosing.
pub async fn connect_to(
    target: &ConnectionString,
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
            crate::domain::error_chain(&e)
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

/// The role that owns a template's objects: the build's login role, renamed when the
/// template is published (`{prefix}_tpo_{fingerprint}_{rows}`), without login.
pub fn template_owner(prefix: &str, template: &str) -> Option<String> {
    let key = template.strip_prefix(&format!("{prefix}_tpl_"))?;
    Some(format!("{prefix}_tpo_{key}"))
}

/// A new random password (alphanumeric: safe inside a literal).
pub fn password() -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect()
}

/// A new login role for one build or run: unprivileged and member of no role.
pub async fn create_login(admin: &Client, name: &str) -> Result<Login, SandboxError> {
    let password = password();
    create_role(admin, name, Some(&password)).await?;
    Ok(Login {
        name: name.to_string(),
        password: SecretString::from(password),
    })
}

/// A new unprivileged role, member of no role, with [`RUN_CONNECTION_LIMIT`]: a login with
/// `password`, or (a ready copy's, until a run claims it) none.
pub async fn create_role(
    admin: &Client,
    name: &str,
    password: Option<&str>,
) -> Result<(), SandboxError> {
    let login = match password {
        Some(password) => format!("LOGIN PASSWORD '{password}'"),
        None => "NOLOGIN".to_string(),
    };
    admin
        .batch_execute(&format!(
            "CREATE ROLE {} {login} NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION \
             NOBYPASSRLS CONNECTION LIMIT {RUN_CONNECTION_LIMIT}",
            ident(name),
        ))
        .await
        .map_err(SandboxError::server)
}

/// Relations whose owner [`reassign`] changes per transaction: each takes a lock on the
/// relation, its indexes, TOAST table and owned sequences, so a few hundred stay well inside
/// a server's lock table on default settings (`max_locks_per_transaction` 64).
const REASSIGN_BATCH: usize = 200;

/// Gives everything `from` owns in the database `inside` is connected to `to`, as
/// `REASSIGN OWNED BY from TO to` does, but the relations first in batches of
/// [`REASSIGN_BATCH`], each its own transaction: one `REASSIGN OWNED` locks every relation
/// at once, more than the server's lock table holds for thousands of tables. (`ALTER TABLE
/// … OWNER` takes the table's indexes, TOAST table and owned sequences along.) Only
/// autodb's own statements run in this session (the server account's): changing an owner
/// runs no user code.
pub async fn reassign(inside: &Client, from: &str, to: &str) -> Result<(), tokio_postgres::Error> {
    let relations = inside
        .query(
            "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname), c.relkind::text
               FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.relowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = $1)
                AND c.relkind IN ('r', 'p', 'v', 'm', 'f')",
            &[&from],
        )
        .await?;
    let to_sql = ident(to);
    for batch in relations.chunks(REASSIGN_BATCH) {
        let mut sql = String::from("BEGIN;");
        for row in batch {
            let (name, kind): (String, String) = (row.get(0), row.get(1));
            let what = match kind.as_str() {
                "v" => "VIEW",
                "m" => "MATERIALIZED VIEW",
                "f" => "FOREIGN TABLE",
                _ => "TABLE",
            };
            sql.push_str(&format!(" ALTER {what} {name} OWNER TO {to_sql};"));
        }
        sql.push_str(" COMMIT;");
        inside.batch_execute(&sql).await?;
    }
    // What is left: schemas, types, functions, sequences of their own, …
    inside
        .batch_execute(&format!("REASSIGN OWNED BY {} TO {to_sql}", ident(from)))
        .await
}

/// `CREATE DATABASE` of a copy of `template` owned by `owner`, closed to every connection
/// until [`seal_database`] opens it: a new database's default privileges let PUBLIC
/// connect, and there is no moment at which this one would accept such a connection.
pub fn create_closed_database_sql(database: &str, template: &str, owner: &str) -> String {
    format!(
        "CREATE DATABASE {} TEMPLATE {} OWNER {} ALLOW_CONNECTIONS false",
        ident(database),
        ident(template),
        ident(owner)
    )
}

/// Makes `database` an island: nobody but `role` (and the server account) may connect to it;
/// then, in the same transaction, opens it to connections (it was made closed, see
/// [`create_closed_database_sql`]).
pub async fn seal_database(
    admin: &Client,
    database: &str,
    role: Option<&str>,
) -> Result<(), tokio_postgres::Error> {
    let mut sql = format!("REVOKE ALL ON DATABASE {} FROM PUBLIC", ident(database));
    if let Some(role) = role {
        sql.push_str(&format!(
            "; GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}",
            ident(database),
            ident(role)
        ));
    }
    sql.push_str(&format!(
        "; ALTER DATABASE {} ALLOW_CONNECTIONS true",
        ident(database)
    ));
    admin.batch_execute(&sql).await
}

/// Ends every session of `role`, wherever it is connected (cancel first, then terminate),
/// from the server account's session: nothing the role set can stop it.
pub async fn end_sessions(admin: &Client, role: &str) -> Result<(), tokio_postgres::Error> {
    const CANCEL: &str = "SELECT pg_catalog.count(pg_catalog.pg_cancel_backend(pid)) \
        FROM pg_catalog.pg_stat_activity WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()";
    const TERMINATE: &str = "SELECT pg_catalog.count(pg_catalog.pg_terminate_backend(pid)) \
        FROM pg_catalog.pg_stat_activity WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()";
    let signalled: i64 = admin.query_one(CANCEL, &[&role]).await?.get(0);
    if signalled == 0 {
        return Ok(());
    }
    // A cancelled statement returns at once unless the code catches the cancel; what is
    // still there after the grace period is terminated.
    for _ in 0..10 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let left: i64 = admin
            .query_one(
                "SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity \
                 WHERE usename = $1 AND state = 'active'",
                &[&role],
            )
            .await?
            .get(0);
        if left == 0 {
            break;
        }
    }
    admin.query_one(TERMINATE, &[&role]).await?;
    Ok(())
}

/// Ends a run whose database (and role, both `name`) is dropped later: the role loses its
/// login, what it set on itself and its database is reset (and what it granted on the
/// database to `PUBLIC` revoked), and every session of it is
/// terminated, waiting (up to a second each, on PostgreSQL 14 and later) until it is gone.
/// When the answer is given, nothing of the run acts any more.
pub async fn end_run(admin: &Client, name: &str) -> Result<(), tokio_postgres::Error> {
    admin
        .batch_execute(&format!(
            "ALTER ROLE {name} NOLOGIN; ALTER ROLE {name} RESET ALL; \
             ALTER DATABASE {name} RESET ALL; REVOKE ALL ON DATABASE {name} FROM PUBLIC",
            name = ident(name)
        ))
        .await?;
    let version: i32 = admin
        .query_one(
            "SELECT pg_catalog.current_setting('server_version_num')::int",
            &[],
        )
        .await?
        .get(0);
    let terminate = if version >= 140_000 {
        "pg_catalog.pg_terminate_backend(pid, 1000)"
    } else {
        "pg_catalog.pg_terminate_backend(pid)"
    };
    admin
        .query(
            &format!(
                "SELECT {terminate} FROM pg_catalog.pg_stat_activity \
                 WHERE usename = $1 AND pid <> pg_catalog.pg_backend_pid()"
            ),
            &[&name],
        )
        .await?;
    Ok(())
}

/// Drops a database (ending its sessions) and the role of the same name, if they exist.
pub async fn drop_ephemeral(admin: &Client, name: &str) -> Result<(), tokio_postgres::Error> {
    admin
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            ident(name)
        ))
        .await?;
    drop_ephemeral_role(admin, name).await
}

/// Drops a run's role, after ending its sessions anywhere on the server.
async fn drop_ephemeral_role(admin: &Client, name: &str) -> Result<(), tokio_postgres::Error> {
    let _ = admin
        .query(
            "SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity \
             WHERE usename = $1",
            &[&name],
        )
        .await;
    admin
        .batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(name)))
        .await
}

/// Drops a template database (its owner role goes with the sweep's roles).
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
            "SELECT datname::text, \
                    COALESCE(pg_catalog.shobj_description(oid, 'pg_database'), '') \
             FROM pg_catalog.pg_database WHERE datname LIKE $1",
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
    // What a run could have changed on databases it does not own, were it ever able to:
    // their settings are put back (a template or a ready copy has none of its own).
    for row in &databases {
        let name: String = row.get(0);
        if kept.contains(&name) || name.starts_with(&format!("{prefix}_rdy_")) {
            let _ = admin
                .batch_execute(&format!("ALTER DATABASE {} RESET ALL", ident(&name)))
                .await;
        }
    }
    // Owner roles of templates that are gone (one still owning objects in a ready copy
    // that is being dropped elsewhere stays for the next sweep).
    let owners = admin
        .query(
            "SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname LIKE $1",
            &[&format!("{}\\_tpo\\_%", prefix.replace('_', "\\_"))],
        )
        .await
        .map_err(SandboxError::server)?;
    let live: Vec<String> = kept
        .iter()
        .filter_map(|t| template_owner(prefix, t))
        .collect();
    for row in owners {
        let name: String = row.get(0);
        if !live.contains(&name)
            && admin
                .batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(&name)))
                .await
                .is_ok()
        {
            swept.roles += 1;
        }
    }
    // Roles whose database is gone (a crash between the two drops) or stale.
    let roles = admin
        .query(
            "SELECT rolname::text FROM pg_catalog.pg_roles WHERE rolname LIKE $1",
            &[&pattern],
        )
        .await
        .map_err(SandboxError::server)?;
    for row in roles {
        let name: String = row.get(0);
        if ephemeral_epoch(prefix, &name).is_some_and(|t| now - t > STALE_AFTER_SECONDS) {
            match drop_ephemeral_role(admin, &name).await {
                Ok(()) => swept.roles += 1,
                Err(err) => {
                    tracing::warn!(role = %name, error = %err, "stale sandbox role not dropped")
                }
            }
        }
    }
    Ok(swept)
}

/// The comment a template carries: when it was made, and what it holds.
pub fn template_comment(now: i64, tables: usize, rows: u64) -> String {
    format!("autodb sandbox template created {now}; tables {tables}; rows {rows}; sealed")
}

/// `(created, tables, rows)` from a template's comment.
pub fn template_facts(comment: &str) -> Option<(i64, usize, u64)> {
    let rest = comment.strip_prefix("autodb sandbox template created ")?;
    let mut parts = rest.split("; ");
    let created = parts.next()?.parse().ok()?;
    let tables = parts.next()?.strip_prefix("tables ")?.parse().ok()?;
    let rows = parts.next()?.strip_prefix("rows ")?.parse().ok()?;
    // Templates made before the sandbox was sealed (their objects belong to a role every
    // run was a member of) have no `sealed`: the sweep drops them as of unknown age.
    (parts.next()? == "sealed").then_some((created, tables, rows))
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
        assert_eq!(
            template_facts("autodb sandbox template created 42; tables 3; rows 45"),
            None,
            "a template from before the seal is not used"
        );
        assert_eq!(
            template_owner("autodb_sbx", "autodb_sbx_tpl_0123456789abcdef_15").as_deref(),
            Some("autodb_sbx_tpo_0123456789abcdef_15")
        );
    }

    #[test]
    fn identifiers_are_always_quoted() {
        assert_eq!(ident("a"), "\"a\"");
        assert_eq!(ident("a\"; DROP"), "\"a\"\"; DROP\"");
    }
}
