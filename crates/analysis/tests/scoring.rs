//! Size-aware scores: the same statement on an empty table and on a large one, the
//! documented categories, and the blast radius of the customers → orders → order_items
//! example.

use autodb_analysis::{analyze, Analysis, Impact, RiskCategory};
use autodb_core::schema::model::{Column, Constraint, ConstraintKind, Table, TableKind};
use autodb_core::schema::SchemaSnapshot;

fn table(name: &str, rows: i64, references: Option<&str>) -> Table {
    Table {
        schema: "public".into(),
        name: name.into(),
        kind: TableKind::Regular,
        columns: vec![
            Column {
                name: "id".into(),
                data_type: "integer".into(),
                nullable: false,
                default: None,
                identity: None,
                generated: None,
            },
            Column {
                name: "note".into(),
                data_type: "character varying(20)".into(),
                nullable: true,
                default: None,
                identity: None,
                generated: None,
            },
        ],
        indexes: vec![],
        constraints: references
            .map(|r| Constraint {
                name: format!("{name}_{r}_fkey"),
                kind: ConstraintKind::ForeignKey,
                definition: String::new(),
                columns: vec![],
                validated: true,
                references: Some(r.into()),
                on_delete: None,
            })
            .into_iter()
            .collect(),
        estimated_rows: rows,
        total_bytes: rows * 150,
        partition_of: None,
        inherits: vec![],
    }
}

/// A shop with `rows` rows per table.
fn shop(rows: i64) -> SchemaSnapshot {
    SchemaSnapshot {
        schemas: vec!["public".into()],
        tables: vec![
            table("customers", rows, None),
            table("orders", rows, Some("customers")),
            table("order_items", rows, Some("orders")),
            table("empty", 0, None),
            table("big", 10_000_000, None),
        ],
        ..Default::default()
    }
}

fn run(sql: &str, snapshot: Option<&SchemaSnapshot>) -> Analysis {
    analyze(&autodb_core::sql::parse(sql).unwrap(), snapshot)
}

fn score(sql: &str, rows: i64) -> (u8, RiskCategory) {
    let a = run(sql, Some(&shop(rows)));
    (a.risk_score, a.risk_category)
}

#[test]
fn size_changes_the_score_of_the_same_statement() {
    for sql in [
        "ALTER TABLE big ALTER COLUMN id TYPE bigint",
        "CREATE INDEX i ON big (note)",
        "ALTER TABLE big ADD CONSTRAINT c CHECK (id > 0)",
        "DROP TABLE big",
        "ALTER TABLE big ADD COLUMN a text",
        "UPDATE big SET note = 'x'",
    ] {
        let on_empty = run(&sql.replace("big", "empty"), Some(&shop(0))).risk_score;
        let on_big = run(sql, Some(&shop(0))).risk_score;
        assert!(on_big > on_empty, "{sql}: {on_big} vs {on_empty}");
    }
}

#[test]
fn dangerous_statements_on_large_tables_are_critical_or_high() {
    let big = |sql: &str| run(sql, Some(&shop(0))).risk_category;
    assert_eq!(
        big("ALTER TABLE big ALTER COLUMN id TYPE bigint"),
        RiskCategory::Critical
    );
    assert_eq!(
        big("ALTER TABLE big ADD COLUMN seq bigserial"),
        RiskCategory::Critical
    );
    assert_eq!(big("DROP TABLE big"), RiskCategory::Critical);
    assert_eq!(
        big("ALTER TABLE big ADD CONSTRAINT c CHECK (id > 0)"),
        RiskCategory::Critical
    );
    assert_eq!(big("CREATE INDEX i ON big (note)"), RiskCategory::High);
    // Overwrites every one of ten million rows: data loss at that size is critical.
    assert_eq!(big("UPDATE big SET note = 'x'"), RiskCategory::Critical);
    assert_eq!(
        big("UPDATE big SET note = 'x' WHERE id = 1"),
        RiskCategory::Low
    );
}

