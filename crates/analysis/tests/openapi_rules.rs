//! `docs/openapi.yaml` lists every rule: the `Rule` schema's enum, and a table of each rule's
//! usual severity in its description. Both must be `Rule::ALL`, exactly and in order, so a new
//! rule cannot ship undocumented.

use autodb_analysis::Rule;

const OPENAPI: &str = include_str!("../../../docs/openapi.yaml");

/// The lines of the `Rule` schema (under `components.schemas`, indented by four spaces).
fn rule_schema() -> Vec<&'static str> {
    let mut lines = OPENAPI.lines().skip_while(|l| *l != "    Rule:");
    assert!(
        lines.next().is_some(),
        "no `Rule` schema in docs/openapi.yaml"
    );
    lines
        .take_while(|l| l.is_empty() || l.starts_with("     "))
        .collect()
}

fn expected() -> Vec<(String, String)> {
    Rule::ALL
        .iter()
        .map(|r| {
            let severity = serde_json::to_value(r.severity()).unwrap();
            (r.id().to_string(), severity.as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn the_rule_enum_lists_every_rule() {
    let schema = rule_schema();
    let documented: Vec<String> = schema
        .iter()
        .skip_while(|l| l.trim() != "enum:")
        .skip(1)
        .map_while(|l| l.trim().strip_prefix("- "))
        .map(str::to_string)
        .collect();
    let ids: Vec<String> = expected().into_iter().map(|(id, _)| id).collect();
    assert_eq!(documented, ids);
}

#[test]
fn the_rule_table_gives_every_rules_severity() {
    let documented: Vec<(String, String)> = rule_schema()
        .iter()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().strip_prefix("| `")?.split('|').collect();
            let id = cells.first()?.trim().strip_suffix('`')?;
            Some((id.to_string(), cells.get(1)?.trim().to_string()))
        })
        .collect();
    assert_eq!(documented, expected());
}
