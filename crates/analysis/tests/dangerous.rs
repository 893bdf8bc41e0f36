//! Statements a reviewer would call dangerous, against a populated shop: none of them may be
//! low, and each form scores at least the band the analysis promises for it (docs/analysis.md).
//! The issue that asked for this listed statements that all scored 0–20 and ran.

use autodb_analysis::{analyze, RiskCategory};
use autodb_core::schema::model::{
    Column, Constraint, ConstraintKind, Function, FunctionKind, Table, TableKind, Trigger, View,
};
use autodb_core::schema::SchemaSnapshot;

use RiskCategory::{Critical, High, Medium};

fn table(name: &str, rows: i64) -> Table {
    let column = |name: &str| Column {
        name: name.into(),
        data_type: "bigint".into(),
        nullable: true,
        default: None,
        identity: None,
        generated: None,
    };
    Table {
        schema: "public".into(),
        name: name.into(),
        kind: TableKind::Regular,
        columns: vec![column("id"), column("total"), column("order_id")],
        indexes: vec![],
        constraints: vec![],
        estimated_rows: rows,
        total_bytes: rows * 120,
        partition_of: None,
        inherits: vec![],
    }
}

fn function(name: &str, definition: &str) -> Function {
    Function {
        schema: "public".into(),
        name: name.into(),
        arguments: String::new(),
        kind: FunctionKind::Function,
        definition: definition.into(),
    }
}

/// orders (300k rows, an audit trigger, a view, order_items referencing it ON DELETE
/// CASCADE), an empty `events` parent whose inheritance child holds 200k rows, a partitioned
/// `metrics` whose partition holds 2M, and two functions of the database.
fn shop() -> SchemaSnapshot {
    let mut items = table("order_items", 900_000);
    items.constraints.push(Constraint {
        name: "order_items_order_fkey".into(),
        kind: ConstraintKind::ForeignKey,
        definition: "FOREIGN KEY (order_id) REFERENCES orders(id) ON DELETE CASCADE".into(),
        columns: vec!["order_id".into()],
        validated: true,
        references: Some("orders".into()),
        on_delete: Some("c".into()),
    });
    let mut child = table("events_2024", 200_000);
    child.inherits = vec!["events".into()];
    let mut metrics = table("metrics", 0);
    metrics.kind = TableKind::Partitioned;
    let mut part = table("metrics_2024", 2_000_000);
    part.partition_of = Some("metrics".into());
    SchemaSnapshot {
        schemas: vec!["public".into()],
        tables: vec![
            table("orders", 300_000),
            items,
            table("events", 0),
            child,
            metrics,
            part,
            table("customers", 50_000),
        ],
        views: vec![View {
            schema: "public".into(),
            name: "order_totals".into(),
            materialized: false,
            depends_on: vec!["orders".into()],
        }],
        triggers: vec![Trigger {
            schema: "public".into(),
            table: "orders".into(),
            name: "orders_audit".into(),
            definition: "CREATE TRIGGER orders_audit AFTER INSERT ON public.orders FOR EACH ROW \
                         EXECUTE FUNCTION audit_fn()"
                .into(),
            enabled: "O".into(),
        }],
        functions: vec![
            function(
                "audit_fn",
                "CREATE OR REPLACE FUNCTION public.audit_fn() RETURNS trigger LANGUAGE plpgsql \
                 AS $$ BEGIN INSERT INTO audit VALUES (NEW.id); RETURN NEW; END $$",
            ),
            function(
                "kick",
                "CREATE OR REPLACE FUNCTION public.kick() RETURNS void LANGUAGE plpgsql \
                 AS $$ BEGIN PERFORM pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE usename = 'app'; END $$",
            ),
        ],
        ..Default::default()
    }
}

