//! What the command-line tests share (`cli_client`, `action`): `autodb serve` as a process
//! on a real PostgreSQL (its own data directory, port 0, sandboxed on the test cluster), a
//! pipeline's environment for the `autodb` binary (service, key, state directory, no
//! colour), and the redaction of the text output for snapshots.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::{create_database, serve_process, TempDir};

pub const KEY: &str = "cli-test-key";

/// A bound on steps that must end by themselves, so that a regression fails instead of
/// hanging the suite.
pub const HANG_GUARD: Duration = Duration::from_secs(180);

pub struct Served {
    child: Child,
    pub url: String,
}

/// `autodb serve` on `data`, port 0, sandboxed on the test cluster.
pub async fn serve(data: &Path) -> Served {
    let sandbox = std::env::var("AUTODB_TEST_PG_URL").expect("AUTODB_TEST_PG_URL");
    let (child, addr) = serve_process(data, KEY, &["--sandbox-url", &sandbox]).await;
    Served {
        child,
        url: format!("http://{addr}"),
    }
}

pub async fn stop(served: &mut Served) {
    let pid = served.child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    tokio::time::timeout(HANG_GUARD, served.child.wait())
        .await
        .expect("autodb serve did not stop")
        .unwrap();
}

/// The environment of one pipeline: a service, a key, a state directory.
pub struct Cli {
    pub url: String,
    pub state: TempDir,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

impl Cli {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_string(),
            state: TempDir::new(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_autodb"));
        command
            .args(args)
            .env("AUTODB_URL", &self.url)
            .env("AUTODB_API_KEY", KEY)
            .env("AUTODB_STATE_DIR", &self.state.0)
            .env("AUTODB_CONFIG", self.state.0.join("no-config.toml"))
            .env("NO_COLOR", "1")
            .env_remove("AUTODB_PROFILE")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }

    pub async fn run(&self, args: &[&str]) -> Run {
        self.run_with(self.command(args)).await
    }

