//! A database that lives for one step of a run, and the role of the same name that owns it.
//!
//! The role is made for this database alone: a login without privileges, member of no role.
//! Its database is a copy of a template; everything in it that the template's owner role
//! owned is reassigned to it (`REASSIGN OWNED`, run by the server account in that database
//! only), so the run may alter its copy as the schema's owner would, and owns nothing else
//! on the server. `CONNECT` on the database is revoked from `PUBLIC` and granted to the role.

use tokio_postgres::Client;

use super::{maintenance_db, pool, server, SandboxError};

/// A database (and the role of the same name that owns it) that lives for one step of a
/// run. Dropped explicitly; if the run is cancelled first, the guard's `Drop` spawns the
/// drop, and if the process dies, the next sweep removes it.
pub(super) struct Ephemeral {
    pub(super) name: String,
    login: server::Login,
    cleanup: Option<crate::pgconn::ConnectionString>,
}

impl Ephemeral {
    /// A copy of `template` owned by a new role, which owns the copy's objects.
    /// `template_owner` is the role that owns the template's objects (`None` for
    /// `template0`, which has none).
    pub(super) async fn create(
        target: &crate::pgconn::ConnectionString,
        admin: &Client,
        prefix: &str,
        template: &str,
        now: i64,
    ) -> Result<Self, SandboxError> {
        let name = server::ephemeral_name(prefix, now);
        // A copy made ahead of time, its objects already its role's, is taken by renaming it
        // and its role (milliseconds); else one is made.
        if let Some(login) = pool::claim(admin, prefix, template, &name).await {
            return Ok(Self {
                name,
                login,
                cleanup: Some(target.clone()),
            });
        }
        let login = server::create_login(admin, &name).await?;
        let guard = Self {
            name,
            login,
            cleanup: Some(target.clone()),
        };
        let owner = server::template_owner(prefix, template);
        match guard.make(target, admin, template, owner.as_deref()).await {
            Ok(()) => Ok(guard),
            Err(err) => {
                guard.drop_now(admin).await;
                Err(err)
            }
        }
    }

    async fn make(
        &self,
        target: &crate::pgconn::ConnectionString,
        admin: &Client,
        template: &str,
        template_owner: Option<&str>,
    ) -> Result<(), SandboxError> {
        admin
            .batch_execute(&server::create_closed_database_sql(
                &self.name, template, &self.name,
            ))
            .await
            .map_err(SandboxError::server)?;
        server::seal_database(admin, &self.name, Some(&self.name))
            .await
            .map_err(SandboxError::server)?;
        if let Some(owner) = template_owner {
            let inside = server::connect_to(target, &self.name, None).await?;
            server::reassign(&inside, owner, &self.name)
                .await
                .map_err(SandboxError::server)?;
        }
        Ok(())
    }

    pub(super) fn role(&self) -> &str {
        &self.login.name
    }

    pub(super) async fn connect(
        &self,
        target: &crate::pgconn::ConnectionString,
    ) -> Result<Client, SandboxError> {
        server::connect_to(target, &self.name, Some(&self.login)).await
    }

    /// Drops each database and its role, from one session of the server account. Whatever
    /// cannot be dropped that way is left to each guard's `Drop`, then to the sweep.
    pub(super) async fn drop_all(list: Vec<Self>) {
        let Some(target) = list.first().and_then(|e| e.cleanup.clone()) else {
            return;
        };
        let Ok(admin) = server::connect_to(&target, maintenance_db(&target), None).await else {
            return;
        };
        for ephemeral in list {
            ephemeral.drop_now(&admin).await;
        }
    }

    /// Drops the database and its role now. A failure is logged and left to the sweep.
    pub(super) async fn drop_now(mut self, admin: &Client) {
        self.cleanup = None;
        if let Err(err) = server::drop_ephemeral(admin, &self.name).await {
            tracing::warn!(database = %self.name, error = %err, "sandbox database not dropped; the next sweep will");
        }
    }
}

/// A template being built: a database from `template0` owned by a login role made for the
/// build, which creates the clone's objects and fills them logged in as itself.
pub(super) struct Build {
    pub(super) inner: Ephemeral,
}

impl Build {
    pub(super) async fn create(
        target: &crate::pgconn::ConnectionString,
        admin: &Client,
        prefix: &str,
        now: i64,
    ) -> Result<Self, SandboxError> {
        Ephemeral::create(target, admin, prefix, "template0", now)
            .await
            .map(|inner| Self { inner })
    }

    /// The database becomes the template `name` and its role the template's owner role,
    /// without login: unless another process published the same template meanwhile (then
    /// ours is dropped and theirs used). The template belongs to the server account, takes
    /// no connections, and keeps no settings the fill may have made.
    pub(super) async fn publish(
        mut self,
        admin: &Client,
        prefix: &str,
        name: &str,
        comment: &str,
    ) -> Result<(), SandboxError> {
        let owner = server::template_owner(prefix, name)
            .ok_or_else(|| SandboxError::Server(format!("{name} is not a template name")))?;
        let build = self.inner.name.clone();
        // End the build role's sessions first: a rename needs the database to itself.
        let _ = server::end_sessions(admin, &build).await;
        let renamed = admin
            .batch_execute(&format!(
                "ALTER DATABASE {} RENAME TO {}",
                server::ident(&build),
                server::ident(name)
            ))
            .await;
        if renamed.is_err() {
            self.inner.drop_now(admin).await;
            return Ok(());
        }
        self.inner.cleanup = None;
        // A role of that name left by a template dropped earlier owns nothing any more.
        let _ = admin
            .batch_execute(&format!("DROP ROLE IF EXISTS {}", server::ident(&owner)))
            .await;
        let sealed = admin
            .batch_execute(&format!(
                "ALTER ROLE {build} RENAME TO {owner}; \
                 ALTER ROLE {owner} NOLOGIN PASSWORD NULL; ALTER ROLE {owner} RESET ALL; \
                 ALTER DATABASE {name} OWNER TO CURRENT_USER; \
                 ALTER DATABASE {name} RESET ALL; \
                 REVOKE ALL ON DATABASE {name} FROM PUBLIC; \
                 ALTER DATABASE {name} WITH IS_TEMPLATE true ALLOW_CONNECTIONS false; \
                 COMMENT ON DATABASE {name} IS '{comment}'",
                build = server::ident(&build),
                owner = server::ident(&owner),
                name = server::ident(name),
            ))
            .await;
        if let Err(err) = sealed {
            // Half published: not a template anyone may use.
            let _ = server::drop_template(admin, name).await;
            let _ = server::drop_ephemeral(admin, &build).await;
            return Err(SandboxError::server(err));
        }
        Ok(())
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
                let admin = server::connect_to(&target, maintenance_db(&target), None).await;
                if let Ok(admin) = admin {
                    let _ = server::drop_ephemeral(&admin, &name).await;
                }
            });
        }
    }
}
