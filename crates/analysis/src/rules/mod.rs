//! The rules: what autodb tells the user about a statement, with a safe alternative.
//!
//! One rule per file, each with its own ok/err tests and an insta snapshot of what it says.
//! A rule reads the parse tree, the catalog's [`Effect`] for the statement and the
//! [`MigrationState`] before it; it never decides the score (that is `crate::score`'s job,
//! from the catalog's facts), so a rule can be silenced without hiding a risk.
//!
//! A comment `-- autodb:ignore rule-name` directly above a statement silences that rule for
//! that statement (several names may be listed, separated by commas or spaces).

use std::cell::OnceCell;

use autodb_core::sql::ParsedStatement;
use pg_query::protobuf::{AlterTableCmd, AlterTableType, ColumnDef, Constraint};
use pg_query::NodeEnum;
use serde::{Serialize, Serializer};

use crate::ast;
use crate::catalog::Effect;
use crate::report::{Finding, Severity};
use crate::state::MigrationState;

/// What a rule sees: the statement, what the catalog says it does, and what came before.
pub struct Ctx<'s, 'a> {
    pub stmt: &'s ParsedStatement,
    pub effect: &'s Effect,
    pub state: &'s MigrationState<'a>,
    /// [`Ctx::declared_types`], read by six rules and computed once for all of them.
    declared: OnceCell<Vec<(String, ast::TypeSpec)>>,
}

impl<'s, 'a> Ctx<'s, 'a> {
    pub fn new(
        stmt: &'s ParsedStatement,
        effect: &'s Effect,
        state: &'s MigrationState<'a>,
    ) -> Self {
        Self {
            stmt,
            effect,
            state,
            declared: OnceCell::new(),
        }
    }
}

impl Ctx<'_, '_> {
    /// A table that existed before the migration (and so may hold rows and serve traffic).
    pub fn existing(&self, table: &str) -> bool {
        !self.state.is_new(table)
    }

    /// The `ALTER TABLE` subcommands of the statement with the table they apply to.
    pub fn alter_cmds(&self) -> Vec<(String, &AlterTableCmd)> {
        let NodeEnum::AlterTableStmt(s) = &self.stmt.ast else {
            return vec![];
        };
        let Some(rel) = &s.relation else {
            return vec![];
        };
        let table = ast::relation(rel);
        s.cmds
            .iter()
            .filter_map(|c| match &c.node {
                Some(NodeEnum::AlterTableCmd(cmd)) => Some((table.clone(), cmd.as_ref())),
                _ => None,
            })
            .collect()
    }

    pub fn alter_cmds_of(&self, kind: AlterTableType) -> Vec<(String, &AlterTableCmd)> {
        self.alter_cmds()
            .into_iter()
            .filter(|(_, c)| c.subtype() == kind)
            .collect()
    }

    /// Constraints added by `ADD CONSTRAINT` (`inline: false`) or written on an added column
    /// (`inline: true`), with their table.
    pub fn added_constraints(&self) -> Vec<(String, &Constraint, bool)> {
        let mut out = Vec::new();
        for (table, cmd) in self.alter_cmds() {
            match (
                cmd.subtype(),
                cmd.def.as_ref().and_then(|d| d.node.as_ref()),
            ) {
                (AlterTableType::AtAddConstraint, Some(NodeEnum::Constraint(c))) => {
                    out.push((table, c.as_ref(), false));
                }
                (AlterTableType::AtAddColumn, Some(NodeEnum::ColumnDef(cd))) => {
                    out.extend(ast::column_constraints(cd).map(|c| (table.clone(), c, true)));
                }
                _ => {}
            }
        }
        out
    }

    /// Column types the statement declares: `CREATE TABLE` columns, added columns and
    /// `ALTER COLUMN … TYPE` targets, as `(column, type)`.
    pub fn declared_types(&self) -> &[(String, ast::TypeSpec)] {
        self.declared.get_or_init(|| self.read_declared_types())
    }

