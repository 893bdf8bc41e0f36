//! Offline lint (`autodb lint [--json] [--max-risk …] FILE...`): static analysis of
//! migration files without a database, like squawk.
//!
//! The CLI reads the files and hands their contents here; this module parses, analyzes
//! without a snapshot, renders the text or JSON report and decides the exit code, so every
//! front end gives the same verdict. Exit codes: 2 when any file fails to parse, else 1 when
//! any file's risk category is above `max_risk` or autodb would refuse to run it
//! (`crate::guard`), else 0.

use autodb_core::sql::ParseError;
use serde::Serialize;

use crate::report::{Analysis, RiskCategory, Severity};

/// The verdict for one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: String,
    pub outcome: Result<Analysis, ParseError>,
}

/// Lints one file's contents.
pub fn lint_source(path: &str, sql: &str) -> FileReport {
    let outcome = autodb_core::sql::parse_migration(sql).map(|m| crate::Analysis {
        psql_commands: m.psql_commands,
        ..crate::analyze(&m.statements, None)
    });
    FileReport {
        path: path.to_string(),
        outcome,
    }
}

/// Lints many files, spread over the machine's cores (parsing dominates and each file is
/// independent). Reports come back in input order. `inputs` are `(path, contents)`.
pub fn lint_sources(inputs: &[(String, String)]) -> Vec<FileReport> {
    par_map(inputs, |(p, sql)| lint_source(p, sql))
}

/// Maps `f` over `items` on up to one thread per core, keeping the order.
fn par_map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(items.len().max(1));
    if workers <= 1 {
        return items.iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(workers);
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || part.iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    })
}

/// 2 on a parse error, 1 when a file is riskier than `max_risk` or refused, 0 otherwise.
pub fn lint_exit_code(reports: &[FileReport], max_risk: RiskCategory) -> i32 {
    if reports.iter().any(|r| r.outcome.is_err()) {
        return 2;
    }
    let above = reports.iter().any(
        |r| matches!(&r.outcome, Ok(a) if a.risk_category > max_risk || !a.refused.is_empty()),
    );
    i32::from(above)
}

#[derive(Serialize)]
struct JsonFile<'a> {
    file: &'a str,
    #[serde(flatten)]
    analysis: Option<&'a Analysis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a ParseError>,
}

/// The JSON report: for one file, the analyze report's fields (`total_statements`,
/// `risk_score`, `risk_category`, `statements`, …) plus `file`; for several, an array of those.
/// A file that does not parse has `error` instead. Serialized straight from the report types
/// (no intermediate `Value`): on a large corpus rendering costs as much as analysis otherwise.
pub fn render_json(reports: &[FileReport]) -> String {
    // The report types serialize infallibly (string keys, no non-finite floats).
    let files = par_map(reports, |r| {
        serde_json::to_string(&JsonFile {
            file: &r.path,
            analysis: r.outcome.as_ref().ok(),
            error: r.outcome.as_ref().err(),
        })
        .unwrap_or_default()
    });
    match files.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(",")),
    }
}

/// The human-readable report.
pub fn render_text(reports: &[FileReport]) -> String {
    let mut out = String::new();
    for r in reports {
        match &r.outcome {
            Err(e) => {
                out.push_str(&format!(
                    "{}:{}:{}: parse error: {}\n",
                    r.path, e.line, e.column, e.message
                ));
            }
            Ok(a) => render_file(&mut out, &r.path, a),
        }
    }
    let findings: usize = reports
        .iter()
        .filter_map(|r| r.outcome.as_ref().ok())
        .flat_map(|a| &a.statements)
        .map(|s| s.findings.len())
        .sum();
    out.push_str(&format!(
        "{} file(s), {findings} finding(s)\n",
        reports.len()
    ));
    out
}

fn render_file(out: &mut String, path: &str, a: &Analysis) {
    out.push_str(&format!(
        "{path}: risk {} ({}), {} statement(s)\n",
        a.risk_score,
        a.risk_category.as_str(),
        a.total_statements
    ));
    for c in &a.psql_commands {
        out.push_str(&format!(
            "  {path}:{} psql {} — left out: {}\n",
            c.line, c.command, c.effect
        ));
    }
    for r in &a.refused {
        let line = a.statements.get(r.statement_index).map_or(0, |s| s.line);
        out.push_str(&format!(
            "  {path}:{line} {} — refused: {}\n      fix: {}\n",
            r.operation, r.reason, r.safe_alternative
        ));
    }
    for s in &a.statements {
        let lock = s.lock.mode.map_or("no lock".to_string(), |m| {
            format!("{} on {}", m.name(), s.lock.tables.join(", "))
        });
        let mut work = vec![];
        if s.rewrites_table {
            work.push("rewrites");
        } else if s.scans_table {
            work.push("scans");
        }
        if s.destructive {
            work.push("destructive");
        }
        if !s.transactional {
            work.push("non-transactional");
        }
        let work = if work.is_empty() {
            String::new()
        } else {
            format!(", {}", work.join(", "))
        };
        out.push_str(&format!(
            "  {path}:{} {} — risk {} ({}), {lock}{work}\n",
            s.line,
            s.operation,
            s.risk_score,
            s.risk_category.as_str()
        ));
        for f in &s.findings {
            let mark = match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
                Severity::Info => "info",
            };
            out.push_str(&format!("    {mark}[{}]: {}\n", f.rule, f.message));
            if let Some(alt) = &f.safe_alternative {
                out.push_str(&format!("      fix: {alt}\n"));
            }
        }
    }
}

#[cfg(test)]
mod tests;
