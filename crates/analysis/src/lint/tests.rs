//! Tests of the lint report, its reporters, the streaming walk and the exit codes.

use super::*;

fn reports(files: &[(&str, &str)]) -> Vec<FileReport> {
    files.iter().map(|(p, sql)| lint_source(p, sql)).collect()
}

/// A history of two files as the CLI lints it, rendered in `format`.
fn rendered(format: Format, files: &[(&str, &str)]) -> String {
    let paths: Vec<String> = files.iter().map(|(p, _)| p.to_string()).collect();
    let load = |p: &str| -> Result<String, ()> {
        Ok(files.iter().find(|(q, _)| *q == p).unwrap().1.to_string())
    };
    let mut history = History::new(Runner::default());
    let mut renderer = Renderer::new(format, files.len(), false);
    let mut out = renderer.start();
    lint_history(&paths, load, &mut history, &Config::default(), |src, r| {
        out.push_str(&renderer.file(&r, src));
    })
    .unwrap();
    out.push_str(&renderer.finish());
    out
}

use crate::Runner;

const HISTORY: [(&str, &str); 2] = [
    (
        "migrations/001_init.sql",
        "CREATE TABLE accounts (id bigint PRIMARY KEY, bio varchar(1024));\n",
    ),
    (
        "migrations/002_change.sql",
        "-- widen\nALTER TABLE accounts ALTER COLUMN bio TYPE text;\n\tALTER TABLE accounts ADD COLUMN n int NOT NULL;\nCREATE INDEX accounts_n ON accounts (n);\n",
    ),
];

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
    let out = render(Format::Json, &[(r[0].clone(), "")], false);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["file"], "a.sql");
    assert_eq!(json["sizes_known"], false);
    assert_eq!(
        json["statements"][0]["findings"][0]["rule"],
        "ban-drop-column"
    );
    assert!(json["risk_score"].as_u64().unwrap() >= 50);
    assert_eq!(json["risk_category"], "high");
    assert!(json.get("error").is_none());
}

#[test]
fn json_for_several_files_is_an_array_and_a_parse_error_has_error() {
    let out = rendered(Format::Json, &[HISTORY[0], ("bad.sql", "ALTER TABEL x;")]);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    assert_eq!(json[1]["file"], "bad.sql");
    assert_eq!(json[1]["error"]["line"], 1);
    assert!(json[1].get("statements").is_none());
}

#[test]
fn the_text_report_frames_each_finding_at_its_line_and_column() {
    let out = rendered(Format::Text { color: false }, &HISTORY);
    assert!(!out.contains('\x1b'), "no colour unless asked");
    assert!(
        out.contains("migrations/002_change.sql:3:2 ALTER TABLE"),
        "{out}"
    );
    assert!(out.contains("table sizes unknown"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn the_text_report_is_coloured_only_when_asked() {
    let out = rendered(Format::Text { color: true }, &HISTORY);
    assert!(out.contains("\x1b[1;31merror\x1b[0m"), "{out}");
}

#[test]
fn a_parse_error_is_framed_at_its_position() {
    let out = rendered(
        Format::Text { color: false },
        &[("bad.sql", "SELECT 1;\nALTER TABEL x;\n")],
    );
    insta::assert_snapshot!(out);
}

#[test]
fn github_annotations_name_file_line_and_column() {
    let out = rendered(Format::Github, &HISTORY);
    assert!(out.lines().all(
        |l| l.starts_with("::error file=migrations/002_change.sql,line=")
            || l.starts_with("::warning ")
            || l.starts_with("::notice ")
    ));
    insta::assert_snapshot!(out);
}

#[test]
fn github_escapes_what_would_end_a_property_or_a_message() {
    assert_eq!(property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
    assert_eq!(data("50%\r\nx"), "50%25%0D%0Ax");
}

use ci::{data, property};

#[test]
fn gitlab_code_quality_is_a_json_array_with_stable_fingerprints() {
    let out = rendered(Format::Gitlab, &HISTORY);
    let issues: serde_json::Value = serde_json::from_str(&out).unwrap();
    let issues = issues.as_array().unwrap();
    assert!(!issues.is_empty());
    for i in issues {
        for key in ["description", "check_name", "fingerprint", "severity"] {
            assert!(i[key].is_string(), "{key} in {i}");
        }
        assert!(i["location"]["path"]
            .as_str()
            .unwrap()
            .starts_with("migrations/00"));
        assert!(i["location"]["lines"]["begin"].as_u64().unwrap() >= 1);
    }
    let fingerprints: std::collections::HashSet<&str> = issues
        .iter()
        .map(|i| i["fingerprint"].as_str().unwrap())
        .collect();
    assert_eq!(fingerprints.len(), issues.len(), "unique");
    // Lines added above the statement do not change the fingerprint.
    let shifted = format!("\n\n{}", HISTORY[1].1);
    let moved = rendered(Format::Gitlab, &[HISTORY[0], (HISTORY[1].0, &shifted)]);
    let moved: serde_json::Value = serde_json::from_str(&moved).unwrap();
    assert_eq!(moved[1]["fingerprint"], issues[1]["fingerprint"]);
    assert_eq!(moved[1]["location"]["lines"]["begin"], 4);
    assert_eq!(issues[1]["location"]["lines"]["begin"], 2);
    insta::assert_snapshot!(out);
}

#[test]
fn gitlab_with_no_issues_in_the_first_file_is_still_valid_json() {
    let out = rendered(
        Format::Gitlab,
        &[("a.sql", "SELECT 1;"), ("b.sql", "DROP TABLE t;")],
    );
    let issues: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(!issues.as_array().unwrap().is_empty());
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
    c.apply(&mut a);
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

#[test]
fn psql_meta_commands_are_info_and_refused_ones_a_parse_error() {
    let sql = "\\set ON_ERROR_STOP 1\nCREATE TABLE t (id bigint PRIMARY KEY);\n";
    let r = reports(&[("psql.sql", sql)]);
    assert_eq!(lint_exit_code(&r, RiskCategory::Low), 0);
    let text = rendered(Format::Text { color: false }, &[("psql.sql", sql)]);
    assert!(
        text.contains("psql.sql:1 psql \\set — left out: sets whether psql stops"),
        "{text}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&rendered(Format::Json, &[("psql.sql", sql)])).unwrap();
    let file = if json.is_array() { &json[0] } else { &json };
    assert_eq!(file["psql_commands"][0]["line"], 1, "{json}");
    assert_eq!(file["psql_commands"][0]["command"], "\\set");
    let plain: serde_json::Value =
        serde_json::from_str(&rendered(Format::Json, &[("plain.sql", "SELECT 1;")])).unwrap();
    let file = if plain.is_array() { &plain[0] } else { &plain };
    assert!(file.get("psql_commands").is_none());

    let include = [("include.sql", "SELECT 1;\n\\i other.sql\n")];
    assert_eq!(
        lint_exit_code(&reports(&include), RiskCategory::Critical),
        2
    );
    let text = rendered(Format::Text { color: false }, &include);
    assert!(text.contains("psql meta-command \\i on line 2"), "{text}");
}
