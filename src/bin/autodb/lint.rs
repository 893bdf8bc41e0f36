//! `autodb lint`: the files (or the `.sql` files under directories, in version order) as one
//! migration history, streamed through `autodb_analysis::lint`, with the settings of the
//! nearest `autodb.toml` and, with `--schema`, a known starting schema. With a sandbox server
//! (`--sandbox-url`), every file also runs there in order (`autodb::sandbox::lint_history`): what
//! PostgreSQL saw is added to its report, and the database's schema after it is what the next
//! file is judged against.

use std::cmp::Ordering;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use autodb::sandbox::lint_history::{HistoryRun, Timeouts};
use autodb_analysis::history::History;
use autodb_analysis::lint::{lint_history, Config, FileReport, Verdict};
use autodb_analysis::{PostgresVersion, RiskCategory};
use autodb_core::schema::SchemaSnapshot;
use autodb_lint::{Format, Renderer};
use secrecy::SecretString;

#[derive(clap::Args)]
pub struct LintArgs {
    /// Same as `--reporter json`: the analyze report's JSON per file.
    #[arg(long, conflicts_with = "reporter")]
    json: bool,
    /// Output format: text, json, github (Actions annotations), gitlab (Code Quality JSON).
    #[arg(long, value_parser = ["text", "json", "github", "gitlab"])]
    reporter: Option<String>,
    /// The highest risk category that passes.
    #[arg(long, default_value = "high", value_parser = parse_risk)]
    max_risk: RiskCategory,
    /// Start from this schema: a snapshot saved from `GET /connections/{id}/schema` (JSON,
    /// with sizes) or a `pg_dump --schema-only` file.
    #[arg(long)]
    schema: Option<PathBuf>,
    /// Also run every file, in order, on a throwaway database of this PostgreSQL server (an
    /// account that may create databases and roles), as the executor would run it.
    #[arg(long, env = "AUTODB_SANDBOX_URL", hide_env_values = true)]
    sandbox_url: Option<String>,
    /// Migration files, in order, or directories of them.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
}

fn parse_risk(raw: &str) -> Result<RiskCategory, String> {
    raw.parse()
        .map_err(|_| "one of low, medium, high, critical".to_string())
}

/// Files larger than this are refused rather than read into memory.
const MAX_LINT_FILE_BYTES: u64 = 64 * 1024 * 1024;

pub async fn run(args: LintArgs) -> ExitCode {
    match lint(args).await {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(2)),
        Err(err) => {
            eprintln!("autodb lint: {err:#}");
            ExitCode::from(2)
        }
    }
}

async fn lint(args: LintArgs) -> anyhow::Result<i32> {
    let files = expand(&args.paths)?;
    let config = find_config(&args.paths[0])?;
    let mut history = start(args.schema.as_deref(), &config)?;
    let format = match (args.json, args.reporter.as_deref()) {
        (true, _) | (_, Some("json")) => Format::Json,
        (_, Some("github")) => Format::Github,
        (_, Some("gitlab")) => Format::Gitlab,
        _ => Format::Text {
            color: std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        },
    };
    let mut renderer = Renderer::new(format, files.len(), history.sizes_known());
    let mut verdict = Verdict::default();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut written = out.write_all(renderer.start().as_bytes());
    let mut each = |source: &str, report: FileReport| {
        verdict.add(&report);
        if written.is_ok() {
            written = out.write_all(renderer.file(&report, source).as_bytes());
        }
    };
    match args.sandbox_url {
        None => lint_history(&files, read, &mut history, &config, each)
            .map_err(|(path, err)| anyhow::anyhow!("{path}: {err}"))?,
        Some(url) => {
            let start = (!history.schema().tables.is_empty()).then(|| history.schema().clone());
            let server = autodb::sandbox::UrlServer(SecretString::from(url));
            let sandbox = autodb::sandbox::Sandbox::new(
                std::sync::Arc::new(server),
                autodb::sandbox::SandboxSettings::default(),
            );
            let settings = autodb::app::Settings::default();
            let timeouts = Timeouts {
                lock_timeout_ms: settings.lock_timeout_ms,
                statement_timeout_ms: settings.statement_timeout_ms,
                idle_in_transaction_timeout_ms: settings.idle_in_transaction_timeout_ms,
            };
            let now = chrono::Utc::now().timestamp();
            let mut run = HistoryRun::start(&sandbox, start.as_ref(), timeouts, now)
                .await
                .context("the sandbox server")?;
            let linted = in_sandbox(&files, &mut run, &mut history, &config, &mut each).await;
            run.finish().await;
            linted?;
        }
    }
    written?;
    out.write_all(renderer.finish().as_bytes())?;
    out.flush()?;
    Ok(verdict.exit_code(args.max_risk))
}

