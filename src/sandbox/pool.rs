//! Copies of a template made ahead of time, so a warm run takes its database by a rename
//! instead of waiting for `CREATE DATABASE … TEMPLATE` (which copies the whole database,
//! system catalogs included: ~100 ms even for a small schema) and for `REASSIGN OWNED`
//! (which rewrites the owner of every object: seconds for thousands of tables).
//!
//! A ready copy is a database `{prefix}_rdy_{template key}_{random}` and a role of the same
//! name, made by the server account: the role is unprivileged, member of no role, without
//! login (nobody can use it until a run claims it), and owns the copy and, after
//! `REASSIGN OWNED` from the template's owner role, every object in it; `CONNECT` on the copy
//! is revoked from `PUBLIC` and granted to that role only. It is prepared under a name of its
//! own (`{prefix}_rdy_mk_{epoch}_{random}`) and renamed when ready, so a half-made copy is never claimed and one left by a crash
//! is swept like any run's. Claiming renames the database and the role to the run's name
//! (atomic: of two runs racing for one copy, one rename fails and that run makes its own) and
//! gives the role a login with a new random password. After a run, [`replenish`] tops the
//! pool up to [`READY_PER_TEMPLATE`] in the background; the sweep drops the copies of
//! templates that are gone, with their roles.

use rand::Rng;
use tokio_postgres::Client;

use super::server::{self, ident, Login};

/// Ready copies kept per template: a run takes two (the observed run and the estimate's).
pub const READY_PER_TEMPLATE: usize = 2;

/// `{prefix}_rdy_{key}_`, where the key is the template's name after `{prefix}_tpl_`.
pub fn ready_prefix(prefix: &str, template: &str) -> Option<String> {
    let key = template.strip_prefix(&format!("{prefix}_tpl_"))?;
    Some(format!("{prefix}_rdy_{key}_"))
}

/// The names of copies being made: `{prefix}_rdy_mk_{epoch}_{random}` (no template key
/// starts with `mk`: keys are hexadecimal).
fn making_prefix(prefix: &str) -> String {
    format!("{prefix}_rdy_mk")
}

fn like(prefix: &str) -> String {
    format!("{}%", prefix.replace('_', "\\_"))
}

/// Takes a ready copy of `template` as database `name`, owned (with everything in it) by the
/// role `name`, which the copy's role becomes, with a login. `None` when there is none (or
/// another run took it first).
pub async fn claim(admin: &Client, prefix: &str, template: &str, name: &str) -> Option<Login> {
    let ready = ready_prefix(prefix, template)?;
    let rows = admin
        .query(
            "SELECT datname::text FROM pg_catalog.pg_database WHERE datname LIKE $1 ORDER BY datname",
            &[&like(&ready)],
        )
        .await
        .ok()?;
    for row in rows {
        let candidate: String = row.get(0);
        let renamed = admin
            .batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                ident(&candidate),
                ident(name)
            ))
            .await;
        if renamed.is_err() {
            continue;
        }
        // The copy is ours now; its role goes with it.
        let password = server::password();
        let taken = admin
            .batch_execute(&format!(
                "ALTER ROLE {role} RENAME TO {name}; \
                 ALTER ROLE {name} LOGIN PASSWORD '{password}'",
                role = ident(&candidate),
                name = ident(name),
            ))
            .await;
        return match taken {
            Ok(()) => Some(Login {
                name: name.to_string(),
                password: password.into(),
            }),
            Err(err) => {
                tracing::debug!(error = %err, "a claimed copy without its role; dropped");
                let _ = server::drop_ephemeral(admin, name).await;
                let _ = admin
                    .batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(&candidate)))
                    .await;
                None
            }
        };
    }
    None
}

