//! The README's "Error codes" tables and `docs/openapi.yaml` list exactly the codes of
//! [`ApiErrorCode`] and [`ExecutionErrorCode`], both ways: a code cannot ship undocumented,
//! and the documents cannot promise a code autodb never sends. The README's rows are the
//! enums' own status, retryability and description, so its tables are rendered here and a
//! mismatch prints the table to paste.

use super::{ApiErrorCode, ExecutionErrorCode};

const README: &str = include_str!("../../../README.md");
const OPENAPI: &str = include_str!("../../../docs/openapi.yaml");

fn yes_no(retryable: bool) -> &'static str {
    if retryable {
        "yes"
    } else {
        "no"
    }
}

fn api_rows() -> Vec<String> {
    ApiErrorCode::ALL
        .iter()
        .map(|c| {
            format!(
                "| {} | `{}` | {} | {} |",
                c.status().as_u16(),
                c.as_str(),
                yes_no(c.retryable()),
                c.description()
            )
        })
        .collect()
}

fn execution_rows() -> Vec<String> {
    ExecutionErrorCode::ALL
        .iter()
        .map(|c| {
            format!(
                "| `{}` | {} | {} |",
                c.as_str(),
                yes_no(c.retryable()),
                c.description()
            )
        })
        .collect()
}

/// The table rows of the README's "### Error codes" section, split by their number of cells.
fn readme_rows() -> (Vec<String>, Vec<String>) {
    let mut lines = README.lines().skip_while(|l| *l != "### Error codes");
    assert!(lines.next().is_some(), "no `### Error codes` in README.md");
    let rows: Vec<&str> = lines
        .take_while(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with("| ") && l.contains('`'))
        .collect();
    let cells = |row: &str| row.trim_matches('|').split(" | ").count();
    let pick = |n| {
        rows.iter()
            .filter(|r| cells(r) == n)
            .map(|r| r.to_string())
            .collect()
    };
    (pick(4), pick(3))
}

#[test]
fn the_readme_tables_are_the_enums() {
    let (api, execution) = readme_rows();
    let expected_api = api_rows();
    let expected_execution = execution_rows();
    assert!(
        api == expected_api,
        "README.md's table of HTTP error codes should be:\n\n{}\n",
        expected_api.join("\n")
    );
    assert!(
        execution == expected_execution,
        "README.md's table of execution error codes should be:\n\n{}\n",
        expected_execution.join("\n")
    );
}

/// The lines of a schema under `components.schemas` (indented by four spaces).
fn schema(name: &str) -> Vec<&'static str> {
    let header = format!("    {name}:");
    let mut lines = OPENAPI.lines().skip_while(|l| *l != header);
    assert!(
        lines.next().is_some(),
        "no `{name}` schema in docs/openapi.yaml"
    );
    lines
        .take_while(|l| l.is_empty() || l.starts_with("     "))
        .collect()
}

/// The items of the first `enum:` list at or after `from`.
fn enum_items<'a>(lines: &[&'a str], from: usize) -> Vec<&'a str> {
    lines[from..]
        .iter()
        .skip_while(|l| l.trim() != "enum:")
        .skip(1)
        .map_while(|l| l.trim().strip_prefix("- "))
        .collect()
}

/// The backquoted words in `text` that look like codes.
fn codes_in(text: &str) -> Vec<&str> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .filter(|w| w.len() > 3 && w.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .collect()
}

#[test]
fn openapi_lists_every_api_code_with_its_status_and_retryability() {
    let lines = schema("ErrorCode");
    let wire: Vec<&str> = ApiErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(enum_items(&lines, 0), wire, "ErrorCode's enum");
    let table: Vec<(String, String, String)> = lines
        .iter()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().strip_prefix("| ")?.split(" | ").collect();
            let code = cells.get(1)?.strip_prefix('`')?.strip_suffix('`')?;
            Some((cells[0].into(), code.into(), cells.get(2)?.to_string()))
        })
        .collect();
    let expected: Vec<(String, String, String)> = ApiErrorCode::ALL
        .iter()
        .map(|c| {
            (
                c.status().as_u16().to_string(),
                c.as_str().into(),
                yes_no(c.retryable()).into(),
            )
        })
        .collect();
    assert_eq!(table, expected, "ErrorCode's table (HTTP, code, retry)");
}

#[test]
fn openapi_lists_every_execution_code_with_its_retryability() {
    let lines = schema("ExecutionError");
    let code = lines
        .iter()
        .position(|l| l.trim() == "code:")
        .expect("ExecutionError.code");
    let wire: Vec<&str> = ExecutionErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(enum_items(&lines, code), wire, "ExecutionError.code's enum");

    let description: Vec<&str> = lines[code..]
        .iter()
        .take_while(|l| l.trim() != "enum:")
        .copied()
        .collect();
    // Each bullet names the codes it explains before its colon.
    let mut explained: Vec<&str> = description
        .iter()
        .filter_map(|l| l.trim().strip_prefix("* "))
        .flat_map(|bullet| codes_in(bullet.split("`:").next().unwrap_or_default()))
        .collect();
    explained.sort_unstable();
    let mut sorted = wire.clone();
    sorted.sort_unstable();
    assert_eq!(
        explained, sorted,
        "the codes ExecutionError.code's bullets explain"
    );

    let text = description.join(" ");
    let retryable_sentence = text
        .split("*Retryable*")
        .nth(1)
        .and_then(|rest| rest.split("; the others").next())
        .expect("a *Retryable* sentence in ExecutionError.code");
    let mut documented = codes_in(retryable_sentence);
    documented.sort_unstable();
    let mut retryable: Vec<&str> = ExecutionErrorCode::ALL
        .iter()
        .filter(|c| c.retryable())
        .map(|c| c.as_str())
        .collect();
    retryable.sort_unstable();
    assert_eq!(documented, retryable, "the retryable execution codes");
}

#[test]
fn the_documents_are_read_as_intended() {
    // The parsers above must not pass by finding nothing.
    assert_eq!(
        codes_in("a `LOCK_LOST`, `x`, `SELECT` and `E`"),
        ["LOCK_LOST", "SELECT"]
    );
    assert!(!schema("ErrorCode").is_empty());
}
