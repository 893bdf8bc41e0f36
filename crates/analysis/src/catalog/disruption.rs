//! Statements that take production down without touching a table's data: privileges, roles,
//! ownership, server settings, databases, other sessions, system catalogs, the server's files
//! and programs, other databases.
//!
//! None of them holds a lock worth scoring or rewrites anything, so the lock and destruction
//! terms of the score see nothing; yet `REVOKE … FROM app` or `ALTER ROLE app NOLOGIN` stops
//! the application as surely as a dropped table. The catalog records what such a statement
//! does as a [`Disruption`]; `crate::score` gives each kind its floor and one rule per kind
//! says what breaks. Function calls are found anywhere in the statement (a `SELECT` in a
//! migration runs them all), by name, unqualified or in `pg_catalog`.

use pg_query::protobuf::{AlterTableType, Node, ObjectType, RenameStmt};
use pg_query::{NodeEnum, NodeRef};

use super::{Effect, LockMode};
use crate::ast;
use crate::state::MigrationState;

/// What a statement does beyond the tables: each kind has its own rule and score floor. The
/// flags say which statements of a kind take away something running clients rely on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Disruption {
    /// `GRANT`/`REVOKE` on objects or of role membership; `revokes`: takes privileges away.
    Privileges { revokes: bool },
    /// `ALTER DEFAULT PRIVILEGES`: the privileges of objects created from now on.
    DefaultPrivileges,
    /// `CREATE`/`ALTER`/`DROP ROLE`, `ALTER ROLE … SET`, `DROP OWNED`, renaming a role;
    /// `restricts`: takes away a role's login, password, validity, connections, attributes,
    /// session defaults, name, or the role itself.
    Roles { restricts: bool },
    /// `OWNER TO` on one object, or `REASSIGN OWNED` on everything a role owns (`all_of_role`).
    Ownership { all_of_role: bool },
    /// `ALTER SYSTEM` and `pg_reload_conf()` change the server's settings (`settings`);
    /// `pg_rotate_logfile()` and `pg_switch_wal()` act on the whole server without.
    Server { settings: bool },
    /// `CREATE`/`ALTER`/`DROP DATABASE`, database defaults, renaming, collation refresh;
    /// `connections`: changes whether or how existing connections and new sessions work.
    Database { connections: bool },
    /// `pg_terminate_backend` (`terminates`) or `pg_cancel_backend`.
    Backends { terminates: bool },
    /// Writes rows or definitions of PostgreSQL's own catalogs.
    SystemCatalog,
    /// `COPY … PROGRAM`: a shell command on the database server.
    ServerProgram,
    /// `COPY` to or from a server file, `pg_read_file`, `lo_import`/`lo_export`…; `writes`.
    ServerFiles { writes: bool },
    /// `dblink*`, foreign servers, user mappings, `IMPORT FOREIGN SCHEMA`.
    CrossDatabase,
    /// A call to a function of the snapshot or of the migration: code the statement does not
    /// show, scored like a `DO` block.
    OpaqueCall,
    /// `CREATE FUNCTION … SECURITY DEFINER` whose body `EXECUTE`s SQL built at run time:
    /// whoever may call it runs any SQL as its owner.
    PrivilegeEscalation,
    /// A function or `DO` body defined to disrupt when called (terminate backends, run a
    /// program, write server files, change settings).
    DisruptiveBody,
    /// `pg_create_*_replication_slot`, `pg_drop_replication_slot`, `pg_replication_slot_advance`,
    /// `pg_copy_*_replication_slot`: a slot retains WAL until consumed (the disk fills); a
    /// dropped or advanced one loses what a replica or consumer had not read.
    ReplicationSlot,
    /// `setval()`: the next values of a sequence change under the application.
    SequenceSetval,
    /// `ALTER SEQUENCE … RESTART`: values handed out again collide with existing keys.
    SequenceRestart,
    /// `pg_stat_reset*()`: the statistics autovacuum and monitoring act on are gone.
    StatsReset,
    /// `DROP SEQUENCE … CASCADE`: drops the defaults of every column drawing from it.
    DropSequenceCascade,
    /// `ALTER TYPE … RENAME VALUE`: clients writing the old label fail.
    EnumValueRename,
    /// `CREATE EXTENSION`: runs the extension's install script, objects and code autodb does
    /// not see, often as a superuser.
    Extension,
    /// Changes what the application's queries do: a replaced or dropped function that other
    /// objects use; `breaks`: a renamed schema, a renamed table or column that views or
    /// functions use, a dropped or replaced trigger, policy or rule.
    Behaviour { breaks: bool },
}

