//! What the earlier statements of a migration established, as later statements see it.
//!
//! Analysis is a left-to-right walk: a table created three statements ago is empty (so
//! indexing it is harmless), a `SET lock_timeout` protects what follows, a lock taken inside
//! the current transaction is still held. The walk assumes autodb's executor: without an
//! explicit `BEGIN`, the migration's transactional statements run in one transaction and a
//! statement that cannot run in a transaction runs alone, between commits.

use std::collections::{HashMap, HashSet};

use autodb_core::schema::model::{ConstraintKind, Table, TableKind};
use autodb_core::schema::{qualified, SchemaSnapshot};
use autodb_core::sql::ParsedStatement;
use pg_query::protobuf::{AlterTableType, ConstrType, TransactionStmtKind};
use pg_query::NodeEnum;

use crate::ast::{self, TypeSpec};
use crate::catalog::body::Body;
use crate::catalog::{Effect, LockMode};
use crate::PostgresVersion;

#[derive(Debug, Clone)]
pub struct MigrationState<'a> {
    pub snapshot: Option<&'a SchemaSnapshot>,
    /// The snapshot's row counts and sizes are measured. A schema replayed from earlier
    /// migration files knows structure only: its tables count as of unknown size.
    pub sizes_known: bool,
    /// Each statement commits on its own (a runner that does not wrap a file in a
    /// transaction): locks end with the statement that took them.
    pub autocommit: bool,
    /// The server the migration will run on: some locks, rewrites and statement forms
    /// depend on its release.
    pub postgres_version: PostgresVersion,
    pub statement_count: usize,
    /// The migration has both statements that need a transaction and statements that cannot
    /// run in one, so it cannot be applied atomically.
    pub mixes_transactional: bool,
    created_tables: HashSet<String>,
    /// Tables created `PARTITION BY` earlier in this migration.
    created_partitioned: HashSet<String>,
    created_indexes: HashMap<String, String>,
    /// Views (re)defined earlier in this migration, temporary ones included, and the
    /// relations their queries read.
    view_sources: HashMap<String, Vec<String>>,
    constrained_domains: HashSet<String>,
    column_types: HashMap<(String, String), TypeSpec>,
    /// The index of a `BEGIN` that no `COMMIT`/`ROLLBACK` closes.
    pub unclosed_begin: Option<usize>,
    /// Inside an explicit `BEGIN … COMMIT`.
    pub explicit_tx: bool,
    pub lock_timeout: bool,
    /// The missing-lock-timeout rule speaks once per migration.
    pub lock_timeout_reported: bool,
    /// Existing tables on which the current transaction holds ACCESS EXCLUSIVE.
    pub access_exclusive: Vec<String>,
    /// The strongest lock the current transaction holds on each table, stronger than ROW
    /// EXCLUSIVE, in the order they were taken.
    pub held: Vec<(String, LockMode)>,
    /// `(table, constraint)` added `NOT VALID` in the current transaction.
    pub not_valid: Vec<(String, String)>,
    /// ALTER TABLE statements per table in the current transaction.
    pub alters: HashMap<String, usize>,
    /// Tables that got a validated CHECK constraint in this migration (ATTACH PARTITION can
    /// use it; PostgreSQL ignores one still NOT VALID).
    pub checked_tables: HashSet<String>,
    /// `(table, constraint)` CHECKs added NOT VALID in this migration and not validated yet.
    unvalidated_checks: HashSet<(String, String)>,
    /// Functions created earlier in this migration, by qualified name, with their bodies.
    created_functions: HashMap<String, Body>,
    /// Sequences created earlier in this migration (`CREATE SEQUENCE`, and the sequences of
    /// serial columns of tables it created, `table_column_seq`).
    created_sequences: HashSet<String>,
    /// Existing tables whose rows the current transaction has written or row-locked (DML,
    /// `SELECT … FOR UPDATE`): their writers wait until COMMIT.
    pub row_locks: Vec<String>,
}

