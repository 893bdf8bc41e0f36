//! The static-analysis engine of autodb: is this migration safe to run on this database?
//!
//! [`analyze`] takes a parsed migration and, when there is one, a snapshot of the target
//! schema, and returns an [`Analysis`]: per statement, the lock it takes on which tables,
//! whether it rewrites or scans them, whether it loses data, whether it can run in a
//! transaction, a 0–100 risk score and the rules' findings with safe alternatives; for the
//! migration, the maximum score and the blast radius along foreign keys and views.
//!
//! The pieces, each pure:
//! - [`catalog`]: what PostgreSQL does for each statement form (facts only);
//! - [`rules`]: what to tell the user, one rule per file;
//! - [`score`]: how much it matters, from the facts and the table sizes;
//! - [`blast`]: who else is affected;
//! - [`lint`]: the offline `autodb lint` report over file contents the caller has read.
//!
//! Without a snapshot (offline lint) table sizes are unknown and scored as medium-sized, so a
//! static verdict errs on the side of caution; with one, the same statement scores low on an
//! empty table and high on a large one.

mod ast;
pub mod blast;
pub mod catalog;
pub mod guard;
pub mod history;
pub mod lint;
pub mod names;
pub mod report;
pub mod rules;
pub mod sandbox_result;
pub mod scope;
pub mod score;
mod state;
pub mod version;

use autodb_core::schema::SchemaSnapshot;
use autodb_core::sql::ParsedStatement;

pub use catalog::LockMode;
pub use guard::{Limits, Refusal};
pub use report::{
    AffectedTable, Analysis, DependentView, Finding, Impact, LockReport, RiskCategory, Severity,
    StatementReport, Transaction,
};
pub use rules::Rule;
pub use version::PostgresVersion;

/// What the analysis may assume about the runner that will apply the migration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Runner {
    /// The runner sets `lock_timeout` before the first statement (autodb's executor does), so
    /// a migration without its own `SET lock_timeout` is not flagged for it.
    pub sets_lock_timeout: bool,
    /// The executor's timeouts, which a migration may tighten but not loosen.
    pub limits: Limits,
    /// Each statement commits on its own instead of the file running in one transaction
    /// (`transaction = false` in `autodb.toml`): locks are not held across statements.
    pub autocommit: bool,
    /// The server's major version (`postgres_version` in `autodb.toml`, or the target's
    /// `server_version_num`); the newest the parser knows by default.
    pub postgres_version: PostgresVersion,
}

/// What a lint of a migration history knows before a file: the schema the earlier files
/// built (or a saved snapshot they start from), whether its sizes are measured, and the
/// domains with a `CHECK` declared so far.
#[derive(Debug, Clone, Copy)]
pub struct Baseline<'a> {
    pub schema: &'a SchemaSnapshot,
    pub sizes_known: bool,
    pub constrained_domains: &'a [String],
    /// The foreign-key and view edges of `schema`, kept while the history does not change
    /// them.
    pub graph: &'a blast::GraphCache,
}

/// Analyzes a parsed migration against an optional snapshot of the target schema, assuming
/// nothing about the runner (as `autodb lint` must).
pub fn analyze(stmts: &[ParsedStatement], snapshot: Option<&SchemaSnapshot>) -> Analysis {
    analyze_for(stmts, snapshot, Runner::default())
}

/// [`analyze`], for a migration that `runner` will apply.
pub fn analyze_for(
    stmts: &[ParsedStatement],
    snapshot: Option<&SchemaSnapshot>,
    runner: Runner,
) -> Analysis {
    let graph = blast::GraphCache::default();
    run(
        stmts,
        state::MigrationState::new(stmts, snapshot),
        runner,
        &graph,
    )
}

/// [`analyze_for`] against what the earlier files of a history established: the structure
/// of `baseline.schema` is known (types, defaults, constraints, indexes); its sizes only when
/// `baseline.sizes_known`, else every existing table counts as of unknown size.
pub fn analyze_against(stmts: &[ParsedStatement], baseline: &Baseline, runner: Runner) -> Analysis {
    let mut state = state::MigrationState::new(stmts, Some(baseline.schema))
        .with_constrained_domains(baseline.constrained_domains);
    state.sizes_known = baseline.sizes_known;
    run(stmts, state, runner, baseline.graph)
}

