//! Reports for CI systems: GitHub Actions annotations and GitLab Code Quality.
//!
//! Both place each finding on the line and column of its statement, so the review shows it
//! next to the diff. GitHub reads workflow commands from the job's output
//! (`::error file=…,line=…,col=…,title=…::message`); GitLab reads a JSON array of issues from
//! an artifact (`description`, `check_name`, `fingerprint`, `severity`,
//! `location.path`, `location.lines.begin`). A GitLab fingerprint must stay the same while
//! the problem does, so it hashes the file, the rule and the statement's text — not its line,
//! which moves when lines are added above it.

use std::fmt::Write;

use serde::Serialize;
use sha2::{Digest, Sha256};

use autodb_analysis::report::Severity;

use crate::text::Lines as Source;
use autodb_analysis::lint::FileReport;

/// One problem, wherever it comes from (a finding, a refusal, a parse error).
struct Issue<'a> {
    level: Level,
    check: &'a str,
    message: String,
    line: usize,
    column: usize,
    /// What identifies the problem across edits: the statement's text.
    anchor: &'a str,
}

#[derive(Clone, Copy)]
enum Level {
    Blocker,
    Error,
    Warning,
    Info,
}

fn issues<'a>(report: &'a FileReport, source: &str) -> Vec<Issue<'a>> {
    let a = match &report.outcome {
        Err(e) => {
            return vec![Issue {
                level: Level::Blocker,
                check: "parse-error",
                message: e.message.clone(),
                line: e.line,
                column: e.column,
                anchor: "",
            }]
        }
        Ok(a) => a,
    };
    let lines = Source::new(source);
    let mut out = Vec::new();
    for r in &a.refused {
        if let Some(s) = a.statements.get(r.statement_index) {
            let (line, column, _, _) = lines.locate(s.offset);
            out.push(Issue {
                level: Level::Blocker,
                check: "refused",
                message: format!("{}: {} Fix: {}", r.operation, r.reason, r.safe_alternative),
                line,
                column,
                anchor: &s.sql,
            });
        }
    }
    for s in &a.statements {
        let (line, column, _, _) = lines.locate(s.offset);
        for f in &s.findings {
            let mut message = format!(
                "{} (risk {} {})",
                f.message,
                s.risk_score,
                s.risk_category.as_str()
            );
            if let Some(alt) = &f.safe_alternative {
                let _ = write!(message, " Fix: {alt}");
            }
            out.push(Issue {
                level: match f.severity {
                    Severity::Error => Level::Error,
                    Severity::Warning => Level::Warning,
                    Severity::Info => Level::Info,
                },
                check: f.rule.id(),
                message,
                line,
                column,
                anchor: &s.sql,
            });
        }
    }
    out
}

/// GitHub Actions annotations, one line per problem.
pub(super) fn github(report: &FileReport, source: &str) -> String {
    let mut out = String::new();
    for i in issues(report, source) {
        let command = match i.level {
            Level::Blocker | Level::Error => "error",
            Level::Warning => "warning",
            Level::Info => "notice",
        };
        let _ = writeln!(
            out,
            "::{command} file={},line={},col={},title={}::{}",
            property(&report.path),
            i.line,
            i.column,
            property(&format!("autodb {}", i.check)),
            data(&i.message)
        );
    }
    out
}

/// Escapes a workflow command's message (GitHub's `escapeData`).
pub(super) fn data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escapes a workflow command's property value (GitHub's `escapeProperty`).
pub(super) fn property(s: &str) -> String {
    data(s).replace(':', "%3A").replace(',', "%2C")
}

#[derive(Serialize)]
struct CodeQuality<'a> {
    description: &'a str,
    check_name: &'a str,
    fingerprint: String,
    severity: &'static str,
    location: Location<'a>,
}

#[derive(Serialize)]
struct Location<'a> {
    path: &'a str,
    lines: Lines,
}

#[derive(Serialize)]
struct Lines {
    begin: usize,
}

/// The file's issues as Code Quality objects (the caller writes the enclosing array).
pub(super) fn gitlab(report: &FileReport, source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for i in issues(report, source) {
        let mut hash = Sha256::new();
        for part in [report.path.as_str(), i.check, i.anchor] {
            hash.update(part.as_bytes());
            hash.update([0]);
        }
        // The same rule on two identical statements of one file: number the repeats.
        let base = hex::encode(&hash.finalize()[..16]);
        let repeats = seen.iter().filter(|f| **f == base).count();
        seen.push(base.clone());
        let fingerprint = if repeats == 0 {
            base
        } else {
            format!("{base}-{repeats}")
        };
        let issue = CodeQuality {
            description: &i.message,
            check_name: i.check,
            fingerprint,
            severity: match i.level {
                Level::Blocker => "blocker",
                Level::Error => "major",
                Level::Warning => "minor",
                Level::Info => "info",
            },
            location: Location {
                path: &report.path,
                lines: Lines { begin: i.line },
            },
        };
        out.push(serde_json::to_string(&issue).unwrap_or_default());
    }
    out
}