impl<'a> MigrationState<'a> {
    pub fn new(stmts: &[ParsedStatement], snapshot: Option<&'a SchemaSnapshot>) -> Self {
        let real: Vec<&ParsedStatement> = stmts
            .iter()
            .filter(|s| {
                !matches!(
                    s.ast,
                    NodeEnum::TransactionStmt(_) | NodeEnum::VariableSetStmt(_)
                )
            })
            .collect();
        let non_tx = real
            .iter()
            .filter(|s| !autodb_core::sql::is_transactional(&s.ast))
            .count();
        let mut unclosed_begin = None;
        for s in stmts {
            if let NodeEnum::TransactionStmt(t) = &s.ast {
                match t.kind() {
                    TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart => {
                        unclosed_begin = Some(s.index);
                    }
                    TransactionStmtKind::TransStmtCommit
                    | TransactionStmtKind::TransStmtRollback => {
                        unclosed_begin = None;
                    }
                    _ => {}
                }
            }
        }
        Self {
            snapshot,
            sizes_known: true,
            autocommit: false,
            postgres_version: PostgresVersion::default(),
            unclosed_begin,
            statement_count: stmts.len(),
            mixes_transactional: non_tx > 0 && real.len() > non_tx,
            created_tables: HashSet::new(),
            created_partitioned: HashSet::new(),
            created_indexes: HashMap::new(),
            view_sources: HashMap::new(),
            constrained_domains: HashSet::new(),
            column_types: HashMap::new(),
            explicit_tx: false,
            lock_timeout: false,
            lock_timeout_reported: false,
            access_exclusive: Vec::new(),
            held: Vec::new(),
            not_valid: Vec::new(),
            alters: HashMap::new(),
            checked_tables: HashSet::new(),
            unvalidated_checks: HashSet::new(),
            created_functions: HashMap::new(),
            created_sequences: HashSet::new(),
            row_locks: Vec::new(),
        }
    }

    /// The tables a write to `name` reaches when `name` is a view — defined earlier in this
    /// migration (a temporary one too) or in the snapshot — following views of views: an
    /// `UPDATE` or `DELETE` on an updatable view changes its base table. Empty for a table.
    pub fn written_through(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut todo = vec![name.to_string()];
        while let Some(next) = todo.pop() {
            if !seen.insert(next.clone()) {
                continue;
            }
            let sources = match self.view_sources.get(&next) {
                Some(sources) => Some(sources.clone()),
                None => self.snapshot.and_then(|s| {
                    s.views
                        .iter()
                        .find(|v| !v.materialized && v.qualified_name() == next)
                        .map(|v| v.depends_on.clone())
                }),
            };
            match sources {
                Some(sources) => todo.extend(sources),
                None if next != name => out.push(next),
                None => {}
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// Created earlier in this migration, hence empty and unseen by other sessions.
    pub fn is_new(&self, table: &str) -> bool {
        self.created_tables.contains(table)
    }

    pub fn table(&self, name: &str) -> Option<&'a Table> {
        self.snapshot?.table(name)
    }

    /// A partitioned table: created `PARTITION BY` in this migration, or one in the snapshot.
    pub fn is_partitioned(&self, name: &str) -> bool {
        self.created_partitioned.contains(name)
            || (!self.is_new(name)
                && self
                    .table(name)
                    .is_some_and(|t| t.kind == TableKind::Partitioned))
    }

    /// The table when its row count and size are measured; `None` when they are unknown.
    pub fn sized_table(&self, name: &str) -> Option<&'a Table> {
        // Asked for every table of every statement: without measured sizes (a lint) the
        // answer is known before the lookup.
        if !self.sizes_known {
            return None;
        }
        self.table(name)
    }

    /// Starts from a history's domains that have a `CHECK` (declared by earlier files).
    pub fn with_constrained_domains(mut self, domains: &[String]) -> Self {
        self.constrained_domains.extend(domains.iter().cloned());
        self
    }

    pub fn index_table(&self, index: &str) -> Option<String> {
        if let Some(t) = self.created_indexes.get(index) {
            return Some(t.clone());
        }
        let (schema, bare) = index.split_once('.').unwrap_or(("public", index));
        self.snapshot?
            .tables
            .iter()
            .find(|t| t.schema == schema && t.indexes.iter().any(|i| i.name == bare))
            .map(Table::qualified_name)
    }

    pub fn column_type(&self, table: &str, column: &str) -> Option<TypeSpec> {
        if let Some(t) = self
            .column_types
            .get(&(table.to_string(), column.to_string()))
        {
            return Some(t.clone());
        }
        let col = self.table(table)?.column(column)?;
        Some(TypeSpec::from_catalog(&col.data_type))
    }

    /// A column added earlier in this migration to a table that existed: it holds only its
    /// default, so overwriting it loses nothing.
    pub fn is_new_column(&self, table: &str, column: &str) -> bool {
        self.column_types
            .contains_key(&(table.to_string(), column.to_string()))
            && self.table(table).and_then(|t| t.column(column)).is_none()
    }

    /// The body of the user's function `schema.name` (unqualified: in the search path's
    /// first schema, `public` unless the snapshot says otherwise): one the migration created
    /// earlier, or one of the snapshot. `None` for every other name (built-ins, extensions'
    /// functions the snapshot does not list).
    pub fn function_body(&self, schema: Option<&str>, name: &str) -> Option<Body> {
        let schemas: Vec<&str> = match schema {
            Some(s) => vec![s],
            None => self
                .snapshot
                .map(|s| s.search_path.iter().map(String::as_str).collect::<Vec<_>>())
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| vec!["public"]),
        };
        for s in &schemas {
            if let Some(body) = self.created_functions.get(&qualified(s, name)) {
                return Some(body.clone());
            }
        }
        let f = self
            .snapshot?
            .functions
            .iter()
            .find(|f| f.name == name && schemas.contains(&f.schema.as_str()))?;
        Some(crate::catalog::calls::body_of_definition(&f.definition))
    }

