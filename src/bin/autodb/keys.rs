//! `autodb keys create|list|revoke`, and the key `autodb serve` starts with.
//!
//! Keys live in the local data directory's store, or (with `--dynamodb-table`) in the AWS
//! deployment's table. A key is printed once, when created; only its SHA-256 is stored.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use autodb::adapters::local::service;
use autodb::app::api_keys::{self, NewKey};
use autodb::app::Settings;
use autodb::domain::access::{ApiKeyRecord, Principal, Role, DEFAULT_TENANT};
use autodb::domain::sha256_hex;
use autodb::ports::{Store, SystemClock};
use secrecy::{ExposeSecret, SecretString};

#[derive(clap::Args)]
pub struct Where {
    /// The local data directory that holds the keys.
    #[arg(long, default_value = "./.autodb", conflicts_with = "dynamodb_table")]
    data_dir: PathBuf,
    /// The DynamoDB table of an AWS deployment instead (AWS credentials from the
    /// environment).
    #[arg(long, env = "AUTODB_TABLE")]
    dynamodb_table: Option<String>,
}

#[derive(clap::Subcommand)]
pub enum KeysCommand {
    /// Create an API key, store its hash, and print the key once.
    Create {
        /// The tenant the key belongs to: it sees only that tenant's connections and records.
        #[arg(long, default_value = DEFAULT_TENANT)]
        tenant: String,
        /// A role the key holds (repeat, or separate with commas): analyze, approve, execute,
        /// admin. Default: all four.
        #[arg(long = "role", value_delimiter = ',', value_parser = parse_role)]
        roles: Vec<Role>,
        /// Limit the key to these connection ids (comma-separated). Default: all of its
        /// tenant's.
        #[arg(long, value_delimiter = ',')]
        connections: Option<Vec<String>>,
        #[command(flatten)]
        at: Where,
    },
    /// List keys: id, tenant, roles, connections, created, revoked (never the key).
    List {
        /// Only this tenant's keys.
        #[arg(long)]
        tenant: Option<String>,
        #[command(flatten)]
        at: Where,
    },
    /// Revoke a key by its id (`key_…`): it authenticates nothing from the next request on.
    Revoke {
        key_id: String,
        #[command(flatten)]
        at: Where,
    },
}

fn parse_role(raw: &str) -> Result<Role, String> {
    Role::parse(raw).ok_or_else(|| format!("{raw}: roles are analyze, approve, execute, admin"))
}

async fn open(at: Where) -> anyhow::Result<Arc<dyn Store>> {
    Ok(match at.dynamodb_table {
        Some(table) => {
            let sdk = autodb::adapters::aws::sdk_config().await;
            Arc::new(autodb::adapters::aws::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&sdk),
                table,
            ))
        }
        None => {
            let parts = service::open(&at.data_dir, Settings::default(), Arc::new(SystemClock))
                .with_context(|| format!("opening {}", at.data_dir.display()))?;
            parts.app.store.clone()
        }
    })
}

/// Who the audit trail says acted: the operator at this machine.
fn operator() -> Principal {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    Principal::operator(&format!("cli:{user}"))
}

pub async fn run(command: KeysCommand) -> anyhow::Result<()> {
    let now = chrono::Utc::now();
    match command {
        KeysCommand::Create {
            tenant,
            roles,
            connections,
            at,
        } => {
            let store = open(at).await?;
            let roles: BTreeSet<Role> = if roles.is_empty() {
                Role::ALL.into_iter().collect()
            } else {
                roles.into_iter().collect()
            };
            let new = NewKey {
                tenant,
                roles,
                connections: connections.map(|c| c.into_iter().collect()),
            };
            let (key, record) = api_keys::create(store.as_ref(), now, &operator(), new)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("{}", key.expose_secret());
            eprintln!(
                "{} (tenant {}, roles {}). Store this key now: autodb keeps only its hash and \
                 cannot show it again.",
                record.key_id,
                record.tenant,
                roles_text(&record)
            );
        }
        KeysCommand::List { tenant, at } => {
            let store = open(at).await?;
            let keys = api_keys::list(store.as_ref())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            println!("KEY ID\tTENANT\tROLES\tCONNECTIONS\tCREATED\tREVOKED");
            for k in keys
                .iter()
                .filter(|k| tenant.as_ref().is_none_or(|t| &k.tenant == t))
            {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    k.key_id,
                    k.tenant,
                    roles_text(k),
                    k.connections.as_ref().map_or("*".to_string(), |c| c
                        .iter()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(",")),
                    k.created_at.to_rfc3339(),
                    k.revoked_at.map_or("-".to_string(), |t| t.to_rfc3339()),
                );
            }
        }
        KeysCommand::Revoke { key_id, at } => {
            let store = open(at).await?;
            let record = api_keys::revoke(store.as_ref(), now, &operator(), &key_id)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            eprintln!("{} revoked (tenant {})", record.key_id, record.tenant);
        }
    }
    Ok(())
}

fn roles_text(k: &ApiKeyRecord) -> String {
    k.roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// The key `autodb serve` starts with. `AUTODB_API_KEY`, when set, is stored (default
/// tenant, every role) unless a key with its hash exists — a revoked one stays revoked.
/// Otherwise a key is created at the first start only and returned to be shown once; later
/// starts keep the keys they find.
pub async fn serve_key(store: &dyn Store, data_dir: &Path) -> anyhow::Result<Option<SecretString>> {
    let all = NewKey {
        tenant: DEFAULT_TENANT.into(),
        roles: Role::ALL.into_iter().collect(),
        connections: None,
    };
    let now = chrono::Utc::now();
    let by = Principal::operator("serve");
    if let Some(key) = std::env::var("AUTODB_API_KEY")
        .ok()
        .filter(|k| !k.is_empty())
    {
        let key = SecretString::from(key);
        if store
            .get_api_key(&sha256_hex(key.expose_secret().as_bytes()))
            .await?
            .is_none()
        {
            api_keys::store(store, now, &by, &key, all)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        return Ok(None);
    }
    if !store.list_api_keys().await?.is_empty() {
        eprintln!(
            "API keys: the ones already in {} (list them with `autodb keys list`, add one with \
             `autodb keys create`)",
            data_dir.display()
        );
        return Ok(None);
    }
    let (key, _) = api_keys::create(store, now, &by, all)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(Some(key))
}
