//! `ALTER TABLE` (and `ALTER INDEX`/`VIEW`/`MATERIALIZED VIEW`, which share the statement):
//! one entry per subcommand, after `AlterTableGetLockLevel` in PostgreSQL's `tablecmds.c`.
//! A statement with several subcommands takes the strongest of their locks.

mod columns;

use pg_query::protobuf::{
    AlterTableCmd, AlterTableStmt, AlterTableType, ConstrType, Constraint, ObjectType,
};
use pg_query::NodeEnum;

use super::{Effect, Hazard, LockMode};
use crate::ast;
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
        T::AtAddColumn | T::AtAddColumnToView => columns::add(def, state, e),
        T::AtSetNotNull => columns::set_not_null(table, &cmd.name, state, e),
        T::AtSetExpression => columns::set_expression(table, &cmd.name, state, e),
        T::AtDropColumn => columns::drop(e),
        T::AtAlterColumnType => columns::alter_type(table, &cmd.name, def, state, e),
        T::AtSetStatistics | T::AtSetOptions | T::AtResetOptions => ShareUpdateExclusive,
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
        T::AtDropConstraint => drop_constraint(table, &cmd.name, state, e),
        T::AtClusterOn | T::AtDropCluster => ShareUpdateExclusive,
        T::AtSetLogged | T::AtSetUnLogged => rewrite(
            Hazard::SetPersistence {
                logged: cmd.subtype() == T::AtSetLogged,
            },
            e,
        ),
        T::AtSetAccessMethod => rewrite(Hazard::SetAccessMethod, e),
        // Not a logical rewrite, but every data file is copied under the lock.
        T::AtSetTableSpace => rewrite(Hazard::SetTablespace, e),
        T::AtSetRelOptions | T::AtResetRelOptions | T::AtReplaceRelOptions => reloptions_lock(def),
        T::AtEnableTrig
        | T::AtEnableAlwaysTrig
        | T::AtEnableReplicaTrig
        | T::AtDisableTrig
        | T::AtEnableTrigAll
        | T::AtDisableTrigAll
        | T::AtEnableTrigUser
        | T::AtDisableTrigUser => ShareRowExclusive,
        T::AtAddInherit | T::AtDropInherit => inherit(cmd.subtype() == T::AtAddInherit, def, e),
        T::AtAttachPartition => attach_partition(def, state, e),
        T::AtDetachPartition => detach_partition(def, e),
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

/// A subcommand that writes a new copy of the table (or of its files) under the full lock.
fn rewrite(hazard: Hazard, e: &mut Effect) -> LockMode {
    e.rewrites = true;
    e.hazards.push(hazard);
    AccessExclusive
}

/// Dropping a foreign key drops its triggers on the referenced table too.
fn drop_constraint(
    table: &str,
    constraint: &str,
    state: &MigrationState,
    e: &mut Effect,
) -> LockMode {
    if let Some(Some(referenced)) = state.foreign_key(table, constraint) {
        e.lock(&referenced, AccessExclusive);
    }
    AccessExclusive
}

/// The child's row type changes meaning, so it takes the full lock
/// (`AlterTableGetLockLevel`); the parent is only read, or guarded against a concurrent
/// change of its own inheritance.
fn inherit(add: bool, def: Option<&NodeEnum>, e: &mut Effect) -> LockMode {
    if let Some(NodeEnum::RangeVar(parent)) = def {
        let parent_mode = if add {
            ShareUpdateExclusive
        } else {
            LockMode::AccessShare
        };
        e.lock(&ast::relation(parent), parent_mode);
    }
    AccessExclusive
}

fn detach_partition(def: Option<&NodeEnum>, e: &mut Effect) -> LockMode {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The lock and effect of the one subcommand of `ALTER TABLE t …`, with nothing known
    /// about the table.
    fn sub(action: &str) -> (LockMode, Effect) {
        let sql = format!("ALTER TABLE t {action}");
        let stmts = autodb_core::sql::parse(&sql).expect(&sql);
        let NodeEnum::AlterTableStmt(s) = &stmts[0].ast else {
            panic!("{sql} is no ALTER TABLE");
        };
        let Some(NodeEnum::AlterTableCmd(cmd)) = &s.cmds[0].node else {
            panic!("{sql} has no subcommand");
        };
        let state = MigrationState::new(&[], None);
        let mut e = Effect::new(true);
        let mode = subcommand("t", cmd, &state, &mut e);
        (mode, e)
    }

    #[test]
    fn storage_parameters_take_the_light_lock_and_semantic_ones_the_full_lock() {
        for light in [
            "SET (fillfactor = 70, autovacuum_enabled = off)",
            "RESET (toast_tuple_target, vacuum_truncate)",
        ] {
            assert_eq!(sub(light).0, ShareUpdateExclusive, "{light}");
        }
        for heavy in [
            "SET (security_barrier = true)",
            "SET (fillfactor = 70, user_catalog_table = true)",
        ] {
            assert_eq!(sub(heavy).0, AccessExclusive, "{heavy}");
        }
    }

    #[test]
    fn persistence_access_method_and_tablespace_rewrite_under_the_full_lock() {
        for (action, hazard) in [
            ("SET LOGGED", Hazard::SetPersistence { logged: true }),
            ("SET UNLOGGED", Hazard::SetPersistence { logged: false }),
            ("SET ACCESS METHOD heap", Hazard::SetAccessMethod),
            ("SET TABLESPACE other", Hazard::SetTablespace),
        ] {
            let (mode, e) = sub(action);
            assert_eq!(mode, AccessExclusive, "{action}");
            assert!(e.rewrites, "{action}");
            assert_eq!(e.hazards, [hazard], "{action}");
        }
    }

    #[test]
    fn inheritance_locks_the_parent_lightly() {
        let (mode, e) = sub("INHERIT parent");
        assert_eq!(mode, AccessExclusive);
        assert_eq!(e.mode_on("parent"), Some(ShareUpdateExclusive));
        let (mode, e) = sub("NO INHERIT parent");
        assert_eq!(mode, AccessExclusive);
        assert_eq!(e.mode_on("parent"), Some(LockMode::AccessShare));
    }

    #[test]
    fn detaching_concurrently_takes_the_light_lock_on_both_tables() {
        let (mode, e) = sub("DETACH PARTITION part CONCURRENTLY");
        assert_eq!(mode, ShareUpdateExclusive);
        assert_eq!(e.mode_on("part"), Some(ShareUpdateExclusive));
        let (mode, e) = sub("DETACH PARTITION part");
        assert_eq!(mode, AccessExclusive);
        assert_eq!(e.mode_on("part"), Some(AccessExclusive));
    }
}