    /// A sequence created earlier in this migration: nothing has drawn from it yet.
    pub fn is_new_sequence(&self, name: &str) -> bool {
        let name = name.strip_prefix("public.").unwrap_or(name);
        self.created_sequences.contains(name)
    }

    pub fn is_constrained_domain(&self, name: &str) -> bool {
        self.constrained_domains.contains(name)
    }

    /// `Some(referenced)` when the constraint is a known foreign key.
    pub fn foreign_key(&self, table: &str, constraint: &str) -> Option<Option<String>> {
        let t = self.table(table)?;
        t.constraints
            .iter()
            .find(|c| c.name == constraint && c.kind == ConstraintKind::ForeignKey)
            .map(|c| c.references.clone())
    }

    /// Folds one analyzed statement into the state.
    pub fn record(&mut self, stmt: &ParsedStatement, effect: &Effect) {
        if !effect.transactional && !self.explicit_tx {
            self.end_transaction();
        }
        // A statement that cannot run in a transaction commits alone: its locks end with it.
        for (table, mode) in effect.locks.iter().filter(|_| effect.transactional) {
            if *mode > LockMode::RowExclusive {
                match self.held.iter_mut().find(|(t, _)| t == table) {
                    Some((_, held)) => *held = (*held).max(*mode),
                    None => self.held.push((table.clone(), *mode)),
                }
            }
            if *mode == LockMode::AccessExclusive
                && !self.is_new(table)
                && !self.access_exclusive.contains(table)
            {
                self.access_exclusive.push(table.clone());
            }
        }
        for (table, mode) in effect.locks.iter().filter(|_| effect.transactional) {
            if matches!(mode, LockMode::RowShare | LockMode::RowExclusive)
                && !self.is_new(table)
                && !self.row_locks.contains(table)
            {
                self.row_locks.push(table.clone());
            }
        }
        match &stmt.ast {
            NodeEnum::TransactionStmt(t) => match t.kind() {
                TransactionStmtKind::TransStmtBegin | TransactionStmtKind::TransStmtStart => {
                    self.end_transaction();
                    self.explicit_tx = true;
                }
                TransactionStmtKind::TransStmtCommit | TransactionStmtKind::TransStmtRollback => {
                    self.end_transaction();
                    self.explicit_tx = false;
                }
                _ => {}
            },
            NodeEnum::VariableSetStmt(v) if v.name.eq_ignore_ascii_case("lock_timeout") => {
                self.lock_timeout = true;
            }
            NodeEnum::CreateStmt(c) => {
                if let Some(rel) = &c.relation {
                    let table = ast::relation(rel);
                    for elt in &c.table_elts {
                        if let Some(NodeEnum::ColumnDef(cd)) = &elt.node {
                            self.created_sequences
                                .insert(format!("{table}_{}_seq", cd.colname));
                            if let Some(tn) = &cd.type_name {
                                self.column_types.insert(
                                    (table.clone(), cd.colname.clone()),
                                    TypeSpec::from_ast(tn),
                                );
                            }
                        }
                    }
                    if c.partspec.is_some() {
                        self.created_partitioned.insert(table.clone());
                    }
                    self.created_tables.insert(table);
                }
            }
            NodeEnum::CreateSeqStmt(c) => {
                if let Some(rel) = &c.sequence {
                    self.created_sequences.insert(ast::relation(rel));
                }
            }
            NodeEnum::CreateTableAsStmt(c) => {
                if let Some(rel) = c.into.as_ref().and_then(|i| i.rel.as_ref()) {
                    self.created_tables.insert(ast::relation(rel));
                }
            }
            NodeEnum::ViewStmt(v) => {
                if let Some(view) = &v.view {
                    let name = ast::relation(view);
                    let sources = v
                        .query
                        .as_ref()
                        .and_then(|q| q.node.as_ref())
                        .map(read_relations)
                        .unwrap_or_default();
                    self.view_sources.insert(name.clone(), sources);
                    if !v.replace {
                        self.created_tables.insert(name);
                    }
                }
            }
            NodeEnum::IndexStmt(i) => {
                if let Some(rel) = &i.relation {
                    let schema = if rel.schemaname.is_empty() {
                        "public"
                    } else {
                        &rel.schemaname
                    };
                    let name = autodb_core::schema::qualified(schema, &i.idxname);
                    self.created_indexes.insert(name, ast::relation(rel));
                }
            }
            NodeEnum::CreateDomainStmt(d) => {
                let checked = d.constraints.iter().any(|c| {
                    matches!(&c.node, Some(NodeEnum::Constraint(k)) if k.contype() == ConstrType::ConstrCheck)
                });
                if checked {
                    self.constrained_domains.insert(ast::dotted(&d.domainname));
                }
            }
            NodeEnum::AlterTableStmt(a) => self.record_alter(a),
            NodeEnum::CreateFunctionStmt(f) => {
                let name = ast::dotted(&f.funcname);
                self.created_functions
                    .insert(name, crate::catalog::body::of_function(f));
            }
            _ => {}
        }
        if self.autocommit && !self.explicit_tx {
            self.end_transaction();
        }
    }

