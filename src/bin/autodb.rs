//! The `autodb` command: the local service and its tools.
//!
//! Environment:
//! - `AUTODB_API_KEY`: with `serve`, this key is accepted (stored hashed: default tenant,
//!   every role); otherwise a key is generated at the first start only, stored hashed and
//!   printed once (`autodb keys` manages the rest);
//! - `AUTODB_TOKEN_TTL_SECONDS` (default 3600), `AUTODB_LOCK_LEASE_SECONDS` (default 900);
//! - `RUST_LOG` (default `info`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use std::process::ExitCode;

use anyhow::Context;
use autodb::adapters::local::{queue, service};
use autodb::api::{self, MAX_BODY_BYTES};
use autodb::app::Settings;
use autodb::ports::SystemClock;
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

#[path = "autodb/client.rs"]
mod client;
#[path = "autodb/connections.rs"]
mod connections;
#[path = "autodb/deploy.rs"]
mod deploy;
#[path = "autodb/keys.rs"]
mod keys;
#[path = "autodb/lint.rs"]
mod lint;
#[path = "autodb/listen.rs"]
mod listen;
#[path = "autodb/migrate.rs"]
mod migrate;
#[path = "autodb/remote.rs"]
mod remote;
#[path = "autodb/report.rs"]
mod report;

#[derive(Parser)]
#[command(name = "autodb", version, about = "Migration safety for PostgreSQL")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP service with embedded stand-ins for the AWS services.
    Serve(ServeArgs),
    /// Lint a migration history offline, without a database (like squawk): each file is
    /// judged against the schema the earlier ones built. Exits 1 when a file is riskier than
    /// --max-risk, 2 when a file cannot be read or parsed.
    Lint(lint::LintArgs),
    /// Manage API keys: tenants, roles, connections, revocation.
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    #[command(flatten)]
    Client(client::ClientCommand),
}

#[derive(clap::Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Where the local store, secrets and signing keys live.
    #[arg(long, default_value = "./.autodb")]
    data_dir: PathBuf,
    /// PostgreSQL server on which migrations are tried before approval (an account that may
    /// create databases and roles). Default: the demo's cluster with --demo, else a
    /// throwaway cluster started for the purpose.
    #[arg(long, env = "AUTODB_SANDBOX_URL", conflicts_with = "no_sandbox")]
    sandbox_url: Option<String>,
    /// Do not try migrations in a sandbox (analysis then reports it as skipped).
    #[arg(long)]
    no_sandbox: bool,
    /// Start a throwaway PostgreSQL with a sample shop database and register it.
    #[arg(long)]
    demo: bool,
    #[command(flatten)]
    tuning: Tuning,
}

