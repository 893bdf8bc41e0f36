//! `autodb analyze | execute | status`: one step of the flow each, against a service (see
//! `remote`). `deploy` (its own module) strings them together behind a risk gate.
//!
//! Output: results on stdout (the report, the request id, the diff; with `--json` the API's
//! JSON and nothing else), progress on stderr — a live line on a terminal, timestamped lines
//! otherwise. Ctrl-C while waiting stops the waiting, never the migration.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use autodb_analysis::RiskCategory;
use serde_json::{json, Value};

use crate::remote::{Exit, Failure, Outcome, Remote};
use crate::report::{self, Paint};

#[derive(clap::Args)]
pub struct AnalyzeArgs {
    /// Migration files (or directories of them, in version order), or `-` for stdin; one
    /// analysis each.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// The registered database to analyze against (its id, `conn_…`).
    #[arg(long, short = 'c')]
    connection: String,
    /// Exit 1 when a migration is riskier than this, or was refused a token.
    #[arg(long, value_parser = parse_risk)]
    max_risk: Option<RiskCategory>,
    /// Print the API's report (one object; an array for several files).
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct ExecuteArgs {
    /// The approval token of the analysis of exactly this file and connection.
    #[arg(long)]
    token: String,
    /// The registered database (its id, `conn_…`).
    #[arg(long, short = 'c')]
    connection: String,
    /// The migration file (`-` for stdin), byte for byte as analyzed.
    file: PathBuf,
    /// Wait until the migration has completed or failed.
    #[arg(long)]
    wait: bool,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args)]
pub struct StatusArgs {
    /// The request id that execute or deploy printed (`req_…`).
    request_id: String,
    /// Wait until the migration has completed or failed.
    #[arg(long)]
    wait: bool,
    #[arg(long)]
    json: bool,
}

pub fn parse_risk(raw: &str) -> Result<RiskCategory, String> {
    raw.parse()
        .map_err(|_| "one of low, medium, high, critical".to_string())
}

/// The migrations to send, in order: `(name, sql)`.
pub fn read_sources(paths: &[PathBuf]) -> Outcome<Vec<(String, String)>> {
    let mut sources = Vec::new();
    for path in paths {
        if path == Path::new("-") {
            let mut sql = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut sql)
                .map_err(|e| Failure::usage(format!("stdin: {e}")))?;
            sources.push(("-".to_string(), sql));
            continue;
        }
        let files = crate::lint::expand(std::slice::from_ref(path))
            .map_err(|e| Failure::usage(format!("{e:#}")))?;
        if files.is_empty() {
            return Err(Failure::usage(format!(
                "{}: no .sql files in it",
                path.display()
            )));
        }
        for file in files {
            let sql =
                crate::lint::read(&file).map_err(|e| Failure::usage(format!("{file}: {e}")))?;
            sources.push((file, sql));
        }
    }
    Ok(sources)
}

/// `POST /connections/{id}/migrations/analyze`. Retried like a read: an analysis changes
/// nothing but the connection's snapshot, and an unused token is harmless.
pub async fn analyze_one(remote: &Remote, connection: &str, sql: &str) -> Outcome<Value> {
    let path = format!("/connections/{}/migrations/analyze", segment(connection)?);
    Ok(remote
        .post(&path, &json!({ "sql": sql }), true)
        .await?
        .data())
}

/// Whether the report passes the gate: a token was issued and the risk is at most `max`.
pub fn passes(report: &Value, max: RiskCategory) -> bool {
    let category = report["risk_category"]
        .as_str()
        .and_then(|c| c.parse::<RiskCategory>().ok());
    report["approval_token"].is_string() && category.is_some_and(|c| c <= max)
}

pub async fn analyze(remote: &Remote, args: AnalyzeArgs) -> Outcome<()> {
    let sources = read_sources(&args.paths)?;
    let paint = Paint::stdout();
    let mut reports = Vec::new();
    let mut refused = 0;
    for (name, sql) in &sources {
        let report = analyze_one(remote, &args.connection, sql).await?;
        if args.max_risk.is_some_and(|max| !passes(&report, max)) {
            refused += 1;
        }
        if !args.json {
            print!("{}", report::analysis(&report, name, paint));
            if sources.len() > 1 {
                println!();
            }
        }
        reports.push(report);
    }
    if args.json {
        let out = if args.paths.len() == 1 && sources.len() == 1 && !args.paths[0].is_dir() {
            reports.pop().unwrap_or(Value::Null)
        } else {
            Value::Array(reports)
        };
        println!("{out:#}");
    }
    if refused > 0 {
        return Err(Failure::new(
            Exit::Refused,
            format!(
                "{refused} of {} migration(s) above --max-risk or without a token",
                sources.len()
            ),
        ));
    }
    Ok(())
}