fn run(
    stmts: &[ParsedStatement],
    mut state: state::MigrationState,
    runner: Runner,
    edges: &blast::GraphCache,
) -> Analysis {
    let snapshot = state.snapshot;
    let sized = snapshot.filter(|_| state.sizes_known);
    let graph = blast::Graph::new(snapshot, edges);
    state.lock_timeout = runner.sets_lock_timeout;
    state.autocommit = runner.autocommit;
    state.postgres_version = runner.postgres_version;
    state.mixes_transactional &= !runner.autocommit;
    let mut statements = Vec::with_capacity(stmts.len());
    let mut direct: Vec<String> = Vec::new();
    let mut blocked: Vec<String> = Vec::new();
    let mut named = scope::Named::default();
    for stmt in stmts {
        let effect = catalog::classify(&stmt.ast, &state);
        named.add(&stmt.ast, &effect);
        let findings = rules::check(&rules::Ctx::new(stmt, &effect, &state));
        let existing: Vec<String> = effect
            .locks
            .iter()
            .filter(|(t, m)| !state.is_new(t) && *m >= LockMode::ShareUpdateExclusive)
            .map(|(t, _)| t.clone())
            .collect();
        let blocking = effect.blocks_reads() || effect.blocks_writes() || effect.destructive;
        let dependents = if blocking {
            graph.dependents(&existing)
        } else {
            0
        };
        let risk_score = score::statement_score(&effect, &state, dependents);
        for t in effect.tables.iter().chain(&existing) {
            if !direct.contains(t) && effect.mode_on(t).is_some_and(|m| m > LockMode::AccessShare) {
                direct.push(t.clone());
            }
        }
        if blocking {
            blocked.extend(
                existing
                    .iter()
                    .filter(|t| !blocked.contains(t))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
        }
        if findings.iter().any(|f| f.rule == Rule::MissingLockTimeout) {
            state.lock_timeout_reported = true;
        }
        state.record(stmt, &effect);
        statements.push(report(stmt, &effect, risk_score, findings));
    }
    let risk_score = statements.iter().map(|s| s.risk_score).max().unwrap_or(0);
    let refused = refusals(stmts, runner.limits);
    let (transactions, atomic) = transactions(stmts);
    let existing_direct: Vec<String> = direct
        .iter()
        .filter(|t| !state.is_new(t))
        .cloned()
        .collect();
    Analysis {
        total_statements: statements.len(),
        risk_score,
        risk_category: RiskCategory::of(risk_score),
        affected_tables: blast::affected_tables(&graph, sized, &direct, &blocked),
        dependent_views: graph.views(&existing_direct),
        statements,
        transactions,
        atomic,
        refused,
        drift_scope: named.scope(&graph),
        psql_commands: Vec::new(),
        postgres_version: runner.postgres_version,
    }
}

/// Every reason autodb will not run the migration as written: the guard's refusals and
/// transaction control it cannot honour, by statement.
pub fn refusals(stmts: &[ParsedStatement], limits: Limits) -> Vec<Refusal> {
    let mut refused = guard::refusals(stmts, limits);
    if let Err(err) = autodb_core::sql::plan(stmts) {
        let i = err.statement_index();
        refused.push(Refusal {
            statement_index: i,
            operation: stmts
                .get(i)
                .map(|s| s.operation.clone())
                .unwrap_or_default(),
            reason: err.to_string(),
            safe_alternative: match err {
                autodb_core::sql::PlanError::NotTransactional(_) => {
                    "Split it into two migrations: the transactional statements, then this \
                     one alone."
                }
                autodb_core::sql::PlanError::TransactionControl(_) => {
                    "Remove transaction control, or wrap the whole migration in one \
                     BEGIN … COMMIT."
                }
            }
            .into(),
        });
        refused.sort_by_key(|r| r.statement_index);
    }
    refused
}

/// The executor's transactions, and whether the whole migration is one.
fn transactions(stmts: &[ParsedStatement]) -> (Vec<Transaction>, bool) {
    match autodb_core::sql::plan(stmts) {
        Ok(plan) => (
            plan.segments
                .iter()
                .map(|s| Transaction {
                    statements: s.statements.clone().collect(),
                    transactional: s.transactional,
                })
                .collect(),
            plan.atomic(),
        ),
        Err(_) => (Vec::new(), false),
    }
}

fn report(
    stmt: &ParsedStatement,
    effect: &catalog::Effect,
    risk_score: u8,
    findings: Vec<Finding>,
) -> StatementReport {
    StatementReport {
        index: stmt.index,
        sql: stmt.sql.clone(),
        operation: stmt.operation.clone(),
        line: stmt.line,
        offset: stmt.offset,
        tables: effect.tables.clone(),
        columns: effect.columns.clone(),
        lock: LockReport {
            mode: effect.strongest(),
            tables: effect.locks.iter().map(|(t, _)| t.clone()).collect(),
            blocks_reads: effect.blocks_reads(),
            blocks_writes: effect.blocks_writes(),
        },
        rewrites_table: effect.rewrites,
        scans_table: effect.scans,
        destructive: effect.destructive,
        transactional: effect.transactional,
        risk_score,
        risk_category: RiskCategory::of(risk_score),
        findings,
    }
}
