//! `autodb deploy FILE|DIR --connection ID --max-risk LEVEL`: analyze, refuse above the gate,
//! execute, wait, show what changed — for a directory, file after file in version order,
//! skipping what the database's ledger says autodb already applied, stopping at the first
//! refusal or failure.
//!
//! Safe to retry. Two records make a second run of the same deploy reuse the first one's
//! request rather than run the migration again:
//! - the target's ledger (`GET /connections/{id}/migrations`), by the SHA-256 of the SQL:
//!   what completed is skipped, from any machine, for ever;
//! - a local record per (service, connection, SQL) in the state directory, written as soon
//!   as the analysis returned its token and again when execute returned the request id: a
//!   run that was interrupted after that (a killed job, a lost connection, Ctrl-C) presents
//!   the same token again while it is valid — execute is idempotent by its token, so the
//!   answer is the earlier request — or follows the recorded request. A request that failed
//!   is not reused: a retry after a failure is a new attempt, analyzed anew.
//!
//! The state directory is `AUTODB_STATE_DIR`, else `$XDG_STATE_HOME/autodb`, else
//! `~/.local/state/autodb`; its records hold approval tokens and are written mode 0600.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;

use autodb::domain::error_code::ApiErrorCode;
use autodb::domain::sha256_hex;
use autodb_analysis::RiskCategory;
use serde_json::{json, Value};

use crate::migrate::{self, parse_risk};
use crate::remote::{Exit, Failure, Outcome, Remote};
use crate::report::{self, Paint};

#[derive(clap::Args)]
pub struct DeployArgs {
    /// A migration file, or a directory of them (applied in version order).
    path: PathBuf,
    /// The registered database (its id, `conn_…`).
    #[arg(long, short = 'c')]
    connection: String,
    /// The riskiest category that may be applied; above it, deploy refuses (exit 1).
    #[arg(long, value_parser = parse_risk)]
    max_risk: RiskCategory,
    /// Wait for each migration to complete (always, for a directory) and show its diff.
    #[arg(long)]
    wait: bool,
    /// Print one JSON object per file, in an array, instead of the reports.
    #[arg(long)]
    json: bool,
}

/// What a retried deploy needs to find its earlier request.
#[derive(serde::Serialize, serde::Deserialize, Default)]
struct Record {
    token: Option<String>,
    expires_at: Option<String>,
    request_id: Option<String>,
}

struct Records {
    dir: Option<PathBuf>,
    service: String,
    connection: String,
}

impl Records {
    fn new(remote: &Remote, connection: &str) -> Self {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let dir = var("AUTODB_STATE_DIR")
            .map(PathBuf::from)
            .or_else(|| var("XDG_STATE_HOME").map(|d| PathBuf::from(d).join("autodb")))
            .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".local/state/autodb")))
            .map(|d| d.join("deploys"));
        Self {
            dir,
            service: remote.base().to_string(),
            connection: connection.to_string(),
        }
    }

    fn path(&self, sql_sha256: &str) -> Option<PathBuf> {
        let key =
            sha256_hex(format!("{}\n{}\n{sql_sha256}", self.service, self.connection).as_bytes());
        Some(self.dir.as_ref()?.join(format!("{key}.json")))
    }

    fn load(&self, sql_sha256: &str) -> Record {
        self.path(sql_sha256)
            .and_then(|p| std::fs::read(p).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default()
    }

    /// Best effort: a deploy that cannot keep its record still deploys, and says so.
    fn save(&self, sql_sha256: &str, record: &Record) {
        let Some(path) = self.path(sql_sha256) else {
            return;
        };
        let written = (|| -> std::io::Result<()> {
            use std::os::unix::fs::OpenOptionsExt;
            std::fs::create_dir_all(path.parent().unwrap_or(&path))?;
            let tmp = path.with_extension("tmp");
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            file.write_all(&serde_json::to_vec(record).unwrap_or_default())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)
        })();
        if let Err(err) = written {
            eprintln!(
                "warning: could not record the deploy in {} ({err}); a retry will analyze again",
                path.display()
            );
        }
    }
}

/// One file's outcome, as `--json` prints it.
struct Step {
    file: String,
    sql_sha256: String,
    outcome: &'static str,
    request_id: Option<String>,
    report: Option<Value>,
    status: Option<Value>,
}

impl Step {
    fn json(&self) -> Value {
        json!({
            "file": self.file,
            "sql_sha256": self.sql_sha256,
            "outcome": self.outcome,
            "request_id": self.request_id,
            "risk_category": self.report.as_ref().map(|r| r["risk_category"].clone()),
            "risk_score": self.report.as_ref().map(|r| r["risk_score"].clone()),
            "status": self.status,
        })
    }
}

/// What every file of one deploy shares.
struct Deploy<'a> {
    remote: &'a Remote,
    args: &'a DeployArgs,
    records: Records,
    /// The target's ledger: SQL digest → the request that applied it.
    applied: HashMap<String, String>,
    wait: bool,
    /// Where the text output goes colourless or not; `None` with `--json`.
    paint: Option<Paint>,
}