#[derive(clap::Args)]
struct Tuning {
    /// Lifetime of approval tokens.
    #[arg(long, env = "AUTODB_TOKEN_TTL_SECONDS", default_value_t = 3600, value_parser = clap::value_parser!(i64).range(1..))]
    token_ttl_seconds: i64,
    /// Lease of a connection lock without a heartbeat.
    #[arg(long, env = "AUTODB_LOCK_LEASE_SECONDS", default_value_t = 900, value_parser = clap::value_parser!(i64).range(1..))]
    lock_lease_seconds: i64,
    /// How long a client connection may take to send a request's headers, and stay idle
    /// between requests, before it is closed (a slow or silent client cannot hold a slot).
    #[arg(long, env = "AUTODB_HEADER_TIMEOUT_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..))]
    header_timeout_ms: u64,
    /// How long a request's body may take to arrive after its headers (408 after that).
    #[arg(long, env = "AUTODB_BODY_TIMEOUT_MS", default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout_ms: u64,
    /// Most client connections served at once; beyond it, new ones wait in the listen
    /// backlog (file descriptors stay bounded).
    #[arg(long, env = "AUTODB_MAX_CLIENTS", default_value_t = 512, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    max_clients: u64,
    /// Requests a minute each API key may send (a burst of as many); beyond it, 429
    /// RATE_LIMITED with Retry-After.
    #[arg(long, env = "AUTODB_RATE_LIMIT_PER_MINUTE", default_value_t = 1200, value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit_per_minute: u32,
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_target(false)
        .init();
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    match cli.command {
        // Offline unless a sandbox server is given: no logging setup, nothing but the files.
        Command::Lint(args) => Ok(lint::run(args).await),
        // A client of a service: results on stdout, one line on stderr when it fails.
        Command::Client(command) => Ok(client::run(command).await),
        Command::Serve(args) => {
            init_tracing();
            serve(args).await.map(|()| ExitCode::SUCCESS)
        }
        Command::Keys { command } => {
            init_tracing();
            keys::run(command).await.map(|()| ExitCode::SUCCESS)
        }
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings {
        token_ttl_seconds: args.tuning.token_ttl_seconds,
        // A request that has not started by the time its token would have expired never
        // starts.
        request_expiry_seconds: args.tuning.token_ttl_seconds,
        lock_lease_seconds: args.tuning.lock_lease_seconds,
        rate_limit_per_minute: Some(args.tuning.rate_limit_per_minute),
        ..Settings::default()
    };
    let parts = service::open(&args.data_dir, settings, Arc::new(SystemClock))
        .with_context(|| format!("opening the data directory {}", args.data_dir.display()))?;
    let app = Arc::clone(&parts.app);
    let api_key = keys::serve_key(app.store.as_ref(), &args.data_dir).await?;
    // Throwaway clusters a killed predecessor left running.
    let swept = tokio::task::spawn_blocking(autodb::pgcluster::sweep_orphans)
        .await
        .unwrap_or(0);
    if swept > 0 {
        tracing::info!(
            swept,
            "stopped throwaway PostgreSQL clusters a killed predecessor left"
        );
    }
    let requeued = queue::requeue_unfinished(&app, &parts.store).await?;
    if requeued > 0 {
        tracing::info!(
            requeued,
            "re-queued requests left unfinished by the last run"
        );
    }
    let worker = queue::spawn_worker(Arc::clone(&app), parts.jobs);
    let demo = if args.demo {
        eprintln!("Starting a throwaway PostgreSQL cluster with the sample shop database…");
        Some(
            autodb::demo::start(&app)
                .await
                .context("starting the demo database")?,
        )
    } else {
        None
    };
    let mut sandbox_cluster = None;
    let sandbox_url = match (args.no_sandbox, args.sandbox_url, &demo) {
        (true, _, _) => None,
        (false, Some(url), _) => Some(url),
        (false, None, Some(demo)) => Some(demo.cluster.url("postgres")),
        (false, None, None) => match autodb::pgcluster::TempCluster::start("sandbox").await {
            Ok(cluster) => {
                let url = cluster.url("postgres");
                sandbox_cluster = Some(cluster);
                Some(url)
            }
            Err(err) => {
                tracing::warn!(error = %err, "no sandbox: a throwaway cluster could not be started (pass --sandbox-url)");
                None
            }
        },
    };
    if let Some(url) = sandbox_url {
        let server = autodb::sandbox::UrlServer(SecretString::from(url));
        let _ = app.sandbox.set(Arc::new(autodb::sandbox::Sandbox::new(
            Arc::new(server),
            autodb::sandbox::SandboxSettings::default(),
        )));
    }

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let addr = listener.local_addr()?;
    // Installed before the banner: a signal sent as soon as "listening" is printed (by a
    // supervisor, a script, a test) stops the service and its clusters instead of killing it.
    let shutdown = shutdown_signal();
    print_banner(addr, api_key.as_ref(), demo.as_ref());
    listen::serve(
        listener,
        api::router(Arc::clone(&app)),
        listen::Limits {
            header_timeout: std::time::Duration::from_millis(args.tuning.header_timeout_ms),
            body_timeout: std::time::Duration::from_millis(args.tuning.body_timeout_ms),
            max_clients: usize::try_from(args.tuning.max_clients).unwrap_or(usize::MAX),
        },
        shutdown,
    )
    .await;
    worker.abort();
    drop(demo);
    drop(sandbox_cluster);
    eprintln!("autodb stopped.");
    Ok(())
}

/// SIGINT or SIGTERM. The handlers are installed when this is called, not when the future is
/// first polled (`tokio::signal::ctrl_c` installs its handler only then: a SIGINT between the
/// "listening" line and the first poll killed the process, leaving its clusters behind).
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut int = signal(SignalKind::interrupt()).expect("installing a SIGINT handler");
    let mut term = signal(SignalKind::terminate()).expect("installing a SIGTERM handler");
    async move {
        tokio::select! {
            _ = int.recv() => {},
            _ = term.recv() => {},
        }
    }
}