/// Makes ready copies of `template` until there are [`READY_PER_TEMPLATE`].
pub async fn replenish(
    target: &crate::pgconn::ConnectionString,
    admin: &Client,
    prefix: &str,
    template: &str,
) {
    let Some(ready) = ready_prefix(prefix, template) else {
        return;
    };
    let have: i64 = match admin
        .query_one(
            "SELECT pg_catalog.count(*) FROM pg_catalog.pg_database WHERE datname LIKE $1",
            &[&like(&ready)],
        )
        .await
    {
        Ok(row) => row.get(0),
        Err(_) => return,
    };
    let owner = server::template_owner(prefix, template);
    for _ in have..READY_PER_TEMPLATE as i64 {
        let name = format!("{ready}{:08x}", rand::thread_rng().gen::<u32>());
        // Made under another name (swept after a crash), renamed once whole.
        let making = server::ephemeral_name(&making_prefix(prefix), chrono::Utc::now().timestamp());
        let made = prepare(target, admin, template, owner.as_deref(), &making, &name).await;
        if let Err(err) = made {
            tracing::debug!(error = %err, "no ready copy made");
            let _ = server::drop_ephemeral(admin, &making).await;
            return;
        }
    }
}

async fn prepare(
    target: &crate::pgconn::ConnectionString,
    admin: &Client,
    template: &str,
    owner: Option<&str>,
    making: &str,
    name: &str,
) -> Result<(), super::SandboxError> {
    let server_err = super::SandboxError::server;
    server::create_role(admin, making, None).await?;
    admin
        .batch_execute(&server::create_closed_database_sql(
            making, template, making,
        ))
        .await
        .map_err(server_err)?;
    server::seal_database(admin, making, Some(making))
        .await
        .map_err(server_err)?;
    if let Some(owner) = owner {
        let inside = server::connect_to(target, making, None).await?;
        server::reassign(&inside, owner, making)
            .await
            .map_err(server_err)?;
    }
    // The session just closed may still be leaving: a rename needs the database to itself.
    let mut renamed = Ok(());
    for _ in 0..50 {
        renamed = admin
            .batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                ident(making),
                ident(name)
            ))
            .await;
        if renamed.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    renamed.map_err(server_err)?;
    if let Err(err) = admin
        .batch_execute(&format!(
            "ALTER ROLE {} RENAME TO {}",
            ident(making),
            ident(name)
        ))
        .await
    {
        // A copy without its role is no use to a claim.
        let _ = server::drop_ephemeral(admin, name).await;
        return Err(server_err(err));
    }
    Ok(())
}

/// Drops the ready copies whose template is not in `templates`.
pub async fn sweep(
    admin: &Client,
    prefix: &str,
    templates: &[String],
) -> Result<usize, tokio_postgres::Error> {
    let readies = admin
        .query(
            "SELECT datname::text FROM pg_catalog.pg_database WHERE datname LIKE $1",
            &[&like(&format!("{prefix}_rdy_"))],
        )
        .await?;
    let live: Vec<String> = templates
        .iter()
        .filter_map(|t| ready_prefix(prefix, t))
        .collect();
    let making = making_prefix(prefix);
    let now = chrono::Utc::now().timestamp();
    // A copy still being made is another process's until it is stale.
    let kept = |name: &str| match server::ephemeral_epoch(&making, name) {
        Some(epoch) => now - epoch <= server::STALE_AFTER_SECONDS,
        None => live.iter().any(|p| name.starts_with(p.as_str())),
    };
    let mut dropped = 0;
    for row in readies {
        let name: String = row.get(0);
        if !kept(&name) {
            server::drop_ephemeral(admin, &name).await?;
            dropped += 1;
        }
    }
    // Roles of ready copies whose database is gone (a crash between the two drops, or a
    // claim that failed halfway).
    let roles = admin
        .query(
            "SELECT rolname::text FROM pg_catalog.pg_roles r WHERE rolname LIKE $1 \
             AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_database d WHERE d.datname = r.rolname)",
            &[&like(&format!("{prefix}_rdy_"))],
        )
        .await?;
    for row in roles {
        let name: String = row.get(0);
        if server::ephemeral_epoch(&making, &name)
            .is_some_and(|epoch| now - epoch <= server::STALE_AFTER_SECONDS)
        {
            continue;
        }
        let _ = admin
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", ident(&name)))
            .await;
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_copies_are_named_after_their_template() {
        let template = server::template_name("autodb_sbx", "0123456789abcdef99", 15);
        let ready = ready_prefix("autodb_sbx", &template).unwrap();
        assert_eq!(ready, "autodb_sbx_rdy_0123456789abcdef_15_");
        assert!(ready.len() + 8 <= 63, "fits a PostgreSQL identifier");
        assert_eq!(ready_prefix("autodb_sbx", "template0"), None);
        assert_eq!(ready_prefix("other", &template), None);
    }
}
