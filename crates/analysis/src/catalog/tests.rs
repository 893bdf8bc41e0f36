//! Tests of the lock catalog: each statement form with the lock, tables and work PostgreSQL
//! documents for it, safe and unsafe variants side by side. The cases are data in
//! [`super::cases`] (its doc gives the flags), which the API test `catalog_cases_vs_server`
//! also runs on PostgreSQL.

use super::cases::{self, Case};
use crate::rules::testing::{snapshot, table};

fn flags(s: &crate::StatementReport, known: bool) -> String {
    let mut f = String::new();
    for (on, c) in [
        (s.rewrites_table, 'R'),
        (s.scans_table, 'S'),
        (s.destructive, 'D'),
        (!s.transactional, 'N'),
        (s.lock.blocks_writes, 'W'),
        (s.lock.blocks_reads, 'B'),
        (!known, '?'),
    ] {
        if on {
            f.push(c);
        }
    }
    f
}

/// Each case's last statement, analyzed over [`cases::snapshot`], claims the case's lock,
/// tables and flags.
fn check(cases: &[Case]) {
    let snap = cases::snapshot();
    for (sql, mode, tables, expected) in cases {
        let stmts = autodb_core::sql::parse(sql).expect(sql);
        let analysis = crate::analyze(&stmts, Some(&snap));
        let last = analysis.statements.last().expect(sql);
        let known = !last
            .findings
            .iter()
            .any(|f| f.rule == crate::Rule::UnknownStatement);
        assert_eq!(last.lock.mode.map(|m| m.name()), *mode, "mode of {sql}");
        assert_eq!(last.lock.tables.join(","), *tables, "tables of {sql}");
        assert_eq!(flags(last, known), *expected, "flags of {sql}");
    }
}

#[test]
fn alter_table_columns() {
    check(cases::ALTER_TABLE_COLUMNS);
}

#[test]
fn alter_table_types() {
    check(cases::ALTER_TABLE_TYPES);
}

#[test]
fn alter_table_constraints() {
    check(cases::ALTER_TABLE_CONSTRAINTS);
}

#[test]
fn alter_table_table_level() {
    check(cases::ALTER_TABLE_TABLE_LEVEL);
}

#[test]
fn partitions() {
    check(cases::PARTITIONS);
}

#[test]
fn indexes() {
    check(cases::INDEXES);
}

#[test]
fn tables_views_and_types() {
    check(cases::TABLES_VIEWS_AND_TYPES);
}

#[test]
fn triggers_and_rules() {
    check(cases::TRIGGERS_AND_RULES);
}

#[test]
fn maintenance_and_locks() {
    check(cases::MAINTENANCE_AND_LOCKS);
}

#[test]
fn dml() {
    check(cases::DML);
}

#[test]
fn session_and_unknown() {
    check(cases::SESSION_AND_UNKNOWN);
}

#[test]
fn roles_databases_and_servers() {
    check(cases::ROLES_DATABASES_AND_SERVERS);
}

/// Claims that depend on what the snapshot knows about a column or a constraint.
#[test]
fn snapshot_facts_remove_a_rewrite_or_a_scan() {
    use autodb_core::schema::model::{Constraint, ConstraintKind};
    let flags_of = |t: autodb_core::schema::model::Table, sql: &str| {
        let snap = snapshot(vec![t]);
        let stmts = autodb_core::sql::parse(sql).unwrap();
        let analysis = crate::analyze(&stmts, Some(&snap));
        flags(&analysis.statements[0], true)
    };
    let with_generated = |kind: &str| {
        let mut t = table(
            "orders",
            1_000_000,
            &[("total", "integer"), ("g", "integer")],
        );
        t.columns[1].generated = Some(kind.into());
        t
    };
    let set_expression = "ALTER TABLE orders ALTER COLUMN g SET EXPRESSION AS (total * 2)";
    // A virtual generated column stores nothing: nothing to recompute.
    assert_eq!(flags_of(with_generated("v"), set_expression), "WB");
    assert_eq!(flags_of(with_generated("s"), set_expression), "RWB");

    let with_check = |definition: &str, validated: bool| {
        let mut t = table("orders", 1_000_000, &[("note", "text"), ("other", "text")]);
        t.constraints.push(Constraint {
            name: "c".into(),
            kind: ConstraintKind::Check,
            definition: definition.into(),
            columns: vec!["note".into()],
            validated,
            references: None,
            on_delete: None,
        });
        t
    };
    let set_not_null = "ALTER TABLE orders ALTER COLUMN note SET NOT NULL";
    // A validated CHECK (note IS NOT NULL) proves it: PostgreSQL skips the scan.
    assert_eq!(
        flags_of(with_check("CHECK ((note IS NOT NULL))", true), set_not_null),
        "WB"
    );
    for (definition, validated) in [
        ("CHECK ((note IS NOT NULL))", false),
        ("CHECK ((other IS NOT NULL))", true),
        ("CHECK ((note IS NULL))", true),
        ("CHECK (((note IS NOT NULL) OR (other IS NOT NULL)))", true),
        ("UNIQUE (note)", true),
        ("not a definition", true),
    ] {
        assert_eq!(
            flags_of(with_check(definition, validated), set_not_null),
            "SWB",
            "{definition} validated={validated}"
        );
    }
}

