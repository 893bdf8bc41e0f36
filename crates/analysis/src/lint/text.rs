//! The readable lint report: per file its risk, per statement its lock and work, and per
//! finding a code frame — `file:line:column`, the statement's first line and a marker under
//! it — the way compilers show errors, so a reviewer sees the line without opening the file.
//!
//! Colour (ANSI) only when the caller says so: the CLI asks for it on a terminal without
//! `NO_COLOR`, never in a pipe or a CI log.

use std::fmt::Write;

use crate::report::{Analysis, Severity, StatementReport};

use super::FileReport;

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BLUE: &str = "\x1b[1;34m";
const BOLD: &str = "\x1b[1m";
const DIM: &str = "\x1b[2m";
const RESET: &str = "\x1b[0m";

/// Wraps text in an ANSI style when colour is on.
struct Paint(bool);

impl Paint {
    fn on(&self, style: &str, text: &str) -> String {
        if self.0 {
            format!("{style}{text}{RESET}")
        } else {
            text.to_string()
        }
    }
}

/// Where a byte offset is in `source`: 1-based line and column (in characters), and the
/// text of that line.
pub(super) fn locate(source: &str, offset: usize) -> (usize, usize, &str) {
    let offset = offset.min(source.len());
    let offset = (0..=offset)
        .rev()
        .find(|&o| source.is_char_boundary(o))
        .unwrap_or(0);
    let start = source[..offset].rfind('\n').map_or(0, |i| i + 1);
    let line = source[..start].matches('\n').count() + 1;
    let column = source[start..offset].chars().count() + 1;
    let text = source[start..].lines().next().unwrap_or("");
    (line, column, text.trim_end_matches('\r'))
}

pub(super) fn file(report: &FileReport, source: &str, color: bool) -> String {
    let paint = Paint(color);
    let path = &report.path;
    let mut out = String::new();
    match &report.outcome {
        Err(e) => {
            let _ = writeln!(
                out,
                "{}:{}:{}: {}: {}",
                paint.on(BOLD, path),
                e.line,
                e.column,
                paint.on(RED, "parse error"),
                e.message
            );
            let offset = char_offset(source, e.line, e.column);
            frame(&mut out, source, offset, 1, &paint, RED);
        }
        Ok(a) => analysis(&mut out, path, source, a, &paint),
    }
    out
}

fn analysis(out: &mut String, path: &str, source: &str, a: &Analysis, paint: &Paint) {
    let _ = writeln!(
        out,
        "{}: risk {} ({}), {} statement(s)",
        paint.on(BOLD, path),
        a.risk_score,
        a.risk_category.as_str(),
        a.total_statements
    );
    for c in &a.psql_commands {
        let _ = writeln!(
            out,
            "  {path}:{} psql {} — left out: {}",
            c.line, c.command, c.effect
        );
    }
    for r in &a.refused {
        let Some(s) = a.statements.get(r.statement_index) else {
            continue;
        };
        let (line, column, _) = locate(source, s.offset);
        let _ = writeln!(
            out,
            "  {}[refused] {path}:{line}:{column}: {} — {}",
            paint.on(RED, "error"),
            r.operation,
            r.reason
        );
        statement_frame(out, source, s, paint, RED);
        let _ = writeln!(out, "      fix: {}", r.safe_alternative);
    }
    for s in &a.statements {
        let (line, column, _) = locate(source, s.offset);
        let _ = writeln!(
            out,
            "  {path}:{line}:{column} {} — risk {} ({}), {}",
            s.operation,
            s.risk_score,
            s.risk_category.as_str(),
            work(s)
        );
        for f in &s.findings {
            let (word, style) = match f.severity {
                Severity::Error => ("error", RED),
                Severity::Warning => ("warning", YELLOW),
                Severity::Info => ("info", BLUE),
            };
            let _ = writeln!(
                out,
                "    {}[{}]: {}",
                paint.on(style, word),
                f.rule,
                f.message
            );
            statement_frame(out, source, s, paint, style);
            if let Some(alt) = &f.safe_alternative {
                let _ = writeln!(out, "      fix: {alt}");
            }
        }
    }
}

/// The lock, and what the statement does under it: `ACCESS EXCLUSIVE on orders, rewrites`.
fn work(s: &StatementReport) -> String {
    let mut parts = vec![s.lock.mode.map_or("no lock".to_string(), |m| {
        format!("{} on {}", m.name(), s.lock.tables.join(", "))
    })];
    if s.rewrites_table {
        parts.push("rewrites".into());
    } else if s.scans_table {
        parts.push("scans".into());
    }
    if s.destructive {
        parts.push("destructive".into());
    }
    if !s.transactional {
        parts.push("non-transactional".into());
    }
    parts.join(", ")
}

fn statement_frame(
    out: &mut String,
    source: &str,
    s: &StatementReport,
    paint: &Paint,
    style: &str,
) {
    let width = s.sql.lines().next().map_or(1, |l| l.chars().count());
    frame(out, source, s.offset, width, paint, style);
}

/// The line holding `offset`, with `^` under `width` characters from it.
fn frame(out: &mut String, source: &str, offset: usize, width: usize, paint: &Paint, style: &str) {
    let (line, column, text) = locate(source, offset);
    let number = line.to_string();
    let gutter = " ".repeat(number.len());
    let bar = paint.on(DIM, "|");
    // Tabs stay tabs under the marker so it lines up whatever the tab width.
    let pad: String = text
        .chars()
        .take(column - 1)
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let room = text.chars().count().saturating_sub(column - 1).max(1);
    let marker = "^".repeat(width.clamp(1, room));
    let _ = writeln!(out, "      {gutter} {bar}");
    let _ = writeln!(out, "      {} {bar} {text}", paint.on(DIM, &number));
    let _ = writeln!(
        out,
        "      {gutter} {bar} {pad}{}",
        paint.on(style, &marker)
    );
}

/// Byte offset of 1-based `line` and character `column`.
pub(super) fn char_offset(source: &str, line: usize, column: usize) -> usize {
    let start = if line <= 1 {
        0
    } else {
        source
            .match_indices('\n')
            .nth(line - 2)
            .map_or(source.len(), |(i, _)| i + 1)
    };
    source[start..]
        .char_indices()
        .nth(column.saturating_sub(1))
        .map_or(source.len(), |(i, _)| start + i)
}

pub(super) fn summary(files: usize, findings: usize, sizes_known: bool, color: bool) -> String {
    let sizes = if sizes_known {
        "table sizes from the snapshot"
    } else {
        "table sizes unknown (no --schema snapshot with sizes): existing tables are scored as \
         medium-sized"
    };
    let line = format!("{files} file(s), {findings} finding(s); {sizes}\n");
    Paint(color).on(BOLD, &line)
}