pub async fn run(remote: &Remote, args: DeployArgs) -> Outcome<()> {
    let sources = migrate::read_sources(std::slice::from_ref(&args.path))?;
    let deploy = Deploy {
        remote,
        args: &args,
        records: Records::new(remote, &args.connection),
        applied: applied(remote, &args.connection).await?,
        wait: args.wait || args.path.is_dir(),
        paint: (!args.json).then(Paint::stdout),
    };
    let mut steps = Vec::new();
    let mut result = Ok(());
    for (file, sql) in sources {
        let sql_sha256 = sha256_hex(sql.as_bytes());
        let mut step = Step {
            file,
            sql_sha256,
            outcome: "applied",
            request_id: None,
            report: None,
            status: None,
        };
        result = deploy.one(&sql, &mut step).await;
        if let Some(paint) = deploy.paint {
            show(&step, paint);
        }
        steps.push(step);
        if result.is_err() {
            break;
        }
    }
    if args.json {
        println!("{:#}", Value::Array(steps.iter().map(Step::json).collect()));
    }
    result
}

impl Deploy<'_> {
    async fn one(&self, sql: &str, step: &mut Step) -> Outcome<()> {
        let Self {
            remote,
            args,
            records,
            applied,
            wait,
            paint,
        } = self;
        let (remote, args, wait, paint) = (*remote, *args, *wait, *paint);
        if let Some(request_id) = applied.get(&step.sql_sha256) {
            step.outcome = "already-applied";
            step.request_id = Some(request_id.clone());
            return Ok(());
        }
        let mut record = records.load(&step.sql_sha256);
        let earlier = match &record.request_id {
            Some(id) => match migrate::poll(remote, id).await {
                Ok(status) if status["status"] != "failed" => Some(id.clone()),
                Ok(_) => None,
                Err(failure) if failure.code == Some(ApiErrorCode::NotFound) => None,
                Err(failure) => return Err(failure),
            },
            None => None,
        };
        let request_id = match (earlier, valid_token(&record)) {
            (Some(id), _) => {
                step.outcome = "reused";
                id
            }
            (None, Some(token)) => {
                step.outcome = "reused";
                migrate::submit(remote, &token, &args.connection, sql).await?
            }
            (None, None) => {
                let report = migrate::analyze_one(remote, &args.connection, sql).await?;
                let pass = migrate::passes(&report, args.max_risk);
                let token = report["approval_token"].as_str().map(str::to_string);
                // The report before the wait, so that a person reads what is being applied.
                if let Some(paint) = paint {
                    print!("{}", report::analysis(&report, &step.file, paint));
                    let _ = std::io::stdout().flush();
                }
                step.report = Some(report);
                if !pass {
                    step.outcome = "refused";
                    return Err(Failure::new(
                        Exit::Refused,
                        format!(
                            "{}: refused by the gate (--max-risk {})",
                            step.file,
                            args.max_risk.as_str()
                        ),
                    ));
                }
                record = Record {
                    token: token.clone(),
                    expires_at: step
                        .report
                        .as_ref()
                        .and_then(|r| r["expires_at"].as_str().map(str::to_string)),
                    request_id: None,
                };
                records.save(&step.sql_sha256, &record);
                migrate::submit(
                    remote,
                    token.as_deref().unwrap_or_default(),
                    &args.connection,
                    sql,
                )
                .await?
            }
        };
        step.request_id = Some(request_id.clone());
        if record.request_id.as_deref() != Some(request_id.as_str()) {
            record.request_id = Some(request_id.clone());
            records.save(&step.sql_sha256, &record);
        }
        if !wait {
            step.status = Some(migrate::poll(remote, &request_id).await?);
            return Ok(());
        }
        let status = migrate::wait_for(remote, &request_id).await?;
        let failed = migrate::failed_exit(&status);
        if failed.is_err() {
            step.outcome = "failed";
        }
        step.status = Some(status);
        failed
    }
}

/// The recorded token, while it is valid for a while yet.
fn valid_token(record: &Record) -> Option<String> {
    let expires = chrono::DateTime::parse_from_rfc3339(record.expires_at.as_deref()?).ok()?;
    (expires > chrono::Utc::now() + chrono::Duration::seconds(30)).then(|| record.token.clone())?
}

/// The ledger: SQL digest → the request that applied it.
async fn applied(remote: &Remote, connection: &str) -> Outcome<HashMap<String, String>> {
    let path = format!("/connections/{}/migrations", migrate::segment(connection)?);
    let data = remote.get(&path).await?.data();
    Ok(data["applied"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|row| {
            Some((
                row["sql_sha256"].as_str()?.to_string(),
                row["request_id"].as_str()?.to_string(),
            ))
        })
        .collect())
}

/// What became of the file (its report was shown when it arrived).
fn show(step: &Step, paint: Paint) {
    let id = step.request_id.as_deref().unwrap_or("");
    match step.outcome {
        "already-applied" => println!(
            "{}  already applied by {id}: skipped",
            paint.bold(&step.file)
        ),
        "refused" => println!("\n{}: {}", paint.level("refused"), step.file),
        "reused" => println!(
            "{}  reusing {id}, submitted by an earlier run",
            paint.bold(&step.file)
        ),
        _ => {}
    }
    match &step.status {
        Some(status) if migrate::is_done(status) => print!("{}", report::finished(status, paint)),
        Some(status) => println!("{id} {}", report::status_line(status, paint)),
        None => {}
    }
    if step.report.is_some() || step.status.is_some() {
        println!();
    }
}
