//! `ALTER TABLE` (and `ALTER INDEX`/`VIEW`/`MATERIALIZED VIEW`, which share the statement):
//! one entry per subcommand, after `AlterTableGetLockLevel` in PostgreSQL's `tablecmds.c`.
//! A statement with several subcommands takes the strongest of their locks.

use pg_query::protobuf::{
    AlterTableCmd, AlterTableStmt, AlterTableType, ColumnDef, ConstrType, Constraint, ObjectType,
};
use pg_query::NodeEnum;

use super::{binary_coercible, Coercion, Effect, Hazard, LockMode};
use crate::ast::{self, TypeSpec};
use crate::state::MigrationState;

use LockMode::{AccessExclusive, ShareRowExclusive, ShareUpdateExclusive};

pub(super) fn alter_table(s: &AlterTableStmt, state: &MigrationState, e: &mut Effect) {
    let Some(rel) = &s.relation else {
        e.known = false;
        return;
    };
    let mut table = ast::relation(rel);
    if s.objtype() == ObjectType::ObjectIndex {
        // Work on an index is work on (and a lock against) its table.
        table = state.index_table(&table).unwrap_or(table);
    }
    // The altered table comes first; each subcommand then raises its lock.
    e.target(&table, LockMode::AccessShare);
    for cmd in &s.cmds {
        let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
            e.known = false;
            continue;
        };
        let mode = subcommand(&table, cmd, state, e);
        e.target(&table, mode);
    }
}