/// The files one after the other, each analyzed against the schema the sandbox database
/// holds after the earlier ones, then run there. Progress goes to stderr on a terminal.
async fn in_sandbox(
    files: &[String],
    run: &mut HistoryRun,
    history: &mut History,
    config: &Config,
    each: &mut impl FnMut(&str, FileReport),
) -> anyhow::Result<()> {
    let progress = std::io::stderr().is_terminal();
    for (i, path) in files.iter().enumerate() {
        if progress {
            eprint!(
                "\rautodb lint: sandbox {}/{} {path}\x1b[K",
                i + 1,
                files.len()
            );
        }
        let source = read(path).with_context(|| path.clone())?;
        let outcome = match autodb_core::sql::parse_migration(&source) {
            Err(err) => Err(err),
            Ok(migration) => {
                let before = history.schema().clone();
                let mut analysis = autodb_analysis::Analysis {
                    psql_commands: migration.psql_commands,
                    ..history.next(&migration.statements)
                };
                let result = run.file(&source, &migration.statements).await;
                let new_tables = autodb::sandbox::new_tables(&result, &before);
                autodb_analysis::sandbox_result::apply_observations(
                    &mut analysis,
                    &result,
                    &new_tables,
                );
                history.observed(run.schema().await.context("the sandbox database")?);
                config.drop_excluded(&mut analysis);
                Ok(analysis)
            }
        };
        each(
            &source,
            FileReport {
                path: path.clone(),
                outcome,
            },
        );
    }
    if progress {
        eprint!("\r\x1b[K");
    }
    Ok(())
}

pub fn read(path: &str) -> std::io::Result<String> {
    let meta = std::fs::metadata(path)?;
    // A FIFO or a device would block the read or never end.
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > MAX_LINT_FILE_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {MAX_LINT_FILE_BYTES} bytes"
        )));
    }
    std::fs::read_to_string(path)
}

/// The files to lint, in order: each file as given, each directory's `.sql` files (at any
/// depth, `.SQL` too) in version order. Every path is checked before anything is printed.
pub fn expand(paths: &[PathBuf]) -> anyhow::Result<Vec<String>> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).with_context(|| path.display().to_string())?;
        if meta.is_dir() {
            let mut found = Vec::new();
            let mut seen = std::collections::HashSet::new();
            walk(path, &mut found, &mut seen).with_context(|| path.display().to_string())?;
            found.sort_by(|a, b| version_cmp(a, b));
            files.extend(found);
        } else {
            files.push(path.display().to_string());
        }
    }
    Ok(files)
}

/// Collects the `.sql` files under `dir`. Symbolic links are followed, but every directory
/// is entered once (by device and inode), so a link to `.` or to a parent neither loops nor
/// lints a file twice; what is not a regular file (a FIFO, a socket, a device) is skipped
/// with a message, since reading it could block or never end.
fn walk(
    dir: &Path,
    found: &mut Vec<String>,
    seen: &mut std::collections::HashSet<(u64, u64)>,
) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir)?;
    if !seen.insert((meta.dev(), meta.ino())) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        // A dangling link: nothing to lint.
        let Ok(meta) = std::fs::metadata(&path) else {
            continue;
        };
        let sql = path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| e.eq_ignore_ascii_case("sql"));
        if meta.is_dir() {
            walk(&path, found, seen)?;
        } else if sql && meta.is_file() {
            if seen.insert((meta.dev(), meta.ino())) {
                found.push(path.display().to_string());
            }
        } else if sql {
            eprintln!("skipping {}: not a regular file", path.display());
        }
    }
    Ok(())
}

