//! A write to a view changes its base tables: `DELETE FROM staging` where `staging` is a view
//! (a temporary one created a statement earlier, or one the schema has) is judged as a
//! delete from the table behind it, never as a write to something new and empty.

use autodb_analysis::{analyze, RiskCategory};
use autodb_core::schema::model::{Column, Table, TableKind, View};
use autodb_core::schema::SchemaSnapshot;

fn shop() -> SchemaSnapshot {
    SchemaSnapshot {
        schemas: vec!["public".into()],
        tables: vec![Table {
            schema: "public".into(),
            name: "orders".into(),
            kind: TableKind::Regular,
            columns: vec![Column {
                name: "id".into(),
                data_type: "integer".into(),
                nullable: false,
                default: None,
                identity: None,
                generated: None,
            }],
            indexes: vec![],
            constraints: vec![],
            estimated_rows: 300_000,
            total_bytes: 300_000 * 150,
            partition_of: None,
            inherits: vec![],
        }],
        views: vec![View {
            schema: "public".into(),
            name: "recent_orders".into(),
            materialized: false,
            depends_on: vec!["orders".into()],
        }],
        ..Default::default()
    }
}

fn last(sql: &str) -> autodb_analysis::StatementReport {
    let snapshot = shop();
    let mut a = analyze(&autodb_core::sql::parse(sql).unwrap(), Some(&snapshot));
    a.statements.pop().unwrap()
}

#[test]
fn a_delete_through_a_view_created_earlier_reaches_its_table() {
    for sql in [
        "CREATE TEMP VIEW staging AS SELECT * FROM public.orders; DELETE FROM staging",
        "CREATE VIEW staging AS SELECT * FROM orders; DELETE FROM staging",
        "CREATE VIEW a AS SELECT * FROM orders; CREATE VIEW b AS SELECT * FROM a; DELETE FROM b",
        "DELETE FROM recent_orders",
    ] {
        let stmt = last(sql);
        assert!(
            stmt.tables.iter().any(|t| t == "orders"),
            "{sql}: {:?}",
            stmt.tables
        );
        assert!(stmt.destructive, "{sql}");
        assert!(
            stmt.risk_category >= RiskCategory::High,
            "{sql}: {} {:?}",
            stmt.risk_score,
            stmt.risk_category
        );
    }
}

#[test]
fn a_write_to_a_table_reaches_only_that_table() {
    let stmt = last("CREATE TABLE staging (id int); DELETE FROM staging");
    assert_eq!(stmt.tables, ["staging"]);
}
