//! How the command line shows the API's answers to a person: the analysis report, a
//! request's status and its schema diff. Text only; `--json` prints the API's JSON instead.
//!
//! Colour (the risk category, severities) only when stdout is a terminal and `NO_COLOR` is
//! unset, so that a pipeline's log and a snapshot test read the same plain text.

use std::fmt::Write;
use std::io::IsTerminal;

use serde_json::Value;

/// Whether to colour, decided once per command.
#[derive(Clone, Copy)]
pub struct Paint(bool);

impl Paint {
    pub fn stdout() -> Self {
        Self::when(std::io::stdout().is_terminal())
    }

    pub fn stderr() -> Self {
        Self::when(std::io::stderr().is_terminal())
    }

    fn when(terminal: bool) -> Self {
        Self(terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()))
    }

    fn wrap(self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.wrap("1", text)
    }

    /// A risk category or a severity, in its colour.
    pub fn level(self, level: &str) -> String {
        let code = match level {
            "low" | "info" | "passed" | "completed" => "32",
            "medium" | "warning" | "skipped" | "pending" | "executing" => "33",
            "high" | "error" | "failed" => "31",
            "critical" => "1;41;97",
            _ => "0",
        };
        self.wrap(code, &level.to_uppercase())
    }
}

pub fn text(value: &Value) -> &str {
    value.as_str().unwrap_or("")
}

pub fn list(value: &Value) -> String {
    value
        .as_array()
        .map(|items| items.iter().map(text).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

fn items(value: &Value) -> impl Iterator<Item = &Value> {
    value.as_array().into_iter().flatten()
}

/// The analysis report of one migration (`source` names the file).
pub fn analysis(report: &Value, source: &str, paint: Paint) -> String {
    let mut out = String::new();
    let category = text(&report["risk_category"]);
    let _ = writeln!(
        out,
        "{}  risk {} ({}/100), {} statement{}",
        paint.bold(source),
        paint.level(category),
        report["risk_score"],
        report["total_statements"],
        if report["total_statements"] == 1 {
            ""
        } else {
            "s"
        }
    );
    statements(&mut out, report);
    findings(&mut out, report, paint);
    blast_radius(&mut out, report);
    sandbox(&mut out, report, paint);
    rollback(&mut out, report);
    for refused in items(&report["refused"]) {
        let _ = writeln!(out, "\nrefused: {}", refused_line(refused));
    }
    match report["approval_token"].as_str() {
        Some(_) => {
            let _ = writeln!(
                out,
                "\napproval token issued, valid until {}",
                text(&report["expires_at"])
            );
        }
        None => {
            let _ = writeln!(out, "\nno approval token: autodb withheld it");
        }
    }
    out
}

fn refused_line(refused: &Value) -> String {
    match refused {
        Value::String(s) => s.clone(),
        other => other["message"]
            .as_str()
            .map_or_else(|| other.to_string(), str::to_string),
    }
}

fn statements(out: &mut String, report: &Value) {
    let rows: Vec<[String; 6]> = items(&report["statements"])
        .map(|s| {
            let work = match (s["rewrites_table"] == true, s["scans_table"] == true) {
                (true, _) => "rewrite",
                (false, true) => "scan",
                _ => "-",
            };
            [
                (s["index"].as_u64().unwrap_or(0) + 1).to_string(),
                text(&s["operation"]).to_string(),
                list(&s["tables"]),
                text(&s["lock"]["mode"]).to_string(),
                work.to_string(),
                format!("{} {}", s["risk_score"], text(&s["risk_category"])),
            ]
        })
        .collect();
    let header = ["#", "operation", "tables", "lock", "work", "score"].map(str::to_string);
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let _ = writeln!(out);
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "  {}", line.join("  ").trim_end());
    }
}

fn findings(out: &mut String, report: &Value, paint: Paint) {
    let mut first = true;
    for s in items(&report["statements"]) {
        for f in items(&s["findings"]) {
            if first {
                let _ = writeln!(out, "\nfindings");
                first = false;
            }
            let _ = writeln!(
                out,
                "  {} {} [{}] {}",
                s["index"].as_u64().unwrap_or(0) + 1,
                paint.level(text(&f["severity"])),
                text(&f["rule"]),
                text(&f["message"])
            );
            if let Some(safe) = f["safe_alternative"].as_str() {
                let _ = writeln!(out, "      safe alternative: {safe}");
            }
        }
    }
}