    fn read_declared_types(&self) -> Vec<(String, ast::TypeSpec)> {
        let defs: Vec<&ColumnDef> = match &self.stmt.ast {
            NodeEnum::CreateStmt(c) => c
                .table_elts
                .iter()
                .filter_map(|e| match &e.node {
                    Some(NodeEnum::ColumnDef(cd)) => Some(cd.as_ref()),
                    _ => None,
                })
                .collect(),
            _ => self
                .alter_cmds()
                .into_iter()
                .filter(|(_, c)| {
                    matches!(
                        c.subtype(),
                        AlterTableType::AtAddColumn | AlterTableType::AtAlterColumnType
                    )
                })
                .filter_map(
                    |(_, c)| match c.def.as_ref().and_then(|d| d.node.as_ref()) {
                        Some(NodeEnum::ColumnDef(cd)) => Some(cd.as_ref()),
                        _ => None,
                    },
                )
                .collect(),
        };
        let named = |cd: &ColumnDef| {
            // ALTER COLUMN … TYPE leaves the name on the command, not the definition.
            let name = if cd.colname.is_empty() {
                self.effect.columns.first().cloned().unwrap_or_default()
            } else {
                cd.colname.clone()
            };
            cd.type_name
                .as_ref()
                .map(|t| (name, ast::TypeSpec::from_ast(t)))
        };
        defs.into_iter().filter_map(named).collect()
    }

    /// A table's name with its size when the snapshot knows it: `orders (~2.0M rows)`.
    pub fn describe(&self, table: &str) -> String {
        match self.state.sized_table(table) {
            Some(t) if !self.state.is_new(table) => {
                format!("`{table}` (~{} rows)", human(t.estimated_rows))
            }
            _ => format!("`{table}`"),
        }
    }

    /// The first table the statement works on that existed before the migration.
    pub fn existing_target(&self) -> Option<&str> {
        self.effect
            .tables
            .iter()
            .find(|t| self.existing(t))
            .map(String::as_str)
    }
}

fn human(rows: i64) -> String {
    match rows {
        r if r >= 1_000_000 => format!("{:.1}M", r as f64 / 1e6),
        r if r >= 1_000 => format!("{:.1}k", r as f64 / 1e3),
        r => r.to_string(),
    }
}

/// Collects findings, stamping each with its rule's identity and severity.
#[derive(Default)]
pub struct Findings(Vec<Finding>);

impl Findings {
    pub fn push(&mut self, rule: Rule, message: impl Into<String>, safe_alternative: &str) {
        self.push_with(rule, rule.severity(), message, safe_alternative);
    }

    pub fn push_with(
        &mut self,
        rule: Rule,
        severity: Severity,
        message: impl Into<String>,
        safe_alternative: &str,
    ) {
        self.0.push(Finding {
            rule,
            severity,
            message: message.into(),
            safe_alternative: (!safe_alternative.is_empty()).then(|| safe_alternative.to_string()),
        });
    }
}