/// Claims that changed between releases, at the last release before the change and the
/// first after it.
#[test]
fn claims_follow_the_assumed_postgres_version() {
    use super::{classify, Effect, LockMode};
    use autodb_core::schema::model::{Constraint, ConstraintKind};
    let at = |sql: &str, snap: Option<&autodb_core::schema::SchemaSnapshot>, major| -> Effect {
        let stmts = autodb_core::sql::parse(sql).unwrap();
        let mut state = crate::state::MigrationState::new(&stmts, snap);
        state.postgres_version = crate::PostgresVersion::new(major).unwrap();
        classify(&stmts[0].ast, &state)
    };

    // Fast defaults (11): a constant or stable default no longer writes every row.
    for sql in [
        "ALTER TABLE orders ADD COLUMN status text NOT NULL DEFAULT 'new'",
        "ALTER TABLE orders ADD COLUMN seen_at timestamptz DEFAULT now()",
    ] {
        assert!(at(sql, None, 10).rewrites, "{sql}");
        assert!(!at(sql, None, 11).rewrites, "{sql}");
    }
    let null_default = "ALTER TABLE orders ADD COLUMN note text DEFAULT NULL::text";
    assert!(!at(null_default, None, 10).rewrites);
    let volatile = "ALTER TABLE orders ADD COLUMN r float8 DEFAULT random()";
    assert!(at(volatile, None, 18).rewrites);

    // ATTACH PARTITION (12): the parent is no longer locked ACCESS EXCLUSIVE.
    let attach = "ALTER TABLE m ATTACH PARTITION m_2024 FOR VALUES FROM (1) TO (2)";
    assert_eq!(
        at(attach, None, 11).mode_on("m"),
        Some(LockMode::AccessExclusive)
    );
    assert_eq!(
        at(attach, None, 12).mode_on("m"),
        Some(LockMode::ShareUpdateExclusive)
    );
    assert_eq!(
        at(attach, None, 11).mode_on("m_2024"),
        Some(LockMode::AccessExclusive)
    );

    // SET NOT NULL (12): a validated CHECK (col IS NOT NULL) spares the scan.
    let mut orders = table("orders", 1_000_000, &[("note", "text")]);
    orders.constraints.push(Constraint {
        name: "note_nn".into(),
        kind: ConstraintKind::Check,
        definition: "CHECK ((note IS NOT NULL))".into(),
        columns: vec!["note".into()],
        validated: true,
        references: None,
        on_delete: None,
    });
    let snap = snapshot(vec![orders]);
    let set_not_null = "ALTER TABLE orders ALTER COLUMN note SET NOT NULL";
    assert!(at(set_not_null, Some(&snap), 11).scans);
    assert!(!at(set_not_null, Some(&snap), 12).scans);
}

/// `ON ONLY` builds nothing on a partitioned table (the parent holds no rows, and its
/// partitions are not recursed into); on a plain table, or without `ONLY`, the index is built.
#[test]
fn an_index_on_only_a_partitioned_table_builds_nothing() {
    let snap = crate::rules::testing::partitioned_events();
    let mut with_orders = snap.clone();
    with_orders
        .tables
        .push(table("orders", 1_000_000, &[("note", "text")]));
    for (sql, expected) in [
        ("CREATE INDEX e_at ON ONLY events (at)", "W"),
        ("CREATE INDEX e_at ON events (at)", "SW"),
        ("CREATE INDEX o_note ON ONLY orders (note)", "SW"),
        ("CREATE INDEX o_note ON orders (note)", "SW"),
    ] {
        let stmts = autodb_core::sql::parse(sql).unwrap();
        let analysis = crate::analyze(&stmts, Some(&with_orders));
        assert_eq!(flags(&analysis.statements[0], true), expected, "{sql}");
    }
}

