//! The lock catalog: what PostgreSQL does when it runs a statement.
//!
//! For every statement form a migration can contain, [`classify`] answers the questions a
//! DBA asks before running it: which lock, on which tables, does it rewrite the table or scan
//! it, does it lose data, can it run in a transaction. The answers follow PostgreSQL's
//! `AlterTableGetLockLevel` and the "Explicit Locking" chapter of the docs; `docs/analysis.md`
//! lists them. The catalog states facts only; the rules (`crate::rules`) decide what to tell
//! the user and `crate::score` how much it matters.
//!
//! A statement form the catalog does not know is reported with `known: false`, never as
//! harmless.

mod alter;
pub mod behaviour;
pub mod body;
pub mod calls;
#[doc(hidden)]
pub mod cases;
pub mod disruption;
mod dml;
mod features;
mod maintenance;
mod other;
mod tables;
mod types;

use serde::{Serialize, Serializer};

use crate::state::MigrationState;
use pg_query::NodeEnum;

pub use disruption::{
    disruptive_calls, is_system_catalog, restricts_role, written_system_catalogs, Disruption,
    DisruptiveCall,
};
pub use dml::narrows;
pub use features::{features, Feature};
pub use types::{binary_coercible, Coercion};

/// PostgreSQL's table lock modes, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LockMode {
    AccessShare,
    RowShare,
    RowExclusive,
    ShareUpdateExclusive,
    Share,
    ShareRowExclusive,
    Exclusive,
    AccessExclusive,
}

impl LockMode {
    pub fn name(self) -> &'static str {
        match self {
            Self::AccessShare => "ACCESS SHARE",
            Self::RowShare => "ROW SHARE",
            Self::RowExclusive => "ROW EXCLUSIVE",
            Self::ShareUpdateExclusive => "SHARE UPDATE EXCLUSIVE",
            Self::Share => "SHARE",
            Self::ShareRowExclusive => "SHARE ROW EXCLUSIVE",
            Self::Exclusive => "EXCLUSIVE",
            Self::AccessExclusive => "ACCESS EXCLUSIVE",
        }
    }

    /// Only ACCESS EXCLUSIVE conflicts with the ACCESS SHARE lock every `SELECT` takes.
    pub fn blocks_reads(self) -> bool {
        self == Self::AccessExclusive
    }

    /// SHARE and stronger conflict with the ROW EXCLUSIVE lock of `INSERT`/`UPDATE`/`DELETE`.
    pub fn blocks_writes(self) -> bool {
        self >= Self::Share
    }

    /// The numbering of `lockdefs.h`, which `LockStmt.mode` uses.
    pub fn from_pg(mode: i32) -> Option<Self> {
        Some(match mode {
            1 => Self::AccessShare,
            2 => Self::RowShare,
            3 => Self::RowExclusive,
            4 => Self::ShareUpdateExclusive,
            5 => Self::Share,
            6 => Self::ShareRowExclusive,
            7 => Self::Exclusive,
            8 => Self::AccessExclusive,
            _ => return None,
        })
    }
}

impl Serialize for LockMode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

/// Why a statement rewrites or scans a table, or what else it does that a rule explains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hazard {
    VolatileDefault {
        column: String,
        function: String,
    },
    /// A non-null default on a new column, which PostgreSQL before 11 writes into every row.
    DefaultBeforeFastDefault {
        column: String,
    },
    SerialColumn {
        column: String,
    },
    IdentityColumn {
        column: String,
    },
    StoredGenerated {
        column: String,
    },
    ConstrainedDomain {
        column: String,
        domain: String,
    },
    TypeChange {
        column: String,
        from: Option<String>,
        to: String,
        coercion: Coercion,
    },
    SetExpression {
        column: String,
    },
    SetPersistence {
        logged: bool,
    },
    SetTablespace,
    SetAccessMethod,
}

