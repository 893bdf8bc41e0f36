//! The vendored real migration histories (`tests/corpus/`, see its README), linted as
//! histories by the `autodb lint` binary: no crash, no file PostgreSQL accepts refused as
//! unparseable, every file reported, in version order.

use std::path::Path;
use std::process::Command;

fn lint_dir(dir: &Path) -> (i32, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_autodb"))
        .args(["lint", "--json", "--max-risk", "critical"])
        .arg(dir)
        .output()
        .expect("run autodb");
    let json = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: not JSON ({e}); stderr: {}",
            dir.display(),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code().expect("exited, not killed"), json)
}

fn sql_files(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| {
            if p.is_dir() {
                sql_files(&p)
            } else {
                usize::from(p.extension().is_some_and(|e| e == "sql"))
            }
        })
        .sum()
}

#[test]
fn real_histories_lint_without_crashes_or_parse_refusals() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let histories = std::fs::read_to_string(corpus.join("histories.txt")).unwrap();
    let mut total = 0;
    let mut refused = Vec::new();
    for name in histories.lines() {
        let dir = corpus.join(name);
        let (code, json) = lint_dir(&dir);
        assert_ne!(code, 2, "{name}: a file failed to parse");
        let files = json.as_array().expect("several files: an array");
        assert_eq!(files.len(), sql_files(&dir), "{name}: every file reported");
        for f in files {
            assert!(f.get("error").is_none(), "{name}: {f}");
            assert!(
                f["total_statements"].as_u64().unwrap() > 0
                    || f["statements"] == serde_json::json!([])
            );
            for r in f["refused"].as_array().unwrap() {
                refused.push(format!(
                    "{}: {}",
                    f["file"].as_str().unwrap(),
                    r["operation"]
                ));
            }
        }
        total += files.len();
    }
    assert_eq!(total, 895);
    // The one statement autodb's executor would not run: the file commits the runner's
    // transaction and opens another (pop wraps each file in a transaction). PostgreSQL runs
    // it; autodb lints it and says why it would not apply it as written.
    assert_eq!(
        refused,
        [format!(
            "{}: \"TRANSACTION\"",
            corpus
                .join("kratos/legacy/20200812124254_add_session_token.postgres.up.sql")
                .display()
        )]
    );
}

#[test]
fn a_later_file_knows_the_types_an_earlier_file_created() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/temporal/temporal");
    let (_, json) = lint_dir(&corpus);
    // v1.8/1_alter_columns.sql widens varchar columns that v1.0 created as varchar(255) →
    // varchar(255) … a widening of a varchar is catalog-only once the old type is known.
    let file = json
        .as_array()
        .unwrap()
        .iter()
        .find(|f| {
            f["file"]
                .as_str()
                .unwrap()
                .ends_with("v1.8/1_alter_columns.sql")
        })
        .expect("the file is linted");
    let alters: Vec<&serde_json::Value> = file["statements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["sql"].as_str().unwrap().contains("TYPE VARCHAR"))
        .collect();
    assert!(!alters.is_empty(), "{file}");
    assert!(
        alters.iter().all(|s| s["rewrites_table"] == false),
        "{alters:?}"
    );
}