/// `(migration, least category of its riskiest statement)`.
const DANGEROUS: &[(&str, RiskCategory)] = &[
    // Data loss.
    ("DELETE FROM orders WHERE true", High),
    ("DELETE FROM orders", High),
    ("DELETE FROM orders WHERE 1 = 1", High),
    ("DELETE FROM orders WHERE 'a' = 'a' OR id = 3", High),
    ("UPDATE orders SET total = 0 WHERE true", High),
    ("UPDATE orders SET total = 0", High),
    ("UPDATE metrics SET total = 0", Critical),
    ("WITH d AS (DELETE FROM orders RETURNING id) SELECT 1", High),
    ("WITH u AS (UPDATE orders SET total = 0 RETURNING id) SELECT count(*) FROM u", High),
    ("MERGE INTO orders o USING customers c ON o.id = c.id WHEN MATCHED THEN DELETE", High),
    ("MERGE INTO orders o USING customers c ON true WHEN MATCHED THEN UPDATE SET total = 0", High),
    ("TRUNCATE events", High),
    ("DELETE FROM events", High),
    ("TRUNCATE metrics", Critical),
    ("DELETE FROM metrics WHERE true", Critical),
    ("TRUNCATE orders CASCADE", Critical),
    ("DELETE FROM orders", Critical),
    ("DROP TABLE orders", Critical),
    ("ALTER TABLE orders DROP COLUMN total", High),
    // Behaviour.
    (
        "CREATE OR REPLACE FUNCTION audit_fn() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NULL; END $$",
        Medium,
    ),
    ("DROP FUNCTION audit_fn() CASCADE", Medium),
    ("ALTER SCHEMA public RENAME TO public_old", High),
    ("ALTER TABLE orders RENAME TO orders_old", High),
    ("ALTER TABLE orders RENAME COLUMN total TO amount", Medium),
    ("DROP TRIGGER orders_audit ON orders", High),
    ("DROP POLICY tenant_isolation ON orders", High),
    ("ALTER POLICY tenant_isolation ON orders USING (true)", High),
    // Opaque code.
    ("SELECT kick()", High),
    (
        "CREATE FUNCTION wipe() RETURNS void LANGUAGE sql AS 'DELETE FROM orders'; SELECT wipe()",
        High,
    ),
    (
        "CREATE FUNCTION k() RETURNS void LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_terminate_backend(pid) FROM pg_stat_activity; END $$; SELECT k()",
        High,
    ),
    (
        "CREATE FUNCTION d() RETURNS void LANGUAGE plpgsql AS $$ BEGIN COPY (SELECT 1) TO PROGRAM 'curl http://x'; END $$; SELECT d()",
        High,
    ),
    (
        "CREATE FUNCTION run(q text) RETURNS void LANGUAGE plpgsql SECURITY DEFINER AS $$ BEGIN EXECUTE q; END $$",
        High,
    ),
    ("DO $$ BEGIN PERFORM pg_terminate_backend(pid) FROM pg_stat_activity; END $$", High),
    ("DO $$ BEGIN DELETE FROM orders; END $$", High),
    ("SELECT audit_fn()", High),
    ("SELECT * FROM orders FOR UPDATE; SELECT pg_sleep(40)", High),
    ("SELECT * FROM orders FOR UPDATE", Medium),
    ("UPDATE orders SET total = 1 WHERE id = 1; SELECT pg_sleep(40)", High),
    // Server-level side effects.
    ("SELECT pg_create_logical_replication_slot('cdc', 'pgoutput')", High),
    ("SELECT pg_drop_replication_slot('cdc')", High),
    ("SELECT setval('orders_id_seq', 1)", Medium),
    ("ALTER SEQUENCE orders_id_seq RESTART", Medium),
    ("SELECT pg_stat_reset()", Medium),
    ("DROP SEQUENCE orders_id_seq CASCADE", High),
    ("ALTER TYPE status RENAME VALUE 'shipped' TO 'sent'", High),
    ("CREATE EXTENSION pgcrypto", High),
    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", High),
    ("COPY (SELECT 1) TO PROGRAM 'curl http://x'", High),
    ("ALTER SYSTEM SET fsync = off", High),
    ("REVOKE ALL ON orders FROM app", High),
    ("ALTER ROLE app NOLOGIN", High),
    ("DROP DATABASE other", High),
    // Locks.
    ("ALTER TABLE orders ALTER COLUMN total TYPE text", High),
    ("CREATE INDEX i ON order_items (order_id)", Medium),
    ("VACUUM FULL orders", High),
    ("LOCK TABLE orders IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(10)", High),
];

#[test]
fn no_dangerous_statement_is_low_and_each_reaches_its_band() {
    assert!(DANGEROUS.len() >= 40, "{}", DANGEROUS.len());
    let snap = shop();
    let mut wrong = Vec::new();
    for (sql, least) in DANGEROUS {
        let stmts = autodb_core::sql::parse(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
        let a = analyze(&stmts, Some(&snap));
        let worst = a.statements.iter().map(|s| s.risk_score).max().unwrap_or(0);
        if a.risk_category < *least || a.risk_category == RiskCategory::Low {
            wrong.push(format!(
                "{sql}: {} {:?}, wanted ≥ {least:?}",
                worst, a.risk_category
            ));
        }
        for s in &a.statements {
            assert_eq!(s.risk_category, RiskCategory::of(s.risk_score), "{sql}");
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The same forms with nothing to lose stay below the bands above: the floors are not a
/// blanket.
#[test]
fn the_same_forms_without_data_or_dependents_are_not_raised() {
    let snap = shop();
    for (sql, most) in [
        ("CREATE TABLE t (id int); DELETE FROM t", RiskCategory::Low),
        ("DELETE FROM orders WHERE id = 1", RiskCategory::Low),
        ("DELETE FROM ONLY events", RiskCategory::Medium),
        (
            "UPDATE customers SET total = 0 WHERE id = 7",
            RiskCategory::Low,
        ),
        (
            "CREATE OR REPLACE FUNCTION unused_fn() RETURNS int LANGUAGE sql AS 'SELECT 1'",
            RiskCategory::Low,
        ),
        ("SELECT now(), lower('X'), pg_sleep(1)", RiskCategory::Low),
        (
            "ALTER TABLE customers RENAME COLUMN total TO amount",
            RiskCategory::Medium,
        ),
        ("SELECT * FROM orders", RiskCategory::Low),
    ] {
        let a = analyze(&autodb_core::sql::parse(sql).unwrap(), Some(&snap));
        assert!(
            a.risk_category <= most,
            "{sql}: {} {:?}",
            a.risk_score,
            a.risk_category
        );
    }
}
