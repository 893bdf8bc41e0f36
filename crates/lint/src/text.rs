//! The readable lint report: per file its risk, per statement its lock and work, and per
//! finding a code frame — `file:line:column`, the statement's first line and a marker under
//! it — the way compilers show errors, so a reviewer sees the line without opening the file.
//!
//! Colour (ANSI) only when the caller says so: the CLI asks for it on a terminal without
//! `NO_COLOR`, never in a pipe or a CI log.

use std::fmt::Write;

use autodb_analysis::report::{Analysis, Severity, StatementReport};

use autodb_analysis::lint::FileReport;

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

/// A source's line starts, so that locating each statement costs a binary search and the
/// characters since the previous one, not a scan from the top of the file: the reports
/// stay linear in the input however many statements it holds.
pub(super) struct Lines<'a> {
    source: &'a str,
    starts: Vec<usize>,
    /// The last located position (line index, byte offset, column): offsets are located in
    /// increasing order, and a long line holding many statements is counted once.
    last: std::cell::Cell<(usize, usize, usize)>,
}

impl<'a> Lines<'a> {
    pub(super) fn new(source: &'a str) -> Self {
        let starts = std::iter::once(0)
            .chain(source.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            source,
            starts,
            last: std::cell::Cell::new((usize::MAX, 0, 0)),
        }
    }

    /// Where a byte offset is: 1-based line and column (in characters), the byte offset
    /// itself (moved back to a character boundary) and where its line starts.
    pub(super) fn locate(&self, offset: usize) -> (usize, usize, usize, usize) {
        let source = self.source;
        let mut offset = offset.min(source.len());
        while !source.is_char_boundary(offset) {
            offset -= 1;
        }
        let index = self.starts.partition_point(|&s| s <= offset) - 1;
        let start = self.starts[index];
        let (last_line, last_offset, last_column) = self.last.get();
        let column = if last_line == index && last_offset <= offset {
            last_column + source[last_offset..offset].chars().count()
        } else {
            source[start..offset].chars().count() + 1
        };
        self.last.set((index, offset, column));
        (index + 1, column, offset, start)
    }
}

/// Characters of a frame's line shown before the marked position, and in all: a frame of a
/// long line (a one-line 39 KB `CREATE TABLE`) shows a window of it, marked `…` where cut.
const FRAME_BEFORE: usize = 40;
const FRAME_CHARS: usize = 120;

pub(super) fn file(report: &FileReport, source: &str, color: bool) -> String {
    let paint = Paint(color);
    let lines = Lines::new(source);
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
            frame(&mut out, &lines, offset, 1, &paint, RED);
        }
        Ok(a) => analysis(&mut out, path, &lines, a, &paint),
    }
    out
}

fn analysis(out: &mut String, path: &str, lines: &Lines<'_>, a: &Analysis, paint: &Paint) {
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
        let (line, column, _, _) = lines.locate(s.offset);
        let _ = writeln!(
            out,
            "  {}[refused] {path}:{line}:{column}: {} — {}",
            paint.on(RED, "error"),
            r.operation,
            r.reason
        );
        statement_frame(out, lines, s, paint, RED);
        let _ = writeln!(out, "      fix: {}", r.safe_alternative);
    }
    for s in &a.statements {
        let (line, column, _, _) = lines.locate(s.offset);
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
            statement_frame(out, lines, s, paint, style);
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
    lines: &Lines<'_>,
    s: &StatementReport,
    paint: &Paint,
    style: &str,
) {
    let width = s
        .sql
        .lines()
        .next()
        .map_or(1, |l| l.chars().take(FRAME_CHARS).count());
    frame(out, lines, s.offset, width, paint, style);
}

/// The line holding `offset` (a window of it when long), with `^` under `width` characters
/// from it.
fn frame(
    out: &mut String,
    lines: &Lines<'_>,
    offset: usize,
    width: usize,
    paint: &Paint,
    style: &str,
) {
    let source = lines.source;
    let (line, _, offset, start) = lines.locate(offset);
    // At most FRAME_BEFORE characters before the position, FRAME_CHARS in all.
    let (from, cut_before) = match source[start..offset]
        .char_indices()
        .rev()
        .nth(FRAME_BEFORE - 1)
    {
        Some((i, _)) => (start + i, i > 0),
        None => (start, false),
    };
    let mut end = from;
    let mut cut_after = false;
    for (count, (i, c)) in source[from..].char_indices().enumerate() {
        if c == '\n' {
            break;
        }
        if count == FRAME_CHARS {
            cut_after = true;
            break;
        }
        end = from + i + c.len_utf8();
    }
    let text = source[from..end].trim_end_matches('\r');
    let number = line.to_string();
    let gutter = " ".repeat(number.len());
    let bar = paint.on(DIM, "|");
    // Tabs stay tabs under the marker so it lines up whatever the tab width.
    let pad: String = (if cut_before { " " } else { "" })
        .chars()
        .chain(source[from..offset].chars())
        .map(|c| if c == '\t' { '\t' } else { ' ' })
        .collect();
    let room = source[offset.min(end)..end].chars().count().max(1);
    let marker = "^".repeat(width.clamp(1, room));
    let shown = format!(
        "{}{text}{}",
        if cut_before { "…" } else { "" },
        if cut_after { "…" } else { "" }
    );
    let _ = writeln!(out, "      {gutter} {bar}");
    let _ = writeln!(out, "      {} {bar} {shown}", paint.on(DIM, &number));
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
