//! What a sandbox run observed, and what it does to the verdict.
//!
//! The service runs the migration on a throwaway clone of the schema filled with synthetic
//! rows (`autodb::sandbox`) and records, per statement, how long it ran, the table locks its
//! session held and the tables whose `relfilenode` changed. This module is the pure half: the
//! result's shape (the `sandbox_result` of the analyze report), the production lock-time
//! estimate from runs at two sizes, and how the observations change the scores:
//!
//! ```text
//! failed run          → the failing statement (and so the migration) is at least high (50)
//! observed lock       → stronger than the catalog predicted on an existing table: at least
//!                       medium (25) if it blocks writes, high (50) if it blocks reads
//! observed rewrite    → not predicted: at least high (50)
//! lock time           → 25 × log10(estimated_lock_ms / 10), clamped to 0–90, times 1.0 for
//!                       a read-blocking lock, 0.7 for a write-blocking one, 0 otherwise:
//!                       100 ms → 25, 1 s → 50, 10 s → 75 for ACCESS EXCLUSIVE
//! ```
//!
//! Every raise comes with a `sandbox-observed` finding that says what was seen.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use crate::catalog::LockMode;
use crate::report::{Analysis, Finding, Severity};
use crate::rules::Rule;

/// The least score of a statement that failed in the sandbox.
pub const FAILED_FLOOR: u8 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SandboxStatus {
    Passed,
    Failed,
    /// Not run: no sandbox server, `?sandbox=false`, or the server could not be used. The
    /// reason says which; a skipped run never counts as a pass.
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SandboxResult {
    pub status: SandboxStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub passed: bool,
    pub migration_applied: bool,
    pub migration_error: Option<MigrationError>,
    /// Tables in the clone.
    pub tables_created: usize,
    /// Synthetic rows in the clone before the migration ran.
    pub rows_inserted: u64,
    pub validation_results: Vec<ValidationResult>,
    pub duration_ms: u64,
    /// The sandbox server's version, e.g. `15.4`.
    pub server_version: Option<String>,
    /// Set when the sandbox's major version differs from the target database's: what ran
    /// there may behave differently in production.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_note: Option<String>,
    /// Whether the clone came from the template cache.
    pub cached_clone: bool,
    pub statements: Vec<ObservedStatement>,
}

impl SandboxResult {
    pub fn skipped(reason: impl Into<String>) -> Self {
        Self {
            status: SandboxStatus::Skipped,
            reason: Some(reason.into()),
            passed: false,
            migration_applied: false,
            migration_error: None,
            tables_created: 0,
            rows_inserted: 0,
            validation_results: vec![],
            duration_ms: 0,
            server_version: None,
            version_note: None,
            cached_clone: false,
            statements: vec![],
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MigrationError {
    pub statement_index: usize,
    pub sqlstate: Option<String>,
    pub message: String,
    /// 1-based character position in the whole migration, when PostgreSQL gave one.
    pub position: Option<usize>,
    pub line: Option<usize>,
    pub column: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationResult {
    pub query: String,
    pub passed: bool,
    pub error: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ObservedStatement {
    pub index: usize,
    /// Wall time in the sandbox at `rows_per_table` rows.
    pub duration_ms: f64,
    /// Table locks the statement's session took that it did not hold before (for a
    /// statement in a transaction they are held until COMMIT).
    pub observed_locks: Vec<ObservedLock>,
    /// Tables whose `relfilenode` the statement changed: their data was rewritten.
    pub rewritten_tables: Vec<String>,
    /// Extrapolated to the production row counts; `null` when there is nothing to
    /// extrapolate from (the statement did not run at both sizes).
    pub estimated_duration_ms: Option<u64>,
    /// How long production would hold this statement's locks: its own estimated duration
    /// and, in a transaction, that of every statement after it up to COMMIT.
    pub estimated_lock_ms: Option<u64>,
    /// Set when the statement was not run in the sandbox, with the reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_run: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedLock {
    pub table: String,
    #[serde(serialize_with = "mode_name")]
    pub mode: LockMode,
}

fn mode_name<S: Serializer>(mode: &LockMode, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(mode.name())
}

/// `pg_locks.mode` (`AccessExclusiveLock`, …) as a [`LockMode`].
pub fn lock_mode_from_pg_locks(mode: &str) -> Option<LockMode> {
    Some(match mode {
        "AccessShareLock" => LockMode::AccessShare,
        "RowShareLock" => LockMode::RowShare,
        "RowExclusiveLock" => LockMode::RowExclusive,
        "ShareUpdateExclusiveLock" => LockMode::ShareUpdateExclusive,
        "ShareLock" => LockMode::Share,
        "ShareRowExclusiveLock" => LockMode::ShareRowExclusive,
        "ExclusiveLock" => LockMode::Exclusive,
        "AccessExclusiveLock" => LockMode::AccessExclusive,
        _ => return None,
    })
}

/// One statement's timing at two sandbox sizes, for [`extrapolate`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timing {
    /// Rows in the largest table the statement works on, and its duration there.
    pub small: (f64, f64),
    pub large: (f64, f64),
}

/// A straight line through the two timings, evaluated at `rows` (the production row count
/// of the statement's largest table): statements that scan, rewrite or index a table take
/// time proportional to its rows, plus a fixed cost. A negative slope (noise) counts as
/// flat; the estimate is never below the smaller run's duration.
pub fn extrapolate(timing: Timing, rows: f64) -> f64 {
    let (n1, d1) = timing.small;
    let (n2, d2) = timing.large;
    if n2 <= n1 || rows <= n1 {
        return d1.max(0.0);
    }
    let slope = ((d2 - d1) / (n2 - n1)).max(0.0);
    (d1 + slope * (rows - n1)).max(d1)
}

/// Estimated lock time for each statement of one transaction: a lock taken by statement
/// `i` is held from its start to COMMIT, so it is `i`'s duration plus all that follow.
pub fn lock_times(durations: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; durations.len()];
    let mut tail = 0.0;
    for (i, d) in durations.iter().enumerate().rev() {
        tail += d;
        out[i] = tail;
    }
    out
}

/// The score an estimated lock time is worth (see the module doc).
pub fn lock_time_score(mode: LockMode, lock_ms: u64) -> u8 {
    let weight = if mode.blocks_reads() {
        1.0
    } else if mode.blocks_writes() {
        0.7
    } else {
        return 0;
    };
    let base = (25.0 * ((lock_ms.max(1) as f64) / 10.0).log10()).clamp(0.0, 90.0);
    (base * weight).round() as u8
}

/// Applies what the sandbox saw to the analysis: raised scores with a finding each, and the
/// migration's score and category recomputed. `new_tables` are the tables the migration
/// itself creates (locks on them hurt nobody).
pub fn apply_observations(analysis: &mut Analysis, result: &SandboxResult, new_tables: &[String]) {
    if result.status == SandboxStatus::Skipped {
        return;
    }
    let observed: BTreeMap<usize, &ObservedStatement> =
        result.statements.iter().map(|o| (o.index, o)).collect();
    for stmt in &mut analysis.statements {
        let raise = |score: u8, message: String, stmt: &mut crate::report::StatementReport| {
            stmt.raise_score(score);
            stmt.findings.push(Finding {
                rule: Rule::SandboxObserved,
                severity: if score >= 50 {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                message,
                safe_alternative: None,
            });
        };
        if let Some(err) = result
            .migration_error
            .as_ref()
            .filter(|e| e.statement_index == stmt.index)
        {
            raise(
                FAILED_FLOOR,
                format!(
                    "failed in the sandbox{}: {}; it would fail the same way in production if \
                     the data there is like the sandbox's",
                    err.sqlstate
                        .as_deref()
                        .map(|s| format!(" (SQLSTATE {s})"))
                        .unwrap_or_default(),
                    err.message
                ),
                stmt,
            );
        }
        let Some(seen) = observed.get(&stmt.index) else {
            continue;
        };
        let existing = |t: &String| !new_tables.contains(t);
        let predicted = stmt.lock.mode;
        for lock in seen.observed_locks.iter().filter(|l| existing(&l.table)) {
            let stronger = predicted.is_none_or(|p| lock.mode > p)
                || (!stmt.lock.tables.contains(&lock.table) && lock.mode > LockMode::RowExclusive);
            if !stronger || lock.mode <= LockMode::RowExclusive {
                continue;
            }
            let floor = if lock.mode.blocks_reads() {
                50
            } else if lock.mode.blocks_writes() {
                25
            } else {
                continue;
            };
            raise(
                floor,
                format!(
                    "the sandbox saw {} on `{}`, stronger than the {} predicted",
                    lock.mode.name(),
                    lock.table,
                    predicted.map_or("no lock".to_string(), |p| format!("{} lock", p.name()))
                ),
                stmt,
            );
        }
        let unpredicted: Vec<&String> = seen
            .rewritten_tables
            .iter()
            .filter(|t| existing(t))
            .collect();
        if !stmt.rewrites_table && !unpredicted.is_empty() && stmt.operation != "TRUNCATE" {
            raise(
                50,
                format!(
                    "the sandbox saw {} rewritten, which the analysis did not predict",
                    unpredicted
                        .iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                stmt,
            );
        }
        if let Some(lock_ms) = seen.estimated_lock_ms {
            let strongest = seen
                .observed_locks
                .iter()
                .filter(|l| existing(&l.table))
                .map(|l| l.mode)
                .max();
            if let Some(mode) = strongest {
                let score = lock_time_score(mode, lock_ms);
                if score > stmt.risk_score {
                    raise(
                        score,
                        format!(
                            "estimated to hold {} for about {} in production (from timings \
                             in the sandbox at two sizes, extrapolated to the table's rows)",
                            mode.name(),
                            human_ms(lock_ms)
                        ),
                        stmt,
                    );
                }
            }
        }
    }
    analysis.recompute_total();
}

fn human_ms(ms: u64) -> String {
    match ms {
        m if m >= 60_000 => format!("{:.1} min", m as f64 / 60_000.0),
        m if m >= 1_000 => format!("{:.1} s", m as f64 / 1_000.0),
        m => format!("{m} ms"),
    }
}

#[cfg(test)]
mod tests;
