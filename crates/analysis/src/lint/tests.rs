//! Tests of the streaming walk, the exit codes and the settings (the reporters are tested in
//! the `autodb-lint` crate).

use super::*;

fn reports(files: &[(&str, &str)]) -> Vec<FileReport> {
    files.iter().map(|(p, sql)| lint_source(p, sql)).collect()
}

use crate::Runner;

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
fn a_load_error_stops_the_walk_and_names_the_file() {
    let paths = vec!["a.sql".to_string(), "gone.sql".to_string(), "c.sql".into()];
    let mut seen = Vec::new();
    let err = lint_history(
        &paths,
        |p: &str| {
            if p == "gone.sql" {
                Err("missing")
            } else {
                Ok("SELECT 1;".to_string())
            }
        },
        &mut History::new(Runner::default()),
        &Config::default(),
        |_, r| seen.push(r.path),
    )
    .unwrap_err();
    assert_eq!(err, ("gone.sql".to_string(), "missing"));
    assert_eq!(seen, ["a.sql"]);
}

#[test]
fn the_walk_keeps_the_order_over_many_files() {
    let paths: Vec<String> = (0..50).map(|i| format!("{i:03}.sql")).collect();
    let mut seen = Vec::new();
    lint_history(
        &paths,
        |p: &str| Ok::<_, ()>(format!("CREATE TABLE t{} (id int);", &p[..3])),
        &mut History::new(Runner::default()),
        &Config::default(),
        |_, r| seen.push(r.path),
    )
    .unwrap();
    assert_eq!(seen, paths);
}

fn config(toml_like: &[(&str, serde_json::Value)]) -> Result<Config, String> {
    let map: serde_json::Map<String, serde_json::Value> = toml_like
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    serde_json::from_value::<Config>(serde_json::Value::Object(map))
        .map_err(|e| e.to_string())?
        .validated()
        .map_err(|e| e.to_string())
}

#[test]
fn config_excludes_rules_and_rejects_unknown_names_and_keys() {
    let c = config(&[(
        "exclude",
        serde_json::json!(["require-concurrent-index-creation"]),
    )])
    .unwrap();
    let stmts = autodb_core::sql::parse("CREATE INDEX i ON t (a);").unwrap();
    let mut a = crate::analyze(&stmts, None);
    let score = a.risk_score;
    assert!(a.statements[0]
        .findings
        .iter()
        .any(|f| f.rule == crate::Rule::RequireConcurrentIndexCreation));
    c.drop_excluded(&mut a);
    assert!(a.statements[0]
        .findings
        .iter()
        .all(|f| f.rule != crate::Rule::RequireConcurrentIndexCreation));
    assert_eq!(a.risk_score, score, "scores come from the statement");
    let err = config(&[("exclude", serde_json::json!(["no-such-rule"]))]).unwrap_err();
    assert!(err.contains("no-such-rule"), "{err}");
    assert!(config(&[("exlcude", serde_json::json!([]))]).is_err());
}

#[test]
fn config_without_a_transaction_holds_no_lock_across_statements() {
    let sql = "ALTER TABLE t ADD COLUMN a int; UPDATE t SET a = 1;";
    let stmts = autodb_core::sql::parse(sql).unwrap();
    let in_tx = crate::analyze_for(&stmts, None, Config::default().runner());
    let off = config(&[("transaction", serde_json::json!(false))]).unwrap();
    let alone = crate::analyze_for(&stmts, None, off.runner());
    assert!(
        alone.statements[1].risk_score < in_tx.statements[1].risk_score,
        "the UPDATE no longer runs under the ALTER's ACCESS EXCLUSIVE: {} vs {}",
        alone.statements[1].risk_score,
        in_tx.statements[1].risk_score
    );
}

#[test]
fn config_sets_the_postgres_version_the_verdicts_assume() {
    let sql = "ALTER TABLE t ADD COLUMN status text DEFAULT 'new';";
    let stmts = autodb_core::sql::parse(sql).unwrap();
    let on = |c: &Config| crate::analyze_for(&stmts, None, c.runner());
    let pg10 = config(&[("postgres_version", serde_json::json!(10))]).unwrap();
    assert_eq!(pg10.postgres_version().map(|v| v.major()), Some(10));
    // No fast default before 11, and the report says what it assumed.
    let old = on(&pg10);
    assert!(old.statements[0].rewrites_table);
    assert_eq!(serde_json::to_value(&old).unwrap()["postgres_version"], 10);
    // The default is the parser's release.
    let newest = on(&Config::default());
    assert!(!newest.statements[0].rewrites_table);
    assert_eq!(newest.postgres_version.major(), 18);
    for bad in [9, 19] {
        let err = config(&[("postgres_version", bad.into())]).unwrap_err();
        assert!(err.contains("between 10 and 18"), "{err}");
    }
    assert!(config(&[("postgres_version", "13".into())]).is_err());
    assert!(config(&[("postgres", 13.into())]).is_err());
}