#[test]
fn lock_modes_follow_lockdefs_numbering() {
    use super::LockMode::*;
    let numbered: Vec<Option<super::LockMode>> = (0..=9).map(super::LockMode::from_pg).collect();
    assert_eq!(
        numbered,
        [
            None,
            Some(AccessShare),
            Some(RowShare),
            Some(RowExclusive),
            Some(ShareUpdateExclusive),
            Some(Share),
            Some(ShareRowExclusive),
            Some(Exclusive),
            Some(AccessExclusive),
            None,
        ]
    );
}

#[test]
fn an_effect_lists_each_named_column_once() {
    let mut effect = super::Effect::new(true);
    for column in ["a", "b", "a", ""] {
        effect.column(column);
    }
    assert_eq!(effect.columns, ["a", "b"]);
}

/// The effect of the last statement of `sql`, over [`cases::snapshot`] and the statements
/// before it.
fn effect_of(sql: &str) -> super::Effect {
    let snap = cases::snapshot();
    let stmts = autodb_core::sql::parse(sql).expect(sql);
    let mut state = crate::state::MigrationState::new(&stmts, Some(&snap));
    let mut last = None;
    for stmt in &stmts {
        let effect = super::classify(&stmt.ast, &state);
        state.record(stmt, &effect);
        last = Some(effect);
    }
    last.expect(sql)
}

/// Renaming what queries name (a table, a view, a column) breaks the clients that use the
/// old name, and a column rename names both columns; renaming a constraint breaks no query.
#[test]
fn renames_of_what_queries_name_break_clients() {
    let column = effect_of("ALTER TABLE orders RENAME COLUMN note TO memo");
    assert_eq!(column.columns, ["note", "memo"]);
    assert!(column.breaks_clients);
    for sql in [
        "ALTER TABLE orders RENAME TO purchases",
        "CREATE VIEW v AS SELECT 1; ALTER VIEW v RENAME TO w",
        "CREATE MATERIALIZED VIEW mv AS SELECT 1; ALTER MATERIALIZED VIEW mv RENAME TO w",
    ] {
        let renamed = effect_of(sql);
        assert!(renamed.breaks_clients, "{sql}");
        assert!(renamed.columns.is_empty(), "{sql}");
    }
    let constraint =
        effect_of("ALTER TABLE orders RENAME CONSTRAINT orders_customer_id_fkey TO fk");
    assert!(!constraint.breaks_clients && constraint.columns.is_empty());
    assert_eq!(
        constraint.mode_on("orders"),
        Some(super::LockMode::AccessExclusive)
    );
}

/// `TRUNCATE` empties every row of each table it names or reaches, each listed once.
#[test]
fn truncate_lists_each_emptied_table_once() {
    assert_eq!(
        effect_of("TRUNCATE orders, order_items, orders").every_row,
        ["orders", "order_items"]
    );
    assert_eq!(
        effect_of("TRUNCATE customers CASCADE").every_row,
        ["customers", "orders", "order_items"]
    );
}

/// `COPY … FROM` writes its table, `COPY … TO` reads it, and `COPY (query) TO` reads what
/// the query reads.
#[test]
fn copy_locks_the_table_it_fills_or_reads() {
    use super::LockMode::{AccessShare, RowExclusive};
    for (sql, mode) in [
        ("COPY orders FROM STDIN", RowExclusive),
        ("COPY orders (id, note) FROM STDIN", RowExclusive),
        ("COPY orders TO STDOUT", AccessShare),
        ("COPY (SELECT id FROM orders) TO STDOUT", AccessShare),
    ] {
        assert_eq!(
            effect_of(sql).locks,
            [("orders".to_string(), mode)],
            "{sql}"
        );
    }
    assert!(effect_of("COPY (SELECT 1) TO STDOUT").locks.is_empty());
}
