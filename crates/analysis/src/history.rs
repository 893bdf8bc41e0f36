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
//! Running the earlier files on a sandbox database knows everything PostgreSQL knows
//! (functions, triggers, defaults' volatility): `autodb lint --sandbox-url` does, and hands
//! the database's schema after each file to [`History::observed`]. It is a different source
//! for the same [`Baseline`], which is why the baseline is a snapshot and not this module's
//! own type.

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

    /// Replaces the schema reached with what a database that ran every file so far holds
    /// (the sandbox's, introspected). Its tables hold synthetic rows, not production's: the
    /// sizes stay those the history knows (a table it does not know is of unknown size, or
    /// new), and so does whether sizes are known at all.
    pub fn observed(&mut self, mut schema: SchemaSnapshot) {
        for table in &mut schema.tables {
            let known = self
                .schema
                .tables
                .iter()
                .find(|t| t.schema == table.schema && t.name == table.name);
            (table.estimated_rows, table.total_bytes) =
                known.map_or((0, 0), |t| (t.estimated_rows, t.total_bytes));
        }
        self.schema = schema;
        // Foreign keys and views may differ from the replayed ones.
        self.graph.clear();
    }

    fn replay(&mut self, stmts: &[ParsedStatement]) {
        for stmt in stmts {
            let change = replay::graph_change(&self.schema, &stmt.ast);
            replay::apply_statement(&mut self.schema, &mut self.constrained_domains, &stmt.ast);
            match change {
                replay::GraphChange::None => {}
                replay::GraphChange::Tables(names) => {
                    for name in names {
                        self.graph.refresh_table(&self.schema, &name);
                    }
                }
                replay::GraphChange::All => self.graph.clear(),
            }
        }
    }
}

#[cfg(test)]
mod tests;