/// The affected tables as a tree: each direct table, and under it the tables its foreign
/// keys reach, along `cascade_path`.
fn blast_radius(out: &mut String, report: &Value) {
    let tables: Vec<&Value> = items(&report["affected_tables"]).collect();
    if tables.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nblast radius");
    let rows = |t: &Value| match t["estimated_rows"].as_i64() {
        Some(n) if n >= 0 => format!(" (~{n} rows)"),
        _ => String::new(),
    };
    let path_of = |t: &Value| -> Vec<String> {
        items(&t["cascade_path"])
            .map(|p| text(p).to_string())
            .collect()
    };
    for root in tables.iter().filter(|t| t["impact"] == "direct") {
        let name = text(&root["table"]);
        let _ = writeln!(out, "  {name}{}", rows(root));
        let mut below: Vec<(Vec<String>, &Value)> = tables
            .iter()
            .filter(|t| t["impact"] != "direct")
            .map(|t| (path_of(t), *t))
            .filter(|(path, _)| path.first().map(String::as_str) == Some(name))
            .collect();
        below.sort_by(|a, b| a.0.cmp(&b.0));
        for (path, table) in below {
            let depth = path.len().saturating_sub(1).max(1);
            let _ = writeln!(
                out,
                "  {}└─ {}{} via {}",
                "   ".repeat(depth - 1),
                text(&table["table"]),
                rows(table),
                path.join(" → ")
            );
        }
    }
}

fn sandbox(out: &mut String, report: &Value, paint: Paint) {
    let result = &report["sandbox_result"];
    if result.is_null() {
        return;
    }
    let status = text(&result["status"]);
    let mut line = format!("\nsandbox {}", paint.level(status));
    if let Some(ms) = result["duration_ms"].as_f64() {
        let _ = write!(line, " in {ms:.0} ms");
    }
    if let Some(version) = result["server_version"].as_str() {
        let _ = write!(line, " on PostgreSQL {version}");
    }
    if let Some(reason) = result["reason"].as_str() {
        let _ = write!(line, ": {reason}");
    }
    let _ = writeln!(out, "{line}");
    let error = &result["migration_error"];
    if !error.is_null() {
        let _ = writeln!(
            out,
            "  statement {} failed: {} {}",
            error["statement_index"].as_u64().unwrap_or(0) + 1,
            text(&error["sqlstate"]),
            text(&error["message"])
        );
    }
    for s in items(&result["statements"]) {
        let locks: Vec<String> = items(&s["observed_locks"])
            .map(|l| format!("{} on {}", text(&l["mode"]), text(&l["table"])))
            .collect();
        let mut parts: Vec<String> = s["estimated_lock_ms"]
            .as_f64()
            .map(|ms| format!("est. lock {ms:.0} ms"))
            .into_iter()
            .collect();
        parts.extend(locks);
        if !parts.is_empty() {
            let _ = writeln!(
                out,
                "  {}  {}",
                s["index"].as_u64().unwrap_or(0) + 1,
                parts.join(", ")
            );
        }
    }
}

fn rollback(out: &mut String, report: &Value) {
    let plan = &report["rollback_plan"];
    let Some(script) = plan["combined_script"].as_str() else {
        return;
    };
    let _ = writeln!(
        out,
        "\nrollback plan{}{}",
        if plan["verified"] == true {
            " (verified in the sandbox)"
        } else {
            ""
        },
        if plan["has_irreversible"] == true {
            ", with irreversible steps"
        } else {
            ""
        }
    );
    for line in script.lines() {
        let _ = writeln!(out, "  {line}");
    }
}

/// One line for a request's state: `executing  Applying statement 2 of 7`.
pub fn status_line(status: &Value, paint: Paint) -> String {
    let state = text(&status["status"]);
    let progress = text(&status["progress"]);
    format!("{}  {progress}", paint.level(state))
        .trim_end()
        .to_string()
}