    fn record_alter(&mut self, a: &pg_query::protobuf::AlterTableStmt) {
        let Some(rel) = &a.relation else { return };
        let table = ast::relation(rel);
        *self.alters.entry(table.clone()).or_default() += 1;
        for cmd in &a.cmds {
            let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
                continue;
            };
            let def = cmd.def.as_ref().and_then(|d| d.node.as_ref());
            match (cmd.subtype(), def) {
                (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(c))) => {
                    if c.skip_validation {
                        self.not_valid.push((table.clone(), c.conname.clone()));
                    }
                    if c.contype() == ConstrType::ConstrCheck {
                        if c.skip_validation {
                            self.unvalidated_checks
                                .insert((table.clone(), c.conname.clone()));
                        } else {
                            self.checked_tables.insert(table.clone());
                        }
                    }
                }
                (AlterTableType::AtValidateConstraint, _) => self.validated(&table, &cmd.name),
                (AlterTableType::AtAddColumn, Some(NodeEnum::ColumnDef(cd))) => {
                    if let Some(tn) = &cd.type_name {
                        self.column_types
                            .insert((table.clone(), cd.colname.clone()), TypeSpec::from_ast(tn));
                    }
                }
                _ => {}
            }
        }
    }

    /// A CHECK added NOT VALID earlier in the migration now proves what it says.
    fn validated(&mut self, table: &str, constraint: &str) {
        if self
            .unvalidated_checks
            .remove(&(table.to_string(), constraint.to_string()))
        {
            self.checked_tables.insert(table.to_string());
        }
    }

    fn end_transaction(&mut self) {
        self.row_locks.clear();
        self.access_exclusive.clear();
        self.held.clear();
        self.not_valid.clear();
        self.alters.clear();
    }
}

/// The relations a query reads (its `FROM` items, subqueries included), without the names
/// of its own common table expressions.
fn read_relations(query: &NodeEnum) -> Vec<String> {
    let nodes = query.nodes();
    let ctes: HashSet<&str> = nodes
        .iter()
        .filter_map(|(node, ..)| match node {
            pg_query::NodeRef::CommonTableExpr(c) => Some(c.ctename.as_str()),
            _ => None,
        })
        .collect();
    let mut out: Vec<String> = nodes
        .iter()
        .filter_map(|(node, ..)| match node {
            pg_query::NodeRef::RangeVar(rv)
                if !(rv.schemaname.is_empty() && ctes.contains(rv.relname.as_str())) =>
            {
                Some(ast::relation(rv))
            }
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog;

    /// The state after every statement of `sql` but the last, which it returns parsed.
    fn state_before_last(sql: &str) -> MigrationState<'static> {
        let stmts = autodb_core::sql::parse(sql).unwrap();
        let mut state = MigrationState::new(&stmts, None);
        for stmt in &stmts[..stmts.len() - 1] {
            let effect = catalog::classify(&stmt.ast, &state);
            state.record(stmt, &effect);
        }
        state
    }

    #[test]
    fn a_write_through_views_reaches_their_tables_only() {
        let state = state_before_last(
            "CREATE VIEW a AS WITH recent AS (SELECT * FROM orders) SELECT * FROM recent;
             CREATE TEMP VIEW b AS SELECT * FROM a JOIN app.customers c USING (id);
             SELECT 1",
        );
        assert_eq!(state.written_through("a"), ["orders"]);
        assert_eq!(state.written_through("b"), ["app.customers", "orders"]);
        assert!(state.written_through("orders").is_empty());
        assert!(state.written_through("recent").is_empty());
    }
}