/// Lexical order, except that runs of digits compare as numbers: `v1.9` < `v1.10`,
/// `9_add.sql` < `10_add.sql`.
pub fn version_cmp(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a, b);
    loop {
        let (Some(ca), Some(cb)) = (a.chars().next(), b.chars().next()) else {
            return a.len().cmp(&b.len());
        };
        if ca.is_ascii_digit() && cb.is_ascii_digit() {
            let da = a.len() - a.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let db = b.len() - b.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            let (na, nb) = (
                a[..da].trim_start_matches('0'),
                b[..db].trim_start_matches('0'),
            );
            let order = na.len().cmp(&nb.len()).then_with(|| na.cmp(nb));
            if order != Ordering::Equal {
                return order;
            }
            (a, b) = (&a[da..], &b[db..]);
        } else {
            if ca != cb {
                return ca.cmp(&cb);
            }
            (a, b) = (&a[ca.len_utf8()..], &b[cb.len_utf8()..]);
        }
    }
}

/// The `autodb.toml` nearest to `path`, looking up to the repository root (the first
/// directory with `.git`); the defaults when there is none.
fn find_config(path: &Path) -> anyhow::Result<Config> {
    let start = std::fs::canonicalize(path).with_context(|| path.display().to_string())?;
    for dir in start.ancestors().filter(|d| d.is_dir()) {
        let file = dir.join("autodb.toml");
        if file.is_file() {
            let text =
                std::fs::read_to_string(&file).with_context(|| file.display().to_string())?;
            let config: Config =
                toml::from_str(&text).with_context(|| file.display().to_string())?;
            return config
                .validated()
                .with_context(|| file.display().to_string());
        }
        if dir.join(".git").exists() {
            break;
        }
    }
    Ok(Config::default())
}

/// The history's starting point: empty, a saved snapshot (JSON) or a schema dump (SQL).
/// A saved snapshot also gives its server's version, unless `autodb.toml` sets one.
fn start(schema: Option<&Path>, config: &Config) -> anyhow::Result<History> {
    let mut runner = config.runner();
    let Some(path) = schema else {
        return Ok(History::new(runner));
    };
    let text = std::fs::read_to_string(path).with_context(|| path.display().to_string())?;
    if !text.trim_start().starts_with('{') {
        return History::from_dump(&text, runner)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()));
    }
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| path.display().to_string())?;
    // The response of GET /connections/{id}/schema, with or without its envelope, or a bare
    // snapshot.
    let snapshot = value
        .pointer("/data/schema")
        .or_else(|| value.get("schema"))
        .unwrap_or(&value);
    let snapshot: SchemaSnapshot = serde_json::from_value(snapshot.clone())
        .with_context(|| format!("{}: not a schema snapshot", path.display()))?;
    if config.postgres_version().is_none() {
        runner.postgres_version = PostgresVersion::of_snapshot(&snapshot);
    }
    Ok(History::from_snapshot(snapshot, runner))
}

#[cfg(test)]
mod tests {
    use super::version_cmp;

    #[test]
    fn version_order_compares_digit_runs_as_numbers() {
        let mut v = vec![
            "v1.10/a.sql",
            "v1.9/b.sql",
            "v1.2/a.sql",
            "002_x.sql",
            "10_y.sql",
        ];
        v.sort_by(|a, b| version_cmp(a, b));
        assert_eq!(
            v,
            [
                "002_x.sql",
                "10_y.sql",
                "v1.2/a.sql",
                "v1.9/b.sql",
                "v1.10/a.sql"
            ]
        );
        assert_eq!(version_cmp("a", "a"), std::cmp::Ordering::Equal);
        assert_eq!(version_cmp("a", "ab"), std::cmp::Ordering::Less);
    }
}
