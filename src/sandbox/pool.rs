//! Copies of a template made ahead of time, so a warm run takes its database by a rename
//! instead of waiting for `CREATE DATABASE … TEMPLATE` (which copies the whole database,
//! system catalogs included: ~100 ms even for a small schema).
//!
//! A ready copy is `{prefix}_rdy_{template key}_{random}`, owned by the server account,
//! `CONNECT` revoked from `PUBLIC`. Claiming renames it to the run's name (atomic: of two
//! runs racing for one copy, one rename fails and that run makes its own) and gives it to the
//! run's role (`super::ephemeral` then reassigns its objects to that role). After a
//! run, [`replenish`] tops the pool up to [`READY_PER_TEMPLATE`] in the background; the sweep
//! drops the copies of templates that are gone.

use rand::Rng;
use tokio_postgres::Client;

use super::server::{self, ident};

/// Ready copies kept per template: a run takes two (the observed run and the estimate's).
pub const READY_PER_TEMPLATE: usize = 2;

/// `{prefix}_rdy_{key}_`, where the key is the template's name after `{prefix}_tpl_`.
pub fn ready_prefix(prefix: &str, template: &str) -> Option<String> {
    let key = template.strip_prefix(&format!("{prefix}_tpl_"))?;
    Some(format!("{prefix}_rdy_{key}_"))
}

fn like(prefix: &str) -> String {
    format!("{}%", prefix.replace('_', "\\_"))
}

/// Takes a ready copy of `template` as database `name`, owned by the role `name`. False when
/// there is none (or another run took it first).
pub async fn claim(admin: &Client, prefix: &str, template: &str, name: &str) -> bool {
    let Some(ready) = ready_prefix(prefix, template) else {
        return false;
    };
    let Ok(rows) = admin
        .query(
            "SELECT datname::text FROM pg_catalog.pg_database WHERE datname LIKE $1 ORDER BY datname",
            &[&like(&ready)],
        )
        .await
    else {
        return false;
    };
    for row in rows {
        let candidate: String = row.get(0);
        let renamed = admin
            .batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                ident(&candidate),
                ident(name)
            ))
            .await;
        if renamed.is_ok() {
            return admin
                .batch_execute(&format!(
                    "ALTER DATABASE {} OWNER TO {}",
                    ident(name),
                    ident(name)
                ))
                .await
                .is_ok();
        }
    }
    false
}

/// Makes ready copies of `template` until there are [`READY_PER_TEMPLATE`].
pub async fn replenish(admin: &Client, prefix: &str, template: &str) {
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
    for _ in have..READY_PER_TEMPLATE as i64 {
        let name = format!("{ready}{:08x}", rand::thread_rng().gen::<u32>());
        let made = admin
            .batch_execute(&format!(
                "CREATE DATABASE {} TEMPLATE {}",
                ident(&name),
                ident(template),
            ))
            .await;
        let made = match made {
            Ok(()) => server::seal_database(admin, &name, None).await,
            Err(err) => Err(err),
        };
        if let Err(err) = made {
            tracing::debug!(error = %err, "no ready copy made");
            return;
        }
    }
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
    let mut dropped = 0;
    for row in readies {
        let name: String = row.get(0);
        if !live.iter().any(|p| name.starts_with(p.as_str())) {
            admin
                .batch_execute(&format!(
                    "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                    ident(&name)
                ))
                .await?;
            dropped += 1;
        }
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
