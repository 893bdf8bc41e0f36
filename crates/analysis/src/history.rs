//! A migration history, linted file after file: each file is judged against the schema the
//! earlier files produced, so a column's type, a constraint or an index created three files
//! ago is known (changing `varchar(1024)` to `text` is then not a rewrite, adding a column of
//! a `CHECK`ed domain is a scan).
//!
//! The schema is built in memory from the parsed statements ([`replay`]); nothing runs on a
//! database. A history may start from a known schema: a snapshot saved from the service
//! (with measured sizes, scored as analyze scores them) or a `pg_dump --schema-only` file,
//! replayed like a migration (structure only). Without measured sizes every table the earlier
//! files created counts as of unknown size, as in a plain offline lint — the report says so.
//!
//! Running the earlier files on a sandbox database would know everything PostgreSQL knows
//! (functions, triggers, defaults' volatility); that is a different source for the same
//! [`Baseline`], which is why the baseline is a snapshot and not this module's own type.

mod replay;

use autodb_core::schema::SchemaSnapshot;
use autodb_core::sql::{ParseError, ParsedStatement};

use crate::blast::GraphCache;
use crate::{Analysis, Baseline, Runner};

/// The schema a history has reached, and how much is known about it.
#[derive(Debug, Clone, Default)]
pub struct History {
    schema: SchemaSnapshot,
    sizes_known: bool,
    constrained_domains: Vec<String>,
    runner: Runner,
    graph: GraphCache,
}

impl History {
    /// An empty database: every table is created by the history itself.
    pub fn new(runner: Runner) -> Self {
        Self {
            runner,
            ..Self::default()
        }
    }

    /// Starts from a snapshot saved from the service, with its measured sizes.
    pub fn from_snapshot(schema: SchemaSnapshot, runner: Runner) -> Self {
        Self {
            schema,
            sizes_known: true,
            constrained_domains: Vec::new(),
            runner,
            graph: GraphCache::default(),
        }
    }

    /// Starts from a `pg_dump --schema-only` file, replayed like a migration (sizes unknown).
    pub fn from_dump(sql: &str, runner: Runner) -> Result<Self, ParseError> {
        let mut history = Self::new(runner);
        history.replay(&autodb_core::sql::parse(sql)?);
        Ok(history)
    }

    /// Whether scores use measured table sizes.
    pub fn sizes_known(&self) -> bool {
        self.sizes_known
    }

    /// The schema the history has reached.
    pub fn schema(&self) -> &SchemaSnapshot {
        &self.schema
    }

    /// Analyzes the next file against the schema so far, then folds the file into it.
    pub fn next(&mut self, stmts: &[ParsedStatement]) -> Analysis {
        let analysis = crate::analyze_against(
            stmts,
            &Baseline {
                schema: &self.schema,
                sizes_known: self.sizes_known,
                constrained_domains: &self.constrained_domains,
                graph: &self.graph,
            },
            self.runner,
        );
        self.replay(stmts);
        analysis
    }

    fn replay(&mut self, stmts: &[ParsedStatement]) {
        for stmt in stmts {
            if replay::changes_graph(&self.schema, &stmt.ast) {
                self.graph.clear();
            }
            replay::apply(&mut self.schema, &mut self.constrained_domains, &stmt.ast);
        }
    }
}

#[cfg(test)]
mod tests;