/// What a disruption does, as a verb phrase for a message: "terminates backends".
pub fn describe(d: Disruption) -> &'static str {
    use Disruption as D;
    match d {
        D::Privileges { revokes: true } => "revokes privileges",
        D::Privileges { revokes: false } => "grants privileges",
        D::DefaultPrivileges => "changes default privileges",
        D::Roles { restricts: true } => "restricts or drops roles",
        D::Roles { restricts: false } => "creates or changes roles",
        D::Ownership { .. } => "changes ownership",
        D::Server { settings: true } => "changes the server's settings",
        D::Server { settings: false } => "acts on the whole server (logs, WAL)",
        D::Database { .. } => "creates, changes or drops databases",
        D::Backends { terminates: true } => "terminates other sessions (pg_terminate_backend)",
        D::Backends { terminates: false } => "cancels other sessions' queries (pg_cancel_backend)",
        D::SystemCatalog => "writes PostgreSQL's system catalogs",
        D::ServerProgram => "runs a shell command on the server (COPY … PROGRAM)",
        D::ServerFiles { writes: true } => "writes files on the server",
        D::ServerFiles { writes: false } => "reads files on the server",
        D::CrossDatabase => "reaches other databases",
        D::OpaqueCall => "calls the user's own functions",
        D::PrivilegeEscalation => "defines SECURITY DEFINER dynamic SQL",
        D::DisruptiveBody => "defines code that disrupts the server when called",
        D::ReplicationSlot => "creates, drops or moves replication slots",
        D::SequenceSetval => "moves a sequence (setval)",
        D::SequenceRestart => "restarts a sequence",
        D::StatsReset => "resets the server's statistics",
        D::DropSequenceCascade => "drops a sequence and the defaults using it",
        D::EnumValueRename => "renames an enum label",
        D::Extension => "installs an extension",
        D::Behaviour { .. } => "changes what the application's queries do",
    }
}

/// A call to a function that disrupts, as written (`pg_catalog.pg_terminate_backend`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisruptiveCall {
    pub function: String,
    pub disruption: Disruption,
}

/// Built-in functions (unqualified or in `pg_catalog`) and what calling them does.
const BUILTINS: &[(&str, Disruption)] = &[
    (
        "pg_terminate_backend",
        Disruption::Backends { terminates: true },
    ),
    (
        "pg_cancel_backend",
        Disruption::Backends { terminates: false },
    ),
    ("pg_reload_conf", Disruption::Server { settings: true }),
    ("pg_rotate_logfile", Disruption::Server { settings: false }),
    ("pg_switch_wal", Disruption::Server { settings: false }),
    ("pg_read_file", Disruption::ServerFiles { writes: false }),
    (
        "pg_read_binary_file",
        Disruption::ServerFiles { writes: false },
    ),
    ("pg_ls_dir", Disruption::ServerFiles { writes: false }),
    ("lo_import", Disruption::ServerFiles { writes: false }),
    ("lo_export", Disruption::ServerFiles { writes: true }),
    ("setval", Disruption::SequenceSetval),
    ("pg_stat_reset", Disruption::StatsReset),
    ("pg_stat_reset_shared", Disruption::StatsReset),
    (
        "pg_stat_reset_single_table_counters",
        Disruption::StatsReset,
    ),
    (
        "pg_stat_reset_single_function_counters",
        Disruption::StatsReset,
    ),
    ("pg_stat_reset_slru", Disruption::StatsReset),
    ("pg_stat_reset_replication_slot", Disruption::StatsReset),
    ("pg_stat_reset_subscription_stats", Disruption::StatsReset),
    ("pg_stat_reset_backend_stats", Disruption::StatsReset),
    ("pg_stat_statements_reset", Disruption::StatsReset),
    (
        "pg_create_physical_replication_slot",
        Disruption::ReplicationSlot,
    ),
    (
        "pg_create_logical_replication_slot",
        Disruption::ReplicationSlot,
    ),
    ("pg_drop_replication_slot", Disruption::ReplicationSlot),
    ("pg_replication_slot_advance", Disruption::ReplicationSlot),
    (
        "pg_copy_physical_replication_slot",
        Disruption::ReplicationSlot,
    ),
    (
        "pg_copy_logical_replication_slot",
        Disruption::ReplicationSlot,
    ),
];