fn subcommand(
    table: &str,
    cmd: &AlterTableCmd,
    state: &MigrationState,
    e: &mut Effect,
) -> LockMode {
    use AlterTableType as T;
    let def = cmd.def.as_ref().and_then(|d| d.node.as_ref());
    e.column(&cmd.name);
    match cmd.subtype() {
        T::AtAddColumn | T::AtAddColumnToView => {
            if let Some(NodeEnum::ColumnDef(cd)) = def {
                add_column(cd, state, e);
            }
            AccessExclusive
        }
        // A validated `CHECK (col IS NOT NULL)` proves the column has no nulls, and
        // PostgreSQL 12 and later then skip the scan.
        T::AtSetNotNull => {
            e.scans = !(state.postgres_version.has(12) && proven_not_null(state, table, &cmd.name));
            AccessExclusive
        }
        // A virtual generated column (PostgreSQL 18) stores nothing: only a stored one is
        // recomputed into a new copy of the table.
        T::AtSetExpression => {
            let is_virtual = state
                .table(table)
                .and_then(|t| t.columns.iter().find(|c| c.name == cmd.name))
                .is_some_and(|c| c.generated.as_deref() == Some("v"));
            if !is_virtual {
                e.rewrites = true;
                e.hazards.push(Hazard::SetExpression {
                    column: cmd.name.clone(),
                });
            }
            AccessExclusive
        }
        T::AtSetStatistics | T::AtSetOptions | T::AtResetOptions => ShareUpdateExclusive,
        T::AtDropColumn => {
            e.destructive = true;
            e.breaks_clients = true;
            AccessExclusive
        }
        T::AtAddConstraint | T::AtReAddConstraint | T::AtReAddDomainConstraint => match def {
            Some(NodeEnum::Constraint(c)) => add_constraint(c, e),
            _ => AccessExclusive,
        },
        T::AtValidateConstraint => {
            e.scans = true;
            ShareUpdateExclusive
        }
        T::AtAddIndex | T::AtReAddIndex => {
            e.scans = true;
            AccessExclusive
        }
        T::AtDropConstraint => {
            // Dropping a foreign key drops its triggers on the referenced table too.
            if let Some(Some(referenced)) = state.foreign_key(table, &cmd.name) {
                e.lock(&referenced, AccessExclusive);
            }
            AccessExclusive
        }
        T::AtAlterColumnType => {
            if let Some(NodeEnum::ColumnDef(cd)) = def {
                type_change(table, &cmd.name, cd, state, e);
            }
            AccessExclusive
        }
        T::AtClusterOn | T::AtDropCluster => ShareUpdateExclusive,
        T::AtSetLogged | T::AtSetUnLogged => {
            e.rewrites = true;
            e.hazards.push(Hazard::SetPersistence {
                logged: cmd.subtype() == T::AtSetLogged,
            });
            AccessExclusive
        }
        T::AtSetAccessMethod => {
            e.rewrites = true;
            e.hazards.push(Hazard::SetAccessMethod);
            AccessExclusive
        }
        T::AtSetTableSpace => {
            // Not a logical rewrite, but every data file is copied under the lock.
            e.rewrites = true;
            e.hazards.push(Hazard::SetTablespace);
            AccessExclusive
        }
        T::AtSetRelOptions | T::AtResetRelOptions | T::AtReplaceRelOptions => reloptions_lock(def),
        T::AtEnableTrig
        | T::AtEnableAlwaysTrig
        | T::AtEnableReplicaTrig
        | T::AtDisableTrig
        | T::AtEnableTrigAll
        | T::AtDisableTrigAll
        | T::AtEnableTrigUser
        | T::AtDisableTrigUser => ShareRowExclusive,
        // The child's row type changes meaning, so it takes the full lock
        // (`AlterTableGetLockLevel`); the parent is only read, or guarded against a
        // concurrent change of its own inheritance.
        T::AtAddInherit | T::AtDropInherit => {
            if let Some(NodeEnum::RangeVar(parent)) = def {
                let parent_mode = if cmd.subtype() == T::AtAddInherit {
                    ShareUpdateExclusive
                } else {
                    LockMode::AccessShare
                };
                e.lock(&ast::relation(parent), parent_mode);
            }
            AccessExclusive
        }
        T::AtAttachPartition => attach_partition(def, state, e),
        T::AtDetachPartition => {
            let concurrent = matches!(def, Some(NodeEnum::PartitionCmd(p)) if p.concurrent);
            let mode = if concurrent {
                ShareUpdateExclusive
            } else {
                AccessExclusive
            };
            if let Some(NodeEnum::PartitionCmd(p)) = def {
                if let Some(part) = &p.name {
                    e.target(&ast::relation(part), mode);
                }
            }
            mode
        }
        T::AtDetachPartitionFinalize => ShareUpdateExclusive,
        T::AtColumnDefault
        | T::AtCookedColumnDefault
        | T::AtDropNotNull
        | T::AtDropExpression
        | T::AtSetStorage
        | T::AtSetCompression
        | T::AtAlterConstraint
        | T::AtAddIndexConstraint
        | T::AtAlterColumnGenericOptions
        | T::AtGenericOptions
        | T::AtChangeOwner
        | T::AtEnableRule
        | T::AtEnableAlwaysRule
        | T::AtEnableReplicaRule
        | T::AtDisableRule
        | T::AtAddOf
        | T::AtDropOf
        | T::AtReplicaIdentity
        | T::AtEnableRowSecurity
        | T::AtDisableRowSecurity
        | T::AtForceRowSecurity
        | T::AtNoForceRowSecurity
        | T::AtAddIdentity
        | T::AtSetIdentity
        | T::AtDropIdentity
        | T::AtDropOids
        | T::AtReAddComment
        | T::AtReAddStatistics => AccessExclusive,
        T::Undefined => {
            e.known = false;
            AccessExclusive
        }
    }
}

