//! A throwaway PostgreSQL cluster started from the server binaries on this machine, for
//! `autodb serve --demo` and `autodb serve`'s default sandbox.
//!
//! A [`TempCluster`] records which process owns it (a file `owner` holding that process's
//! id) and is stopped and removed when dropped. A process killed outright (SIGKILL, an OOM
//! kill, a power cut of the service manager) drops nothing: [`sweep_orphans`], run when
//! `autodb serve` starts, stops and removes the clusters whose owner is gone.
//!
//! PostgreSQL refuses to run as root, so when autodb runs as root the cluster's directory is
//! handed to the `postgres` system user and the binaries run through `runuser`.

use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("no PostgreSQL server binaries found (looked for pg_ctl on PATH and in /usr/lib/postgresql/*/bin); install postgresql")]
    NoBinaries,
    #[error("running as root needs a `postgres` user to run the server as")]
    NoPostgresUser,
    #[error("{step} failed: {detail}")]
    Step { step: &'static str, detail: String },
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

pub struct PgCluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    run_as: Option<String>,
    stopped: bool,
}

/// The directory holding `pg_ctl`: PATH first, then the newest Debian layout.
pub fn find_bin_dir() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("pg_ctl");
            if candidate.is_file() {
                // Debian links pg_ctl into /usr/bin via a wrapper; the real tools sit beside
                // the resolved path.
                let resolved = std::fs::canonicalize(&candidate).unwrap_or(candidate);
                if resolved.with_file_name("initdb").is_file() {
                    return resolved.parent().map(Path::to_path_buf);
                }
            }
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The user the server binaries run as: `postgres` when autodb runs as root.
fn run_as() -> Result<Option<String>, ClusterError> {
    if !is_root() {
        return Ok(None);
    }
    let exists = Command::new("id")
        .arg("postgres")
        .output()?
        .status
        .success();
    if !exists {
        return Err(ClusterError::NoPostgresUser);
    }
    Ok(Some("postgres".to_string()))
}

/// A free TCP port on loopback, chosen by the kernel.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl PgCluster {
    /// Initializes a new cluster in `dir` (which must not exist) and starts it on a free port.
    pub fn start(dir: &Path) -> Result<Self, ClusterError> {
        let bin = find_bin_dir().ok_or(ClusterError::NoBinaries)?;
        let run_as = run_as()?;
        std::fs::create_dir_all(dir)?;
        if let Some(user) = &run_as {
            let status = Command::new("chown")
                .arg(format!("{user}:"))
                .arg(dir)
                .status()?;
            if !status.success() {
                return Err(ClusterError::Step {
                    step: "chown",
                    detail: format!("could not give {} to {user}", dir.display()),
                });
            }
        }
        let mut cluster = Self {
            bin,
            dir: dir.to_path_buf(),
            port: free_port()?,
            run_as,
            stopped: true,
        };
        let data = cluster.dir.join("data");
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-locale".as_ref(),
            ],
        )?;
        cluster.start_server()?;
        Ok(cluster)
    }

    /// Starts the server again after [`PgCluster::stop`], on the same port and data.
    pub fn restart(&mut self) -> Result<(), ClusterError> {
        if self.stopped {
            self.start_server()?;
        }
        Ok(())
    }

    fn start_server(&mut self) -> Result<(), ClusterError> {
        let data = self.dir.join("data");
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-o".as_ref(),
                options.as_ref(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "start".as_ref(),
            ],
        )?;
        self.stopped = false;
        Ok(())
    }

    fn run(&self, tool: &'static str, args: &[&std::ffi::OsStr]) -> Result<(), ClusterError> {
        let program = self.bin.join(tool);
        let mut cmd = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&program);
                c
            }
            None => Command::new(&program),
        };
        let out = cmd.args(args).current_dir(&self.dir).output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(ClusterError::Step {
                step: tool,
                detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            })
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection URL for `database` as the superuser (trust authentication on loopback).
    pub fn url(&self, database: &str) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Stops the server (fast shutdown). Also done on drop.
    pub fn stop(&mut self) -> Result<(), ClusterError> {
        if self.stopped {
            return Ok(());
        }
        let data = self.dir.join("data");
        self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "fast".as_ref(),
                "-w".as_ref(),
                "stop".as_ref(),
            ],
        )?;
        self.stopped = true;
        Ok(())
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            tracing::warn!(error = %err, "could not stop the PostgreSQL cluster");
        }
    }
}

