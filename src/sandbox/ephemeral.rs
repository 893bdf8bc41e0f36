//! A database that lives for one step of a run, and the role of the same name that owns it.

use tokio_postgres::Client;

use super::{maintenance_db, pool, server, SandboxError};

/// A database (and the role of the same name that owns it) that lives for one step of a
/// run. Dropped explicitly; if the run is cancelled first, the guard's `Drop` spawns the
/// drop, and if the process dies, the next sweep removes it.
pub(super) struct Ephemeral {
    pub(super) name: String,
    login: server::Login,
    cleanup: Option<crate::pgconn::Target>,
}

impl Ephemeral {
    pub(super) async fn create(
        target: &crate::pgconn::Target,
        admin: &Client,
        prefix: &str,
        template: &str,
        now: i64,
    ) -> Result<Self, SandboxError> {
        Self::create_owned(target, admin, prefix, template, now, None).await
    }

    /// [`Ephemeral::create`], with the database owned by `owner` instead of the new role.
    pub(super) async fn create_owned(
        target: &crate::pgconn::Target,
        admin: &Client,
        prefix: &str,
        template: &str,
        now: i64,
        owner: Option<&str>,
    ) -> Result<Self, SandboxError> {
        let name = server::ephemeral_name(prefix, now);
        let login = server::create_login(admin, &name).await?;
        let mut guard = Self {
            name,
            login,
            cleanup: Some(target.clone()),
        };
        let owner = owner.unwrap_or(&guard.name);
        // A copy made ahead of time is taken by renaming it (milliseconds); else one is made.
        let created = match pool::claim(admin, prefix, template, &guard.name, owner).await {
            true => Ok(()),
            false => {
                admin
                    .batch_execute(&format!(
                        "CREATE DATABASE {} TEMPLATE {} OWNER {}",
                        server::ident(&guard.name),
                        server::ident(template),
                        server::ident(owner)
                    ))
                    .await
            }
        };
        if let Err(err) = created {
            guard.drop_now(admin).await;
            return Err(SandboxError::server(err));
        }
        guard.cleanup = Some(target.clone());
        Ok(guard)
    }

    pub(super) async fn connect(
        &self,
        target: &crate::pgconn::Target,
    ) -> Result<Client, SandboxError> {
        server::connect(target, &self.name, Some(&self.login)).await
    }

    /// Drops the database and its role now. A failure is logged and left to the sweep.
    pub(super) async fn drop_now(mut self, admin: &Client) {
        self.cleanup = None;
        if let Err(err) = server::drop_ephemeral(admin, &self.name).await {
            tracing::warn!(database = %self.name, error = %err, "sandbox database not dropped; the next sweep will");
        }
    }

    /// The database lives on under another name (a published template); only its role goes.
    pub(super) fn forget(mut self) {
        self.cleanup = None;
    }
}

impl Drop for Ephemeral {
    fn drop(&mut self) {
        let Some(target) = self.cleanup.take() else {
            return;
        };
        let name = self.name.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                let admin = server::connect(&target, maintenance_db(&target), None).await;
                if let Ok(admin) = admin {
                    let _ = server::drop_ephemeral(&admin, &name).await;
                }
            });
        }
    }
}