fn add_column(cd: &ColumnDef, state: &MigrationState, e: &mut Effect) {
    let column = cd.colname.clone();
    e.column(&column);
    let ty = cd.type_name.as_ref().map(TypeSpec::from_ast);
    if let Some(ty) = &ty {
        if matches!(ty.base.as_str(), "serial" | "bigserial" | "smallserial") {
            e.rewrites = true;
            e.hazards.push(Hazard::SerialColumn {
                column: column.clone(),
            });
        } else if state.is_constrained_domain(&ty.base) {
            e.rewrites = true;
            e.hazards.push(Hazard::ConstrainedDomain {
                column: column.clone(),
                domain: ty.base.clone(),
            });
        }
    }
    let default = ast::column_default(cd);
    if let Some(function) = default.and_then(ast::volatile_call) {
        e.rewrites = true;
        e.hazards.push(Hazard::VolatileDefault {
            column: column.clone(),
            function,
        });
    } else if default.is_some_and(|d| !ast::is_null(d)) && !state.postgres_version.has(11) {
        // Before 11 (no "fast default" in the catalog) every row gets the value written.
        e.rewrites = true;
        e.hazards.push(Hazard::DefaultBeforeFastDefault {
            column: column.clone(),
        });
    }
    for c in ast::column_constraints(cd) {
        match c.contype() {
            ConstrType::ConstrIdentity => {
                e.rewrites = true;
                e.hazards.push(Hazard::IdentityColumn {
                    column: column.clone(),
                });
            }
            // PostgreSQL 18 makes generated columns virtual unless STORED is written.
            ConstrType::ConstrGenerated if c.generated_kind != "v" => {
                e.rewrites = true;
                e.hazards.push(Hazard::StoredGenerated {
                    column: column.clone(),
                });
            }
            // A new column without a default is all nulls, which a foreign key never
            // rejects: PostgreSQL validates it without reading the table.
            ConstrType::ConstrForeign => {
                e.scans |= ast::column_default(cd).is_some();
                if let Some(pk) = &c.pktable {
                    e.lock(&ast::relation(pk), ShareRowExclusive);
                }
            }
            ConstrType::ConstrCheck | ConstrType::ConstrPrimary | ConstrType::ConstrUnique => {
                e.scans = true;
            }
            // Without a default every existing row would be null: PostgreSQL reads the table
            // to check it has none (and fails on the first row).
            ConstrType::ConstrNotnull if ast::column_default(cd).is_none() => {
                e.scans = true;
            }
            _ => {}
        }
    }
}

fn add_constraint(c: &Constraint, e: &mut Effect) -> LockMode {
    for key in ast::strings(&c.keys)
        .iter()
        .chain(&ast::strings(&c.fk_attrs))
    {
        e.column(key);
    }
    match c.contype() {
        ConstrType::ConstrForeign => {
            if let Some(pk) = &c.pktable {
                e.lock(&ast::relation(pk), ShareRowExclusive);
            }
            e.scans |= !c.skip_validation;
            ShareRowExclusive
        }
        ConstrType::ConstrCheck | ConstrType::ConstrNotnull => {
            e.scans |= !c.skip_validation;
            AccessExclusive
        }
        // USING INDEX adopts an index built beforehand: no build under the lock. A primary
        // key also makes its columns NOT NULL, which PostgreSQL checks by reading every row.
        ConstrType::ConstrPrimary => {
            e.scans = true;
            AccessExclusive
        }
        ConstrType::ConstrUnique => {
            e.scans |= c.indexname.is_empty();
            AccessExclusive
        }
        ConstrType::ConstrExclusion => {
            e.scans = true;
            AccessExclusive
        }
        _ => AccessExclusive,
    }
}

fn type_change(table: &str, column: &str, cd: &ColumnDef, state: &MigrationState, e: &mut Effect) {
    let Some(tn) = &cd.type_name else { return };
    let to = TypeSpec::from_ast(tn);
    let from = state.column_type(table, column);
    // A USING expression recomputes every value.
    let coercion = match (&from, cd.raw_default.is_some()) {
        (_, true) => Coercion::Rewrite,
        (Some(from), false) => binary_coercible(from, &to),
        (None, false) => Coercion::Unknown,
    };
    if coercion != Coercion::NoRewrite {
        e.rewrites = true;
    }
    e.hazards.push(Hazard::TypeChange {
        column: column.to_string(),
        from: from.map(|f| f.to_string()),
        to: to.to_string(),
        coercion,
    });
}