fn print_banner(addr: SocketAddr, key: Option<&SecretString>, demo: Option<&autodb::demo::Demo>) {
    let base = format!("http://{addr}/api/v1");
    println!("autodb listening on {base} (body limit {MAX_BODY_BYTES} bytes)");
    let key_shown = match key {
        Some(k) => {
            println!(
                "API key (shown once; only its hash is stored): {}",
                k.expose_secret()
            );
            k.expose_secret().to_string()
        }
        None if std::env::var_os("AUTODB_API_KEY").is_some() => {
            println!("API key: the value of AUTODB_API_KEY");
            "$AUTODB_API_KEY".to_string()
        }
        None => {
            println!("API key: the one printed at the first start, or a new one from `autodb keys create`");
            "$AUTODB_API_KEY".to_string()
        }
    };
    let Some(demo) = demo else {
        println!("Register a database: curl -s -X POST {base}/connections -H 'X-API-Key: {key_shown}' -H 'Content-Type: application/json' -d '{{\"name\":\"mydb\",\"db_type\":\"postgresql\",\"connection_string\":\"postgresql://user:pass@host:5432/db\"}}'");
        return;
    };
    let conn = &demo.connection.id;
    println!(
        "Demo database: shop (customers, products, orders, order_items) on 127.0.0.1:{}",
        demo.cluster.port()
    );
    println!("Demo connection id: {conn}");
    println!(
        "\nWalk-through (copy and paste into another shell; needs curl and jq):\n\n\
export AUTODB={base} KEY='{key_shown}' CONN={conn}\n\
export SQL='ALTER TABLE customers ADD COLUMN phone varchar(20);'\n\n\
# 1. analyze: statements, and an approval token bound to this exact SQL and connection\n\
curl -s -X POST $AUTODB/connections/$CONN/migrations/analyze -H \"X-API-Key: $KEY\" \\\n  -H 'Content-Type: application/json' -d \"$(jq -n --arg sql \"$SQL\" '{{sql: $sql}}')\" | tee /tmp/autodb-analysis.json | jq .\n\
export TOKEN=$(jq -r .data.approval_token /tmp/autodb-analysis.json)\n\n\
# 2. execute: 202 with a request id (run it twice: same id, applied once)\n\
curl -s -X POST $AUTODB/migrations/execute -H \"X-API-Key: $KEY\" -H 'Content-Type: application/json' \\\n  -d \"$(jq -n --arg t \"$TOKEN\" --arg sql \"$SQL\" --arg c \"$CONN\" '{{approval_token: $t, sql: $sql, connection_id: $c}}')\" | tee /tmp/autodb-exec.json | jq .\n\
export REQ=$(jq -r .data.request_id /tmp/autodb-exec.json)\n\n\
# 3. poll until completed: progress, then the schema diff\n\
curl -s $AUTODB/migrations/requests/$REQ -H \"X-API-Key: $KEY\" | jq .\n"
    );
}
