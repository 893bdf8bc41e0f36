//! The JSON shape of the report is the analyze endpoint's contract (`docs/openapi.yaml`).

use autodb_analysis::analyze;

#[test]
fn statement_fields_match_the_contract() {
    let stmts = autodb_core::sql::parse(
        "SET lock_timeout = '2s';\nALTER TABLE orders ADD CONSTRAINT fk FOREIGN KEY (customer_id) REFERENCES customers (id);",
    )
    .unwrap();
    let json = serde_json::to_value(analyze(&stmts, None)).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&json),
        [
            "affected_tables",
            "atomic",
            "dependent_views",
            "drift_scope",
            "postgres_version",
            "refused",
            "risk_category",
            "risk_score",
            "statements",
            "total_statements",
            "transactions"
        ]
    );
    let stmt = &json["statements"][1];
    assert_eq!(
        keys(stmt),
        [
            "columns",
            "destructive",
            "findings",
            "index",
            "lock",
            "operation",
            "rewrites_table",
            "risk_category",
            "risk_score",
            "scans_table",
            "sql",
            "tables",
            "transactional"
        ]
    );
    assert_eq!(
        keys(&stmt["lock"]),
        ["blocks_reads", "blocks_writes", "mode", "tables"]
    );
    assert_eq!(
        keys(&stmt["findings"][0]),
        ["message", "rule", "safe_alternative", "severity"]
    );
    assert_eq!(
        keys(&json["affected_tables"][0]),
        ["cascade_path", "estimated_rows", "impact", "table"]
    );
    insta::assert_snapshot!(serde_json::to_string_pretty(&json).unwrap());
}
