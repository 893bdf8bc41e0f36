//! `autodb connections add | list | show | introspect` and `autodb schema`: the registered
//! databases of a service.
//!
//! A connection string holds a password, so `add` reads it from an environment variable
//! (or takes the ARN of a secret that holds it), never from the command line, where other
//! users of the machine could read it.

use std::path::PathBuf;

use autodb::domain::error_code::ApiErrorCode;
use serde_json::{json, Value};

use crate::migrate::segment;
use crate::remote::{Failure, Outcome, Remote};
use crate::report::{list, text};

#[derive(clap::Subcommand)]
pub enum ConnectionsCommand {
    /// Register a database; prints its id.
    Add {
        /// A name for people.
        name: String,
        /// The environment variable holding the connection string
        /// (`postgresql://user:password@host:5432/db?sslmode=require`).
        #[arg(long, default_value = "DATABASE_URL", conflicts_with = "secret_arn")]
        connection_string_env: String,
        /// Instead: a Secrets Manager secret whose value is the connection string.
        #[arg(long)]
        secret_arn: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The registered databases.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One registered database.
    Show {
        connection: String,
        #[arg(long)]
        json: bool,
    },
    /// Take a new snapshot of the database's schema.
    Introspect {
        connection: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
pub struct SchemaArgs {
    /// The registered database.
    connection: String,
    /// Save to this file (the JSON `autodb lint --schema` reads) instead of printing it.
    #[arg(long, short = 'o')]
    output: Option<PathBuf>,
}

pub async fn run(remote: &Remote, command: ConnectionsCommand) -> Outcome<()> {
    match command {
        ConnectionsCommand::Add {
            name,
            connection_string_env,
            secret_arn,
            json,
        } => {
            let mut body = json!({"name": name, "db_type": "postgresql"});
            match secret_arn {
                Some(arn) => body["secret_arn"] = json!(arn),
                None => {
                    let url = std::env::var(&connection_string_env)
                        .ok()
                        .filter(|v| !v.is_empty())
                        .ok_or_else(|| {
                            Failure::usage(format!(
                                "{connection_string_env} is not set: it should hold the connection string"
                            ))
                        })?;
                    body["connection_string"] = json!(url);
                }
            }
            // Not retried once sent: a second POST would register the database twice.
            let data = remote.post("/connections", &body, false).await?.data();
            print(&data, json, |c| format!("{}\n", text(&c["id"])));
        }
        ConnectionsCommand::List { json } => {
            let data = remote.get("/connections").await?.data();
            print(&data, json, |list| {
                list.as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        format!(
                            "{}  {:<20}  {}\n",
                            text(&c["id"]),
                            text(&c["name"]),
                            text(&c["created_at"])
                        )
                    })
                    .collect()
            });
        }
        ConnectionsCommand::Show { connection, json } => {
            let data = remote
                .get(&format!("/connections/{}", segment(&connection)?))
                .await?
                .data();
            print(&data, json, fields);
        }
        ConnectionsCommand::Introspect { connection, json } => {
            let data = introspect(remote, &connection).await?;
            print(&data, json, |d| {
                format!(
                    "{}  {} table(s) in {}: {}\n",
                    text(&d["snapshot_id"]),
                    d["table_count"],
                    list(&d["schemas_introspected"]),
                    list(&d["tables"])
                )
            });
        }
    }
    Ok(())
}

async fn introspect(remote: &Remote, connection: &str) -> Outcome<Value> {
    let path = format!("/connections/{}/introspect", segment(connection)?);
    Ok(remote.post(&path, &json!({}), true).await?.data())
}

/// The latest snapshot (introspecting first if there is none), printed or saved.
pub async fn schema(remote: &Remote, args: SchemaArgs) -> Outcome<()> {
    let path = format!("/connections/{}/schema", segment(&args.connection)?);
    let data = match remote.get(&path).await {
        Err(failure) if failure.code == Some(ApiErrorCode::NotFound) => {
            introspect(remote, &args.connection).await?;
            remote.get(&path).await?.data()
        }
        other => other?.data(),
    };
    let text = format!("{data:#}\n");
    match args.output {
        None => print!("{text}"),
        Some(file) => {
            std::fs::write(&file, text)
                .map_err(|e| Failure::usage(format!("{}: {e}", file.display())))?;
            eprintln!(
                "saved the schema of {} ({} tables) to {}",
                args.connection,
                data["schema"]["tables"].as_array().map_or(0, Vec::len),
                file.display()
            );
        }
    }
    Ok(())
}

fn print(data: &Value, json: bool, human: impl Fn(&Value) -> String) {
    if json {
        println!("{data:#}");
    } else {
        print!("{}", human(data));
    }
}

fn fields(value: &Value) -> String {
    value
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}: {s}\n"),
            other => format!("{k}: {other}\n"),
        })
        .collect()
}