    pub async fn run_with(&self, mut command: Command) -> Run {
        let out = tokio::time::timeout(HANG_GUARD, command.output())
            .await
            .expect("autodb did not finish")
            .expect("run autodb");
        Run {
            code: out.status.code().expect("exit code"),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `autodb deploy PATH -c CONN --max-risk medium EXTRA…`.
    pub fn deploy(&self, path: &str, conn: &str, extra: &[&str]) -> Command {
        let mut args = vec!["deploy", path, "-c", conn, "--max-risk", "medium"];
        args.extend(extra);
        self.command(&args)
    }

    /// Registers `db_url` through `autodb connections add`; returns its id.
    pub async fn add_connection(&self, db_url: &str) -> String {
        let mut command = self.command(&["connections", "add", "shop", "--json"]);
        command.env("DATABASE_URL", db_url);
        let run = self.run_with(command).await;
        assert_eq!(run.code, 0, "{}", run.stderr);
        let id = run.json()["id"].as_str().unwrap().to_string();
        assert!(!run.stdout.contains(db_url), "credentials were echoed");
        id
    }
}

pub async fn db(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    client
}

pub async fn shop(url: &str) {
    db(url)
        .await
        .batch_execute(
            "CREATE TABLE customers (id bigint PRIMARY KEY, email text NOT NULL);
             CREATE TABLE orders (id bigint PRIMARY KEY,
                                  customer_id bigint NOT NULL REFERENCES customers (id));
             INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 50) g;
             INSERT INTO orders SELECT g, 1 + g % 50 FROM generate_series(1, 100) g;
             ANALYZE;",
        )
        .await
        .unwrap();
}

pub async fn column_exists(url: &str, table: &str, column: &str) -> bool {
    db(url)
        .await
        .query_one(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = $1 AND column_name = $2",
            &[&table, &column],
        )
        .await
        .unwrap()
        .get::<_, i64>(0)
        == 1
}

pub async fn ledger_rows(url: &str) -> i64 {
    let client = db(url).await;
    let exists: bool = client
        .query_one(
            "SELECT to_regclass('autodb.migration_ledger') IS NOT NULL",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    if !exists {
        return 0;
    }
    client
        .query_one("SELECT count(*) FROM autodb.migration_ledger", &[])
        .await
        .unwrap()
        .get(0)
}

/// A service with one registered database (the `shop` tables), and a pipeline's CLI for
/// it: `(dir, served, cli, target URL, connection id)`.
pub async fn stack() -> (TempDir, Served, Cli, String, String) {
    let dir = TempDir::new();
    let served = serve(&dir.0.join("data")).await;
    let cli = Cli::new(&served.url);
    let target = create_database().await;
    shop(&target).await;
    let conn = cli.add_connection(&target).await;
    (dir, served, cli, target, conn)
}

pub fn write(dir: &Path, name: &str, sql: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, sql).unwrap();
    path.to_string_lossy().into_owned()
}

/// Text output with what changes from run to run replaced: ids, times, durations, paths.
pub fn redact(text: &str, dir: &Path) -> String {
    let text = text.replace(&*dir.to_string_lossy(), "[dir]");
    let mut out = String::new();
    for line in text.lines() {
        let line = if let Some(at) = line.find("valid until ") {
            format!("{}valid until [time]", &line[..at])
        } else if line.starts_with("sandbox ") {
            line.split(" in ").next().unwrap().to_string() + " in [ms] on PostgreSQL [version]"
        } else if let Some(at) = line.find("est. lock ") {
            let rest = &line[at + "est. lock ".len()..];
            let after = rest.find(" ms").map_or("", |i| &rest[i..]);
            format!("{}est. lock [n]{after}", &line[..at])
        } else if let Some(at) = line.find(" statement(s) in ") {
            format!("{} statement(s) in [ms]", &line[..at])
        } else {
            line.to_string()
        };
        out.push_str(&ids(&line));
        out.push('\n');
    }
    out
}

pub fn ids(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = ["req_", "conn_", "snap_", "ana_"]
        .iter()
        .filter_map(|p| rest.find(p).map(|i| (i, *p)))
        .min()
    {
        let (i, prefix) = at;
        let tail = &rest[i + prefix.len()..];
        let hex = tail.len()
            - tail
                .trim_start_matches(|c: char| c.is_ascii_hexdigit())
                .len();
        out.push_str(&rest[..i]);
        out.push_str(prefix);
        out.push_str(if hex == 32 { "[id]" } else { &tail[..hex] });
        rest = &tail[hex..];
    }
    out.push_str(rest);
    out
}

/// Starts `command`, a client that waits for a migration, and reads its progress lines
/// (stderr, no terminal) until the migration runs; returns the process, the rest of its
/// lines and the request id.
pub async fn waiting(
    mut command: Command,
) -> (
    Child,
    tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    String,
) {
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let request = tokio::time::timeout(HANG_GUARD, async {
        loop {
            let line = lines
                .next_line()
                .await
                .unwrap()
                .expect("the client ended before the migration ran");
            if line.contains("EXECUTING") {
                break line
                    .split_whitespace()
                    .find(|w| w.starts_with("req_"))
                    .unwrap()
                    .to_string();
            }
        }
    })
    .await
    .expect("the migration never started");
    (child, lines, request)
}

pub async fn rest_of(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
) -> String {
    let mut rest = String::new();
    while let Ok(Some(line)) = lines.next_line().await {
        rest.push_str(&line);
        rest.push('\n');
    }
    rest
}

/// A reader on `target` holding a lock `ALTER TABLE customers` needs, until it commits.
pub async fn hold_customers(target: &str) -> tokio_postgres::Client {
    let holder = db(target).await;
    holder
        .batch_execute("BEGIN; LOCK TABLE customers IN ACCESS SHARE MODE;")
        .await
        .unwrap();
    holder
}
