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

/// With a sandbox server every file also runs there, in order, on one database: what
/// PostgreSQL refused is reported with its statement, and the next file runs on (and is
/// judged against) the database without the refused one.
#[test]
fn lint_with_a_sandbox_runs_the_history_on_postgres_in_order() {
    let url = std::env::var("AUTODB_TEST_PG_URL").expect("AUTODB_TEST_PG_URL");
    let dir = TempDir::new();
    for (name, sql) in [
        (
            "001_accounts.sql",
            "CREATE TABLE accounts (id bigint PRIMARY KEY);\nINSERT INTO accounts VALUES (1);\n",
        ),
        (
            "002_function.sql",
            "CREATE FUNCTION normalized(t text) RETURNS text LANGUAGE sql IMMUTABLE \
             AS $$ SELECT lower(t) $$;\n",
        ),
        // The row inserted by 001 has no value for it.
        (
            "003_required.sql",
            "ALTER TABLE accounts ADD COLUMN code text NOT NULL;\n",
        ),
        // Needs 002's function, which only the database knows.
        (
            "004_email.sql",
            "ALTER TABLE accounts ADD COLUMN email text;\n\
             CREATE INDEX accounts_email ON accounts (normalized(email));\n",
        ),
        // 003 did not run, so there is no `code` to change.
        (
            "005_code.sql",
            "ALTER TABLE accounts ALTER COLUMN code TYPE varchar(10);\n",
        ),
    ] {
        std::fs::write(dir.0.join(name), sql).unwrap();
    }
    let path = dir.0.to_string_lossy().into_owned();
    let sandbox_findings = |json: &str| -> Vec<String> {
        let reports: serde_json::Value = serde_json::from_str(json).expect("JSON");
        reports
            .as_array()
            .expect("one report per file")
            .iter()
            .map(|r| {
                r["statements"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|s| s["findings"].as_array().into_iter().flatten())
                    .filter(|f| f["rule"] == "sandbox-observed")
                    .map(|f| f["message"].as_str().unwrap_or_default().to_string())
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect()
    };

    let (_, offline, err) = lint(&["--json", &path]);
    assert_eq!(sandbox_findings(&offline), vec![""; 5], "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_autodb"))
        .args(["lint", "--json", &path])
        .env("AUTODB_SANDBOX_URL", &url)
        .output()
        .expect("run autodb");
    let (json, err) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    let found = sandbox_findings(&json);
    assert_eq!(found.len(), 5, "{json}\n{err}");
    assert_eq!(found[..3], ["", "", found[2].as_str()]);
    assert!(
        found[2].contains("failed in the sandbox (SQLSTATE 23502)"),
        "{found:?}"
    );
    assert_eq!(found[3], "", "the function 002 created is known: {found:?}");
    assert!(
        found[4].contains("SQLSTATE 42703") && found[4].contains("code"),
        "{found:?}"
    );
    // The URL (and its password) is never echoed.
    assert!(!err.contains(&url) && !json.contains(&url));
}

/// Lint at the edges (issue 21): a directory walk that follows no symlink loop, lints each
/// file once, skips what is not a regular file with a message, and takes `.SQL` as `.sql`.
#[test]
fn lint_walks_loops_fifos_and_upper_case_extensions_safely() {
    let dir = TempDir::new();
    let root = &dir.0;
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("0001_a.sql"), "CREATE TABLE a (id bigint);\n").unwrap();
    std::fs::write(root.join("sub/0002_b.SQL"), "CREATE TABLE b (id bigint);\n").unwrap();
    std::os::unix::fs::symlink(".", root.join("again")).unwrap();
    std::os::unix::fs::symlink(".", root.join("and_again")).unwrap();
    std::os::unix::fs::symlink("..", root.join("sub/up")).unwrap();
    let fifo = root.join("0003_fifo.sql");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());

    let (code, text, err) = lint(&[&root.to_string_lossy()]);
    assert_eq!(code, 0, "{text}{err}");
    let reported: Vec<&str> = text.lines().filter(|l| l.contains(": risk ")).collect();
    assert_eq!(reported.len(), 2, "each file once: {reported:?}");
    assert!(reported[0].contains("0001_a.sql"), "{reported:?}");
    assert!(reported[1].contains("0002_b.SQL"), "{reported:?}");
    assert!(
        err.contains("0003_fifo.sql") && err.contains("not a regular file"),
        "{err}"
    );

    // Named directly, a FIFO is refused, not read.
    let (code, _, err) = lint(&[&fifo.to_string_lossy()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a regular file"), "{err}");
}

/// The text reporter's output grows with the input, not with its square: a frame of a long
/// line shows a window of it.
#[test]
fn lint_output_of_a_long_line_stays_proportional() {
    let dir = TempDir::new();
    let columns: Vec<String> = (0..2000).map(|i| format!("c{i} varchar(20)")).collect();
    let sql = format!(
        "CREATE TABLE wide ({}); ALTER TABLE wide ADD COLUMN x int NOT NULL; DROP TABLE wide;\n",
        columns.join(", ")
    );
    let path = dir.0.join("wide.sql");
    std::fs::write(&path, &sql).unwrap();
    for reporter in ["text", "github", "gitlab", "json"] {
        let (_, out, err) = lint(&["--reporter", reporter, &path.to_string_lossy()]);
        assert!(!out.is_empty(), "{reporter}: {err}");
        // 2,000 findings on one 37 KB line: each frame used to print the whole line (74 MB).
        assert!(
            out.len() < 50 * sql.len(),
            "{reporter}: {} bytes of output for a {}-byte file",
            out.len(),
            sql.len()
        );
    }
    let (_, text, _) = lint(&["--reporter", "text", &path.to_string_lossy()]);
    assert!(text.contains('…'), "the long line is shown cut: {text}");
}