#[test]
fn safe_forms_on_large_tables_are_low_or_medium() {
    let big = |sql: &str| run(sql, Some(&shop(0))).risk_category;
    // Neither blocks reads nor writes.
    assert_eq!(
        big("CREATE INDEX CONCURRENTLY i ON big (note)"),
        RiskCategory::Low
    );
    assert_eq!(
        big("ALTER TABLE big VALIDATE CONSTRAINT c"),
        RiskCategory::Low
    );
    assert_eq!(
        big("CREATE TABLE t (id bigint PRIMARY KEY)"),
        RiskCategory::Low
    );
    // Catalog updates under ACCESS EXCLUSIVE: brief, but every query on the table queues
    // behind the lock while it waits, so never low on a table that holds data.
    for sql in [
        "ALTER TABLE big ADD COLUMN a text",
        "ALTER TABLE big ADD COLUMN a text DEFAULT 'x'",
        "ALTER TABLE big ADD CONSTRAINT c CHECK (id > 0) NOT VALID",
        // Binary-coercible type changes, recognized from the snapshot.
        "ALTER TABLE big ALTER COLUMN note TYPE text",
        "ALTER TABLE big ALTER COLUMN note TYPE varchar(64)",
    ] {
        assert_eq!(big(sql), RiskCategory::Medium, "{sql}");
    }
}

/// Every statement taking SHARE or stronger on an existing table is at least medium, unless
/// it only updates the catalog of an empty table.
#[test]
fn write_blocking_locks_on_existing_tables_are_at_least_medium() {
    let big = |sql: &str| run(sql, Some(&shop(0)));
    for sql in [
        "LOCK TABLE big IN ACCESS EXCLUSIVE MODE",
        "LOCK TABLE big IN SHARE MODE",
        "DROP INDEX big_note_idx",
        "CREATE TRIGGER t BEFORE INSERT ON big FOR EACH ROW EXECUTE FUNCTION f()",
        "ALTER TABLE big ADD COLUMN a text",
    ] {
        let a = big(sql);
        assert!(
            a.risk_category >= RiskCategory::Medium,
            "{sql}: {}",
            a.risk_score
        );
    }
    // Weaker locks, a catalog update of an empty table and a new table stay low.
    let empty = run("ALTER TABLE empty ADD COLUMN a text", Some(&shop(0)));
    for (sql, a) in [
        ("LOCK TABLE big IN ROW EXCLUSIVE MODE", big("LOCK TABLE big IN ROW EXCLUSIVE MODE")),
        ("ALTER TABLE big SET (fillfactor = 70)", big("ALTER TABLE big SET (fillfactor = 70)")),
        ("ALTER TABLE empty ADD COLUMN a text", empty),
        (
            "CREATE TABLE n (id int); CREATE TRIGGER t BEFORE INSERT ON n FOR EACH ROW EXECUTE FUNCTION f()",
            big("CREATE TABLE n (id int); CREATE TRIGGER t BEFORE INSERT ON n FOR EACH ROW EXECUTE FUNCTION f()"),
        ),
    ] {
        assert_eq!(a.risk_category, RiskCategory::Low, "{sql}: {}", a.risk_score);
    }
}

#[test]
fn truncate_cascade_is_critical() {
    let a = run("TRUNCATE big CASCADE", None);
    assert_eq!(a.risk_category, RiskCategory::Critical, "{}", a.risk_score);
    let plain = run("TRUNCATE big", None);
    assert_eq!(
        plain.risk_category,
        RiskCategory::High,
        "{}",
        plain.risk_score
    );
}

/// A slow statement after an ALTER TABLE in the same transaction keeps the ACCESS EXCLUSIVE
/// lock for its whole run: as dangerous as the rewrite itself, and the file's score follows.
#[test]
fn a_slow_statement_under_an_earlier_lock_scores_the_whole_window() {
    let rewrite = run(
        "ALTER TABLE big ALTER COLUMN id TYPE bigint",
        Some(&shop(1_000)),
    );
    for follow in [
        "UPDATE big SET note = 'x'",
        "CREATE INDEX i ON big (note)",
        "UPDATE orders SET note = 'x'",
    ] {
        let sql = format!("ALTER TABLE big ADD COLUMN a text; {follow}");
        let a = run(&sql, Some(&shop(1_000)));
        assert!(
            a.statements[1].risk_score >= rewrite.risk_score,
            "{follow}: {} vs {}",
            a.statements[1].risk_score,
            rewrite.risk_score
        );
        assert_eq!(a.risk_score, a.statements[1].risk_score, "{follow}");
    }
    // Without the earlier lock, the same UPDATE of a small table is not critical.
    let alone = run("UPDATE orders SET note = 'x'", Some(&shop(1_000)));
    assert!(
        alone.risk_score < rewrite.risk_score,
        "{}",
        alone.risk_score
    );
    // In separate transactions the lock is gone before the statement starts.
    let split = run(
        "ALTER TABLE big ADD COLUMN a text; CREATE INDEX CONCURRENTLY i ON big (note); UPDATE orders SET note = 'x'",
        Some(&shop(1_000)),
    );
    assert_eq!(split.statements[2].risk_score, alone.risk_score);
}

