//! The command line as a client of an autodb service: the subcommands that talk to
//! `autodb serve` or a deployed stack over HTTP (see `remote` for where and how), and their
//! exit codes.
//!
//! Exit codes (stable; README, "Exit codes"): 0 success; 1 the gate refused a migration or a
//! migration failed; 2 a usage or parse error; 3 the service could not be reached or stayed
//! unavailable; 4 authentication or permission; 130 Ctrl-C while waiting (the migration
//! goes on).

use std::process::ExitCode;

use crate::connections::{self, ConnectionsCommand, SchemaArgs};
use crate::deploy::{self, DeployArgs};
use crate::migrate::{self, AnalyzeArgs, ExecuteArgs, StatusArgs};
use crate::remote::{Remote, RemoteArgs};

#[derive(clap::Subcommand)]
pub enum ClientCommand {
    /// Register, list, show and introspect the service's databases.
    Connections {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(subcommand)]
        command: ConnectionsCommand,
    },
    /// Print (or save with -o) a database's schema snapshot, as `autodb lint --schema` reads it.
    Schema {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        args: SchemaArgs,
    },
    /// Analyze migrations against a registered database: risk, locks, findings, blast
    /// radius, sandbox run, and an approval token.
    Analyze {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        args: AnalyzeArgs,
    },
    /// Apply an analyzed migration with its approval token.
    Execute {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        args: ExecuteArgs,
    },
    /// Show (or wait for) a migration request.
    Status {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        args: StatusArgs,
    },
    /// Analyze, gate on the risk, execute and wait: a file, or a directory's files not yet
    /// applied, in version order. Safe to retry.
    Deploy {
        #[command(flatten)]
        remote: RemoteArgs,
        #[command(flatten)]
        args: DeployArgs,
    },
}

pub async fn run(command: ClientCommand) -> ExitCode {
    let (name, outcome) = match command {
        ClientCommand::Connections { remote, command } => (
            "connections",
            with(
                &remote,
                |r| async move { connections::run(&r, command).await },
            )
            .await,
        ),
        ClientCommand::Schema { remote, args } => (
            "schema",
            with(
                &remote,
                |r| async move { connections::schema(&r, args).await },
            )
            .await,
        ),
        ClientCommand::Analyze { remote, args } => (
            "analyze",
            with(&remote, |r| async move { migrate::analyze(&r, args).await }).await,
        ),
        ClientCommand::Execute { remote, args } => (
            "execute",
            with(&remote, |r| async move { migrate::execute(&r, args).await }).await,
        ),
        ClientCommand::Status { remote, args } => (
            "status",
            with(&remote, |r| async move { migrate::status(&r, args).await }).await,
        ),
        ClientCommand::Deploy { remote, args } => (
            "deploy",
            with(&remote, |r| async move { deploy::run(&r, args).await }).await,
        ),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("autodb {name}: {}", failure.message);
            ExitCode::from(failure.exit as u8)
        }
    }
}

async fn with<F, Fut>(args: &RemoteArgs, command: F) -> crate::remote::Outcome<()>
where
    F: FnOnce(Remote) -> Fut,
    Fut: std::future::Future<Output = crate::remote::Outcome<()>>,
{
    command(Remote::from_args(args)?).await
}
