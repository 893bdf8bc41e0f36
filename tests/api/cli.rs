//! `autodb lint`: the offline command, run as a user runs it.

use std::process::Command;

use crate::helpers::TempDir;

fn lint(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_autodb"))
        .arg("lint")
        .args(args)
        .output()
        .expect("run autodb");
    (
        out.status.code().expect("exit code"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn lint_exit_codes_follow_max_risk_and_parse_errors() {
    let dir = TempDir::new();
    let write = |name: &str, sql: &str| {
        let path = dir.0.join(name);
        std::fs::write(&path, sql).unwrap();
        path.to_string_lossy().into_owned()
    };
    let safe = write("safe.sql", "CREATE TABLE t (id bigint PRIMARY KEY);\n");
    let risky = write(
        "risky.sql",
        "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);\nDROP TABLE customers;\n",
    );
    let broken = write("broken.sql", "ALTER TABEL x;\n");

    let (code, text, _) = lint(&[&safe]);
    assert_eq!(code, 0, "{text}");
    let (code, text, _) = lint(&["--max-risk", "low", &risky]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("ban-drop-table") || text.contains("DROP TABLE"),
        "{text}"
    );
    let (code, _, _) = lint(&["--max-risk", "critical", &risky]);
    assert_eq!(code, 0, "nothing is above critical");

    let (code, json, _) = lint(&["--json", "--max-risk", "critical", &risky]);
    assert_eq!(code, 0);
    let report: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(report["total_statements"], 2);
    assert_eq!(report["statements"][1]["destructive"], true);
    assert!(report["risk_score"].as_u64().unwrap() >= 50);
    assert!(report["risk_category"].is_string());

    let (code, text, _) = lint(&[&safe, &broken]);
    assert_eq!(code, 2, "a parse error wins: {text}");
    assert!(text.contains("TABEL"), "{text}");
    let (code, _, err) = lint(&[&dir.0.join("missing.sql").to_string_lossy()]);
    assert_eq!(code, 2);
    assert!(err.contains("missing.sql"), "{err}");
    let (code, _, err) = lint(&["--max-risk", "extreme", &safe]);
    assert_eq!(code, 2, "a usage error");
    assert!(err.contains("low, medium, high, critical"), "{err}");
}