// Declared one by one, not by the `rules!` macro below, so that tools that read module
// declarations (cargo mutants) see every rule file.
mod adding_exclusion_constraint;
mod adding_field_with_default;
mod adding_foreign_key_constraint;
mod adding_not_nullable_field;
mod adding_primary_key_constraint;
mod adding_required_field;
mod adding_serial_column;
mod adding_stored_generated_column;
mod attach_partition_scan;
mod ban_alter_domain_with_add_constraint;
mod ban_char_field;
mod ban_cluster;
mod ban_create_domain_with_constraint;
mod ban_drop_column;
mod ban_drop_database;
mod ban_drop_not_null;
mod ban_drop_table;
mod ban_drop_view;
mod ban_lock_table;
mod ban_truncate;
mod ban_uncommitted_transaction;
mod ban_vacuum_full;
mod behaviour_change;
mod changing_column_type;
mod concurrent_index_on_partitioned_table;
mod constraint_missing_not_valid;
mod create_extension;
mod cross_database_call;
mod data_loss;
mod database_level;
mod disallowed_unique_constraint;
mod disruptive_function_body;
mod drop_sequence_cascade;
mod holding_access_exclusive;
mod interrupts_backends;
mod missing_lock_timeout;
mod multiple_alter_table;
mod needs_newer_postgres;
mod non_transactional_in_transaction;
mod opaque_call;
mod ownership_change;
mod prefer_bigint_over_int;
mod prefer_identity;
mod prefer_jsonb;
mod prefer_robust_stmts;
mod prefer_text_field;
mod prefer_timestamptz;
mod privilege_change;
mod renaming_column;
mod renaming_enum_value;
mod renaming_schema;
mod renaming_table;
mod replication_slot;
mod require_concurrent_detach;
mod require_concurrent_index_creation;
mod require_concurrent_index_deletion;
mod require_concurrent_refresh;
mod require_concurrent_reindex;
mod rewrites_table;
mod role_change;
mod row_locking_read;
mod sandbox_detection;
mod sandbox_observed;
mod security_definer_dynamic_sql;
mod sequence_restart;
mod sequence_setval;
mod server_configuration;
mod server_side_file;
mod server_side_program;
mod sleep_holding_locks;
mod stats_reset;
mod transaction_nesting;
mod unbounded_dml;
mod unknown_statement;
mod validate_in_same_transaction;
mod wrapped_disruption;
mod writes_system_catalog;

macro_rules! rules {
    ($($variant:ident => $module:ident, $id:literal, $severity:ident;)*) => {
        /// Every rule autodb knows, by its kebab-case identity.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $($variant,)*
        }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            pub fn id(self) -> &'static str {
                match self {
                    $(Rule::$variant => $id,)*
                }
            }

            /// The severity a finding of this rule has unless the rule says otherwise.
            pub fn severity(self) -> Severity {
                match self {
                    $(Rule::$variant => Severity::$severity,)*
                }
            }

            fn run(self, ctx: &Ctx, out: &mut Findings) {
                match self {
                    $(Rule::$variant => $module::check(ctx, out),)*
                }
            }
        }
    };
}