#[test]
fn without_a_snapshot_rewrites_are_scored_cautiously() {
    let a = run("ALTER TABLE orders ALTER COLUMN note TYPE text", None);
    assert!(a.risk_category >= RiskCategory::High, "{}", a.risk_score);
}

#[test]
fn unknown_statements_are_never_low() {
    let a = run("DO $$ BEGIN EXECUTE 'DROP TABLE orders'; END $$", None);
    assert!(a.risk_score >= 50, "{}", a.risk_score);
    assert!(a.statements[0]
        .findings
        .iter()
        .any(|f| f.rule.id() == "unknown-statement"));
}

#[test]
fn the_migration_score_is_the_maximum() {
    let a = run(
        "CREATE TABLE t (id bigint); ALTER TABLE big ALTER COLUMN id TYPE bigint; SELECT 1",
        Some(&shop(0)),
    );
    let max = a.statements.iter().map(|s| s.risk_score).max().unwrap();
    assert_eq!(a.risk_score, max);
    assert_eq!(a.risk_score, a.statements[1].risk_score);
    assert_eq!(a.risk_category, RiskCategory::of(a.risk_score));
}

#[test]
fn customers_reach_orders_and_order_items() {
    let a = run(
        "ALTER TABLE customers ADD COLUMN tier text",
        Some(&shop(1_000)),
    );
    type Row<'a> = (&'a str, Impact, Option<Vec<String>>, Option<i64>);
    let got: Vec<Row> = a
        .affected_tables
        .iter()
        .map(|t| {
            (
                t.table.as_str(),
                t.impact,
                t.cascade_path.clone(),
                t.estimated_rows,
            )
        })
        .collect();
    let path = |p: &[&str]| Some(p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        got,
        vec![
            ("customers", Impact::Direct, None, Some(1_000)),
            (
                "orders",
                Impact::Cascade,
                path(&["customers", "orders"]),
                Some(1_000)
            ),
            (
                "order_items",
                Impact::Cascade,
                path(&["customers", "orders", "order_items"]),
                Some(1_000)
            ),
        ]
    );
}

#[test]
fn a_scan_while_holding_access_exclusive_is_scored_as_blocking_reads() {
    let alone = run("ALTER TABLE big VALIDATE CONSTRAINT c", Some(&shop(0)));
    let after_add = run(
        "ALTER TABLE big ADD CONSTRAINT c CHECK (id > 0) NOT VALID; ALTER TABLE big VALIDATE CONSTRAINT c",
        Some(&shop(0)),
    );
    assert_eq!(alone.risk_category, RiskCategory::Low);
    assert_eq!(
        after_add.statements[1].risk_category,
        RiskCategory::Critical
    );
}

#[test]
fn refreshing_concurrently_blocks_only_other_refreshes() {
    let plain = run("REFRESH MATERIALIZED VIEW mv", None).risk_score;
    let concurrent = run("REFRESH MATERIALIZED VIEW CONCURRENTLY mv", None).risk_score;
    assert!(
        concurrent < 25 && plain > concurrent,
        "{plain} vs {concurrent}"
    );
}

#[test]
fn a_new_table_does_not_count_as_at_risk() {
    let (score, category) = score(
        "CREATE TABLE t (id bigint, c bigint); CREATE INDEX ti ON t (c); ALTER TABLE t ADD COLUMN s bigserial",
        10_000_000,
    );
    assert_eq!(category, RiskCategory::Low, "{score}");
}

#[test]
fn losing_data_that_exists_is_at_least_high() {
    // 12 000 rows: small, but dropping them cannot be undone.
    for sql in [
        "DROP TABLE order_items",
        "TRUNCATE order_items",
        "ALTER TABLE order_items DROP COLUMN note",
    ] {
        let (s, category) = score(sql, 12_000);
        assert!(category >= RiskCategory::High, "{sql}: {s}");
    }
    let (big, category) = score("DROP TABLE big", 0);
    assert_eq!(category, RiskCategory::Critical, "{big}");
    // An empty table loses no data (dropping it can still break its clients: medium).
    let (empty, category) = score("DROP TABLE empty", 0);
    assert!(category < RiskCategory::High, "{empty}");
    let (truncate_empty, _) = score("TRUNCATE empty", 0);
    assert_eq!(truncate_empty, 20);
    // Without a snapshot the table may hold data.
    let offline = run("DROP TABLE t", None);
    assert!(
        offline.risk_category >= RiskCategory::High,
        "{}",
        offline.risk_score
    );
}