/// What a call to `names` (a qualified function name) does, if it disrupts.
fn call_disruption(names: &[String]) -> Option<Disruption> {
    let (name, schema) = match names {
        [name] => (name.as_str(), None),
        [schema, name] => (name.as_str(), Some(schema.as_str())),
        _ => return None,
    };
    // dblink is an extension: it lives in whichever schema it was installed into.
    if name == "dblink" || name.starts_with("dblink_") {
        return Some(Disruption::CrossDatabase);
    }
    // A function of that name in another schema is the user's own, not the built-in.
    if schema.is_some_and(|s| s != "pg_catalog") {
        return None;
    }
    BUILTINS.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// Every call in the statement to a function that disrupts, in the order written.
pub fn disruptive_calls(node: &NodeEnum) -> Vec<DisruptiveCall> {
    node.nodes()
        .into_iter()
        .filter_map(|(child, _, _, _)| match child {
            NodeRef::FuncCall(f) => {
                let names = ast::strings(&f.funcname);
                call_disruption(&names).map(|disruption| DisruptiveCall {
                    function: names.join("."),
                    disruption,
                })
            }
            _ => None,
        })
        .collect()
}

/// A relation of PostgreSQL's own catalog: in `pg_catalog`, or named `pg_…` without a schema
/// (which resolves to `pg_catalog` first) unless the migration or the snapshot has a table of
/// that name.
pub fn is_system_catalog(relation: &str, state: &MigrationState) -> bool {
    match relation.split_once('.') {
        Some((schema, _)) => schema == "pg_catalog",
        None => {
            relation.starts_with("pg_")
                && !state.is_new(relation)
                && state.table(relation).is_none()
        }
    }
}

/// The system catalogs the statement writes: the relations it locks for writing (ROW
/// EXCLUSIVE or stronger), which are its DDL's and the target of every `INSERT`, `UPDATE`,
/// `DELETE` and `MERGE` anywhere in it (`dml.rs` locks a data-modifying `WITH`'s too).
/// Maintenance that only reads or reorganizes a catalog (`VACUUM`, `REINDEX`, `CLUSTER`,
/// `LOCK`, `COMMENT`) is not a write.
pub fn written_system_catalogs(node: &NodeEnum, e: &Effect, state: &MigrationState) -> Vec<String> {
    let maintenance = matches!(
        node,
        NodeEnum::VacuumStmt(_)
            | NodeEnum::ReindexStmt(_)
            | NodeEnum::ClusterStmt(_)
            | NodeEnum::LockStmt(_)
            | NodeEnum::CommentStmt(_)
            | NodeEnum::CreateStatsStmt(_)
    );
    if maintenance {
        return Vec::new();
    }
    e.locks
        .iter()
        .filter(|(t, mode)| *mode >= LockMode::RowExclusive && is_system_catalog(t, state))
        .map(|(t, _)| t.clone())
        .collect()
}

/// Whether every `setval` of the statement names, as a constant, a sequence created earlier
/// in the migration.
fn setvals_only_new_sequences(node: &NodeEnum, state: &MigrationState) -> bool {
    node.nodes()
        .into_iter()
        .filter_map(|(child, _, _, _)| match child {
            NodeRef::FuncCall(f) => Some(f),
            _ => None,
        })
        .filter(|f| {
            matches!(ast::strings(&f.funcname).as_slice(),
                [n] | [_, n] if n == "setval")
        })
        .all(|f| {
            let mut arg = f.args.first().and_then(|a| a.node.as_ref());
            while let Some(NodeEnum::TypeCast(t)) = arg {
                arg = t.arg.as_ref().and_then(|a| a.node.as_ref());
            }
            matches!(arg, Some(NodeEnum::AConst(c)) if matches!(&c.val,
                Some(pg_query::protobuf::a_const::Val::Sval(s)) if state.is_new_sequence(&s.sval)))
        })
}

/// Records what the statement disrupts.
pub(super) fn classify(node: &NodeEnum, state: &MigrationState, e: &mut Effect) {
    let mut found: Vec<Disruption> = statement_disruption(node).into_iter().collect();
    found.extend(disruptive_calls(node).into_iter().map(|c| c.disruption));
    // Setting or restarting a sequence the migration created moves nothing anyone drew.
    if setvals_only_new_sequences(node, state) {
        found.retain(|d| *d != Disruption::SequenceSetval);
    }
    if let NodeEnum::AlterSeqStmt(a) = node {
        if a.sequence
            .as_ref()
            .is_some_and(|r| state.is_new_sequence(&ast::relation(r)))
        {
            found.retain(|d| *d != Disruption::SequenceRestart);
        }
    }
    if let Some((d, _)) = super::behaviour::change(node, state) {
        found.push(d);
    }
    if !written_system_catalogs(node, e, state).is_empty() {
        found.push(Disruption::SystemCatalog);
    }
    for d in found {
        if !e.disruptions.contains(&d) {
            e.disruptions.push(d);
        }
    }
}

/// What the statement form itself disrupts.
pub fn statement_disruption(node: &NodeEnum) -> Option<Disruption> {
    use Disruption as D;
    Some(match node {
        NodeEnum::GrantStmt(g) => D::Privileges {
            revokes: !g.is_grant,
        },
        NodeEnum::GrantRoleStmt(g) => D::Privileges {
            revokes: !g.is_grant,
        },
        NodeEnum::AlterDefaultPrivilegesStmt(_) => D::DefaultPrivileges,
        NodeEnum::CreateRoleStmt(_) => D::Roles { restricts: false },
        NodeEnum::AlterRoleStmt(a) => D::Roles {
            restricts: a.action < 0 || a.options.iter().any(restricts_role),
        },
        NodeEnum::AlterRoleSetStmt(_) | NodeEnum::DropRoleStmt(_) | NodeEnum::DropOwnedStmt(_) => {
            D::Roles { restricts: true }
        }
        NodeEnum::ReassignOwnedStmt(_) => D::Ownership { all_of_role: true },
        NodeEnum::AlterOwnerStmt(_) => D::Ownership { all_of_role: false },
        NodeEnum::AlterTableStmt(a) if changes_owner(&a.cmds) => {
            D::Ownership { all_of_role: false }
        }
        NodeEnum::AlterSystemStmt(_) => D::Server { settings: true },
        NodeEnum::CreatedbStmt(_) | NodeEnum::AlterDatabaseRefreshCollStmt(_) => {
            D::Database { connections: false }
        }
        NodeEnum::AlterDatabaseStmt(_)
        | NodeEnum::AlterDatabaseSetStmt(_)
        | NodeEnum::DropdbStmt(_) => D::Database { connections: true },
        NodeEnum::RenameStmt(r) => return rename(r),
        NodeEnum::AlterEnumStmt(a) if !a.old_val.is_empty() => D::EnumValueRename,
        NodeEnum::AlterSeqStmt(a)
            if a.options.iter().any(
                |o| matches!(&o.node, Some(NodeEnum::DefElem(d)) if d.defname == "restart"),
            ) =>
        {
            D::SequenceRestart
        }
        NodeEnum::DropStmt(d)
            if d.remove_type() == ObjectType::ObjectSequence
                && d.behavior() == pg_query::protobuf::DropBehavior::DropCascade =>
        {
            D::DropSequenceCascade
        }
        NodeEnum::CreateExtensionStmt(_) => D::Extension,
        NodeEnum::CreateFunctionStmt(f) => {
            let body = super::body::of_function(f);
            if body.security_definer && body.dynamic_sql {
                D::PrivilegeEscalation
            } else if body.disruptions.iter().any(|d| disruption_is_high(*d)) {
                D::DisruptiveBody
            } else {
                return None;
            }
        }
        NodeEnum::CopyStmt(c) if c.is_program => D::ServerProgram,
        NodeEnum::CopyStmt(c) if !c.filename.is_empty() => D::ServerFiles { writes: !c.is_from },
        NodeEnum::CreateForeignServerStmt(_)
        | NodeEnum::AlterForeignServerStmt(_)
        | NodeEnum::CreateUserMappingStmt(_)
        | NodeEnum::AlterUserMappingStmt(_)
        | NodeEnum::ImportForeignSchemaStmt(_) => D::CrossDatabase,
        _ => return None,
    })
}

/// The disruptions a body may hold that take away what running clients rely on.
fn disruption_is_high(d: Disruption) -> bool {
    crate::score::disruption_floor(d) >= crate::score::DISRUPTION_HIGH
}

fn rename(r: &RenameStmt) -> Option<Disruption> {
    match r.rename_type() {
        ObjectType::ObjectRole => Some(Disruption::Roles { restricts: true }),
        ObjectType::ObjectDatabase => Some(Disruption::Database { connections: true }),
        _ => None,
    }
}

fn changes_owner(cmds: &[Node]) -> bool {
    cmds.iter().any(|c| {
        matches!(&c.node, Some(NodeEnum::AlterTableCmd(cmd))
            if cmd.subtype() == AlterTableType::AtChangeOwner)
    })
}

/// An `ALTER ROLE` option that takes something away from the role: `NOLOGIN` and any other
/// attribute turned off, a new (or no) password, an expiry, a connection limit.
/// (`ALTER GROUP … DROP USER` is told by the statement's `action`.)
pub fn restricts_role(option: &Node) -> bool {
    let Some(NodeEnum::DefElem(d)) = &option.node else {
        return false;
    };
    let arg = d.arg.as_ref().and_then(|a| a.node.as_ref());
    match (d.defname.as_str(), arg) {
        ("password" | "validUntil", _) => true,
        // -1 lifts the limit.
        ("connectionlimit", Some(NodeEnum::Integer(i))) => i.ival >= 0,
        (_, Some(NodeEnum::Boolean(b))) => !b.boolval,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::Disruption as D;
    use crate::rules::testing::{snapshot, table};

    /// The disruptions of the last statement of `sql`, against a snapshot with `pg_jobs`.
    fn disruptions(sql: &str) -> Vec<D> {
        let stmts = autodb_core::sql::parse(sql).expect(sql);
        let snap = snapshot(vec![table("pg_jobs", 10, &[("id", "bigint")])]);
        let mut state = crate::state::MigrationState::new(&stmts, Some(&snap));
        let mut effect = None;
        for stmt in &stmts {
            let e = crate::catalog::classify(&stmt.ast, &state);
            state.record(stmt, &e);
            effect = Some(e);
        }
        effect.expect(sql).disruptions
    }

    #[test]
    fn statement_forms() {
        let cases: &[(&str, &[D])] = &[
            (
                "GRANT SELECT ON orders TO app",
                &[D::Privileges { revokes: false }],
            ),
            ("REVOKE app FROM web", &[D::Privileges { revokes: true }]),
            (
                "ALTER DEFAULT PRIVILEGES GRANT SELECT ON TABLES TO app",
                &[D::DefaultPrivileges],
            ),
            ("CREATE ROLE x LOGIN", &[D::Roles { restricts: false }]),
            (
                "ALTER ROLE x CONNECTION LIMIT -1",
                &[D::Roles { restricts: false }],
            ),
            (
                "ALTER ROLE x CONNECTION LIMIT 0",
                &[D::Roles { restricts: true }],
            ),
            ("ALTER ROLE x NOBYPASSRLS", &[D::Roles { restricts: true }]),
            (
                "ALTER USER x PASSWORD NULL",
                &[D::Roles { restricts: true }],
            ),
            (
                "ALTER ROLE x SET work_mem = '1GB'",
                &[D::Roles { restricts: true }],
            ),
            ("DROP OWNED BY x", &[D::Roles { restricts: true }]),
            ("ALTER ROLE x RENAME TO y", &[D::Roles { restricts: true }]),
            (
                "REASSIGN OWNED BY x TO y",
                &[D::Ownership { all_of_role: true }],
            ),
            (
                "ALTER SEQUENCE s OWNER TO y",
                &[D::Ownership { all_of_role: false }],
            ),
            (
                "ALTER TYPE t OWNER TO y",
                &[D::Ownership { all_of_role: false }],
            ),
            ("ALTER SYSTEM RESET ALL", &[D::Server { settings: true }]),
            ("CREATE DATABASE x", &[D::Database { connections: false }]),
            ("DROP DATABASE x", &[D::Database { connections: true }]),
            (
                "ALTER DATABASE x SET TABLESPACE fast",
                &[D::Database { connections: true }],
            ),
            (
                "COPY (SELECT 1) TO PROGRAM 'gzip > /tmp/x'",
                &[D::ServerProgram],
            ),
            ("COPY t FROM '/tmp/x'", &[D::ServerFiles { writes: false }]),
            ("CREATE USER MAPPING FOR app SERVER s", &[D::CrossDatabase]),
            ("ALTER SERVER s OPTIONS (SET host 'x')", &[D::CrossDatabase]),
            ("TRUNCATE pg_catalog.pg_statistic", &[D::SystemCatalog]),
            ("DROP TABLE pg_catalog.pg_class", &[D::SystemCatalog]),
        ];
        for (sql, expected) in cases {
            assert_eq!(disruptions(sql), *expected, "{sql}");
        }
    }

    #[test]
    fn calls_anywhere_by_name() {
        let cases: &[(&str, &[D])] = &[
            (
                "UPDATE jobs SET done = pg_terminate_backend(pid) WHERE id = 1",
                &[D::Backends { terminates: true }],
            ),
            (
                "INSERT INTO log SELECT pg_catalog.pg_read_binary_file('/etc/passwd')",
                &[D::ServerFiles { writes: false }],
            ),
            (
                "SELECT * FROM public.dblink('dbname=x', 'SELECT 1') AS t(a int)",
                &[D::CrossDatabase],
            ),
            (
                "SELECT pg_cancel_backend(1), pg_terminate_backend(2), pg_cancel_backend(3)",
                &[
                    D::Backends { terminates: false },
                    D::Backends { terminates: true },
                ],
            ),
            // The user's own functions of the same name, and ordinary calls.
            ("SELECT app.pg_terminate_backend(1)", &[]),
            ("SELECT now(), pg_backend_pid(), lower('x')", &[]),
        ];
        for (sql, expected) in cases {
            assert_eq!(disruptions(sql), *expected, "{sql}");
        }
    }

    #[test]
    fn system_catalogs_and_user_tables_named_pg() {
        assert_eq!(
            disruptions("UPDATE pg_class SET relname = 'x'"),
            [D::SystemCatalog]
        );
        // `pg_jobs` is a table of the snapshot; `pg_new` is created by the migration.
        assert!(disruptions("DELETE FROM pg_jobs").is_empty());
        assert!(
            disruptions("CREATE TABLE pg_new (a int); INSERT INTO pg_new VALUES (1)").is_empty()
        );
        assert!(disruptions("VACUUM FULL pg_catalog.pg_class").is_empty());
        assert!(disruptions("SELECT * FROM pg_catalog.pg_class FOR UPDATE").is_empty());
    }

    /// A write to a catalog in a data-modifying `WITH`, or by `MERGE`, is found through the
    /// statement's locks: `dml.rs` locks every nested target ROW EXCLUSIVE.
    #[test]
    fn nested_writes_to_system_catalogs() {
        for (sql, catalog) in [
            (
                "WITH i AS (INSERT INTO pg_description VALUES (1, 2, 0, 'x') RETURNING 1) \
                 SELECT * FROM i",
                "pg_description",
            ),
            (
                "WITH u AS (UPDATE pg_catalog.pg_class SET relname = 'x' WHERE oid = 1 \
                 RETURNING 1) SELECT * FROM u",
                "pg_catalog.pg_class",
            ),
            (
                "WITH d AS (DELETE FROM pg_depend WHERE objid = 1 RETURNING 1) \
                 INSERT INTO pg_jobs SELECT * FROM d",
                "pg_depend",
            ),
            (
                "MERGE INTO pg_catalog.pg_description d USING pg_jobs j ON d.objoid = j.id \
                 WHEN MATCHED THEN DELETE",
                "pg_catalog.pg_description",
            ),
        ] {
            let stmts = autodb_core::sql::parse(sql).expect(sql);
            let snap = snapshot(vec![table("pg_jobs", 10, &[("id", "bigint")])]);
            let state = crate::state::MigrationState::new(&stmts, Some(&snap));
            let effect = crate::catalog::classify(&stmts[0].ast, &state);
            assert_eq!(effect.disruptions, [D::SystemCatalog], "{sql}");
            assert_eq!(
                super::written_system_catalogs(&stmts[0].ast, &effect, &state),
                [catalog],
                "{sql}"
            );
        }
    }

    /// A function is `DisruptiveBody` when its body holds a disruption whose floor is the
    /// high one: exactly there (terminating backends) it is, at the highest floor below it
    /// (an extension's install script) or at the medium one (cancelling queries) it is not.
    #[test]
    fn a_function_body_at_the_high_floor_disrupts_and_one_below_does_not() {
        use crate::score::{disruption_floor, DISRUPTION_HIGH};
        let body = |code: &str| {
            format!("CREATE FUNCTION f() RETURNS void LANGUAGE plpgsql AS $$ BEGIN {code}; END $$")
        };
        assert_eq!(
            disruption_floor(D::Backends { terminates: true }),
            DISRUPTION_HIGH
        );
        assert_eq!(
            disruptions(&body("PERFORM pg_terminate_backend(1)")),
            [D::DisruptiveBody]
        );
        for (code, below) in [
            ("CREATE EXTENSION pgcrypto", D::Extension),
            (
                "PERFORM pg_cancel_backend(1)",
                D::Backends { terminates: false },
            ),
        ] {
            assert!(disruption_floor(below) < DISRUPTION_HIGH, "{code}");
            assert!(disruptions(&body(code)).is_empty(), "{code}");
        }
    }
}
