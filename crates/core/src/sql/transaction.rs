//! Which statements run in which transaction: one decision shared by the analysis report,
//! the executor and the sandbox.
//!
//! autodb owns the transaction. A migration may wrap itself in one `BEGIN … COMMIT` (it then
//! asks for all-or-nothing, which is what the executor does anyway); any other transaction
//! control is refused. Statements PostgreSQL refuses to run inside a transaction block
//! (`CREATE INDEX CONCURRENTLY`, `VACUUM`, …) split an unwrapped migration into
//! [`Segment`]s, each committed on its own, and make a wrapped one impossible as written.

use std::ops::Range;

use pg_query::protobuf::{ReindexObjectType, TransactionStmtKind};
use pg_query::NodeEnum;

use super::ParsedStatement;

/// The transaction-control statements a migration may wrap itself in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxControl {
    /// `BEGIN` / `START TRANSACTION`.
    Begin,
    /// `COMMIT` / `END`.
    Commit,
    /// `ROLLBACK`, `SAVEPOINT`, `RELEASE`, `PREPARE TRANSACTION`, …
    Other,
}

pub fn tx_control(ast: &NodeEnum) -> Option<TxControl> {
    let NodeEnum::TransactionStmt(t) = ast else {
        return None;
    };
    Some(match t.kind() {
        TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart => {
            TxControl::Begin
        }
        TransactionStmtKind::TransStmtCommit => TxControl::Commit,
        _ => TxControl::Other,
    })
}

/// Checks that transaction control, if any, is one `BEGIN … COMMIT` around the whole
/// migration: the runner owns the transaction, and a `COMMIT` or `ROLLBACK` in the middle
/// would end it early. On success, returns the indexes of the wrapper statements (to skip);
/// on failure, the index of the first statement that breaks the shape.
pub fn transaction_wrapper(statements: &[ParsedStatement]) -> Result<Vec<usize>, usize> {
    let controls: Vec<(usize, TxControl)> = statements
        .iter()
        .enumerate()
        .filter_map(|(i, s)| tx_control(&s.ast).map(|c| (i, c)))
        .collect();
    let last = statements.len().saturating_sub(1);
    match controls.as_slice() {
        [] => Ok(vec![]),
        [(0, TxControl::Begin), (end, TxControl::Commit)] if *end == last => Ok(vec![0, last]),
        // The first control statement that breaks the shape.
        [(0, TxControl::Begin), rest @ ..] => Err(rest.first().map_or(0, |(j, _)| *j)),
        [(i, _), ..] => Err(*i),
    }
}

fn has_option(options: &[pg_query::protobuf::Node], name: &str) -> bool {
    options
        .iter()
        .any(|o| matches!(&o.node, Some(NodeEnum::DefElem(d)) if d.defname == name))
}

/// Whether PostgreSQL accepts the statement inside a transaction block. Checked against the
/// server statement form by statement form (`tests/api/what_runs.rs`).
///
/// One case depends on the schema, not the text: `CLUSTER` of a partitioned table is refused
/// in a transaction block; the text alone cannot say, and the server's refusal then fails the
/// migration (and the sandbox run) cleanly.
pub fn is_transactional(ast: &NodeEnum) -> bool {
    match ast {
        NodeEnum::IndexStmt(s) => !s.concurrent,
        NodeEnum::DropStmt(s) => !s.concurrent,
        NodeEnum::ReindexStmt(s) => {
            !has_option(&s.params, "concurrently")
                && matches!(
                    s.kind(),
                    ReindexObjectType::ReindexObjectIndex | ReindexObjectType::ReindexObjectTable
                )
        }
        NodeEnum::VacuumStmt(s) => !s.is_vacuumcmd,
        // A bare CLUSTER re-clusters every clustered table, one transaction each.
        NodeEnum::ClusterStmt(s) => s.relation.is_some(),
        NodeEnum::AlterDatabaseStmt(s) => !has_option(&s.options, "tablespace"),
        NodeEnum::DiscardStmt(s) => s.target() != pg_query::protobuf::DiscardMode::DiscardAll,
        NodeEnum::CreateSubscriptionStmt(_)
        | NodeEnum::DropSubscriptionStmt(_)
        | NodeEnum::CreatedbStmt(_)
        | NodeEnum::DropdbStmt(_)
        | NodeEnum::AlterSystemStmt(_)
        | NodeEnum::CreateTableSpaceStmt(_)
        | NodeEnum::DropTableSpaceStmt(_) => false,
        NodeEnum::TransactionStmt(t) => !matches!(
            t.kind(),
            TransactionStmtKind::TransStmtCommitPrepared
                | TransactionStmtKind::TransStmtRollbackPrepared
        ),
        NodeEnum::AlterTableStmt(s) => !s.cmds.iter().any(|c| {
            matches!(&c.node, Some(NodeEnum::AlterTableCmd(cmd))
                if matches!(&cmd.def, Some(d) if matches!(&d.node, Some(NodeEnum::PartitionCmd(p)) if p.concurrent)))
        }),
        _ => true,
    }
}

/// Consecutive statements that share a transaction, or one that must run alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Indexes into the migration's statements.
    pub statements: Range<usize>,
    pub transactional: bool,
}

/// How the executor will run a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The indexes of an outer `BEGIN` / `COMMIT`, which are not sent.
    pub wrapper: Vec<usize>,
    pub segments: Vec<Segment>,
}

impl Plan {
    /// All or nothing: one transaction holds every statement.
    pub fn atomic(&self) -> bool {
        self.segments.len() <= 1 && self.segments.iter().all(|s| s.transactional)
    }

    /// The number of statements that are sent (the wrapper is not).
    pub fn sent(&self) -> usize {
        self.segments.iter().map(|s| s.statements.len()).sum()
    }
}

/// Why a migration cannot run as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "statement {} controls the transaction; autodb runs the migration in its own \
         transaction: remove transaction control, or wrap the whole migration in one \
         BEGIN … COMMIT", .0 + 1
    )]
    TransactionControl(usize),
    #[error(
        "statement {} cannot run inside a transaction block, but the migration is wrapped in \
         BEGIN … COMMIT and so asks for all or nothing; split it into two migrations: one \
         with the transactional statements, then one with this statement alone", .0 + 1
    )]
    NotTransactional(usize),
}

impl PlanError {
    pub fn statement_index(&self) -> usize {
        match self {
            Self::TransactionControl(i) | Self::NotTransactional(i) => *i,
        }
    }
}

/// Groups the statements into the transactions the executor will run.
pub fn plan(statements: &[ParsedStatement]) -> Result<Plan, PlanError> {
    let wrapper = transaction_wrapper(statements).map_err(PlanError::TransactionControl)?;
    let mut segments: Vec<Segment> = Vec::new();
    for (i, statement) in statements.iter().enumerate() {
        if wrapper.contains(&i) {
            continue;
        }
        let transactional = is_transactional(&statement.ast);
        if !transactional && !wrapper.is_empty() {
            return Err(PlanError::NotTransactional(i));
        }
        match segments.last_mut() {
            Some(seg) if transactional && seg.transactional => seg.statements.end = i + 1,
            _ => segments.push(Segment {
                statements: i..i + 1,
                transactional,
            }),
        }
    }
    Ok(Plan { wrapper, segments })
}