/// The rules that say what a disruptive statement breaks.
const DISRUPTION_RULES: &[&str] = &[
    "privilege-change",
    "role-change",
    "ownership-change",
    "server-configuration",
    "database-level",
    "interrupts-backends",
    "writes-system-catalog",
    "server-side-program",
    "server-side-file",
    "cross-database-call",
];

fn disruption_findings(a: &Analysis) -> Vec<&'static str> {
    a.statements
        .iter()
        .flat_map(|s| &s.findings)
        .map(|f| f.rule.id())
        .filter(|id| DISRUPTION_RULES.contains(id))
        .collect()
}

#[test]
fn disruptive_statements_are_never_low() {
    let high = [
        ("REVOKE SELECT ON orders FROM app", "privilege-change"),
        (
            "REVOKE ALL ON SCHEMA public FROM PUBLIC",
            "privilege-change",
        ),
        ("ALTER ROLE app NOLOGIN", "role-change"),
        ("DROP ROLE app", "role-change"),
        (
            "ALTER SYSTEM SET max_connections = 10",
            "server-configuration",
        ),
        (
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'",
            "interrupts-backends",
        ),
        (
            "UPDATE pg_catalog.pg_class SET relname = 'x' WHERE oid = 1",
            "writes-system-catalog",
        ),
        ("COPY t FROM PROGRAM 'curl evil'", "server-side-program"),
        ("COPY t TO '/tmp/x'", "server-side-file"),
        ("ALTER DATABASE shop SET search_path = x", "database-level"),
    ];
    let medium = [
        (
            "SELECT pg_catalog.pg_cancel_backend(123)",
            "interrupts-backends",
        ),
        (
            "SELECT dblink_exec('dbname=other', 'DROP TABLE t')",
            "cross-database-call",
        ),
        ("GRANT app TO intruder", "privilege-change"),
        ("ALTER TABLE t OWNER TO other", "ownership-change"),
        ("CREATE ROLE x", "role-change"),
    ];
    for (sql, rule) in high {
        for snapshot in [None, Some(&shop(0))] {
            let a = run(sql, snapshot);
            assert!(
                a.risk_category >= RiskCategory::High,
                "{sql}: {}",
                a.risk_score
            );
            assert_eq!(disruption_findings(&a), vec![rule], "{sql}");
        }
    }
    for (sql, rule) in medium {
        for snapshot in [None, Some(&shop(0))] {
            let a = run(sql, snapshot);
            assert_eq!(
                a.risk_category,
                RiskCategory::Medium,
                "{sql}: {}",
                a.risk_score
            );
            assert_eq!(disruption_findings(&a), vec![rule], "{sql}");
        }
    }
}

#[test]
fn silencing_a_disruption_rule_keeps_the_score() {
    for (sql, rule) in [
        ("REVOKE SELECT ON orders FROM app", "privilege-change"),
        ("ALTER ROLE app NOLOGIN", "role-change"),
        ("SELECT pg_cancel_backend(123)", "interrupts-backends"),
    ] {
        let plain = run(sql, None);
        let ignored = run(&format!("-- autodb:ignore {rule}\n{sql}"), None);
        assert!(disruption_findings(&ignored).is_empty(), "{sql}");
        assert_eq!(ignored.risk_score, plain.risk_score, "{sql}");
        assert!(ignored.risk_category >= RiskCategory::Medium, "{sql}");
    }
}

#[test]
fn ordinary_statements_are_not_disruptive() {
    for sql in [
        "CREATE TABLE t (id bigint)",
        "SELECT 1",
        "SELECT now()",
        "SELECT relname FROM pg_catalog.pg_class",
        "COPY orders FROM STDIN",
        "SET search_path = app",
    ] {
        let a = run(sql, Some(&shop(1_000)));
        assert!(disruption_findings(&a).is_empty(), "{sql}");
        assert_eq!(
            a.risk_category,
            RiskCategory::Low,
            "{sql}: {}",
            a.risk_score
        );
    }
}
