//! Tests of the lint report and exit codes.

use super::*;

fn reports(files: &[(&str, &str)]) -> Vec<FileReport> {
    files.iter().map(|(p, sql)| lint_source(p, sql)).collect()
}

#[test]
fn exit_code_is_two_on_a_parse_error_whatever_else() {
    let r = reports(&[
        ("ok.sql", "SELECT 1;"),
        ("bad.sql", "ALTER TABEL t ADD COLUMN a int;"),
    ]);
    assert_eq!(lint_exit_code(&r, RiskCategory::Critical), 2);
}

#[test]
fn exit_code_is_one_above_max_risk_only() {
    let r = reports(&[("drop.sql", "DROP TABLE orders;")]);
    let category = r[0].outcome.as_ref().unwrap().risk_category;
    assert_eq!(category, RiskCategory::High);
    assert_eq!(lint_exit_code(&r, RiskCategory::Medium), 1);
    assert_eq!(lint_exit_code(&r, RiskCategory::High), 0);
    let safe = reports(&[("safe.sql", "CREATE TABLE t (id bigint PRIMARY KEY);")]);
    assert_eq!(lint_exit_code(&safe, RiskCategory::Low), 0);
}

#[test]
fn json_for_one_file_is_the_analyze_report_plus_file() {
    let r = reports(&[("a.sql", "ALTER TABLE orders DROP COLUMN note;")]);
    let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
    assert_eq!(json["file"], "a.sql");
    assert_eq!(
        json["statements"][0]["findings"][0]["rule"],
        "ban-drop-column"
    );
    assert!(json["risk_score"].as_u64().unwrap() >= 50);
    assert_eq!(json["risk_category"], "high");
    assert!(json.get("error").is_none());
}

#[test]
fn json_for_several_files_is_an_array_with_errors_inline() {
    let r = reports(&[("a.sql", "SELECT 1;"), ("b.sql", "SELEC 1;")]);
    let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["file"], "b.sql");
    assert_eq!(json[1]["error"]["line"], 1);
    assert!(json[1].get("statements").is_none());
}

#[test]
fn text_report_reads_well() {
    let r = reports(&[
        (
            "migrations/001.sql",
            "SET lock_timeout = '2s';\nCREATE INDEX orders_created_idx ON orders (created_at);\n-- autodb:ignore prefer-robust-stmts\nDROP INDEX CONCURRENTLY orders_old_idx;",
        ),
        ("migrations/002.sql", "ALTER TABLE orders ADD COLUMN;"),
    ]);
    insta::assert_snapshot!(render_text(&r));
}

#[test]
fn many_files_keep_their_order_and_verdicts() {
    let inputs: Vec<(String, String)> = (0..9)
        .map(|i| {
            let sql = if i % 3 == 0 {
                "DROP TABLE t;"
            } else {
                "SELECT 1;"
            };
            (format!("{i}.sql"), sql.to_string())
        })
        .collect();
    let reports = lint_sources(&inputs);
    let paths: Vec<&str> = reports.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(
        paths,
        ["0.sql", "1.sql", "2.sql", "3.sql", "4.sql", "5.sql", "6.sql", "7.sql", "8.sql"]
    );
    for (i, r) in reports.iter().enumerate() {
        let high = r.outcome.as_ref().unwrap().risk_category >= RiskCategory::High;
        assert_eq!(high, i % 3 == 0, "{i}");
    }
}

#[test]
fn psql_meta_commands_are_info_and_refused_ones_a_parse_error() {
    let sql = "\\set ON_ERROR_STOP 1\nCREATE TABLE t (id bigint PRIMARY KEY);\n";
    let r = reports(&[("psql.sql", sql)]);
    assert_eq!(lint_exit_code(&r, RiskCategory::Low), 0);
    let text = render_text(&r);
    assert!(
        text.contains("psql.sql:1 psql \\set — left out: sets whether psql stops"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&render_json(&r)).unwrap();
    assert_eq!(json["psql_commands"][0]["line"], 1);
    assert_eq!(json["psql_commands"][0]["command"], "\\set");
    let plain = reports(&[("plain.sql", "SELECT 1;")]);
    let json: serde_json::Value = serde_json::from_str(&render_json(&plain)).unwrap();
    assert!(json.get("psql_commands").is_none());

    let r = reports(&[("include.sql", "SELECT 1;\n\\i other.sql\n")]);
    assert_eq!(lint_exit_code(&r, RiskCategory::Critical), 2);
    assert!(
        render_text(&r).contains("include.sql:2:1: parse error: psql meta-command \\i on line 2"),
        "{}",
        render_text(&r)
    );
}