rules! {
    AddingFieldWithDefault => adding_field_with_default, "adding-field-with-default", Error;
    AddingSerialColumn => adding_serial_column, "adding-serial-column", Error;
    AddingStoredGeneratedColumn => adding_stored_generated_column, "adding-stored-generated-column", Error;
    AddingRequiredField => adding_required_field, "adding-required-field", Error;
    AddingNotNullableField => adding_not_nullable_field, "adding-not-nullable-field", Warning;
    AddingForeignKeyConstraint => adding_foreign_key_constraint, "adding-foreign-key-constraint", Error;
    ConstraintMissingNotValid => constraint_missing_not_valid, "constraint-missing-not-valid", Error;
    AddingPrimaryKeyConstraint => adding_primary_key_constraint, "adding-primary-key-constraint", Error;
    DisallowedUniqueConstraint => disallowed_unique_constraint, "disallowed-unique-constraint", Error;
    AddingExclusionConstraint => adding_exclusion_constraint, "adding-exclusion-constraint", Error;
    ChangingColumnType => changing_column_type, "changing-column-type", Error;
    RewritesTable => rewrites_table, "rewrites-table", Error;
    RequireConcurrentIndexCreation => require_concurrent_index_creation, "require-concurrent-index-creation", Error;
    ConcurrentIndexOnPartitionedTable => concurrent_index_on_partitioned_table, "concurrent-index-on-partitioned-table", Error;
    RequireConcurrentIndexDeletion => require_concurrent_index_deletion, "require-concurrent-index-deletion", Warning;
    RequireConcurrentReindex => require_concurrent_reindex, "require-concurrent-reindex", Error;
    RequireConcurrentRefresh => require_concurrent_refresh, "require-concurrent-refresh", Warning;
    RequireConcurrentDetach => require_concurrent_detach, "require-concurrent-detach", Warning;
    AttachPartitionScan => attach_partition_scan, "attach-partition-scan", Warning;
    BanDropColumn => ban_drop_column, "ban-drop-column", Error;
    BanDropTable => ban_drop_table, "ban-drop-table", Error;
    BanDropView => ban_drop_view, "ban-drop-view", Warning;
    BanDropDatabase => ban_drop_database, "ban-drop-database", Error;
    BanDropNotNull => ban_drop_not_null, "ban-drop-not-null", Warning;
    BanTruncate => ban_truncate, "ban-truncate", Error;
    BanVacuumFull => ban_vacuum_full, "ban-vacuum-full", Error;
    BanCluster => ban_cluster, "ban-cluster", Error;
    BanLockTable => ban_lock_table, "ban-lock-table", Warning;
    UnboundedDml => unbounded_dml, "unbounded-dml", Error;
    DataLoss => data_loss, "data-loss", Error;
    OpaqueCall => opaque_call, "opaque-call", Warning;
    WrappedDisruption => wrapped_disruption, "wrapped-disruption", Error;
    DisruptiveFunctionBody => disruptive_function_body, "disruptive-function-body", Warning;
    SecurityDefinerDynamicSql => security_definer_dynamic_sql, "security-definer-dynamic-sql", Error;
    ReplicationSlot => replication_slot, "replication-slot", Error;
    SequenceSetval => sequence_setval, "sequence-setval", Warning;
    SequenceRestart => sequence_restart, "sequence-restart", Warning;
    StatsReset => stats_reset, "stats-reset", Warning;
    DropSequenceCascade => drop_sequence_cascade, "drop-sequence-cascade", Error;
    RenamingEnumValue => renaming_enum_value, "renaming-enum-value", Error;
    CreateExtension => create_extension, "create-extension", Warning;
    RenamingSchema => renaming_schema, "renaming-schema", Error;
    BehaviourChange => behaviour_change, "behaviour-change", Warning;
    SleepHoldingLocks => sleep_holding_locks, "sleep-holding-locks", Error;
    RowLockingRead => row_locking_read, "row-locking-read", Warning;
    BanCreateDomainWithConstraint => ban_create_domain_with_constraint, "ban-create-domain-with-constraint", Warning;
    BanAlterDomainWithAddConstraint => ban_alter_domain_with_add_constraint, "ban-alter-domain-with-add-constraint", Error;
    RenamingColumn => renaming_column, "renaming-column", Warning;
    RenamingTable => renaming_table, "renaming-table", Warning;
    NonTransactionalInTransaction => non_transactional_in_transaction, "non-transactional-in-transaction", Error;
    ValidateInSameTransaction => validate_in_same_transaction, "validate-in-same-transaction", Error;
    TransactionNesting => transaction_nesting, "transaction-nesting", Warning;
    BanUncommittedTransaction => ban_uncommitted_transaction, "ban-uncommitted-transaction", Error;
    MissingLockTimeout => missing_lock_timeout, "missing-lock-timeout", Warning;
    HoldingAccessExclusive => holding_access_exclusive, "holding-access-exclusive", Warning;
    MultipleAlterTable => multiple_alter_table, "multiple-alter-table", Info;
    PreferRobustStmts => prefer_robust_stmts, "prefer-robust-stmts", Warning;
    BanCharField => ban_char_field, "ban-char-field", Info;
    PreferTextField => prefer_text_field, "prefer-text-field", Info;
    PreferBigintOverInt => prefer_bigint_over_int, "prefer-bigint-over-int", Info;
    PreferIdentity => prefer_identity, "prefer-identity", Info;
    PreferTimestamptz => prefer_timestamptz, "prefer-timestamptz", Info;
    PreferJsonb => prefer_jsonb, "prefer-jsonb", Warning;
    PrivilegeChange => privilege_change, "privilege-change", Error;
    RoleChange => role_change, "role-change", Error;
    OwnershipChange => ownership_change, "ownership-change", Warning;
    ServerConfiguration => server_configuration, "server-configuration", Error;
    DatabaseLevel => database_level, "database-level", Error;
    InterruptsBackends => interrupts_backends, "interrupts-backends", Error;
    WritesSystemCatalog => writes_system_catalog, "writes-system-catalog", Error;
    ServerSideProgram => server_side_program, "server-side-program", Error;
    ServerSideFile => server_side_file, "server-side-file", Error;
    CrossDatabaseCall => cross_database_call, "cross-database-call", Warning;
    UnknownStatement => unknown_statement, "unknown-statement", Warning;
    NeedsNewerPostgres => needs_newer_postgres, "needs-newer-postgres", Error;
    SandboxObserved => sandbox_observed, "sandbox-observed", Error;
    SandboxDetection => sandbox_detection, "sandbox-detection", Error;
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for Rule {
    type Err = UnknownRule;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rule::ALL
            .iter()
            .copied()
            .find(|r| r.id() == s)
            .ok_or_else(|| UnknownRule(s.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule `{0}`")]
pub struct UnknownRule(pub String);

/// Runs every rule on one statement, minus those its comments silence.
pub fn check(ctx: &Ctx) -> Vec<Finding> {
    let ignored = ignored_rules(&ctx.stmt.leading_comments);
    let mut out = Findings::default();
    for rule in Rule::ALL {
        if !ignored.contains(&rule.id()) {
            rule.run(ctx, &mut out);
        }
    }
    out.0
}

/// The rule names listed by `autodb:ignore` directives.
fn ignored_rules(comments: &[String]) -> Vec<&str> {
    comments
        .iter()
        .filter_map(|c| c.strip_prefix("autodb:ignore"))
        .flat_map(|rest| rest.split(|ch: char| ch == ',' || ch.is_whitespace()))
        .filter(|name| !name.is_empty())
        .collect()
}

#[cfg(test)]
pub(crate) mod testing;

#[cfg(test)]
mod tests {
    use super::testing::findings;
    use super::*;

    #[test]
    fn rule_ids_are_unique_kebab_case_and_parse_back() {
        let mut seen = std::collections::HashSet::new();
        for rule in Rule::ALL {
            let id = rule.id();
            assert!(seen.insert(id), "duplicate {id}");
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id}"
            );
            assert_eq!(id.parse::<Rule>(), Ok(*rule));
        }
    }

    #[test]
    fn ignore_comment_silences_only_the_named_rule() {
        let sql = "-- autodb:ignore ban-drop-column\nALTER TABLE t DROP COLUMN c;";
        assert!(findings(sql, Rule::BanDropColumn).is_empty());
        assert!(!findings("ALTER TABLE t DROP COLUMN c;", Rule::BanDropColumn).is_empty());
        // The statement is still analyzed by the other rules.
        assert!(!findings(sql, Rule::MissingLockTimeout).is_empty());
    }

    #[test]
    fn ignore_comment_applies_to_the_next_statement_only() {
        let sql = "-- autodb:ignore ban-drop-column\nALTER TABLE t DROP COLUMN a;\nALTER TABLE t DROP COLUMN b;";
        assert_eq!(findings(sql, Rule::BanDropColumn).len(), 1);
    }

    #[test]
    fn human_row_counts() {
        assert_eq!(human(0), "0");
        assert_eq!(human(999), "999");
        assert_eq!(human(1_000), "1.0k");
        assert_eq!(human(999_999), "1000.0k");
        assert_eq!(human(1_000_000), "1.0M");
        assert_eq!(human(2_500_000), "2.5M");
    }

    #[test]
    fn a_table_recreated_in_the_migration_is_described_without_the_old_size() {
        let snap = testing::snapshot(vec![testing::table("orders", 2_000_000, &[("id", "int")])]);
        let sql = "DROP TABLE orders; CREATE TABLE orders (id int); MERGE INTO orders o USING src s ON o.id = s.id WHEN MATCHED THEN DELETE";
        let f = testing::findings_with(sql, Some(&snap), Rule::DataLoss);
        let merge = f.last().expect("the MERGE loses rows");
        assert!(
            merge.message.contains("every row of `orders` its source"),
            "{}",
            merge.message
        );
        assert!(!merge.message.contains("rows)"), "{}", merge.message);
    }
}