fn attach_partition(def: Option<&NodeEnum>, state: &MigrationState, e: &mut Effect) -> LockMode {
    if let Some(NodeEnum::PartitionCmd(p)) = def {
        if let Some(part) = &p.name {
            let part = ast::relation(part);
            // Without a CHECK constraint that implies the bound, the partition is scanned
            // under ACCESS EXCLUSIVE to prove every row belongs.
            e.scans |= !state.checked_tables.contains(&part);
            e.target(&part, AccessExclusive);
        }
    }
    // Before 12 the partitioned table itself was locked ACCESS EXCLUSIVE.
    if state.postgres_version.has(12) {
        ShareUpdateExclusive
    } else {
        AccessExclusive
    }
}

/// Storage and autovacuum parameters need only SHARE UPDATE EXCLUSIVE; the rest (e.g.
/// `security_barrier` on a view, `user_catalog_table`) change semantics and take the full lock.
fn reloptions_lock(def: Option<&NodeEnum>) -> LockMode {
    const LIGHT: &[&str] = &[
        "fillfactor",
        "toast_tuple_target",
        "parallel_workers",
        "vacuum_index_cleanup",
        "vacuum_truncate",
        "log_autovacuum_min_duration",
    ];
    let Some(NodeEnum::List(list)) = def else {
        return AccessExclusive;
    };
    let light = list.items.iter().all(|item| match &item.node {
        Some(NodeEnum::DefElem(d)) => {
            d.defname.starts_with("autovacuum_") || LIGHT.contains(&d.defname.as_str())
        }
        _ => false,
    });
    if light {
        ShareUpdateExclusive
    } else {
        AccessExclusive
    }
}

/// Whether the snapshot holds a validated `CHECK (column IS NOT NULL)` on the table.
fn proven_not_null(state: &MigrationState, table: &str, column: &str) -> bool {
    state.table(table).is_some_and(|t| {
        t.constraints.iter().any(|c| {
            c.kind == autodb_core::schema::model::ConstraintKind::Check
                && c.validated
                && checks_not_null(&c.definition, column)
        })
    })
}

/// Whether a constraint definition, as `pg_get_constraintdef` writes it, is exactly
/// `CHECK (column IS NOT NULL)`. Asked of the parser, not of the text's spelling.
fn checks_not_null(definition: &str, column: &str) -> bool {
    let Ok(parsed) = pg_query::parse(
        &format!("ALTER TABLE t ADD {definition}"),
        pg_query::ParserOptions::DEFAULT,
    ) else {
        return false;
    };
    let Some(NodeEnum::AlterTableStmt(stmt)) = parsed
        .protobuf
        .stmts
        .first()
        .and_then(|s| s.stmt.as_ref())
        .and_then(|n| n.node.as_ref())
    else {
        return false;
    };
    let [cmd] = stmt.cmds.as_slice() else {
        return false;
    };
    let Some(NodeEnum::AlterTableCmd(cmd)) = &cmd.node else {
        return false;
    };
    let Some(NodeEnum::Constraint(c)) = cmd.def.as_ref().and_then(|d| d.node.as_ref()) else {
        return false;
    };
    let Some(NodeEnum::NullTest(test)) = c.raw_expr.as_ref().and_then(|e| e.node.as_ref()) else {
        return false;
    };
    let Some(NodeEnum::ColumnRef(col)) = test.arg.as_ref().and_then(|a| a.node.as_ref()) else {
        return false;
    };
    c.contype() == ConstrType::ConstrCheck
        && test.nulltesttype() == pg_query::protobuf::NullTestType::IsNotNull
        && ast::strings(&col.fields) == [column]
}