/// A finished request: its outcome and, when it completed, what changed in the schema.
pub fn finished(status: &Value, paint: Paint) -> String {
    let mut out = format!(
        "{} {}\n",
        text(&status["request_id"]),
        status_line(status, paint)
    );
    let error = &status["error"];
    if !error.is_null() {
        let _ = writeln!(
            out,
            "  {} {}{}",
            text(&error["code"]),
            text(&error["message"]),
            error["statement_index"]
                .as_u64()
                .map(|i| format!(" (statement {})", i + 1))
                .unwrap_or_default()
        );
    }
    let result = &status["result"];
    if result.is_object() {
        out.push_str(&diff(result));
        let _ = writeln!(
            out,
            "  {} statement(s) in {} ms",
            result["statements_executed"], result["execution_time_ms"]
        );
    }
    out
}

/// The schema diff, one line per change (`+ column customers.phone varchar(20)`).
fn diff(result: &Value) -> String {
    let mut out = String::new();
    let name = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Object(o) => {
            let table = o.get("table").and_then(Value::as_str).unwrap_or("");
            let item = ["column", "name", "constraint", "index"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str));
            let kind = o.get("type").and_then(Value::as_str);
            match (item, kind) {
                (Some(item), Some(kind)) => format!("{table}.{item} {kind}"),
                (Some(item), None) => format!("{table}.{item}"),
                _ => Value::Object(o.clone()).to_string(),
            }
        }
        other => other.to_string(),
    };
    for (key, sign, what) in [
        ("tables_added", "+", "table"),
        ("tables_removed", "-", "table"),
        ("tables_renamed", "~", "table renamed"),
        ("columns_added", "+", "column"),
        ("columns_removed", "-", "column"),
        ("columns_altered", "~", "column"),
        ("columns_renamed", "~", "column renamed"),
        ("indexes_added", "+", "index"),
        ("indexes_removed", "-", "index"),
        ("constraints_added", "+", "constraint"),
        ("constraints_removed", "-", "constraint"),
    ] {
        for item in items(&result[key]) {
            let _ = writeln!(out, "  {sign} {what} {}", name(item));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Value {
        serde_json::json!({
            "risk_score": 61, "risk_category": "high", "total_statements": 1,
            "statements": [{
                "index": 0, "operation": "DROP TABLE", "tables": ["orders"],
                "lock": {"mode": "ACCESS EXCLUSIVE"}, "rewrites_table": false, "scans_table": false,
                "risk_score": 61, "risk_category": "high",
                "findings": [{"rule": "ban-drop-table", "severity": "error",
                              "message": "Dropping `orders` deletes all its rows.",
                              "safe_alternative": "Rename it first."}]
            }],
            "affected_tables": [
                {"table": "customers", "impact": "direct", "cascade_path": null, "estimated_rows": 10},
                {"table": "order_items", "impact": "cascade", "cascade_path": ["customers", "orders", "order_items"], "estimated_rows": 30},
                {"table": "orders", "impact": "cascade", "cascade_path": ["customers", "orders"], "estimated_rows": 20}
            ],
            "sandbox_result": {"status": "skipped", "reason": "no sandbox server"},
            "rollback_plan": {"combined_script": "BEGIN;\nCREATE TABLE orders ();\nCOMMIT;", "verified": true, "has_irreversible": true},
            "approval_token": null
        })
    }

    #[test]
    fn a_report_reads_as_text() {
        insta::assert_snapshot!(analysis(&report(), "drop.sql", Paint(false)));
    }

    #[test]
    fn colour_marks_the_category_and_severities_only_when_asked() {
        let plain = analysis(&report(), "drop.sql", Paint(false));
        assert!(!plain.contains('\x1b'));
        let coloured = analysis(&report(), "drop.sql", Paint(true));
        assert!(coloured.contains("\x1b[31mHIGH\x1b[0m"), "{coloured}");
        assert!(coloured.contains("\x1b[31mERROR\x1b[0m"), "{coloured}");
    }
}
