//! Offline lint (`autodb lint [--reporter …] DIR | FILE...`): static analysis of a migration
//! history without a database, like squawk but history-aware.
//!
//! The files are one history: each is judged against the schema the earlier ones produced
//! ([`crate::history`]). They are streamed: parsing (most of the cost) runs ahead on every
//! core, a bounded number of files at a time, while analysis walks them in order and each
//! file's report is handed to the caller and dropped before the next — so peak memory depends
//! on the largest file and the schema, not on how many files there are. The caller supplies
//! the loader (this crate does no I/O) and renders the reports (the `autodb-lint` crate's
//! reporters: text, JSON, GitHub, GitLab).
//!
//! Exit codes: 2 when any file fails to parse, else 1 when any file's risk category is above
//! `max_risk` or autodb would refuse to run it (`crate::guard`), else 0.

mod config;

use std::collections::VecDeque;
use std::sync::mpsc;

use autodb_core::sql::ParseError;

use crate::history::History;
use crate::report::{Analysis, RiskCategory};

pub use config::{Config, ConfigError};

/// The verdict for one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: String,
    pub outcome: Result<Analysis, ParseError>,
}

/// Lints one file's contents on its own (no history).
pub fn lint_source(path: &str, sql: &str) -> FileReport {
    let outcome = autodb_core::sql::parse_migration(sql).map(|m| crate::Analysis {
        psql_commands: m.psql_commands,
        ..crate::analyze(&m.statements, None)
    });
    FileReport {
        path: path.to_string(),
        outcome,
    }
}

/// A file loaded and parsed by a worker, waiting for its turn in the history.
struct Parsed<E> {
    source: Result<String, E>,
    stmts: Result<autodb_core::sql::Migration, ParseError>,
}

/// What analysis is done with: handed back to the worker that built it, which frees it
/// between parses. Memory freed by the thread that allocated it is cheaper to free, and the
/// analysis thread, the one the whole walk waits for, does not spend its time freeing trees.
type Spent = (String, Vec<autodb_core::sql::ParsedStatement>);

/// How many batches each worker may hold before analysis takes them.
const AHEAD: usize = 2;

/// A worker hands files over in batches of up to this many, or fewer when their text
/// reaches [`BATCH_BYTES`]: one hand-over per file cost the analysis thread a wake-up of a
/// worker per file, as much as analyzing a small file.
const BATCH_FILES: usize = 16;
const BATCH_BYTES: usize = 256 * 1024;

/// Lints `paths` as one history, in the order given: `load` reads a file (on worker
/// threads), `each` receives every file's source and report in order. Stops at the first
/// file `load` fails on and returns its path and error.
pub fn lint_history<E: Send>(
    paths: &[String],
    load: impl Fn(&str) -> Result<String, E> + Sync,
    history: &mut History,
    config: &Config,
    mut each: impl FnMut(&str, FileReport),
) -> Result<(), (String, E)> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(paths.len())
        .max(1);
    let load = &load;
    std::thread::scope(|scope| {
        let mut queues: Vec<Queue<E>> = (0..workers)
            .map(|w| {
                let (tx, rx) = mpsc::sync_channel(AHEAD);
                let (spent_tx, spent_rx) = mpsc::channel::<Spent>();
                let mine = paths.iter().skip(w).step_by(workers);
                scope.spawn(move || parse_ahead(mine, load, &tx, &spent_rx));
                Queue {
                    rx,
                    ready: VecDeque::new(),
                    spent: spent_tx,
                }
            })
            .collect();
        for (i, path) in paths.iter().enumerate() {
            let queue = &mut queues[i % workers];
            let Some(parsed) = queue.next() else {
                break;
            };
            let source = parsed.source.map_err(|e| (path.clone(), e))?;
            let mut statements = Vec::new();
            let outcome = parsed.stmts.map(|migration| {
                let mut analysis = crate::Analysis {
                    psql_commands: migration.psql_commands,
                    ..history.next(&migration.statements)
                };
                statements = migration.statements;
                config.drop_excluded(&mut analysis);
                analysis
            });
            each(
                &source,
                FileReport {
                    path: path.clone(),
                    outcome,
                },
            );
            // A worker that has finished drops what it is sent back: freed here instead.
            let _ = queue.spent.send((source, statements));
        }
        Ok(())
    })
}

/// One worker's files as analysis takes them: the batches it sent, unpacked in order.
struct Queue<E> {
    rx: mpsc::Receiver<Vec<Parsed<E>>>,
    ready: VecDeque<Parsed<E>>,
    spent: mpsc::Sender<Spent>,
}

impl<E> Queue<E> {
    fn next(&mut self) -> Option<Parsed<E>> {
        if self.ready.is_empty() {
            self.ready.extend(self.rx.recv().ok()?);
        }
        self.ready.pop_front()
    }
}

/// A worker: loads and parses its share of the files in order and sends them in batches,
/// freeing what analysis hands back between files.
fn parse_ahead<'p, E>(
    paths: impl Iterator<Item = &'p String>,
    load: &(impl Fn(&str) -> Result<String, E> + Sync),
    tx: &mpsc::SyncSender<Vec<Parsed<E>>>,
    spent: &mpsc::Receiver<Spent>,
) {
    let mut batch = Vec::new();
    let mut bytes = 0;
    let mut paths = paths.peekable();
    while let Some(path) = paths.next() {
        let source = load(path);
        let stmts = match &source {
            Ok(sql) => autodb_core::sql::parse_migration(sql),
            Err(_) => Ok(autodb_core::sql::Migration::default()),
        };
        bytes += source.as_ref().map_or(0, String::len);
        batch.push(Parsed { source, stmts });
        if batch.len() >= BATCH_FILES || bytes >= BATCH_BYTES || paths.peek().is_none() {
            // A closed channel means the walk stopped: nothing more is wanted.
            if tx.send(std::mem::take(&mut batch)).is_err() {
                return;
            }
            bytes = 0;
        }
        spent.try_iter().for_each(drop);
    }
}

/// The exit code, accumulated file by file so reports need not be kept.
#[derive(Debug, Clone, Copy, Default)]
pub struct Verdict {
    parse_error: bool,
    worst: Option<RiskCategory>,
    refused: bool,
}

impl Verdict {
    pub fn add(&mut self, report: &FileReport) {
        match &report.outcome {
            Err(_) => self.parse_error = true,
            Ok(a) => {
                self.worst = self.worst.max(Some(a.risk_category));
                self.refused |= !a.refused.is_empty();
            }
        }
    }

    /// 2 on a parse error, 1 when a file is riskier than `max_risk` or refused, 0 otherwise.
    pub fn exit_code(&self, max_risk: RiskCategory) -> i32 {
        if self.parse_error {
            return 2;
        }
        i32::from(self.refused || self.worst.is_some_and(|w| w > max_risk))
    }
}

/// [`Verdict::exit_code`] over reports already collected.
pub fn lint_exit_code(reports: &[FileReport], max_risk: RiskCategory) -> i32 {
    let mut verdict = Verdict::default();
    reports.iter().for_each(|r| verdict.add(r));
    verdict.exit_code(max_risk)
}

#[cfg(test)]
mod tests;