/// `POST /migrations/execute`: the request id. Retried: the token makes it idempotent (a
/// replay answers with the same request).
pub async fn submit(remote: &Remote, token: &str, connection: &str, sql: &str) -> Outcome<String> {
    let body = json!({"approval_token": token, "sql": sql, "connection_id": connection});
    let data = remote
        .post("/migrations/execute", &body, true)
        .await?
        .data();
    data["request_id"]
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| Failure::new(Exit::Unreachable, "execute answered without a request id"))
}

pub async fn execute(remote: &Remote, args: ExecuteArgs) -> Outcome<()> {
    let mut sources = read_sources(std::slice::from_ref(&args.file))?;
    let (_, sql) = sources
        .pop()
        .filter(|_| sources.is_empty())
        .ok_or_else(|| Failure::usage("execute takes one migration file"))?;
    let id = submit(remote, &args.token, &args.connection, &sql).await?;
    finish(remote, &id, args.wait, args.json).await
}

pub async fn status(remote: &Remote, args: StatusArgs) -> Outcome<()> {
    finish(remote, &args.request_id, args.wait, args.json).await
}

/// Shows a request (after waiting for its end with `wait`); exit 1 if it failed.
async fn finish(remote: &Remote, id: &str, wait: bool, json: bool) -> Outcome<()> {
    let status = if wait {
        wait_for(remote, id).await?
    } else {
        poll(remote, id).await?
    };
    if json {
        println!("{status:#}");
    } else {
        let paint = Paint::stdout();
        if is_done(&status) {
            print!("{}", report::finished(&status, paint));
        } else {
            println!("{id} {}", report::status_line(&status, paint));
        }
    }
    failed_exit(&status)
}

pub fn failed_exit(status: &Value) -> Outcome<()> {
    if status["status"] == "failed" {
        return Err(Failure::new(
            Exit::Refused,
            format!(
                "{} failed: {}",
                status["request_id"].as_str().unwrap_or("the migration"),
                status["error"]["message"].as_str().unwrap_or("see above")
            ),
        ));
    }
    Ok(())
}

pub async fn poll(remote: &Remote, id: &str) -> Outcome<Value> {
    let path = format!("/migrations/requests/{}", segment(id)?);
    Ok(remote.get(&path).await?.data())
}

pub fn is_done(status: &Value) -> bool {
    matches!(status["status"].as_str(), Some("completed" | "failed"))
}

/// Polls until the request has completed or failed, showing its progress on stderr.
pub async fn wait_for(remote: &Remote, id: &str) -> Outcome<Value> {
    let live = std::io::stderr().is_terminal();
    let paint = Paint::stderr();
    let started = Instant::now();
    let mut shown = String::new();
    let mut pause = Duration::from_millis(250);
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    loop {
        let status = tokio::select! {
            status = poll(remote, id) => status,
            _ = &mut interrupted => return Err(stopped(id, live)),
        };
        let status = match status {
            Ok(status) => status,
            Err(failure) => {
                if live {
                    eprintln!();
                }
                return Err(failure);
            }
        };
        let line = report::status_line(&status, paint);
        if live {
            eprint!(
                "\r\x1b[K{id}  {line}  {:.1}s",
                started.elapsed().as_secs_f64()
            );
        } else if line != shown {
            eprintln!(
                "{} {id} {line}",
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ")
            );
        }
        shown = line;
        if is_done(&status) {
            if live {
                // The live line gives way to the result, which stdout shows next.
                eprint!("\r\x1b[K");
            }
            return Ok(status);
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = &mut interrupted => return Err(stopped(id, live)),
        }
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

fn stopped(id: &str, live: bool) -> Failure {
    if live {
        eprintln!();
    }
    Failure::new(
        Exit::Interrupted,
        format!("stopped waiting; the migration goes on (autodb status {id} --wait)"),
    )
}

/// An id as one path segment: what the API's ids are made of, nothing that could change the
/// path.
pub fn segment(id: &str) -> Outcome<&str> {
    if !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        Ok(id)
    } else {
        Err(Failure::usage(format!("`{id}` is not an autodb id")))
    }
}