/// What one statement does, as far as locks and table work go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effect {
    /// False for statement forms the catalog has no entry for.
    pub known: bool,
    /// Each table locked and the strongest mode taken on it.
    pub locks: Vec<(String, LockMode)>,
    /// The tables the statement works on (whose size decides how long it takes).
    pub tables: Vec<String>,
    pub columns: Vec<String>,
    pub rewrites: bool,
    pub scans: bool,
    /// Loses data: rows, columns or tables that cannot be recovered by rolling back later.
    pub destructive: bool,
    /// The data loss follows foreign keys to tables the statement does not name
    /// (`TRUNCATE … CASCADE`).
    pub cascades: bool,
    /// Breaks running application code that uses the old name or shape (renames).
    pub breaks_clients: bool,
    pub transactional: bool,
    /// Row-locks every row of the table (UPDATE/DELETE without WHERE): writers wait as if
    /// the table were write-locked.
    pub locks_all_rows: bool,
    /// Takes ACCESS EXCLUSIVE on an index, which blocks the planning of any query on its
    /// table even though the table lock itself allows reads (REINDEX).
    pub blocks_reads_via_index: bool,
    /// A lock taken on tables the statement does not name (`ALTER DOMAIN … ADD CONSTRAINT`
    /// locks every table using the domain; `REINDEX SCHEMA`, `VACUUM FULL` without a table).
    pub unnamed_tables_lock: Option<LockMode>,
    /// The locked relation takes no writes (a materialized view), so a write-blocking lock
    /// on it blocks nobody but other refreshes.
    pub read_only_target: bool,
    pub hazards: Vec<Hazard>,
    /// What the statement does to privileges, roles, the server, its databases or its other
    /// sessions: the damage no table lock or lost row measures.
    pub disruptions: Vec<Disruption>,
    /// Tables every row of which the statement deletes or overwrites (DML whose `WHERE`
    /// does not narrow, with the partitions, inheritance children and `ON DELETE CASCADE`
    /// neighbours it reaches).
    pub every_row: Vec<String>,
    /// Tables whose rows a `DELETE` removes through `ON DELETE CASCADE` foreign keys.
    pub cascade_deletes: Vec<String>,
    /// The longest `pg_sleep` the statement calls: every lock the transaction holds is held
    /// that much longer.
    pub sleep_ms: Option<u64>,
}

impl Effect {
    fn new(transactional: bool) -> Self {
        Self {
            known: true,
            locks: Vec::new(),
            tables: Vec::new(),
            columns: Vec::new(),
            rewrites: false,
            scans: false,
            destructive: false,
            cascades: false,
            breaks_clients: false,
            transactional,
            locks_all_rows: false,
            blocks_reads_via_index: false,
            unnamed_tables_lock: None,
            read_only_target: false,
            hazards: Vec::new(),
            disruptions: Vec::new(),
            every_row: Vec::new(),
            cascade_deletes: Vec::new(),
            sleep_ms: None,
        }
    }

    /// Records a lock, keeping the strongest mode per table.
    pub(crate) fn lock(&mut self, table: &str, mode: LockMode) {
        match self.locks.iter_mut().find(|(t, _)| t == table) {
            Some((_, held)) => *held = (*held).max(mode),
            None => self.locks.push((table.to_string(), mode)),
        }
    }

    pub(crate) fn target(&mut self, table: &str, mode: LockMode) {
        if !self.tables.iter().any(|t| t == table) {
            self.tables.push(table.to_string());
        }
        self.lock(table, mode);
    }

    pub(crate) fn column(&mut self, column: &str) {
        if !column.is_empty() && !self.columns.iter().any(|c| c == column) {
            self.columns.push(column.to_string());
        }
    }

    /// The strongest lock the statement takes on any table.
    pub fn strongest(&self) -> Option<LockMode> {
        self.locks
            .iter()
            .map(|(_, m)| *m)
            .chain(self.unnamed_tables_lock)
            .max()
    }

    pub fn blocks_reads(&self) -> bool {
        self.blocks_reads_via_index || self.strongest().is_some_and(LockMode::blocks_reads)
    }

    pub fn blocks_writes(&self) -> bool {
        self.locks_all_rows || self.strongest().is_some_and(LockMode::blocks_writes)
    }

    pub fn mode_on(&self, table: &str) -> Option<LockMode> {
        self.locks.iter().find(|(t, _)| t == table).map(|(_, m)| *m)
    }
}

/// Classifies one statement. `state` supplies what the snapshot and the earlier statements
/// of the migration tell about the objects it names.
pub fn classify(ast: &NodeEnum, state: &MigrationState) -> Effect {
    let mut effect = Effect::new(autodb_core::sql::is_transactional(ast));
    match ast {
        NodeEnum::AlterTableStmt(s) => alter::alter_table(s, state, &mut effect),
        other => other::classify(other, state, &mut effect),
    }
    dml::classify(ast, state, &mut effect);
    calls::classify(ast, state, &mut effect);
    disruption::classify(ast, state, &mut effect);
    effect
}

#[cfg(test)]
mod tests;