/// A cluster in a fresh temporary directory, stopped and removed on drop: the demo's
/// database server, and the sandbox server `autodb serve` starts by default.
pub struct TempCluster {
    cluster: PgCluster,
    dir: PathBuf,
}

impl TempCluster {
    /// Initializes and starts a cluster under the system's temporary directory.
    pub async fn start(label: &str) -> Result<Self, ClusterError> {
        let dir =
            std::env::temp_dir().join(format!("autodb-{label}-{}", uuid::Uuid::new_v4().simple()));
        let cluster = tokio::task::spawn_blocking({
            let dir = dir.clone();
            move || PgCluster::start(&dir)
        })
        .await
        .map_err(|e| ClusterError::Io(std::io::Error::other(e)))??;
        std::fs::write(dir.join(OWNER_FILE), std::process::id().to_string())?;
        Ok(Self { cluster, dir })
    }

    /// The cluster's directory (its data directory is `data` inside).
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// The file in a [`TempCluster`]'s directory that names the process owning it.
pub const OWNER_FILE: &str = "owner";

/// Stops and removes the throwaway clusters (`autodb-*` under the temporary directory) whose
/// owning process is gone — what an `autodb serve` killed without a chance to clean up left
/// running. Clusters of live processes (another `autodb serve`, a test run) and directories
/// without an owner file are left alone. Returns how many were removed. Blocking: run it on
/// the blocking pool.
pub fn sweep_orphans() -> usize {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return 0;
    };
    let mut removed = 0;
    for entry in entries.flatten() {
        let dir = entry.path();
        let named = dir
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with("autodb-"));
        let Some(owner) = std::fs::read_to_string(dir.join(OWNER_FILE))
            .ok()
            .and_then(|raw| raw.trim().parse::<u32>().ok())
        else {
            continue;
        };
        if !named || owner == std::process::id() || alive(owner) {
            continue;
        }
        let (Some(bin), Ok(run_as)) = (find_bin_dir(), run_as()) else {
            continue;
        };
        let mut orphan = PgCluster {
            bin,
            dir: dir.clone(),
            port: 0,
            run_as,
            stopped: !dir.join("data").join("postmaster.pid").exists(),
        };
        match orphan.stop() {
            Ok(()) => {
                let _ = std::fs::remove_dir_all(&dir);
                tracing::info!(dir = %dir.display(), owner, "stopped a throwaway PostgreSQL cluster a killed process left");
                removed += 1;
            }
            // The server is gone too (its pid file is stale): only the directory is left.
            Err(_) if !postmaster_alive(&dir) => {
                let _ = std::fs::remove_dir_all(&dir);
                removed += 1;
            }
            Err(err) => {
                tracing::warn!(dir = %dir.display(), error = %err, "could not stop a throwaway PostgreSQL cluster a killed process left");
            }
        }
    }
    removed
}

/// Whether the server of the cluster in `dir` runs (its pid file names a live process).
fn postmaster_alive(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("data").join("postmaster.pid"))
        .ok()
        .and_then(|pidfile| pidfile.lines().next()?.trim().parse().ok())
        .is_some_and(alive)
}

/// Whether a process with this id exists (Linux: `/proc`).
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

impl std::ops::Deref for TempCluster {
    type Target = PgCluster;

    fn deref(&self) -> &PgCluster {
        &self.cluster
    }
}

impl std::ops::DerefMut for TempCluster {
    fn deref_mut(&mut self) -> &mut PgCluster {
        &mut self.cluster
    }
}

impl Drop for TempCluster {
    fn drop(&mut self) {
        if let Err(err) = self.cluster.stop() {
            tracing::warn!(error = %err, "stopping a throwaway PostgreSQL cluster");
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
