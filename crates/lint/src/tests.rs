//! Tests of the reporters, over reports of the engine.

use autodb_analysis::history::History;
use autodb_analysis::lint::{lint_exit_code, lint_history, lint_source, Config};
use autodb_analysis::{RiskCategory, Runner};

use super::*;
use crate::ci::{data, property};

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
