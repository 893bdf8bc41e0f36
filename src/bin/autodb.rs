//! The `autodb` command: the local service and its tools.
//!
//! Environment:
//! - `AUTODB_API_KEY`: with `serve`, this key is accepted (stored hashed); otherwise a new
//!   key is generated, stored hashed and printed once;
//! - `AUTODB_TOKEN_TTL_SECONDS` (default 3600), `AUTODB_LOCK_LEASE_SECONDS` (default 900);
//! - `RUST_LOG` (default `info`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::process::ExitCode;

use anyhow::Context;
use autodb::adapters::local::{queue, service};
use autodb::api::{self, MAX_BODY_BYTES};
use autodb::app::ports::SystemClock;
use autodb::app::Settings;
use autodb::domain::sha256_hex;
use clap::{Parser, Subcommand};
use secrecy::{ExposeSecret, SecretString};

#[path = "autodb/client.rs"]
mod client;
#[path = "autodb/connections.rs"]
mod connections;
#[path = "autodb/deploy.rs"]
mod deploy;
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
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
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
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create an API key, store its hash, and print the key once.
    Create {
        /// The local data directory to add the key to.
        #[arg(long, default_value = "./.autodb", conflicts_with = "dynamodb_table")]
        data_dir: PathBuf,
        /// Add the key to this DynamoDB table instead (AWS credentials from the environment).
        #[arg(long, env = "AUTODB_TABLE")]
        dynamodb_table: Option<String>,
    },
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
        Command::Keys {
            command:
                KeysCommand::Create {
                    data_dir,
                    dynamodb_table,
                },
        } => {
            init_tracing();
            create_key(&data_dir, dynamodb_table)
                .await
                .map(|()| ExitCode::SUCCESS)
        }
    }
}

async fn create_key(data_dir: &Path, table: Option<String>) -> anyhow::Result<()> {
    let key = api::generate_key();
    let hash = sha256_hex(key.as_bytes());
    match table {
        Some(table) => {
            use autodb::app::ports::Store;
            let sdk = autodb::adapters::aws::sdk_config().await;
            let store =
                autodb::adapters::aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table);
            store
                .put_api_key_hash(&hash)
                .await
                .context("storing the key hash in DynamoDB")?;
        }
        None => {
            let parts = service::open(data_dir, Settings::default(), Arc::new(SystemClock))
                .with_context(|| format!("opening {}", data_dir.display()))?;
            parts.app.store.put_api_key_hash(&hash).await?;
        }
    }
    println!("{key}");
    eprintln!("Store this key now: autodb keeps only its hash and cannot show it again.");
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let settings = Settings {
        token_ttl_seconds: args.tuning.token_ttl_seconds,
        // A request that has not started by the time its token would have expired never
        // starts.
        request_expiry_seconds: args.tuning.token_ttl_seconds,
        lock_lease_seconds: args.tuning.lock_lease_seconds,
        ..Settings::default()
    };
    let parts = service::open(&args.data_dir, settings, Arc::new(SystemClock))
        .with_context(|| format!("opening the data directory {}", args.data_dir.display()))?;
    let app = Arc::clone(&parts.app);
    let api_key = match std::env::var("AUTODB_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
    {
        Some(key) => {
            app.store
                .put_api_key_hash(&sha256_hex(key.as_bytes()))
                .await?;
            None
        }
        None => {
            let key = SecretString::from(api::generate_key());
            app.store
                .put_api_key_hash(&sha256_hex(key.expose_secret().as_bytes()))
                .await?;
            Some(key)
        }
    };
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
    print_banner(addr, api_key.as_ref(), demo.as_ref());
    listen::serve(
        listener,
        api::router(Arc::clone(&app)),
        listen::Limits {
            header_timeout: std::time::Duration::from_millis(args.tuning.header_timeout_ms),
            body_timeout: std::time::Duration::from_millis(args.tuning.body_timeout_ms),
            max_clients: usize::try_from(args.tuning.max_clients).unwrap_or(usize::MAX),
        },
        shutdown_signal(),
    )
    .await;
    worker.abort();
    drop(demo);
    drop(sandbox_cluster);
    eprintln!("autodb stopped.");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing a SIGTERM handler");
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
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
        None => {
            println!("API key: the value of AUTODB_API_KEY");
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
